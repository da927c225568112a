"""The stdlib front end over HTTP against moto's server."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import textwrap
import threading
import time
import warnings
from datetime import datetime, timezone
from typing import Any

import pytest
from helpers import make_client, messages, read_events, run_python, wait_for

import wt_adapters
from wt_adapters import (
    DEFAULT_LOG_STREAM_NAME,
    CloudWatchLogFormatter,
    CloudWatchLogHandler,
    WatchtowerError,
    WatchtowerWarning,
)


def handler_for(client: Any, group: str, **options: Any) -> CloudWatchLogHandler:
    options.setdefault("log_stream_name", "s")
    return CloudWatchLogHandler(log_group_name=group, boto3_client=client, **options)


def test_a_burst_of_50000_records_arrives_complete_and_once(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    for i in range(50_000):
        logger.info("record %d", i)
    assert handler.flush() is True
    assert handler.close() is True
    # Batches go out in parallel, so the stored order is the order they landed in.
    stored = messages(client, group)
    assert sorted(stored, key=lambda m: int(m.split()[1])) == [f"record {i}" for i in range(50_000)]
    stats = handler.stats()
    assert stats["sent"] == 50_000 and stats["dropped"] == {}


def test_a_dict_message_arrives_as_the_same_json_object(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    payload = {
        "user": "ü",
        "n": 2**60,
        "f": 1.5,
        "ok": True,
        "none": None,
        "nested": {"list": [1, {"a": "b"}, None]},
        "text": "line\nbreak",
    }
    logger.info(payload)
    handler.close()
    assert [json.loads(m) for m in messages(client, group)] == [payload]


def test_the_timestamp_is_the_records_creation_time(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "then", (), None)
    record.created = time.time() - 3600
    logger.handle(record)
    handler.close()
    [event] = read_events(client, group)
    assert event["timestamp"] == int(record.created * 1000)


def test_records_spanning_three_days_logged_out_of_order_arrive_whole(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    now = time.time()
    offsets = [(i * 7919) % 300 for i in range(300)]  # a permutation of 0..299
    for i, off in enumerate(offsets):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, str(i), (), None)
        record.created = now - 3 * 86400 + off * 864  # spread over three days
        logger.handle(record)
    assert handler.close() is True
    events = read_events(client, group)
    assert sorted(int(e["message"]) for e in events) == list(range(300))
    assert handler.stats()["batches_sent"] >= 3


def test_the_group_and_stream_are_created_with_retention_and_tags(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(
        client, group, log_group_retention_days=30, log_group_tags={"team": "core"}
    )
    logger.addHandler(handler)
    logger.info("hello")
    handler.close()
    [info] = client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert info["retentionInDays"] == 30
    assert client.list_tags_log_group(logGroupName=group)["tags"] == {"team": "core"}
    assert messages(client, group, "s") == ["hello"]


def test_nothing_is_lost_while_a_stream_is_created(
    client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    handler = handler_for(client, group, send_interval=0.01)
    logger.addHandler(handler)

    def log(n: int) -> None:
        for i in range(500):
            logger.info("%d-%d", n, i)

    threads = [threading.Thread(target=log, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handler.close()
    assert len(messages(client, group)) == 1500


def test_the_constructor_makes_no_aws_call(group: str) -> None:
    unreachable = make_client("http://127.0.0.1:9")
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=unreachable)
    assert handler.cwl_client is unreachable
    assert handler.close(timeout=0.1) is True


def test_stream_name_template_fields_are_resolved_per_record(client: Any, group: str) -> None:
    handler = handler_for(
        client,
        group,
        log_stream_name="{logger_name}/{thread_name}/{process_id}/{strftime:%Y-%m-%d}",
    )
    for name in ("app.a", "app.b"):
        log = logging.getLogger(name)
        log.propagate = False
        log.addHandler(handler)
        log.warning("from %s", name)
        log.removeHandler(handler)
    worker = threading.Thread(
        target=logging.getLogger("app.a").warning, args=("x",), name="worker:1"
    )
    logging.getLogger("app.a").addHandler(handler)
    worker.start()
    worker.join()
    logging.getLogger("app.a").removeHandler(handler)
    handler.close()
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    streams = {e["logStreamName"] for e in read_events(client, group)}
    pid = os.getpid()
    assert streams == {
        f"app.a/MainThread/{pid}/{day}",
        f"app.b/MainThread/{pid}/{day}",
        f"app.a/worker1/{pid}/{day}",
    }


def test_the_default_stream_name_holds_machine_program_logger_and_pid(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=client)
    assert handler.log_stream_name == DEFAULT_LOG_STREAM_NAME
    logger.addHandler(handler)
    logger.info("x")
    handler.close()
    [event] = read_events(client, group)
    assert event["logStreamName"].endswith(f"/{logger.name}/{os.getpid()}")


def test_add_log_record_attrs_adds_record_fields_to_the_json(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    handler.formatter.add_log_record_attrs = ("levelname", "lineno")  # type: ignore[union-attr]
    logger.addHandler(handler)
    logger.warning("plain %s", "text")
    logger.error({"k": 1})
    handler.close()
    first, second = (json.loads(m) for m in messages(client, group))
    assert first["msg"] == "plain text" and first["levelname"] == "WARNING"
    assert second["k"] == 1 and second["levelname"] == "ERROR" and "lineno" in second


def test_json_serialize_default_handles_what_json_cannot(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group, json_serialize_default=lambda o: f"custom:{o}")
    logger.addHandler(handler)
    when = datetime(2024, 1, 2, 3, 4, 5)
    logger.info({"obj": {1, 2} and object.__name__, "set": frozenset([1])})
    handler.close()
    [data] = [json.loads(m) for m in messages(client, group)]
    assert data["set"] == "custom:frozenset({1})"
    assert wt_adapters.json_serialize_default(when) == "2024-01-02T03:04:05"
    assert wt_adapters.json_serialize_default(object).startswith("<class")


def test_odd_records_still_go_out_and_later_records_flow(
    client: Any, group: str, logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    circular: dict[str, Any] = {"a": 1}
    circular["self"] = circular
    logger.info({"obj": object(), "nan": float("nan"), "inf": float("inf")})
    logger.info(circular)
    logger.info({(1, 2): "tuple key"})
    logger.info(b"raw bytes \xff")
    logger.info("lone surrogate \udcff")
    logger.info("bad format %d", "not a number")
    logger.info("after")
    handler.close()
    got = messages(client, group)
    assert len(got) == 7 and got[-1] == "after"
    assert json.loads(got[0])["nan"] == "NaN"
    assert json.loads(got[1])["self"] == "<circular reference>"
    assert json.loads(got[2]) == {"(1, 2)": "tuple key"}
    assert got[3] == "b'raw bytes \\xff'"
    assert got[4] == "lone surrogate \\udcff"
    assert "bad format %d" in got[5] and "not a number" in got[5]
    assert "Logging error" in capsys.readouterr().err  # handleError reported the bad format


def test_use_queues_false_sends_on_the_callers_thread(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group, use_queues=False)
    logger.addHandler(handler)
    logger.info("one")
    assert messages(client, group) == ["one"]  # already there, no flush
    logger.info("two")
    assert messages(client, group) == ["one", "two"]
    handler.close()


def test_handlers_for_the_same_client_group_and_options_share_one_engine(
    client: Any, group: str
) -> None:
    first, second = handler_for(client, group), handler_for(client, group)
    other = handler_for(client, group, send_interval=5)
    assert first._destination.engine is second._destination.engine
    assert other._destination.engine is not first._destination.engine
    first.close()
    assert not second._destination.engine.closed  # still used by the second handler
    second.close()
    other.close()


def test_botocore_logging_never_re_enters_the_handler(client: Any, group: str) -> None:
    root = logging.getLogger()
    handler = handler_for(client, group, send_interval=0.05)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        logging.getLogger("app").info("hello")
        logging.getLogger("botocore.custom").info("an info from a user's botocore logger")
        assert handler.flush(timeout=10)
        assert handler.flush(timeout=10)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    got = messages(client, group)
    assert "hello" in got
    assert not any("PutLogEvents" in m or "Response headers" in m for m in got)


def test_dictconfig_builds_the_handler(endpoint: str, group: str) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "cloudwatch": {
                "class": "wt_adapters.CloudWatchLogHandler",
                "log_group_name": group,
                "log_stream_name": "dict",
                "boto3_client": make_client(endpoint),
                "send_interval": 1,
            }
        },
        "loggers": {"dictcfg": {"handlers": ["cloudwatch"], "level": "INFO", "propagate": False}},
    }
    logging.config.dictConfig(config)
    log = logging.getLogger("dictcfg")
    log.info("configured")
    [handler] = log.handlers
    handler.close()
    log.removeHandler(handler)
    assert messages(make_client(endpoint), group) == ["configured"]


def test_django_logging_setting_builds_the_handler(endpoint: str, group: str) -> None:
    script = textwrap.dedent(f"""
        import boto3, django, logging
        from django.conf import settings
        settings.configure(LOGGING={{
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {{"watchtower": {{
                "class": "wt_adapters.CloudWatchLogHandler",
                "log_group_name": {group!r},
                "log_stream_name": "django",
                "boto3_client": boto3.client("logs", endpoint_url={endpoint!r},
                                             region_name="us-east-1"),
            }}}},
            "loggers": {{"django": {{"handlers": ["watchtower"], "level": "INFO"}}}},
        }})
        django.setup()
        logging.getLogger("django").info("from django")
    """)
    pytest.importorskip("django")
    run = run_python(script, timeout=60)
    assert run.returncode == 0, run.stderr
    assert messages(make_client(endpoint), group, "django") == ["from django"]


def test_records_queued_at_exit_without_close_are_delivered(endpoint: str, group: str) -> None:
    script = textwrap.dedent(f"""
        import logging, boto3, wt_adapters
        client = boto3.client("logs", endpoint_url={endpoint!r}, region_name="us-east-1")
        log = logging.getLogger("exit")
        log.setLevel(logging.INFO)
        log.addHandler(wt_adapters.CloudWatchLogHandler(log_group_name={group!r},
                       log_stream_name="exit", boto3_client=client, send_interval=600))
        for i in range(20000):
            log.info("queued %d", i)
        # no flush, no close: the interpreter exits with everything queued
    """)
    run = run_python(script, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "WatchtowerWarning" not in run.stderr, run.stderr
    assert messages(make_client(endpoint), group, "exit") == [f"queued {i}" for i in range(20000)]


def test_the_profile_name_picks_the_credentials_and_region(
    endpoint: str, group: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile wt]\nregion = eu-west-1\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[wt]\naws_access_key_id = a\naws_secret_access_key = b\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL_LOGS", endpoint)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="p", boto3_profile_name="wt"
    )
    assert handler.cwl_client.meta.region_name == "eu-west-1"
    log = logging.getLogger("profile.test")
    log.propagate = False
    log.addHandler(handler)
    log.warning("via profile")
    handler.close()
    log.removeHandler(handler)
    import boto3

    reader = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    assert messages(reader, group, "p") == ["via profile"]


# --------------------------------------------------------------- warnings


def test_an_empty_message_warns_and_is_not_sent(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match="Empty messages cannot be sent"):
        logger.info("")
    logger.info("next")
    handler.close()
    assert messages(client, group) == ["next"]


def test_a_message_after_close_warns(client: Any, group: str, logger: logging.Logger) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    handler.close()
    with pytest.warns(WatchtowerWarning, match="after logging system shutdown"):
        logger.info("late")


def test_an_oversized_message_is_truncated_with_a_warning(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match="truncated"):
        logger.info("x" * (300 * 1024))
    handler.close()
    [message] = messages(client, group)
    assert len(message) == 256 * 1024 - 26


def test_a_one_megabyte_message_goes_whole_when_allowed(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group, max_message_size=1_048_576)
    logger.addHandler(handler)
    logger.info("y" * 1_048_550)
    handler.close()
    assert messages(client, group) == ["y" * 1_048_550]


def test_deprecated_aliases_still_work_with_a_deprecation_warning(client: Any) -> None:
    with pytest.warns(DeprecationWarning, match="log_group_name instead of log_group"):
        handler = CloudWatchLogHandler(log_group="old-style", boto3_client=client)
    assert handler.log_group_name == "old-style"
    with pytest.warns(DeprecationWarning, match="log_stream_name instead of stream_name"):
        other = CloudWatchLogHandler(stream_name="legacy", boto3_client=client)
    assert other.log_stream_name == "legacy"
    with pytest.raises(WatchtowerError, match="Both log_group_name"):
        CloudWatchLogHandler(log_group_name="a", log_group="b", boto3_client=client)
    with pytest.raises(WatchtowerError, match="Both log_stream_name"):
        CloudWatchLogHandler(log_stream_name="a", stream_name="b", boto3_client=client)
    handler.close()
    other.close()


def test_class_constants_and_repr_match_watchtower(client: Any) -> None:
    assert (CloudWatchLogHandler.END, CloudWatchLogHandler.FLUSH) == (1, 2)
    assert CloudWatchLogHandler.FLUSH_TIMEOUT == 30
    assert CloudWatchLogHandler.EXTRA_MSG_PAYLOAD_SIZE == 26
    handler = CloudWatchLogHandler(log_group_name="g", log_stream_name="s", boto3_client=client)
    assert repr(handler) == "CloudWatchLogHandler(log_group_name='g', log_stream_name='s')"
    assert isinstance(handler.formatter, CloudWatchLogFormatter)
    handler.close()


def test_defaults_match_watchtower(client: Any) -> None:
    handler = CloudWatchLogHandler(boto3_client=client)
    assert handler.log_group_name == "watchtower"
    assert handler.log_stream_name == "{machine_name}/{program_name}/{logger_name}/{process_id}"
    assert handler.use_queues is True and handler.send_interval == 60
    assert handler.max_batch_size == 1024 * 1024 and handler.max_batch_count == 10000
    assert handler.max_message_size == 256 * 1024 and handler.create_log_stream is True
    assert handler.log_group_retention_days is None
    handler.close()


def test_close_twice_is_harmless(client: Any, group: str) -> None:
    handler = handler_for(client, group)
    assert handler.close() is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert handler.close() is True


def test_flush_all_flushes_every_engine(client: Any, group: str, logger: logging.Logger) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    logger.info("pending")
    assert wt_adapters.flush(timeout=10) is True
    assert wait_for(lambda: messages(client, group)) == ["pending"]


def test_exit_with_the_endpoint_down_reports_the_loss_within_the_deadline(group: str) -> None:
    script = textwrap.dedent(f"""
        import logging, boto3, wt_adapters, wt_adapters._registry as engine
        engine.FLUSH_TIMEOUT = 1.0  # the exit deadline, shortened for the test
        client = boto3.client("logs", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
        log = logging.getLogger("exit")
        log.addHandler(wt_adapters.CloudWatchLogHandler(log_group_name={group!r},
                       boto3_client=client))
        log.warning("never delivered")
    """)
    started = time.monotonic()
    run = run_python(script, timeout=60)
    assert run.returncode == 0
    assert time.monotonic() - started < 15
    assert "1 events" in run.stderr and "could not be delivered" in run.stderr


def test_stream_names_are_looked_up_by_logger_only_where_the_template_allows(
    client: Any, group: str
) -> None:
    by_thread = handler_for(client, group, log_stream_name="{logger_name}/{thread_name}")
    assert by_thread._destination is not None
    assert by_thread._destination.stream_names.by_logger is None
    by_logger = handler_for(client, group, log_stream_name="{logger_name}/{process_id}")
    assert by_logger._destination is not None
    namer = by_logger._destination.stream_names
    log = logging.getLogger("app.by_logger")
    log.propagate = False
    log.addHandler(by_logger)
    try:
        log.warning("one")
        log.warning("two")
    finally:
        log.removeHandler(by_logger)
    assert namer.by_logger == {"app.by_logger": f"app.by_logger/{os.getpid()}"}
    namer._reset()  # as after a fork: the process id changes
    assert namer.by_logger == {}
    by_thread.close()
    by_logger.close()


# ------------------------------------------------------------ the hot path's shortcuts


def test_a_dict_message_goes_through_a_formatter_the_user_set(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.info({"k": 1})
    handler.close()
    assert messages(client, group) == ["INFO {'k': 1}"]


def test_a_subclass_format_and_formatter_subclass_are_used_for_dict_messages(
    client: Any, group: str, logger: logging.Logger
) -> None:
    class Tagged(CloudWatchLogHandler):
        def format(self, record: logging.LogRecord) -> str:
            return "tagged " + super().format(record)

    class Upper(CloudWatchLogFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return super().format(record).upper()

    tagged = Tagged(log_group_name=group, log_stream_name="a", boto3_client=client)
    upper = handler_for(client, group, log_stream_name="b")
    upper.setFormatter(Upper())
    logger.addHandler(tagged)
    logger.addHandler(upper)
    logger.info({"k": "v"})
    tagged.close()
    upper.close()
    assert messages(client, group, "a") == ['tagged {"k":"v"}']
    assert messages(client, group, "b") == ['{"K":"V"}']


def test_a_users_filters_run_and_may_drop_or_change_records(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    seen = []

    def only_even(record: logging.LogRecord) -> bool:
        seen.append(record.msg)
        record.msg = {**record.msg, "checked": True}  # type: ignore[dict-item]
        return record.msg["n"] % 2 == 0  # type: ignore[index, no-any-return]

    handler.addFilter(only_even)
    logger.addHandler(handler)
    for n in range(4):
        logger.info({"n": n})
    handler.removeFilter(only_even)
    logger.info({"n": 5})
    handler.close()
    assert seen == [{"n": n} for n in range(4)]
    assert [json.loads(m) for m in messages(client, group)] == [
        {"n": 0, "checked": True},
        {"n": 2, "checked": True},
        {"n": 5},
    ]


def test_a_handler_subclass_that_overrides_emit_gets_every_record(client: Any, group: str) -> None:
    got = []

    class Recording(CloudWatchLogHandler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record.msg)
            super().emit(record)

    handler = Recording(log_group_name=group, log_stream_name="s", boto3_client=client)
    log = logging.getLogger("app.recording")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning({"k": 1})
        log.warning("text")
    finally:
        log.removeHandler(handler)
        handler.close()
    assert got == [{"k": 1}, "text"]
    assert messages(client, group) == ['{"k":1}', "text"]


def test_a_serializer_that_logs_through_the_same_handler_is_cut_off(
    client: Any, group: str, logger: logging.Logger
) -> None:
    class Chatty:
        pass

    def default(o: Any) -> Any:
        logger.info({"serializing": o})  # nests: shipped once more, then left out
        return "chatty"

    handler = handler_for(client, group, json_serialize_default=default)
    logger.addHandler(handler)
    logger.info({"obj": Chatty()})
    handler.close()
    got = [json.loads(m) for m in messages(client, group)]
    assert {"obj": "chatty"} in got and len(got) <= 2


def test_a_fixed_stream_name_is_looked_up_by_logger(client: Any, group: str) -> None:
    handler = handler_for(client, group, log_stream_name="app/{process_id}")
    assert handler._destination is not None
    namer = handler._destination.stream_names
    log = logging.getLogger("app.fixed")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning({"k": 1})
    finally:
        log.removeHandler(handler)
        handler.close()
    assert namer.by_logger == {"app.fixed": f"app/{os.getpid()}"}
    assert messages(client, group, f"app/{os.getpid()}") == ['{"k":1}']


def test_a_formatter_assigned_directly_is_used_for_dict_messages(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    logger.info({"k": 1})
    handler.formatter = logging.Formatter("%(levelname)s %(message)s")  # as watchtower users do
    logger.info({"k": 2})
    handler.formatter = CloudWatchLogFormatter()
    logger.info({"k": 3})
    handler.close()
    assert messages(client, group) == ['{"k":1}', "INFO {'k': 2}", '{"k":3}']


def test_formatter_settings_changed_after_logging_apply_to_the_next_dict(
    client: Any, group: str, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = handler_for(client, group)
    formatter: Any = handler.formatter
    logger.addHandler(handler)
    logger.info({"n": 1})
    formatter.add_log_record_attrs = ("levelname",)
    logger.info({"n": 2})
    formatter.add_log_record_attrs = ()
    formatter.json_serialize_default = lambda o: "custom"
    logger.info({"n": 3, "o": object()})
    monkeypatch.setattr(CloudWatchLogFormatter, "add_log_record_attrs", ("levelno",))
    del formatter.add_log_record_attrs  # the class attribute shows through again
    logger.info({"n": 4})
    handler.close()
    assert [json.loads(m) for m in messages(client, group)] == [
        {"n": 1},
        {"n": 2, "levelname": "INFO"},
        {"n": 3, "o": "custom"},
        {"n": 4, "levelno": 20},
    ]


def test_emit_filter_or_format_set_on_the_instance_or_a_subclass_is_called(
    client: Any, group: str, logger: logging.Logger
) -> None:
    emitted, filtered = [], []
    handler = handler_for(client, group, log_stream_name="a")
    original_emit = handler.emit

    def emit(record: logging.LogRecord) -> None:
        emitted.append(record.msg)
        original_emit(record)

    class Filtering(CloudWatchLogHandler):
        def filter(self, record: logging.LogRecord) -> Any:
            filtered.append(record.msg)
            return record.msg["n"] != 2  # type: ignore[index]

    filtering = Filtering(log_group_name=group, log_stream_name="b", boto3_client=client)
    formatted = handler_for(client, group, log_stream_name="c")
    formatted.format = lambda record: "formatted"  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.addHandler(filtering)
    logger.addHandler(formatted)
    logger.info({"n": 1})
    handler.emit = emit  # type: ignore[method-assign]
    logger.info({"n": 2})
    for h in (handler, filtering, formatted):
        h.close()
    assert emitted == [{"n": 2}] and filtered == [{"n": 1}, {"n": 2}]
    assert messages(client, group, "a") == ['{"n":1}', '{"n":2}']
    assert messages(client, group, "b") == ['{"n":1}']
    assert messages(client, group, "c") == ["formatted", "formatted"]


def test_shutting_down_set_by_hand_stops_and_restarts_shipping(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group)
    logger.addHandler(handler)
    logger.info({"n": 1})
    handler.shutting_down = True
    with pytest.warns(WatchtowerWarning, match="after logging system shutdown"):
        logger.info({"n": 2})
    handler.shutting_down = False
    logger.info({"n": 3})
    with pytest.warns(WatchtowerWarning, match="1 closed"):  # the refused record, summed up
        assert handler.close() is False
    assert handler.stats()["dropped"] == {"closed": 1}
    assert messages(client, group) == ['{"n":1}', '{"n":3}']


def test_dict_messages_get_per_record_stream_names_and_timestamps(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(client, group, log_stream_name="{logger_name}/{thread_name}")
    logger.addHandler(handler)
    now = float(int(time.time()))
    for n, created in enumerate((now + 0.9999999, now + 0.0005, now - 3600.0015)):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, {"n": n}, (), None)
        record.created = created
        logger.handle(record)
    worker = threading.Thread(target=logger.info, args=({"n": 3},), name="worker:2")
    worker.start()
    worker.join()
    handler.close()
    events = sorted(read_events(client, group), key=lambda e: json.loads(e["message"])["n"])
    assert [e["timestamp"] for e in events[:3]] == [
        int((now + 0.9999999) * 1000),
        int((now + 0.0005) * 1000),
        int((now - 3600.0015) * 1000),
    ]
    assert [e["logStreamName"] for e in events] == [f"{logger.name}/MainThread"] * 3 + [
        f"{logger.name}/worker2"
    ]
