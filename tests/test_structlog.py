"""The structlog front end, over HTTP against moto's CloudWatch Logs server."""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
import warnings
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, List

import pytest
import structlog
from helpers import PAYLOAD, LoggingClient, Opaque, read_events, stored

import wt_adapters
import wt_adapters.structlog
from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters.structlog import CloudWatchRenderer

Configure = Callable[..., CloudWatchRenderer]


@pytest.fixture
def configure(client: Any, group: str) -> Iterator[Configure]:
    """Configure structlog with processors ending in a renderer for this test's group."""
    made: List[CloudWatchRenderer] = []

    def configure(*before: Any, logger_factory: Any = None, **options: Any) -> CloudWatchRenderer:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        renderer = CloudWatchRenderer(**options)
        made.append(renderer)
        structlog.configure(
            processors=[*before, renderer],
            logger_factory=logger_factory or structlog.ReturnLoggerFactory(),
            cache_logger_on_first_use=False,
        )
        return renderer

    try:
        yield configure
    finally:
        structlog.reset_defaults()
        for renderer in made:
            renderer.close(5)


def test_a_nested_payload_round_trips_as_a_json_object(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    structlog.get_logger().info("payload", **PAYLOAD)
    assert renderer.flush(10)
    assert stored(client, group) == [{"event": "payload", **PAYLOAD}]


def test_the_rendered_json_is_returned_for_the_logger_to_write_locally(
    configure: Configure, client: Any, group: str
) -> None:
    out = io.StringIO()
    renderer = configure(logger_factory=structlog.PrintLoggerFactory(out))
    structlog.get_logger().warning("here", n=1)
    assert renderer.flush(10)
    [event] = read_events(client, group)
    assert out.getvalue() == event["message"] + "\n"
    assert json.loads(event["message"]) == {"event": "here", "n": 1}


def test_write_locally_false_ships_but_drops_the_event_locally(
    configure: Configure, client: Any, group: str
) -> None:
    out = io.StringIO()
    renderer = configure(logger_factory=structlog.PrintLoggerFactory(out), write_locally=False)
    structlog.get_logger().info("only remote")
    assert renderer.flush(10)
    assert out.getvalue() == ""
    assert stored(client, group) == [{"event": "only remote"}]


def test_bound_and_context_keys_arrive_with_their_structure(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(
        structlog.contextvars.merge_contextvars, structlog.processors.add_log_level
    )
    structlog.contextvars.bind_contextvars(request={"id": 7, "path": "/x"})
    try:
        log = structlog.get_logger().bind(user=["a", "b"], big=2**63)
        log.info("first")
        log.unbind("user").bind(retry=None).error("second", extra={"k": True})
    finally:
        structlog.contextvars.clear_contextvars()
    assert renderer.flush(10)
    request = {"id": 7, "path": "/x"}
    assert stored(client, group) == [
        {"event": "first", "level": "info", "request": request, "user": ["a", "b"], "big": 2**63},
        {"event": "second", "level": "error", "request": request, "big": 2**63, "retry": None,
         "extra": {"k": True}},
    ]  # fmt: skip


def test_exc_info_is_rendered_as_format_exc_info_does(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        structlog.get_logger().exception("failed", step=3)
        expected = structlog.processors.format_exc_info(None, "error", {"exc_info": True})
    assert renderer.flush(10)
    [data] = stored(client, group)
    assert data == {"event": "failed", "step": 3, "exception": expected["exception"]}
    assert data["exception"].startswith("Traceback (most recent call last):")
    assert data["exception"].rstrip().endswith("ZeroDivisionError: division by zero")


def test_an_exception_instance_as_exc_info_is_rendered_too(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    structlog.get_logger().error("failed", exc_info=ValueError("bad value"))
    assert renderer.flush(10)
    [data] = stored(client, group)
    assert "exc_info" not in data
    assert data["exception"].strip().endswith("ValueError: bad value")


def test_a_structured_traceback_configured_before_arrives_structured(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(structlog.processors.dict_tracebacks)
    try:
        raise KeyError("missing")
    except KeyError:
        structlog.get_logger().exception("failed")
    assert renderer.flush(10)
    [data] = stored(client, group)
    [exc] = data["exception"]
    assert exc["exc_type"] == "KeyError"
    assert exc["exc_value"] == "'missing'"
    assert (
        exc["frames"][-1]["name"]
        == "test_a_structured_traceback_configured_before_arrives_structured"
    )


@pytest.mark.parametrize(
    "stamper", [structlog.processors.TimeStamper(), structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.TimeStamper(fmt="iso", utc=False)],
    ids=["epoch", "iso-utc", "iso-local"],
)  # fmt: skip
def test_a_timestamper_stamp_is_the_cloudwatch_time(
    configure: Configure, client: Any, group: str, stamper: Any
) -> None:
    def slow(logger: Any, method_name: str, event_dict: Any) -> Any:
        time.sleep(0.02)  # the renderer then runs 20 ms after the stamp
        return event_dict

    renderer = configure(stamper, slow)
    structlog.get_logger().info("stamped")
    assert renderer.flush(10)
    [event] = read_events(client, group)
    stamp = json.loads(event["message"])["timestamp"]
    if isinstance(stamp, float):
        expected = stamp
    else:
        expected = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert event["timestamp"] == int(expected * 1000)


def test_without_a_stamp_the_cloudwatch_time_is_that_of_the_call(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    before = int(time.time() * 1000)
    structlog.get_logger().info("now", timestamp="2001-02-03T04:05:06Z")  # the user's data
    after = int(time.time() * 1000)
    assert renderer.flush(10)
    [event] = read_events(client, group)
    assert before <= event["timestamp"] <= after
    assert json.loads(event["message"])["timestamp"] == "2001-02-03T04:05:06Z"


def test_values_json_cant_encode_go_through_the_default_serializer(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    cycle: List[Any] = [1]
    cycle.append(cycle)
    structlog.get_logger().info(
        "odd", when=when, obj=Opaque(), nan=math.nan, cycle=cycle, keys={1: "int", (2, 3): "t"}
    )
    assert renderer.flush(10)
    assert stored(client, group) == [
        {"event": "odd", "when": "2024-05-06T07:08:09+00:00", "obj": "<Opaque>", "nan": "NaN",
         "cycle": [1, "<circular reference>"], "keys": {"1": "int", "(2, 3)": "t"}}
    ]  # fmt: skip


def test_a_custom_json_serialize_default_is_used(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(json_serialize_default=lambda o: {"kind": type(o).__name__})
    structlog.get_logger().info("custom", obj=Opaque())
    assert renderer.flush(10)
    assert stored(client, group) == [{"event": "custom", "obj": {"kind": "Opaque"}}]


def test_the_stream_name_template_takes_the_logger_key_and_thread(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(log_stream_name="{logger_name}/{thread_name}")
    structlog.get_logger().bind(logger="billing").info("one")
    worker = threading.Thread(target=lambda: structlog.get_logger().info("two"), name="worker-1")
    worker.start()
    worker.join()
    assert renderer.flush(10)
    events = read_events(client, group)
    assert {e["logStreamName"]: json.loads(e["message"])["event"] for e in events} == {
        "billing/MainThread": "one",
        "root/worker-1": "two",  # no logger name: "root", never an empty segment
    }


def test_the_stdlib_logger_name_fills_the_template_when_there_is_no_logger_key(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(
        log_stream_name="{logger_name}", logger_factory=structlog.stdlib.LoggerFactory()
    )
    logging.getLogger("wt_test.stdlib_name").propagate = False
    try:
        structlog.get_logger("wt_test.stdlib_name").warning("named")
    finally:
        logging.getLogger("wt_test.stdlib_name").propagate = True
    assert renderer.flush(10)
    [event] = read_events(client, group)
    assert event["logStreamName"] == "wt_test.stdlib_name"


def test_the_processor_formatter_recipe_keeps_the_dict_a_dict(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=client)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(default=wt_adapters.json_serialize_default),
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level],
        )
    )
    logger.addHandler(handler)
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger(logger.name)
        log.info("structured", **PAYLOAD)
        logger.warning("foreign %s", "record")
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            log.exception("failed")
    finally:
        structlog.reset_defaults()
    assert handler.flush(10)
    first, second, third = stored(client, group)
    assert first == {"event": "structured", "level": "info", **PAYLOAD}
    assert second == {"event": "foreign record", "level": "warning"}
    assert third["event"] == "failed"
    assert third["exception"].rstrip().endswith("ZeroDivisionError: division by zero")


def test_flush_and_close_report_delivery_and_close_is_idempotent(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    log = structlog.get_logger()
    log.info("before")
    assert renderer.close(10) is True
    assert renderer.close(10) is True
    with pytest.warns(WatchtowerWarning, match="after CloudWatchRenderer.close"):
        assert json.loads(log.info("after")) == {"event": "after"}
    assert stored(client, group) == [{"event": "before"}]


def test_nothing_is_shipped_from_the_engines_own_thread(
    configure: Configure, client: Any, group: str
) -> None:
    sending = LoggingClient(client, lambda: structlog.get_logger().info("while sending"))
    renderer = configure(boto3_client=sending)
    structlog.get_logger().info("from the caller")
    assert renderer.flush(10)
    assert json.loads(sending.logged[0]) == {"event": "while sending"}  # still written locally
    assert renderer.stats()["enqueued"] == 1
    assert stored(client, group) == [{"event": "from the caller"}]


def test_events_logged_while_rendering_nest_at_most_twice(
    configure: Configure, client: Any, group: str
) -> None:
    def default_that_logs(value: Any) -> Any:
        structlog.get_logger().info("serializing", what=Opaque())
        return "serialized"

    renderer = configure(json_serialize_default=default_that_logs)
    structlog.get_logger().info("top", obj=Opaque())
    assert renderer.flush(10)
    assert sorted(stored(client, group), key=lambda d: d["event"]) == [
        {"event": "serializing", "what": "serialized"},
        {"event": "top", "obj": "serialized"},
    ]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        CloudWatchRenderer("group")  # type: ignore[call-arg, arg-type]


def test_log_calls_do_no_network_work(configure: Configure) -> None:
    renderer = configure(send_interval=60)
    log = structlog.get_logger()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(1000):
            log.info("fast", i=i)
    stats = renderer.stats()
    assert stats["enqueued"] == 1000
    assert stats["batches_sent"] == 0  # nothing went over the network from the log calls
