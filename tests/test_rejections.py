"""`rejectedLogEventsInfo` read one way everywhere: counts, warnings and dead letters.

AWS documents ``tooOldLogEventEndIndex`` and ``expiredLogEventEndIndex`` as
exclusive ends and ``tooNewLogEventStartIndex`` as an inclusive start.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from faultproxy import FaultProxy
from helpers import read_events

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._ledger import Ledger
from wt_adapters._rejections import read_rejections

KEYS = ("tooOldLogEventEndIndex", "expiredLogEventEndIndex", "tooNewLogEventStartIndex")


def naive(info: Dict[str, int], n: int) -> List[Optional[str]]:
    """Each event's fate, one at a time: the reason it was rejected, or None if stored."""
    fates: List[Optional[str]] = []
    for i in range(n):
        if i < info.get("tooOldLogEventEndIndex", 0):
            fates.append("too_old")
        elif i < info.get("expiredLogEventEndIndex", 0):
            fates.append("expired")
        elif i >= info.get("tooNewLogEventStartIndex", n):
            fates.append("too_new")
        else:
            fates.append(None)
    return fates


def infos(n: int) -> List[Dict[str, int]]:
    """Every combination of the three fields, each absent or at any index from 0 to n."""
    choices = [None, *range(n + 1)]
    out = []
    for values in itertools.product(choices, repeat=3):
        out.append({k: v for k, v in zip(KEYS, values) if v is not None})
    return out


@pytest.mark.parametrize("n", [1, 2, 5])
def test_every_combination_of_indexes_counts_each_event_once_as_the_api_documents(n: int) -> None:
    for info in infos(n):
        fates: List[Optional[str]] = [None] * n
        for reason, start, end in read_rejections(info, n):
            for i in range(start, end):
                assert fates[i] is None, (info, i)  # counted once
                fates[i] = reason
        assert fates == naive(info, n), info


def test_indexes_past_the_batch_are_held_to_it() -> None:
    assert read_rejections({"tooOldLogEventEndIndex": 99}, 3) == [("too_old", 0, 3)]
    assert read_rejections({"tooNewLogEventStartIndex": -4}, 3) == [("too_new", 0, 3)]


def test_the_ledger_counts_a_response_with_every_field_once_per_event() -> None:
    ledger = Ledger("g")
    info = {"tooOldLogEventEndIndex": 2, "expiredLogEventEndIndex": 3, "tooNewLogEventStartIndex": 8}
    ledger.sent(10, read_rejections(info, 10), 0)
    figures = ledger.figures()
    assert figures["rejected"] == {"too_old": 2, "expired": 1, "too_new": 2}
    assert figures["sent"] == 5


def rejecting(info: Dict[str, int]) -> Callable[[bytes], bytes]:
    """A fault proxy rewrite: the PutLogEvents answer says CloudWatch rejected per `info`."""

    def rewrite(body: bytes) -> bytes:
        return json.dumps({**json.loads(body or b"{}"), "rejectedLogEventsInfo": info}).encode()

    return rewrite


def test_rejections_over_http_are_counted_and_dead_lettered_by_the_documented_indexes(
    tmp_path: Path, proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    info = {"tooOldLogEventEndIndex": 2, "expiredLogEventEndIndex": 3, "tooNewLogEventStartIndex": 8}
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url, spool_dir=tmp_path,
        max_batch_count=10, send_interval=60,
    )  # fmt: skip
    logger.addHandler(handler)
    proxy.add_fault("rewrite", count=1, rewrite=rejecting(info))
    with pytest.warns(WatchtowerWarning, match="rejected"):
        for i in range(10):
            logger.info("event %d", i)
        assert handler.flush(30)
    stats = handler.stats()
    assert stats["rejected"] == {"too_old": 2, "expired": 1, "too_new": 2}
    assert stats["sent"] == 5
    assert len(read_events(client, group, "s")) == 10  # the stand-in stored them all
    handler._destination.engine.spool.sync()
    letters = [json.loads(line) for line in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert [(d["message"], d["reason"]) for d in letters] == [
        ("event 0", "too_old"),
        ("event 1", "too_old"),
        ("event 2", "expired"),
        ("event 8", "too_new"),
        ("event 9", "too_new"),
    ]
    with pytest.warns(WatchtowerWarning, match="5 events in all since the last summary"):
        assert handler.close() is False


def test_a_flush_returns_once_the_warning_of_its_rejected_events_is_issued(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    """The sender thread says what became of a batch after settling it; flush waits for that.

    A warning hook that takes its time on the sender thread widens the moment between the
    two: before, flush returned in it, and the warning came after.
    """
    seen: List[str] = []

    def slow_hook(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.5)
        seen.append(str(message))

    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url, send_interval=60
    )
    logger.addHandler(handler)
    proxy.add_fault("rewrite", count=1, rewrite=rejecting({"tooOldLogEventEndIndex": 1}))
    with warnings.catch_warnings():
        warnings.simplefilter("always", WatchtowerWarning)
        warnings.showwarning = slow_hook
        logger.info("too old")
        logger.info("kept")
        assert handler.flush(30) is True
        assert seen == [f"CloudWatch rejected log events as too old: 1 so far for log group {group!r}"]
        logger.removeHandler(handler)
        assert handler.close() is False  # its summary goes to the hook too
