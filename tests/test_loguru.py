"""The loguru front end, over HTTP against moto's CloudWatch Logs server."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import structlog
from helpers import PAYLOAD, LoggingClient, Opaque, read_events, stored
from loguru import logger

import wt_adapters
import wt_adapters.loguru
from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters.loguru import STANDARD_KEYS, CloudWatchSink, cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer

AddSink = Callable[..., Tuple[CloudWatchSink, int]]


@pytest.fixture
def add_sink(client: Any, group: str) -> Iterator[AddSink]:
    """Add a CloudWatch sink for this test's group to loguru; remove it afterwards."""
    added: List[int] = []

    def add_sink(add_options: Any = None, **options: Any) -> Tuple[CloudWatchSink, int]:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        sink = cloudwatch_sink(**options)
        handler_id = logger.add(sink, **(add_options or {}))
        added.append(handler_id)
        return sink, handler_id

    try:
        yield add_sink
    finally:
        for handler_id in added:
            with contextlib.suppress(ValueError):  # unless the test removed it
                logger.remove(handler_id)


def renamed(name: str) -> Callable[[Any], None]:
    """A loguru patcher giving records the logger name `name`."""

    def patch(record: Any) -> None:
        record["name"] = name

    return patch


def extra_keys(data: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in data.items() if k not in STANDARD_KEYS}


