"""`wt-adapters pipe`'s engine flags, made from the option table and checked by it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import click
import pytest
from helpers import ROOT, on_terminal, subprocess_env

from wt_adapters import _options
from wt_adapters._cli import _engine_flags
from wt_adapters._cli._engine_flags import (
    EXCLUDED,
    KINDS,
    Spelling,
    flag_name,
    make_flags,
    resolve_flags,
)
from wt_adapters._cli._pipe import ENGINE_FLAGS, pipe
from wt_adapters._options import OPTIONS, Option

TIMEOUT = 120


def pipe_opts() -> Dict[str, List[str]]:
    """Each parameter of `pipe`: every flag that sets it (both forms of a boolean)."""
    return {p.name: [*p.opts, *p.secondary_opts] for p in pipe.params if p.name is not None}


def parse(*args: str) -> Dict[str, Any]:
    """The engine options `wt-adapters pipe -g g ARGS` resolves to (no engine, no network)."""
    with pipe.make_context("pipe", ["-g", "g", *args]) as ctx:
        values, _ = resolve_flags(ctx, ENGINE_FLAGS, ctx.params)
    return values


def refusal(*args: str) -> str:
    with pytest.raises(click.UsageError) as raised:
        parse(*args)
    return raised.value.format_message()


# --------------------------------------------------------------- made from the table


def test_every_option_has_a_flag_or_a_deliberate_exclusion() -> None:
    opts = pipe_opts()
    assert set(EXCLUDED) <= set(OPTIONS), "an exclusion names no option"
    for name, option in OPTIONS.items():
        if name in EXCLUDED:
            assert name not in {f.name for f in ENGINE_FLAGS}, name
            continue
        assert name in opts, f"{name} has no flag: give it one or add it to EXCLUDED"
        assert flag_name(name) in opts[name], name
        assert option.kind in KINDS, f"{name}: flags know no kind {option.kind!r}"


def test_todays_flag_names_still_work() -> None:
    opts = pipe_opts()
    for name, flags in {
        "log_group_name": ["-g", "--group"],
        "log_stream_name": ["-s", "--stream"],
        "log_group_retention_days": ["--retention-days"],
        "log_group_tags": ["--tag"],
        "create_log_group": ["--create-group", "--no-create-group"],
        "create_log_stream": ["--create-stream", "--no-create-stream"],
        "no_queue": ["--no-queue"],
    }.items():
        assert set(flags) <= set(opts[name]), name


def test_a_new_option_gets_a_flag_from_its_table_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(OPTIONS)
    doc = "Directory to keep events in until `CloudWatch` has them."
    table["spool_dir"] = Option("spool_dir", None, _options.optional_text, "str", doc)
    monkeypatch.setattr(_engine_flags, "OPTIONS", table)
    (flag,) = [f for f in make_flags({}) if f.name == "spool_dir"]
    assert flag.opts == ("--spool-dir",)
    assert flag.extra["help"] == "Directory to keep events in until CloudWatch has them."


def test_help_names_other_options_by_their_flags() -> None:
    (flag,) = [f for f in ENGINE_FLAGS if f.name == "queue_overflow"]
    assert "--queue-block-timeout" in flag.extra["help"]
    assert "queue_block_timeout" not in flag.extra["help"]


def test_help_says_off_when_not_given_rather_than_none() -> None:
    saying_none = [f for f in ENGINE_FLAGS if "`None`: off" in f.option.doc]
    assert saying_none  # metrics_interval, today
    for flag in saying_none:
        assert "None: off" not in flag.extra["help"]
        assert "off when not given" in flag.extra["help"]


def test_a_spelling_for_no_such_option_is_refused() -> None:
    with pytest.raises(LookupError, match="log_grup_name"):
        make_flags({"log_grup_name": Spelling(("-g",))})


# ------------------------------------------------------------------ one kind at a time


def test_a_boolean_flag_takes_both_forms_under_either_name() -> None:
    assert parse()["create_log_group"] is True
    assert parse("--no-create-group")["create_log_group"] is False
    assert parse("--no-create-log-group")["create_log_group"] is False
    assert parse("--no-create-group", "--create-log-group")["create_log_group"] is True
    assert parse()["deletion_protection"] is False
    assert parse("--deletion-protection")["deletion_protection"] is True


def test_a_boolean_in_a_message_is_the_form_typed() -> None:
    with pipe.make_context("pipe", ["-g", "g", "--no-create-log-stream"]) as ctx:
        _, speak = resolve_flags(ctx, ENGINE_FLAGS, ctx.params)
    assert speak("stream 's' does not exist and create_log_stream is False") == (
        "stream 's' does not exist and --no-create-log-stream was given"
    )


def test_a_message_naming_an_option_names_its_flag() -> None:
    with pipe.make_context("pipe", ["-g", "g", "--retention-days", "7"]) as ctx:
        _, speak = resolve_flags(ctx, ENGINE_FLAGS, ctx.params)
    assert speak("log_group_retention_days is set only on a group this creates") == (
        "--retention-days is set only on a group this creates"
    )
    assert speak("boto3_client is not a client") == "boto3_client is not a client"


def test_options_the_command_sets_itself_are_checked_with_the_flags() -> None:
    with pipe.make_context("pipe", ["-g", "g"]) as ctx, pytest.raises(click.UsageError) as e:
        resolve_flags(ctx, ENGINE_FLAGS, ctx.params, fixed={"use_queues": "sometimes"})
    assert "use_queues='sometimes' must be True or False" in e.value.format_message()


def test_metrics_with_no_queue_names_both_flags(tmp_path: Path) -> None:
    env = subprocess_env("http://127.0.0.1:9", home=tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "wt_adapters", "pipe", "-g", "g", "--no-queue",
         "--metrics-interval", "10"],
        input="", capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(
        "wt-adapters: error: --metrics-interval does not work with --no-queue"
    )


def test_an_integer_flag_is_checked_by_the_option() -> None:
    assert parse("--max-batch-count", "7")["max_batch_count"] == 7
    assert parse()["max_batch_count"] == OPTIONS["max_batch_count"].default
    assert refusal("--max-batch-count", "0").startswith("--max-batch-count=0 must be an integer")
    assert refusal("--max-queue-events=many") == "--max-queue-events='many' must be an integer"
    # Two options checked together: the one given named as typed, the other by its flag.
    assert refusal("--max-batch-size", "1000", "--max-message-size", "2000") == (
        "--max-batch-size=1000 is below --max-message-size=2000:"
        " the largest message would not fit in a batch"
    )


def test_an_alias_is_named_as_typed() -> None:
    assert refusal("--retention-days", "8").startswith("--retention-days=8 is not")
    assert refusal("--log-group-retention-days", "8").startswith(
        "--log-group-retention-days=8 is not"
    )
    assert parse("--retention-days", "7")["log_group_retention_days"] == 7


def test_a_seconds_flag_takes_a_number_and_keeps_pipes_own_default() -> None:
    assert parse("--send-interval", "0.25")["send_interval"] == 0.25
    assert parse()["send_interval"] == 5.0  # pipe's default, not the library's 60 s
    assert parse()["retry_deadline"] == OPTIONS["retry_deadline"].default
    assert refusal("--retry-deadline", "-1") == (
        "--retry-deadline=-1.0 must be a number of seconds >= 0"
    )
    assert refusal("--queue-block-timeout", "nan").startswith("--queue-block-timeout=nan")


def test_a_choice_flag_lists_its_choices() -> None:
    assert parse()["queue_overflow"] == "block"  # pipe's default: slow the writer, drop nothing
    assert parse("--queue-overflow", "drop_newest")["queue_overflow"] == "drop_newest"
    assert refusal("--queue-overflow", "drop_all") == (
        "--queue-overflow='drop_all' must be one of 'drop_oldest', 'drop_newest', 'block'"
    )
    (flag,) = [f for f in ENGINE_FLAGS if f.name == "log_group_class"]
    assert flag.extra["metavar"] == "[STANDARD|INFREQUENT_ACCESS]"


@pytest.mark.parametrize("flag", ["--spool-dir", "--kms-key-id", "--metrics-interval", "-s"])
def test_none_is_refused_as_a_value_of_any_flag(flag: str) -> None:
    named = "--stream" if flag == "-s" else flag
    assert refusal(flag, "None") == (
        f"{named}=None: None is Python's None, not a value on the command line:"
        f" leave {named} out for its default"
    )


def test_messages_say_nothing_of_none_where_a_flag_cannot_be_given_it() -> None:
    assert refusal("--kms-key-id", "key") == (
        "--kms-key-id='key' must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID)"
    )
    assert (
        refusal("--metrics-interval", "0.5") == "--metrics-interval='0.5' must be at least 1 second"
    )
    assert refusal("--spool-dir", "") == "--spool-dir='' must be a directory path"


def test_a_value_typed_after_a_short_flag_is_named_by_the_long_one() -> None:
    assert refusal("-g", "bad name").startswith("--group='bad name' is not a valid log group")
    assert refusal("-s", "a:b").startswith("--stream='a:b'")


def test_tags_are_repeatable_key_value_flags() -> None:
    assert parse()["log_group_tags"] == ()
    tags = parse("--tag", "team=logs", "--log-group-tags", "query=a=b", "--tag", "empty=")
    assert tags["log_group_tags"] == (("empty", ""), ("query", "a=b"), ("team", "logs"))
    with pytest.raises(click.BadParameter) as raised:
        parse("--log-group-tags", "no-value")
    assert raised.value.format_message() == (
        "Invalid value for '--log-group-tags': 'no-value' is not KEY=VALUE"
    )


def test_a_bad_flag_fails_before_any_aws_call(tmp_path: Path) -> None:
    env = subprocess_env("http://127.0.0.1:9", home=tmp_path)  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "wt_adapters", "pipe", "-g", "g", "--log-group-class", "COLD"],
        input="x\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "wt-adapters: error: --log-group-class='COLD' must be one of"
        " 'STANDARD', 'INFREQUENT_ACCESS' (see 'wt-adapters pipe --help')\n"
    )


# ------------------------------------------------------------------------------ help


def test_pipe_help_fits_an_80_column_terminal_and_shows_every_flag(tmp_path: Path) -> None:
    env = subprocess_env(home=tmp_path)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    args = [sys.executable, "-m", "wt_adapters", "pipe", "--help"]
    shown, proc = on_terminal(args, env, size=(24, 80))
    assert proc.wait(10) == 0
    text = shown.decode("utf-8").replace("\r\n", "\n")
    assert text.startswith("Usage: wt-adapters pipe [OPTIONS] [FILES]...")
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
    for flag in ENGINE_FLAGS:
        shown = flag.opts[0] if not flag.negations else "--[no-]" + flag.opts[0][2:]
        assert shown in text, flag.name
    assert "`" not in text.split("Options:")[1].split("--endpoint-url")[0]
