"""Applying what an attempt came to: the one place a batch's fate changes.

`settle` is where events leave the queue for good: their room is freed,
the spool marks them done (or keeps them, or dead-letters what CloudWatch
refused for good), and the ledger counts them, all at once.
"""

from __future__ import annotations

import time
from typing import List, Optional, Sequence, Tuple

from .._batching import Item
from .._concurrency import AdaptiveLimit
from .._delivery import Attempts, Created, Dropped, Missing, Outcome, Retry, Sent, Split
from .._ledger import Ledger
from .._protocol import ErrorKind
from .._rejections import Rejected
from .handover import Handovers
from .queue import Queue
from .reach import Reach
from .streams import CREATE, Batch, Job, Stream

#: Why events are given up for good: with a spool, they go to its dead-letter file.
_REFUSED = frozenset(
    ("invalid", "too_old", "too_new", "expired", "retry_deadline", "retries_exhausted")
)


class Outcomes:
    """Settles jobs' outcomes into the queue, the spool and the ledger (lock held)."""

    def __init__(
        self,
        queue: Queue,
        handovers: Handovers,
        ledger: Ledger,
        limit: AdaptiveLimit,
        reach: Reach,
    ) -> None:
        self.queue = queue
        self.handovers = handovers
        self.settings = queue.settings
        self.ledger = ledger
        self.limit = limit
        #: Whether the endpoint can be reached, shared with the engines that use it.
        self.reach = reach
        #: Why delivery can't happen within this process (no credentials, no client can
        #: be made, a missing group or stream the options forbid creating); None once a
        #: call succeeds.
        self.hopeless: Optional[str] = None
        #: When the last attempt ended, whatever its outcome (monotonic).
        self.last_progress = 0.0

    def apply(self, job: Job, outcome: Outcome) -> None:
        """Settle what an attempt came to (lock held)."""
        kind, st, batch = job
        now = self.last_progress = time.monotonic()
        if kind == CREATE:
            self._created(st, outcome, now)
            self._notify()
            return
        assert batch is not None
        st.in_flight.remove(batch)
        if isinstance(outcome, Sent):
            self.reach.succeeded()
            self.hopeless = None
            self.queue.remember(st.name)
            self.limit.succeeded(outcome.rtt, now)
            if outcome.entity_error is not None:
                st.ledger.entity_refused(outcome.entity_error)
            self.settle_batch(st, batch, rejected=outcome.rejected)
        elif isinstance(outcome, Dropped):
            self.ledger.note(*outcome.report)
            self.settle_batch(st, batch, dropped=outcome.reason)
        elif isinstance(outcome, Split):
            st.ledger.counts["batches_failed"] += 1
            self.ledger.last_error = str(outcome.error)
            half = len(batch.events) // 2
            st.ready.extendleft((Batch(batch.events[half:]), Batch(batch.events[:half])))
        elif isinstance(outcome, (Retry, Missing)):
            self._failed_attempt(st, outcome)
            batch.past.count += 1
            batch.past.failing_since = outcome.failing_since
            batch.maybe_stored += outcome.error.maybe_stored
            batch.retry_at = outcome.at
            if self.queue.closed:
                self.settle_batch(st, batch, dropped="close_timeout")
            else:
                st.ledger.counts["retried"] += len(batch.events)
                st.ready.appendleft(batch)
                if isinstance(outcome, Missing):
                    st.known = False
                    self.queue.known.discard(st.name)
        self._notify()

    def _notify(self) -> None:
        """An outcome was applied: room, a slot or a batch to send may be free now."""
        self.queue.work.notify_all()
        self.queue.done.notify_all()

    def _created(self, st: Stream, outcome: Outcome, now: float) -> None:
        st.creating = False
        if isinstance(outcome, Created):
            self.reach.succeeded()
            self.hopeless = None
            st.known = True
            self.queue.remember(st.name)
            st.ledger.counts["streams_created"] += 1
            st.create_past = Attempts()
            self.limit.succeeded(outcome.rtt, now)
            if outcome.report:
                self.ledger.note(*outcome.report)
        elif isinstance(outcome, Retry):
            self._failed_attempt(st, outcome)
            st.create_past.count += 1
            st.create_past.failing_since = outcome.failing_since
            st.create_retry_at = outcome.at
            if now - outcome.failing_since >= self.settings.retry.deadline:
                self._give_up_stream(st, str(outcome.error))

    def _failed_attempt(self, st: Stream, outcome: Retry | Missing) -> None:
        """Count a failed call and adapt the concurrency to it."""
        error = outcome.error
        st.ledger.counts["batches_failed"] += 1
        self.ledger.last_error = str(error)
        if error.throttled:
            self.limit.throttled(time.monotonic())
        if isinstance(outcome, Retry) and outcome.report:
            self.ledger.note(*outcome.report)
        if isinstance(outcome, Retry) and outcome.permanent:
            self.hopeless = outcome.report[1] if outcome.report else str(error)
        if error.kind is ErrorKind.AUTH or error.unreachable:
            self.reach.failed(time.monotonic())
        if error.unreachable and error.kind is not ErrorKind.AUTH:  # refused: reported already
            self.ledger.note(
                "unreachable",
                f"CloudWatch Logs can't be reached for log group"
                f" {self.settings.log_group_name!r}: {error}",
                error=False,
            )

    def _give_up_stream(self, st: Stream, error: str) -> None:
        """Drop what waits for a stream that could not be created in time."""
        n = st.waiting()
        for b in st.ready:
            self.settle_batch(st, b, dropped="retry_deadline")
        st.ready.clear()
        if st.pending:
            events, nbytes = self.queue.clear_pending(st)
            self.settle(st, events, nbytes, dropped="retry_deadline")
        st.create_past = Attempts()
        if n:
            self.ledger.note(
                "deadline",
                f"Failed to create log stream {st.name!r} in {self.settings.log_group_name!r}"
                f" within {self.settings.retry.deadline:g} s; dropping {n} events: {error}",
            )

    def clear_for_close(self, on_disk: bool) -> Tuple[int, int]:
        """Empty every stream at close (lock held): return the engine's events lost, and how
        many of them are on disk (when `on_disk`). Metrics events lost are counted apart."""
        lost = lost_bytes = own_lost = kept = 0
        for st in self.queue.streams.values():
            n = st.waiting()
            if st.ledger is self.ledger:
                lost += n
            elif n:
                own_lost += n  # metrics events: counted apart, no one's loss
                st.ledger.drop("close_timeout", n)
            lost_bytes += st.pending_bytes + sum(b.nbytes for b in st.ready)
            if on_disk and st.ledger is self.ledger:
                kept += sum(1 for e in st.pending if e[4] >= 0) + sum(
                    1 for b in st.ready for e in b.events if e[4] >= 0
                )
            st.pending.clear()
            st.pending_bytes = 0
            st.ready.clear()
        self.queue.free(lost + own_lost, lost_bytes)
        return lost, kept

    def settle_batch(
        self,
        st: Stream,
        batch: Batch,
        *,
        rejected: Sequence[Rejected] = (),
        dropped: Optional[str] = None,
    ) -> None:
        """Settle a batch as sent, rejected or dropped."""
        self.settle(st, batch.events, batch.nbytes, rejected=rejected, dropped=dropped,
                    maybe_stored=batch.maybe_stored)  # fmt: skip
        batch.events = []

    def drop(self, st: Stream, events: List[Item], reason: str) -> None:
        """Settle events taken off a stream's queue as dropped for `reason`."""
        self.settle(st, events, sum(e[2] for e in events), dropped=reason)
        self.queue.done.notify_all()  # a flush may wait for just these

    def settle(
        self,
        st: Stream,
        events: List[Item],
        nbytes: int,
        *,
        rejected: Sequence[Rejected] = (),
        dropped: Optional[str] = None,
        maybe_stored: int = 0,
    ) -> None:
        """Events leave the queue: free their room, tell the spool, count them."""
        n = len(events)
        self.queue.free(n, nbytes)
        if st.ledger is self.ledger:  # the metrics events are not spooled
            n -= self._on_disk(st.name, events, dropped, rejected)
        if dropped:
            if n:
                st.ledger.drop(dropped, n)
        else:
            st.ledger.sent(n, rejected, maybe_stored)

    def _on_disk(
        self,
        stream: str,
        events: List[Item],
        dropped: Optional[str],
        rejected: Sequence[Rejected],
    ) -> int:
        """Tell the spool events are settled; refused ones go to the dead letters.

        Events given up at close stay on disk for the next process instead:
        returns how many, which are then not counted as dropped.
        """
        h = self.handovers
        spool = h.spool
        if spool.off is not None:  # no spool, or it is off: only what it wrote before is there
            if spool.max_bytes and dropped != "close_timeout":  # given up: stays for the next
                spool.settle([e[4] for e in events if e[4] >= 0])
            return 0
        group = self.settings.log_group_name
        if dropped == "close_timeout":
            kept = sum(1 for e in events if e[4] >= 0)
            h.left += kept
            return kept
        if dropped in _REFUSED:
            spool.dead_letter(group, stream, [(e[0], e[1]) for e in events], dropped)
        else:
            for reason, start, end in rejected:
                refused = [(e[0], e[1]) for e in events[start:end]]
                spool.dead_letter(group, stream, refused, reason)
        spool.settle([e[4] for e in events if e[4] >= 0])
        return 0