def test_a_nested_payload_round_trips_with_the_standard_keys(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink()
    logger.info("payload for {}", "you", **PAYLOAD)
    line = sys._getframe().f_lineno - 1
    assert sink.flush_to_cloudwatch(10)
    [data] = stored(client, group)
    assert extra_keys(data) == PAYLOAD
    assert {k: data[k] for k in STANDARD_KEYS & data.keys()} == {
        "message": "payload for you",
        "level": "INFO",
        "logger": __name__,
        "time": data["time"],
        "module": "test_loguru",
        "function": "test_a_nested_payload_round_trips_with_the_standard_keys",
        "line": line,
        "process": {"id": os.getpid(), "name": "MainProcess"},
        "thread": {"id": threading.get_ident(), "name": "MainThread"},
    }
    assert datetime.fromisoformat(data["time"]).utcoffset() is not None


def test_bind_contextualize_and_call_kwargs_arrive_at_the_top_level(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink()
    log = logger.bind(user={"id": 1, "roles": ["a", "b"]})
    with logger.contextualize(request_id="r-1", big=2**80):
        log.info("first", attempt=2)
    log.bind(done=True).warning("second")
    assert sink.flush_to_cloudwatch(10)
    first, second = stored(client, group)
    assert extra_keys(first) == {
        "user": {"id": 1, "roles": ["a", "b"]},
        "request_id": "r-1",
        "big": 2**80,
        "attempt": 2,
    }
    assert extra_keys(second) == {"user": {"id": 1, "roles": ["a", "b"]}, "done": True}
    assert second["level"] == "WARNING"


def test_an_extra_key_colliding_with_a_standard_key_stays_under_extra(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink()
    logger.bind(level="custom", time=[1], extra={"x": 1}, other=0).info("clash")
    assert sink.flush_to_cloudwatch(10)
    [data] = stored(client, group)
    assert data["level"] == "INFO"
    assert data["extra"] == {"level": "custom", "time": [1], "extra": {"x": 1}}
    assert data["other"] == 0


def test_an_exception_arrives_with_type_value_and_traceback(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("failed")
    logger.info("fine")
    assert sink.flush_to_cloudwatch(10)
    failed, fine = stored(client, group)
    exc = failed["exception"]
    assert (exc["type"], exc["value"]) == ("ZeroDivisionError", "division by zero")
    assert exc["traceback"].startswith("Traceback (most recent call last):")
    assert "test_an_exception_arrives_with_type_value_and_traceback" in exc["traceback"]
    assert exc["traceback"].endswith("ZeroDivisionError: division by zero\n")
    assert "exception" not in fine


def test_enqueue_and_complete_deliver_everything_including_exceptions(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink({"enqueue": True})
    for i in range(20):
        logger.bind(i=i).info("queued {}", i)
    try:
        raise KeyError("gone")
    except KeyError:
        logger.exception("failed\nwith two lines")
    logger.complete()
    assert sink.flush_to_cloudwatch(10)
    got = stored(client, group)
    assert [d["message"] for d in got] == [f"queued {i}" for i in range(20)] + [
        "failed\nwith two lines"
    ]
    assert [d["i"] for d in got[:20]] == list(range(20))
    exc = got[-1]["exception"]
    assert (exc["type"], exc["value"]) == ("KeyError", "'gone'")
    assert exc["traceback"].startswith("Traceback (most recent call last):")
    assert exc["traceback"].rstrip().endswith("KeyError: 'gone'")


def test_removing_the_sink_flushes_and_closes_it(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, handler_id = add_sink(send_interval=60)
    logger.info("one")
    logger.info("two")
    logger.remove(handler_id)
    assert [d["message"] for d in stored(client, group)] == ["one", "two"]
    assert sink.stats()["sent"] == 2
    with pytest.warns(WatchtowerWarning, match="after CloudWatchSink.close"):
        sink.write("late")  # type: ignore[arg-type]
    assert sink.close() is True


def test_removing_an_enqueued_sink_flushes_what_loguru_held(
    add_sink: AddSink, client: Any, group: str
) -> None:
    _, handler_id = add_sink({"enqueue": True}, send_interval=60)
    for i in range(50):
        logger.info("m{}", i)
    logger.remove(handler_id)
    assert [d["message"] for d in stored(client, group)] == [f"m{i}" for i in range(50)]


def test_the_cloudwatch_time_is_the_record_time(add_sink: AddSink, client: Any, group: str) -> None:
    sink, _ = add_sink()
    times: List[datetime] = []
    logger.patch(lambda r: times.append(r["time"])).info("timed")
    assert sink.flush_to_cloudwatch(10)
    [event] = read_events(client, group)
    assert event["timestamp"] == int(times[0].timestamp() * 1000)
    assert json.loads(event["message"])["time"] == times[0].isoformat()


def test_log_calls_do_no_network_work(add_sink: AddSink) -> None:
    sink, _ = add_sink(send_interval=60)
    assert not hasattr(sink, "flush")  # loguru would call it after every message
    for i in range(1000):
        logger.info("fast {}", i)
    stats = sink.stats()
    assert stats["enqueued"] == 1000
    assert stats["batches_sent"] == 0


def test_the_stream_name_template_takes_the_record_name_and_thread(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink(log_stream_name="{logger_name}/{thread_name}")
    logger.info("one")
    worker = threading.Thread(
        target=lambda: logger.patch(renamed("jobs")).info("two"), name="worker-1"
    )
    worker.start()
    worker.join()
    assert sink.flush_to_cloudwatch(10)
    events = read_events(client, group)
    assert {e["logStreamName"]: json.loads(e["message"])["message"] for e in events} == {
        f"{__name__}/MainThread": "one",
        "jobs/worker-1": "two",
    }


def test_debug_records_of_the_aws_sdk_are_left_out(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink({"level": "TRACE"})
    as_botocore = logger.patch(renamed("botocore.endpoint"))
    as_botocore.debug("request details")
    as_botocore.info("botocore info")
    logger.debug("app debug")
    assert sink.flush_to_cloudwatch(10)
    assert [d["message"] for d in stored(client, group)] == ["botocore info", "app debug"]


def test_nothing_is_shipped_from_the_engines_own_thread(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sending = LoggingClient(client, lambda: logger.info("while sending"))
    sink, _ = add_sink(boto3_client=sending)
    logger.info("from the caller")
    assert sink.flush_to_cloudwatch(10)
    assert sending.sends >= 1
    assert sink.stats()["enqueued"] == 1
    assert [d["message"] for d in stored(client, group)] == ["from the caller"]


def test_values_json_cant_encode_go_through_the_default_serializer(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink, _ = add_sink()
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    logger.bind(when=when, obj=Opaque(), nan=float("nan")).info("odd")
    assert sink.flush_to_cloudwatch(10)
    [data] = stored(client, group)
    assert extra_keys(data) == {
        "when": "2024-05-06T07:08:09+00:00",
        "obj": "<Opaque>",
        "nan": "NaN",
    }


def test_text_without_a_record_still_goes_out(client: Any, group: str) -> None:
    sink = cloudwatch_sink(boto3_client=client, log_group_name=group)
    try:
        sink.write("plain text\n")  # type: ignore[arg-type]
        assert sink.flush_to_cloudwatch(10)
    finally:
        sink.close()
    [data] = stored(client, group)
    assert data["message"] == "plain text\n"


def test_three_front_ends_for_the_same_group_share_one_engine(
    add_sink: AddSink, client: Any, group: str, request: pytest.FixtureRequest
) -> None:
    stdlib_logger: logging.Logger = request.getfixturevalue("logger")
    options: Dict[str, Any] = {"log_stream_name": "shared", "send_interval": 60}
    sink, _ = add_sink(**options)
    renderer = CloudWatchRenderer(boto3_client=client, log_group_name=group, **options)
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=client, **options)
    stdlib_logger.addHandler(handler)
    structlog.configure(processors=[renderer], logger_factory=structlog.ReturnLoggerFactory())
    try:
        engine = handler._destination.engine
        assert sink._destination.engine is engine
        assert renderer._destination.engine is engine
        structlog.get_logger().info("from structlog")
        stdlib_logger.info("from stdlib")
        logger.info("from loguru")
        assert wt_adapters.flush(10)
        workers = [t for t in threading.enumerate() if t.name.startswith(f"wt_adapters:{group}:")]
        assert workers and all(t in engine.workers.threads for t in workers)
        assert engine.stats()["enqueued"] == 3
    finally:
        structlog.reset_defaults()
        renderer.close(5)
    events = read_events(client, group)
    assert {e["logStreamName"] for e in events} == {"shared"}
    messages = [e["message"] for e in events]
    assert json.loads(messages[0]) == {"event": "from structlog"}
    assert messages[1] == "from stdlib"
    assert json.loads(messages[2])["message"] == "from loguru"


def test_a_serializer_that_logs_neither_recurses_nor_fails_the_call(
    add_sink: AddSink, client: Any, group: str
) -> None:
    def default_that_logs(value: Any) -> Any:
        logger.info("serializing")  # made inside the sink: not shipped, and no failure
        return "serialized"

    sink, _ = add_sink(json_serialize_default=default_that_logs)
    logger.bind(obj=Opaque()).info("top")
    logger.info("after")
    assert sink.flush_to_cloudwatch(10)
    got = [(d["message"], d.get("obj")) for d in stored(client, group)]
    assert got == [("top", "serialized"), ("after", None)]
