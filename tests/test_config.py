"""Configuration: one table of options, one rule for strings, errors naming the argument.

None of these tests needs a server: the engines they make deliver to memory,
and each test checks what the configuration became.
"""

from __future__ import annotations

import inspect
import logging
import logging.config
import subprocess
import sys
import textwrap
import typing
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from wt_adapters import CloudWatchLogHandler, WatchtowerError, _destination, _options, _registry
from wt_adapters._memory import MemorySender
from wt_adapters._options import OPTIONS, resolve
from wt_adapters._rules import RETENTION_DAYS
from wt_adapters._settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def memory_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every destination made in these tests delivers to memory: no client, no server."""
    monkeypatch.setattr(_destination, "sender_override", MemorySender)
    yield


def settings_of(handler: CloudWatchLogHandler) -> Settings:
    assert handler._destination is not None
    return handler._destination.settings


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"log_group_name": ""}, "log_group_name"),
        ({"log_group_name": "has space"}, "log_group_name"),
        ({"log_group_name": "x" * 513}, "log_group_name"),
        ({"log_group_name": "bad:colon"}, "log_group_name"),
        ({"log_group_name": None}, "log_group_name"),
        ({"log_stream_name": ""}, "log_stream_name"),
        ({"log_stream_name": "a:b"}, "log_stream_name"),
        ({"log_stream_name": "a*b"}, "log_stream_name"),
        ({"log_stream_name": "{strftime:%H:%M}"}, "log_stream_name"),
        ({"log_stream_name": "{unknown_field}"}, "log_stream_name"),
        ({"log_stream_name": "{unclosed"}, "log_stream_name"),
        ({"log_stream_name": "x" * 513}, "log_stream_name"),
        ({"max_batch_size": 1_048_577}, "max_batch_size"),
        ({"max_batch_size": 1000}, "max_batch_size"),  # below the largest message
        ({"max_batch_count": 0}, "max_batch_count"),
        ({"max_batch_count": 10_001}, "max_batch_count"),
        ({"max_batch_count": "many"}, "max_batch_count"),
        ({"max_batch_count": "10.5"}, "max_batch_count"),
        ({"max_batch_count": 10.0}, "max_batch_count"),
        ({"send_interval": -1}, "send_interval"),
        ({"send_interval": "soon"}, "send_interval"),
        ({"send_interval": "5 s"}, "send_interval"),
        ({"send_interval": float("nan")}, "send_interval"),
        ({"send_interval": True}, "send_interval"),
        ({"max_message_size": 1_048_577}, "max_message_size"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"log_group_retention_days": 2}, "log_group_retention_days"),
        ({"log_group_retention_days": "thirty"}, "log_group_retention_days"),
        ({"log_group_tags": [("a", "b")]}, "log_group_tags"),
        ({"log_group_tags": {"a": 1}}, "log_group_tags"),
        ({"json_serialize_default": "repr"}, "json_serialize_default"),
        ({"queue_overflow": "explode"}, "queue_overflow"),
        ({"max_queue_events": 0}, "max_queue_events"),
        ({"max_queue_bytes": 10}, "max_queue_bytes"),
        ({"retry_deadline": -5}, "retry_deadline"),
        ({"boto3_client": object()}, "boto3_client"),
        ({"use_queues": "nope"}, "use_queues"),
        ({"use_queues": ""}, "use_queues"),
        ({"use_queues": 2}, "use_queues"),
        ({"use_queues": None}, "use_queues"),
        ({"create_log_group": "false-ish"}, "create_log_group"),
        ({"create_log_stream": []}, "create_log_stream"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"json_library": "simplejson"}, "json_library"),
        ({"endpoint_url": ""}, "endpoint_url"),
    ],
)
def test_bad_options_raise_watchtower_error_naming_the_argument(
    options: dict[str, Any], argument: str
) -> None:
    with pytest.raises(WatchtowerError, match=argument):
        CloudWatchLogHandler(**options)


def test_a_client_and_a_profile_together_are_refused() -> None:
    client = MemorySender()  # anything with put_log_events passes as a client
    with pytest.raises(WatchtowerError, match="Either boto3_client or boto3_profile_name"):
        CloudWatchLogHandler(boto3_client=client, boto3_profile_name="default")


def test_an_unknown_profile_is_refused_naming_the_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_destination, "sender_override", None)
    with pytest.raises(WatchtowerError, match="boto3_profile_name"):
        CloudWatchLogHandler(boto3_profile_name="no-such-profile-here")


def test_an_unknown_option_of_a_keyword_front_end_is_named() -> None:
    with pytest.raises(WatchtowerError, match="unknown option 'log_grup_name'"):
        _destination.Destination.from_options({"log_grup_name": "typo"})


def test_an_unknown_keyword_of_the_handler_is_named() -> None:
    with pytest.raises(WatchtowerError, match="unknown option 'send_intervall'"):
        CloudWatchLogHandler(send_intervall=5)


@pytest.mark.parametrize("front_end", ["structlog", "loguru"])
@pytest.mark.parametrize(
    "options",
    [
        {"log_group_name": "bad:name"},
        {"send_interval": "soon"},
        {"max_batch_count": 0},
        {"log_stream_name": "{nope}"},
        {"queue_overflow": "explode"},
        {"log_group_retention_days": 2},
        {"boto3_client": object()},
        {"json_serialize_default": 42},
        {"use_queues": "maybe"},
    ],
)
def test_every_front_end_validates_options_as_the_stdlib_handler_does(
    front_end: str, options: dict[str, Any]
) -> None:
    from wt_adapters.loguru import cloudwatch_sink
    from wt_adapters.structlog import CloudWatchRenderer

    make = {"structlog": CloudWatchRenderer, "loguru": cloudwatch_sink}[front_end]
    with pytest.raises(WatchtowerError) as from_handler:
        CloudWatchLogHandler(**options)
    with pytest.raises(WatchtowerError) as from_front_end:
        make(**options)
    assert str(from_front_end.value) == str(from_handler.value)
    assert next(iter(options)) in str(from_front_end.value)


# ------------------------------------------------------- what the values become


@pytest.mark.parametrize("days", RETENTION_DAYS)
def test_every_retention_period_cloudwatch_offers_reaches_the_engine(days: int) -> None:
    handler = CloudWatchLogHandler(log_group_retention_days=days)
    assert settings_of(handler).log_group_retention_days == days
    assert handler.log_group_retention_days == days
    handler.close()


@pytest.mark.parametrize("name", ["a", "x" * 512, "app/prod_1.web-2#x", "/aws/lambda/fn"])
def test_a_valid_group_name_reaches_the_engine_and_the_repr(name: str) -> None:
    handler = CloudWatchLogHandler(log_group_name=name, log_stream_name="s/{logger_name}")
    assert settings_of(handler).log_group_name == name
    assert handler._stream_names("app.db") == "s/app.db"
    assert (
        repr(handler)
        == f"CloudWatchLogHandler(log_group_name='{name}', log_stream_name='s/{{logger_name}}')"
    )
    handler.close()


def test_the_bounds_are_accepted_as_they_are() -> None:
    handler = CloudWatchLogHandler(
        max_batch_size=1_048_576,
        max_batch_count=10_000,
        max_message_size=1_048_576,
        send_interval=0,
    )
    settings = settings_of(handler)
    assert (settings.max_batch_size, settings.max_batch_count) == (1_048_576, 10_000)
    assert (settings.max_message_size, settings.send_interval) == (1_048_576, 0.0)
    assert settings.max_body_size == 1_048_576 - 26
    handler.close()


def test_the_defaults_are_watchtowers() -> None:
    handler = CloudWatchLogHandler()
    settings = settings_of(handler)
    assert settings.log_group_name == "watchtower"
    assert handler.log_stream_name == "{machine_name}/{program_name}/{logger_name}/{process_id}"
    assert (settings.send_interval, settings.max_batch_size) == (60.0, 1024 * 1024)
    assert (settings.max_batch_count, settings.max_message_size) == (10000, 256 * 1024)
    assert settings.create_log_group and settings.create_log_stream
    assert settings.log_group_tags == () and settings.log_group_retention_days is None
    assert settings.max_concurrency == 10
    assert handler.use_queues is True and handler._destination is not None
    assert handler._destination.submit == handler._destination.engine.submit
    handler.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (True, True), (False, False), (1, True), (0, False),
        ("true", True), ("False", False), (" YES ", True), ("no", False),
        ("on", True), ("Off", False), ("1", True), ("0", False),
    ],
)  # fmt: skip
@pytest.mark.parametrize("name", ["use_queues", "create_log_group", "create_log_stream"])
def test_a_boolean_option_takes_the_usual_spellings(name: str, given: Any, expected: bool) -> None:
    assert resolve({name: given})[name] is expected


def test_use_queues_false_from_a_string_sends_on_the_callers_thread() -> None:
    handler = CloudWatchLogHandler(use_queues="false", create_log_group="no")
    assert handler._destination is not None
    assert handler._destination.submit == handler._destination.engine.send_now
    assert settings_of(handler).create_log_group is False
    handler.close()


def _front_end(name: str, **options: Any) -> Any:
    """Make the front end `name` ("stdlib", "structlog" or "loguru") with `options`."""
    if name == "structlog":
        from wt_adapters.structlog import CloudWatchRenderer

        return CloudWatchRenderer(**options)
    if name == "loguru":
        from wt_adapters.loguru import cloudwatch_sink

        return cloudwatch_sink(**options)
    return CloudWatchLogHandler(**options)


@pytest.mark.parametrize("front_end", ["stdlib", "structlog", "loguru"])
@pytest.mark.parametrize("given", ["false", "0", "Off"])
def test_a_boolean_given_as_a_string_means_the_same_on_every_front_end(
    front_end: str, given: str
) -> None:
    made = _front_end(front_end, log_group_name=f"strings-{front_end}", use_queues=given)
    destination = made._destination
    assert destination.submit == destination.engine.send_now
    made.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [("false", False), ("0", False), (" NO ", False), ("off", False), (0, False),
     (False, False), ("true", True), ("1", True), ("yes", True), (1, True), (True, True)],
)  # fmt: skip
def test_the_renderers_write_locally_takes_the_spellings_every_boolean_takes(
    given: Any, expected: bool
) -> None:
    from wt_adapters.structlog import CloudWatchRenderer

    renderer = CloudWatchRenderer(write_locally=given)
    assert renderer.write_locally is expected
    renderer.close()


@pytest.mark.parametrize("given", ["nope", "", "2", 2, None, []])
def test_a_write_locally_that_is_no_boolean_is_refused_naming_it_before_any_engine(
    given: Any,
) -> None:
    from wt_adapters.structlog import CloudWatchRenderer

    before = set(map(id, _registry.engines()))
    with pytest.raises(WatchtowerError) as refused:
        CloudWatchRenderer(log_group_name="refused-write-locally", write_locally=given)
    with pytest.raises(WatchtowerError) as from_the_table:
        resolve({"use_queues": given})
    assert str(refused.value) == str(from_the_table.value).replace("use_queues", "write_locally")
    assert set(map(id, _registry.engines())) == before


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("send_interval", "5", 5.0),
        ("send_interval", " 2.5 ", 2.5),
        ("send_interval", timedelta(minutes=2), 120.0),
        ("send_interval", 3, 3.0),
        ("queue_block_timeout", "0.5", 0.5),
        ("retry_deadline", timedelta(seconds=9), 9.0),
        ("max_batch_count", "100", 100),
        ("max_batch_size", "524288", 524288),
        ("max_queue_events", "5000", 5000),
        ("log_group_retention_days", "30", 30),
        ("max_concurrency", "4", 4),
    ],
)
def test_a_number_option_takes_numbers_numeric_strings_and_durations(
    name: str, given: Any, expected: Any
) -> None:
    handler = CloudWatchLogHandler(**{name: given})
    value = (
        getattr(settings_of(handler).retry, "deadline")
        if name == "retry_deadline"
        else (getattr(settings_of(handler), name))
    )
    assert value == expected and type(value) is type(expected)
    handler.close()


def test_tags_are_kept_sorted_and_reach_the_engine() -> None:
    handler = CloudWatchLogHandler(log_group_tags={"team": "core", "env": "prod"})
    assert settings_of(handler).log_group_tags == (("env", "prod"), ("team", "core"))
    handler.close()


def test_dict_config_with_strings_from_the_environment_is_taken_as_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CW_QUEUES", "False")
    monkeypatch.setenv("CW_INTERVAL", "7")
    import os

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "cw": {
                    "class": "wt_adapters.CloudWatchLogHandler",
                    "log_group_name": "from-dict-config",
                    "use_queues": os.environ["CW_QUEUES"],
                    "send_interval": os.environ["CW_INTERVAL"],
                    "create_log_stream": "yes",
                }
            },
            "loggers": {"wt_test.dict_config": {"handlers": ["cw"], "propagate": False}},
        }
    )
    log = logging.getLogger("wt_test.dict_config")
    (handler,) = log.handlers
    assert isinstance(handler, CloudWatchLogHandler)
    try:
        assert handler.use_queues is False and handler.send_interval == 7.0
        assert settings_of(handler).log_group_name == "from-dict-config"
        assert settings_of(handler).create_log_stream is True
    finally:
        log.removeHandler(handler)
        handler.close()


def test_file_config_strings_are_taken_as_meant(tmp_path: Path) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(
        textwrap.dedent(
            """\
            [loggers]
            keys=root,app
            [handlers]
            keys=cw
            [formatters]
            keys=
            [logger_root]
            handlers=
            [logger_app]
            qualname=wt_test.file_config
            handlers=cw
            propagate=0
            [handler_cw]
            class=wt_adapters.CloudWatchLogHandler
            args=("from-file-config",)
            kwargs={"use_queues": "false", "send_interval": "5", "max_batch_count": "500"}
            """
        )
    )
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    log = logging.getLogger("wt_test.file_config")
    (handler,) = log.handlers
    assert isinstance(handler, CloudWatchLogHandler)
    try:
        settings = settings_of(handler)
        assert settings.log_group_name == "from-file-config"
        assert (handler.use_queues, settings.send_interval, settings.max_batch_count) == (
            False,
            5.0,
            500,
        )
    finally:
        log.removeHandler(handler)
        handler.close()


def test_positional_arguments_follow_watchtowers_order() -> None:
    handler = CloudWatchLogHandler("pos-group", "pos-stream", False, 9)
    settings = settings_of(handler)
    assert (settings.log_group_name, handler.log_stream_name) == ("pos-group", "pos-stream")
    assert (handler.use_queues, settings.send_interval) == (False, 9.0)
    handler.close()


def test_an_argument_given_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="log_group_name"):
        CloudWatchLogHandler("one", log_group_name="two")


def test_the_handler_level_may_still_be_given_as_logging_handlers_take_it() -> None:
    handler = CloudWatchLogHandler(level=logging.WARNING)
    assert handler.level == logging.WARNING
    handler.close()


# ------------------------------------------------------------ one option table


def test_the_handler_signature_is_watchtowers_then_ours() -> None:
    watchtower = pytest.importorskip("watchtower")
    theirs = inspect.signature(watchtower.CloudWatchLogHandler.__init__).parameters
    ours = inspect.signature(CloudWatchLogHandler.__init__).parameters
    positional = [n for n, p in theirs.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert [n for n, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional
    assert {n for n, p in ours.items() if p.kind is p.KEYWORD_ONLY} == set(OPTIONS) - set(
        positional
    )


def test_the_typed_options_match_the_table() -> None:
    assert set(typing.get_type_hints(_destination.Options)) == set(OPTIONS)


def test_every_settings_field_named_as_an_option_has_its_default() -> None:
    named = [f for f in fields(Settings) if f.name in OPTIONS]
    assert len(named) == len(fields(Settings)) - 1  # all but `retry` (from retry_deadline)
    defaults = Settings(log_group_name="g")
    for f in named:
        if f.name != "log_group_name":
            expected = OPTIONS[f.name].parse(f.name, OPTIONS[f.name].default)
            assert getattr(defaults, f.name) == expected, f.name


def test_every_option_is_an_attribute_of_the_handler() -> None:
    handler = CloudWatchLogHandler(max_concurrency=3)
    for name in OPTIONS:
        assert hasattr(handler, name), name
    assert handler.max_concurrency == 3
    handler.close()


def test_the_docs_options_table_is_the_tables() -> None:
    assert _options.markdown_table() in (ROOT / "docs" / "options.md").read_text(encoding="utf-8")


def test_resolving_options_makes_no_engine() -> None:
    before = set(map(id, _registry.engines()))
    values = resolve({"log_group_name": "no-engine", "send_interval": "3"})
    assert values["send_interval"] == 3.0
    assert set(map(id, _registry.engines())) == before


# ---------------------------------------------------------- a half-built handler


def test_a_handler_whose_constructor_raised_leaves_nothing_behind_at_exit() -> None:
    script = textwrap.dedent(
        """
        import logging
        import wt_adapters
        for bad in ({"max_batch_count": 0}, {"use_queues": "maybe"}, {"log_group_name": ""}):
            try:
                wt_adapters.CloudWatchLogHandler(**bad)
            except wt_adapters.WatchtowerError:
                pass
        half = wt_adapters.CloudWatchLogHandler.__new__(wt_adapters.CloudWatchLogHandler)
        assert half.flush() is True and half.close() is True and half.stats() == {}
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert done.stderr == ""
