"""Error-triggered buffering on the structlog and loguru front ends, over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import structlog
from helpers import read_events, stored
from loguru import logger

import wt_adapters
from wt_adapters import WatchtowerWarning, buffer_scope
from wt_adapters.loguru import CloudWatchSink, cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer

Configure = Callable[..., CloudWatchRenderer]
AddSink = Callable[..., CloudWatchSink]


@pytest.fixture
def configure(client: Any, group: str) -> Iterator[Configure]:
    """Configure structlog to end in a buffering renderer for this test's group."""
    made: List[CloudWatchRenderer] = []

    def configure(**options: Any) -> CloudWatchRenderer:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        options.setdefault("log_stream_name", "s")
        options.setdefault("buffer_level", "debug")
        renderer = CloudWatchRenderer(**options)
        made.append(renderer)
        structlog.configure(
            processors=[structlog.processors.TimeStamper(fmt=None), renderer],
            logger_factory=structlog.ReturnLoggerFactory(),
            cache_logger_on_first_use=False,
        )
        return renderer

    try:
        yield configure
    finally:
        structlog.reset_defaults()
        for renderer in made:
            renderer.close(5)


@pytest.fixture
def add_sink(client: Any, group: str) -> Iterator[AddSink]:
    """Add a buffering CloudWatch sink for this test's group to loguru; remove it afterwards."""
    added: List[int] = []

    def add_sink(**options: Any) -> CloudWatchSink:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        options.setdefault("log_stream_name", "s")
        options.setdefault("buffer_level", "DEBUG")
        sink = cloudwatch_sink(**options)
        added.append(logger.add(sink, level="TRACE"))
        return sink

    try:
        yield add_sink
    finally:
        for handler_id in added:
            with contextlib.suppress(ValueError):
                logger.remove(handler_id)


def events(client: Any, group: str) -> List[Tuple[int, Dict[str, Any]]]:
    import json

    return [(e["timestamp"], json.loads(e["message"])) for e in read_events(client, group)]


# ------------------------------------------------------------------ structlog


