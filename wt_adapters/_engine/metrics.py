"""The engine's metrics events (``metrics_interval``): queued by the sender threads."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional

from .._ledger import Ledger
from .._metrics import MetricsReporter
from .._rules import EVENT_OVERHEAD
from .queue import Queue
from .streams import now_ms


class EngineMetrics:
    """Puts Embedded Metric Format events with the engine's counters in its log group.

    A metrics event takes room only where there is some: it never makes room
    by dropping a user's event, and if it finds none it is counted apart, not
    reported, and the next one carries its changes.
    """

    def __init__(
        self,
        reporter: Optional[MetricsReporter],
        queue: Queue,
        ledger: Ledger,
        wake: Callable[[], None],
    ) -> None:
        self.reporter = reporter
        self.queue = queue
        self.ledger = ledger
        self._wake = wake

    def figures(self) -> Dict[str, Any]:
        """The counters a metrics event reports, shaped as `stats()` (lock held)."""
        return {"enqueued": self.queue.enqueued(), **self.ledger.figures()}

    def tick(self, now: float) -> Optional[float]:
        """Queue a metrics event if one is due (lock held); seconds until the next one."""
        reporter = self.reporter
        if reporter is None:
            return None
        if now >= reporter.due:
            self.put()
        return max(0.0, reporter.due - now)

    def put(self) -> None:
        """Queue a metrics event with the counters' changes since the last (lock held)."""
        reporter = self.reporter
        assert reporter is not None
        q = self.queue
        st = q.streams.get(reporter.stream)
        if st is None:
            st = q.add_stream(reporter.stream, own=True)
        own = len(st.pending) + sum(len(b.events) for b in (*st.ready, *st.in_flight))
        timestamp = now_ms()
        message = reporter.take(
            self.figures(), q.queued_events - own, time.monotonic(), timestamp
        )
        size = len(message) + EVENT_OVERHEAD  # JSON of ASCII only
        if not q.fits(size):
            st.ledger.drop("queue_full", 1)  # its changes go with the next one
            return
        reporter.kept()
        q.put(st, timestamp, message, size)
        q.size_inbox()
        if q.asleep:
            self._wake()

    def put_last(self) -> bool:
        """Queue a last metrics event if a counter changed since the last (lock held);
        return whether one was queued."""
        reporter = self.reporter
        if reporter is None or not reporter.changed(self.figures()):
            return False
        self.put()
        return True
