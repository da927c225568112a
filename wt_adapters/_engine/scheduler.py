"""Which job a sender thread does next: a stream's creation, a resend, or a new batch."""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from .._batching import Item
from .._concurrency import AdaptiveLimit
from .queue import Queue
from .streams import CREATE, PUT, Batch, Job, Stream, sooner


class Scheduler:
    """Chooses the next job, fairly between streams, and says when one may be due.

    `drop(stream, events, reason)` counts events taken off a queue because
    CloudWatch would reject them (lock held).
    """

    def __init__(
        self,
        queue: Queue,
        limit: AdaptiveLimit,
        drop: Callable[[Stream, List[Item], str], None],
    ) -> None:
        self.queue = queue
        self.settings = queue.settings
        self.limit = limit
        self._drop = drop
        self.next_tick = 0.0
        #: Flushes waiting: while any is, every stream is sent at once.
        self.flushers = 0
        #: Requests under way (jobs handed out and not yet applied).
        self.in_flight = 0

    def tick(self, now: float) -> None:
        """Every ``send_interval``, send every stream's pending events (lock held)."""
        if now >= self.next_tick:
            self.queue.draining = True
            self.next_tick = now + self.settings.send_interval

    def pick(self, now: float) -> Tuple[Optional[Job], Optional[float]]:
        """Choose the next job (lock held), or say how long until one may be due.

        Stream creations and resends go first, streams taking turns (the one
        served goes to the back of the line). Of the streams with a new batch
        due, the one whose first event is oldest goes: it has waited longest,
        it has gathered the most events, and it is the one a full queue would
        drop from first. A stream whose batch waits for a retry sends nothing
        else meanwhile.
        """
        s = self.settings
        q = self.queue
        urgent = (
            q.draining
            or self.flushers > 0
            or q.queued_events >= q.half_events
            or q.queued_bytes >= q.half_bytes
        )
        wait: Optional[float] = None
        waiting_for_tick = False
        any_pending = False
        job: Optional[Job] = None
        oldest: Optional[Stream] = None
        for st in q.streams.values():
            if st.creating:
                # A drain (a flush, a full queue, events loaded back from the spool)
                # goes on for the events that wait for their stream to exist.
                any_pending = any_pending or bool(st.pending)
                continue
            due = bool(st.pending) and (
                urgent
                or len(st.pending) >= s.max_batch_count
                or st.pending_bytes >= s.max_batch_size
            )
            if not st.known:
                # Created at its first event, so that the stream exists by the time its
                # first batch is due: the round trip is off the path of every flush.
                if st.pending:
                    any_pending = True
                    waiting_for_tick = waiting_for_tick or not due
                if not (st.ready or st.pending):
                    continue
                if st.create_retry_at > now:
                    wait = sooner(wait, st.create_retry_at - now)
                    continue
                st.creating = True
                job = Job(CREATE, st, None)
                break
            if st.ready:
                head = st.ready[0]
                if head.retry_at > now:
                    wait = sooner(wait, head.retry_at - now)
                    continue
                if _meets_in_flight(st, head):
                    # After the batch in flight whose times it meets lands; a drain goes on.
                    any_pending = any_pending or bool(st.pending)
                    continue
                st.ready.popleft()
                st.in_flight.append(head)
                job = Job(PUT, st, head)
                break
            if st.pending:
                any_pending = True
                if not due:
                    waiting_for_tick = True
                elif oldest is None or st.pending[0][0] < oldest.pending[0][0]:
                    oldest = st
        if job is None and oldest is not None:
            batch = self._take(oldest)
            if batch is None:  # its events were all out of range, and dropped: look again
                return self.pick(now)
            if _meets_in_flight(oldest, batch):
                oldest.ready.append(batch)  # sent once the batch in flight lands
                return self.pick(now)
            oldest.in_flight.append(batch)
            job = Job(PUT, oldest, batch)
        if job is not None:
            name = job.stream.name
            q.streams[name] = q.streams.pop(name)  # to the back of the line
            return job, None
        if q.draining and not any_pending:
            q.draining = False
        if waiting_for_tick:
            wait = sooner(wait, max(0.0, self.next_tick - now))
        return None, wait

    def _take(self, st: Stream) -> Optional[Batch]:
        """Take the stream's next batch off its pending events (lock held)."""
        taken = self.queue.take(st)
        for reason, bad in (("too_old", taken.too_old), ("too_new", taken.too_new)):
            if bad:
                self._drop(st, bad, reason)
        return Batch(taken.events, taken.nbytes) if taken.events else None


def _meets_in_flight(st: Stream, batch: Batch) -> bool:
    """Whether `batch`'s times meet those of a batch of `st` in flight.

    CloudWatch orders events of one millisecond as they arrive: two batches
    whose times meet must land in the order they were taken, one at a time.
    """
    first, last = batch.events[0][0], batch.events[-1][0]
    return any(first <= b.events[-1][0] and b.events[0][0] <= last for b in st.in_flight)
