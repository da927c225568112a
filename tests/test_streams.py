"""Stream names from a template: every field, cleaning, the cache and its limit, after fork."""

from __future__ import annotations

import os
import platform
import sys
import textwrap
from datetime import datetime, timezone

import pytest
from helpers import run_python
from hypothesis import given
from hypothesis import strategies as st

from wt_adapters import WatchtowerError
from wt_adapters._rules import clean_stream_part
from wt_adapters._streams import _CACHE_LIMIT, DEFAULT_LOG_STREAM_NAME, FIELDS, StreamNamer

MAY_6_23_30 = datetime(2024, 5, 6, 23, 30, 15, tzinfo=timezone.utc).timestamp()


# ------------------------------------------------------------------------------ fields


def test_machine_name_is_the_host_name_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "node", lambda: "host:1*.example")
    assert StreamNamer("{machine_name}")() == "host1.example"


@pytest.mark.parametrize(
    ("argv", "program"),
    [(["/srv/app:v2*/run.py", "--flag"], "/srv/appv2/run.py"), ([""], "python"), ([], "python")],
)
def test_program_name_is_argv0_cleaned_or_python(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], program: str
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    assert StreamNamer("{program_name}")() == program


def test_process_id_is_this_process() -> None:
    assert StreamNamer("{process_id}")() == str(os.getpid())


def test_logger_and_thread_names_come_from_each_event_cleaned() -> None:
    namer = StreamNamer("{logger_name}/{thread_name}")
    assert namer("app.db", "MainThread") == "app.db/MainThread"
    assert namer("a:b*c", "Thread-2 (work:er)") == "abc/Thread-2 (worker)"


def test_strftime_formats_the_event_time_in_utc() -> None:
    namer = StreamNamer("{strftime:%Y-%m-%d}/{strftime:%H}h")
    assert namer("", "", MAY_6_23_30) == "2024-05-06/23h"
    assert namer("", "", 0.0) == "1970-01-01/00h"


def test_the_default_template_is_watchtowers() -> None:
    assert DEFAULT_LOG_STREAM_NAME == "{machine_name}/{program_name}/{logger_name}/{process_id}"
    name = StreamNamer(DEFAULT_LOG_STREAM_NAME)("app")
    machine = clean_stream_part(platform.node())
    assert name.startswith(f"{machine}/") and name.endswith(f"/app/{os.getpid()}")


def test_literal_text_and_doubled_braces_pass_through() -> None:
    assert StreamNamer("web-{{prod}}/{logger_name}")("x") == "web-{prod}/x"


# ------------------------------------------------------------------------ length, empty


def test_a_name_is_cut_to_512_characters() -> None:
    assert StreamNamer("{logger_name}")("a" * 600) == "a" * 512


def test_a_name_that_cleans_to_nothing_becomes_default() -> None:
    namer = StreamNamer("{logger_name}{thread_name}")
    assert namer("", "") == "default"
    assert namer(":*:", "*") == "default"


@given(logger=st.text(max_size=700), thread=st.text(max_size=50))
def test_every_name_is_one_cloudwatch_accepts(logger: str, thread: str) -> None:
    name = StreamNamer("{logger_name}/{thread_name}")(logger, thread)
    assert 1 <= len(name) <= 512 and ":" not in name and "*" not in name
    expected = (clean_stream_part(logger) + "/" + clean_stream_part(thread))[:512]
    assert name == expected


# ---------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{host}", "unknown field {host}; the fields are {machine_name}, "),
        ("{0}", "unknown field {0}"),
        ("{logger_name", "is not a valid template"),
        ("{process_id:q}", "can't be formatted"),
        ("{logger_name!z}", "can't be formatted"),
        ("app:{logger_name}", "which CloudWatch refuses: it contains ':'"),
        ("{strftime:%H:%M}", "which CloudWatch refuses: it contains ':'"),
        ("", "which CloudWatch refuses: it is empty"),
        ("x" * 513, "it is 513 characters long"),
    ],
)
def test_a_bad_template_is_refused_at_once_naming_the_argument(
    template: str, complaint: str
) -> None:
    with pytest.raises(WatchtowerError) as error:
        StreamNamer(template, argument="stream_name")
    message = str(error.value)
    assert message.startswith(f"stream_name={template!r}")
    assert complaint in message


def test_a_template_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(WatchtowerError, match="log_stream_name=42 must be a string"):
        StreamNamer(42)  # type: ignore[arg-type]


def test_the_error_lists_every_field() -> None:
    with pytest.raises(WatchtowerError) as error:
        StreamNamer("{nope}")
    assert all(f"{{{field}}}" in str(error.value) for field in FIELDS)


# ------------------------------------------------------------------------------- cache


def test_a_template_without_per_event_fields_is_resolved_once() -> None:
    namer = StreamNamer("{machine_name}/{process_id}")
    first = namer("a", "t1", 1.0)
    assert namer("b", "t2", 99_999.0) is first
    assert namer._cache == {}


def test_events_in_the_same_second_share_a_name_and_the_next_second_does_not() -> None:
    namer = StreamNamer("{strftime:%H.%M.%S}")
    assert namer("", "", MAY_6_23_30) == namer("", "", MAY_6_23_30 + 0.99) == "23.30.15"
    assert namer("", "", MAY_6_23_30 + 1) == "23.30.16"


def test_the_cache_never_holds_more_than_its_limit_and_names_stay_right() -> None:
    namer = StreamNamer("{logger_name}")
    for i in range(2 * _CACHE_LIMIT + 10):
        assert namer(f"logger.{i}") == f"logger.{i}"
        assert len(namer._cache) <= _CACHE_LIMIT
    assert namer("logger.0") == "logger.0"  # long since evicted: rendered again


# -------------------------------------------------------------------------------- fork


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_names_streams_with_its_own_process_id() -> None:
    script = textwrap.dedent("""
        import os, sys
        from wt_adapters._streams import StreamNamer
        fixed = StreamNamer("{process_id}")
        per_logger = StreamNamer("{logger_name}.{process_id}")
        before = (fixed(), per_logger("app"))  # resolved and cached in the parent
        pid = os.fork()
        if pid == 0:
            print("child", os.getpid(), fixed(), per_logger("app"), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", os.getpid(), fixed(), per_logger("app"), *before)
    """)
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    child_pid, child_fixed, child_named = lines["child"].split()
    assert child_fixed == child_pid and child_named == f"app.{child_pid}"
    parent_pid, *parent_names = lines["parent"].split()
    assert parent_names == [parent_pid, f"app.{parent_pid}"] * 2
    assert child_pid != parent_pid