def test_structlog_holds_debug_and_ships_it_on_error_with_its_own_times(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    log = structlog.get_logger()
    with buffer_scope():
        log.debug("first")
        time.sleep(0.01)
        log.debug("second")
        assert renderer.flush(10)
        assert not _group_exists(client, group)  # nothing was sent: no group made yet
        time.sleep(0.01)
        log.error("boom")
    assert renderer.flush(10)
    got = events(client, group)
    assert [m["event"] for _, m in got] == ["first", "second", "boom"]
    assert [t for t, _ in got] == [int(m["timestamp"] * 1000) for _, m in got]
    assert renderer.stats()["buffered"] == {"held": 2, "shipped": 2, "discarded": 0, "evicted": 0}


def test_structlog_discards_a_scope_without_an_error(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    log = structlog.get_logger()
    with buffer_scope():
        log.debug("detail")
        log.info("shipped")
    assert renderer.flush(10)
    assert [m["event"] for m in stored(client, group)] == ["shipped"]
    assert renderer.stats()["buffered"]["discarded"] == 1


def test_structlog_levels_are_its_method_names(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure(buffer_level="info", flush_buffer_on="exception")
    log = structlog.get_logger()
    with buffer_scope():
        log.info("held")
        time.sleep(0.01)  # a later millisecond: CloudWatch orders by time, then by arrival
        log.warning("not held, no trigger")
        try:
            raise ValueError("x")
        except ValueError:
            log.exception("failed")
    assert renderer.flush(10)
    assert [m["event"] for m in stored(client, group)] == ["held", "not held, no trigger", "failed"]


def test_structlog_ships_on_an_escaping_exception_in_an_async_scope(
    configure: Configure, client: Any, group: str
) -> None:
    renderer = configure()
    log = structlog.get_logger()

    @buffer_scope
    async def handler() -> None:
        log.debug("before the failure")
        await asyncio.sleep(0)
        raise RuntimeError("failed")

    with pytest.raises(RuntimeError):
        asyncio.run(handler())
    assert renderer.flush(10)
    assert [m["event"] for m in stored(client, group)] == ["before the failure"]


def test_structlog_still_writes_held_events_locally(configure: Configure) -> None:
    configure()
    with buffer_scope():
        assert '"event":"local"' in structlog.get_logger().debug("local").replace(" ", "")


# ------------------------------------------------------------------ loguru


def test_loguru_holds_debug_and_ships_it_on_error_with_its_own_times(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink = add_sink()
    with buffer_scope():
        logger.debug("first")
        time.sleep(0.01)
        logger.trace("second, below DEBUG")
        time.sleep(0.01)  # a later millisecond: CloudWatch orders by time, then by arrival
        logger.info("info ships at once")
        assert sink.flush_to_cloudwatch(10)
        assert [m["message"] for _, m in events(client, group)] == ["info ships at once"]
        time.sleep(0.01)
        logger.error("boom")
    assert sink.flush_to_cloudwatch(10)
    got = events(client, group)
    assert [m["message"] for _, m in got] == [
        "first",
        "second, below DEBUG",
        "info ships at once",
        "boom",
    ]
    from datetime import datetime

    assert [t for t, _ in got] == [
        int(datetime.fromisoformat(m["time"]).timestamp() * 1000) for _, m in got
    ]
    assert sink.stats()["buffered"] == {"held": 2, "shipped": 2, "discarded": 0, "evicted": 0}


def test_loguru_discards_a_scope_without_an_error_and_custom_levels_work(
    add_sink: AddSink, client: Any, group: str
) -> None:
    sink = add_sink(buffer_level="SUCCESS", flush_buffer_on="CRITICAL")
    with buffer_scope():
        logger.success("held")
        logger.error("not a trigger here")
    with buffer_scope():
        logger.info("held too")
        logger.critical("trigger")
    assert sink.flush_to_cloudwatch(10)
    assert [m["message"] for _, m in events(client, group)] == [
        "not a trigger here",
        "held too",
        "trigger",
    ]
    assert sink.stats()["buffered"]["discarded"] == 1


def test_loguru_threads_copying_the_context_share_the_scope(
    add_sink: AddSink, client: Any, group: str
) -> None:
    import contextvars

    sink = add_sink()

    def work() -> None:
        logger.debug("from the worker")

    with pytest.raises(LookupError), buffer_scope():
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        thread.start()
        thread.join(10)
        raise LookupError("failed")
    assert sink.flush_to_cloudwatch(10)
    assert [m["message"] for _, m in events(client, group)] == ["from the worker"]


def test_loguru_eviction_warns_once(add_sink: AddSink, client: Any, group: str) -> None:
    sink = add_sink(buffer_max_bytes=1024)
    with pytest.warns(WatchtowerWarning, match="buffer_max_bytes=1024"), buffer_scope():
        for i in range(100):
            logger.debug("line {}", i)
        logger.error("boom")
    assert sink.flush_to_cloudwatch(10)
    shipped = [m["message"] for _, m in events(client, group)]
    assert shipped[-1] == "boom" and shipped[-2] == "line 99" and len(shipped) < 20
    figures = sink.stats()["buffered"]
    assert figures["evicted"] + figures["shipped"] == 100


def test_one_scope_holds_for_all_three_front_ends(
    add_sink: AddSink, configure: Configure, client: Any, group: str
) -> None:
    import logging

    sink = add_sink(log_group_name=group + "-loguru")
    renderer = configure(log_group_name=group + "-structlog")
    std = logging.getLogger(f"wt_test.{group}")
    std.propagate, std.level = False, logging.DEBUG
    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=group + "-stdlib", boto3_client=client, buffer_level="DEBUG"
    )
    std.addHandler(handler)
    try:
        with pytest.raises(OSError), buffer_scope():
            logger.debug("loguru detail")
            structlog.get_logger().debug("structlog detail")
            std.debug("stdlib detail")
            raise OSError("failed")
        assert sink.flush_to_cloudwatch(10) and renderer.flush(10) and handler.flush(10)
        assert [m["message"] for _, m in events(client, group + "-loguru")] == ["loguru detail"]
        assert [m["event"] for m in stored(client, group + "-structlog")] == ["structlog detail"]
        assert stored(client, group + "-stdlib") == ["stdlib detail"]
    finally:
        std.removeHandler(handler)
        handler.close()


def _group_exists(client: Any, group: str) -> bool:
    found = client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return any(g["logGroupName"] == group for g in found)
