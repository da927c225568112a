"""Records of one stream read back in the order each thread logged them.

CloudWatch (and the local endpoint) returns a stream's events sorted by
timestamp, ties in the order they arrived. Two batches of one stream in
flight at once must not carry events of the same millisecond: a later one
landing first would put its events of that millisecond ahead of the
earlier one's.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List

import pytest
from faultproxy import FaultProxy

from wt_adapters import CloudWatchLogHandler


def filtered(client: Any, group: str) -> List[str]:
    """Every message of `group`, in the order filter_log_events returns them."""
    pages = client.get_paginator("filter_log_events").paginate(logGroupName=group)
    return [e["message"] for page in pages for e in page["events"]]


def out_of_order_threads(messages: List[str]) -> List[int]:
    """The threads whose records (``"T:N"``) read back out of the order they were logged."""
    last: Dict[int, int] = {}
    wrong = set()
    for m in messages:
        t, n = map(int, m.split(":"))
        if n < last.get(t, -1):
            wrong.add(t)
        last[t] = n
    return sorted(wrong)


@pytest.mark.slow
def test_every_thread_s_records_read_back_in_its_order_with_requests_in_flight_at_once(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    threads, per_thread = 8, 1500
    # Small batches, so that each millisecond's records are split across two batches;
    # the first requests are slow, so that later ones land before them.
    proxy.add_fault("latency", count=6, latency=0.2)
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url,
        max_batch_count=37, send_interval=0.01, max_concurrency=6,
    )  # fmt: skip
    logger.addHandler(handler)
    start = threading.Barrier(threads)

    def log(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            logger.info("%d:%d", t, i)

    workers = [threading.Thread(target=log, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert handler.flush(60)
    stats = handler.stats()
    assert stats["sent"] == threads * per_thread and stats["dropped"] == {}
    messages = filtered(client, group)
    assert len(messages) == threads * per_thread
    assert out_of_order_threads(messages) == []
    assert proxy.stats()["peak_in_flight"] > 1  # several requests were in flight at once
    handler.close()
