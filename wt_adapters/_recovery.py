"""Sending what a spool directory holds from writers that are gone (the CLI's ``spool deliver``)."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List

from ._destination import Destination
from ._engine import Engine
from ._registry import EXIT_GRACE
from ._spool import Spool

__all__ = ["deliver"]


def deliver(
    directory: str | os.PathLike[str], *, timeout: float = 60.0, **options: Any
) -> Dict[str, Any]:
    """Send what waits in spool `directory` (from writers that are gone), and return the counts.

    `options` are any front end's options (``endpoint_url``, ``boto3_client``,
    ``retry_deadline``, ...); ``spool_dir`` is `directory`. Waits up to
    `timeout` seconds in all (giving up sooner, after a short grace, once
    delivery has proved impossible). Events not delivered stay on disk.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    destination = Destination(spool_dir=directory, **options)
    spool = destination.engine.spool
    assert isinstance(spool, Spool)

    def open_engines() -> List[Engine]:
        return [e for e in spool.engines() if isinstance(e, Engine)]

    spool.adopt_now(max(0.0, deadline - time.monotonic()))
    while True:
        done = True
        for engine in open_engines():
            left = max(0.0, deadline - time.monotonic())
            done = engine.flush(left, grace=EXIT_GRACE, leave_on_disk=False) and done
        disk_only = spool.disk_only_total()
        if (done and disk_only <= 0) or time.monotonic() >= deadline:
            break
        if not done:
            break  # impossible or out of time: what is left stays on disk
        time.sleep(min(spool.sync_interval, max(0.0, deadline - time.monotonic())))
    engines = open_engines()
    figures = spool.stats()
    counts: Dict[str, Any] = {
        "adopted": figures["adopted"],
        "possible_duplicates": figures["adopted_possible_duplicates"],
        "sent": 0,
        "rejected": 0,
        "dropped": 0,
    }
    last_error = None
    for engine in engines:
        s = engine.stats()
        counts["sent"] += s["sent"]
        counts["rejected"] += sum(s["rejected"].values())
        counts["dropped"] += sum(s["dropped"].values())
        last_error = last_error or s["last_error"]
    spool.quiet = True
    spool.write_now()
    waiting = spool.waiting()
    for engine in engines:
        if engine is not destination.engine:
            engine.close(0)
    destination.close(0)
    counts["dead_letters"] = spool.figures["dead_letters"]
    counts["torn"] = spool.figures["spool_torn"]
    counts["left"] = sum(waiting.values())
    counts["left_by_group"] = waiting
    counts["last_error"] = last_error
    counts["delivered"] = not counts["left"] and not counts["dropped"]
    return counts
