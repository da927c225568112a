"""Loss told in full: every record a front end was handed is delivered or counted, close
returns False once anything was lost, and its one warning sums the loss up by reason.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict

import pytest
from helpers import read_events

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters.loguru import cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer


def _accounted(stats: Dict[str, Any]) -> int:
    return int(stats["sent"]) + sum(stats["dropped"].values()) + sum(stats["rejected"].values())


def test_records_logged_while_close_runs_are_delivered_or_counted(
    endpoint: str, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, endpoint_url=endpoint, send_interval=0.05)
    logger.addHandler(handler)
    logged = 0
    closing = threading.Event()
    stop = threading.Event()

    def log_without_pause() -> None:
        nonlocal logged
        deadline = time.monotonic() + 20  # bounded whatever happens to the test
        while not stop.is_set() and time.monotonic() < deadline:
            logger.info("record %d", logged)
            logged += 1
            if logged == 2000:
                closing.set()

    with pytest.warns(WatchtowerWarning) as caught:
        writer = threading.Thread(target=log_without_pause)
        writer.start()
        assert closing.wait(10)
        handler.close()
        time.sleep(0.05)  # some records now come after close
        stop.set()
        writer.join(15)
    assert not writer.is_alive()
    stats = handler.stats()
    assert stats["dropped"].get("closed", 0) > 0, stats  # logged after close: counted
    assert _accounted(stats) == logged, (stats, logged)
    assert len(read_events(client, group)) == stats["sent"]
    assert any("after logging system shutdown" in str(w.message) for w in caught)


@pytest.mark.parametrize("front_end", ["structlog", "loguru"])
def test_a_record_after_close_is_counted_on_every_front_end(
    endpoint: str, group: str, front_end: str
) -> None:
    if front_end == "structlog":
        renderer = CloudWatchRenderer(log_group_name=group, endpoint_url=endpoint)
        close, stats = renderer.close, renderer.stats

        def log() -> None:
            renderer(None, "info", {"event": "late"})

    else:
        sink = cloudwatch_sink(log_group_name=group, endpoint_url=endpoint)
        close, stats = sink.close, sink.stats
        from loguru import logger

        sink_id = logger.add(sink, format="{message}", catch=False)

        def log() -> None:
            logger.info("late")

    assert close() is True
    with pytest.warns(WatchtowerWarning, match="after"):
        log()
    assert stats()["dropped"] == {"closed": 1}
    if front_end == "loguru":
        logger.remove(sink_id)


def test_close_returns_false_when_events_were_lost_earlier_and_sums_them_up(
    endpoint: str, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group,
        endpoint_url=endpoint,
        max_queue_events=10,
        queue_overflow="drop_newest",
        send_interval=60,
    )
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning) as caught:
        for i in range(100):
            logger.info("record %d", i)
        assert handler.close() is False  # what was queued was delivered, but 90 were lost
    stats = handler.stats()
    assert stats["dropped"] == {"queue_full": 90}
    assert stats["sent"] == 10 == len(read_events(client, group))
    (summary,) = [str(w.message) for w in caught if "since the last summary" in str(w.message)]
    assert "90 events in all since the last summary: 90 queue full" in summary


def test_close_returns_true_when_nothing_was_lost(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, endpoint_url=endpoint)
    logger.addHandler(handler)
    for i in range(50):
        logger.info("record %d", i)
    assert handler.close() is True
    assert handler.stats()["dropped"] == {}
