"""The delivery engine: a bounded queue per log group, sent by a few sender threads.

The engine knows nothing of logging frameworks. A front end hands it events
(a stream name, a timestamp in ms, a message string) through `submit`, and
the engine sends them in batches by CloudWatch's rules. `Engine` is the
facade: it holds the lock and the parts, and does flush, close and stats.
The parts, each in a module of its own:

- the queue (`queue.Queue`): admission by the queue's limits and the
  overflow policy, the inbox that a log call far from them appends to
  without the lock, and the only writer of the queued counts;
- the spool's side (`handover.Handovers`): the events handed to the spool;
- the scheduler (`scheduler.Scheduler`): which stream's batch, or which
  stream creation, goes out next, fairly between streams, and when;
- batching (`_batching.take_batch`, a pure function);
- delivery (`_delivery`): one attempt, which returns an outcome;
- outcomes (`outcomes.Outcomes`): the one place where a batch's fate is
  settled: room freed, spool told, ledger counts (`_ledger.Ledger`);
- the sender threads (`workers.Workers`), and metrics events
  (`metrics.EngineMetrics`, with ``metrics_interval``).

Several requests may be in flight at once, up to an adaptive limit
(`_concurrency.AdaptiveLimit`), across streams and within one stream.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._concurrency import AdaptiveLimit
from .._errors import WatchtowerWarning
from .._ledger import Ledger, describe_loss
from .._metrics import MetricsReporter, OwnLedger
from .._ports import Durability, Handover, LoadedEvent
from .._protocol import Transport
from .._report import report
from .._settings import Settings
from .attempt import Attempt
from .direct import send_now
from .handover import Handovers, all_on_disk
from .metrics import EngineMetrics
from .outcomes import Outcomes
from .queue import Queue
from .reach import Reach
from .scheduler import Scheduler
from .workers import Workers


class Engine:
    """Delivers events to one log group through a few background sender threads.

    Use `submit` from any thread; it never blocks on the network (with the
    "block" overflow policy it waits at most `queue_block_timeout`).
    """

    #: Queue one event: ``submit(stream, timestamp_ms, message) -> bool`` (see `Queue.submit`).
    submit: Callable[[str, int, str], bool]

    def __init__(
        self,
        settings: Settings,
        sender: Transport,
        *,
        on_close: Callable[[Engine], None] = lambda engine: None,
        reach: Optional[Reach] = None,
    ) -> None:
        """Make an engine; `on_close(engine)` is called as `close` begins (the registry
        stops handing it out); `reach` is shared by the engines of one endpoint. The
        wiring gives it a spool with `use_spool`."""
        self.settings = settings
        self.sender = sender
        self._group = settings.log_group_name
        self._refs = 0
        self._on_close = on_close
        self._reach = Reach() if reach is None else reach
        self.handovers = Handovers()
        self.queue = Queue(
            settings,
            self.handovers,
            wake=lambda: self.workers.wake(),
            sending=lambda: self.scheduler.in_flight > 0,
            making_client=lambda: self.sender.making_client,
            announce=self._announce,
        )
        self.submit = self.queue.submit
        self._attempt = Attempt(lambda: self.sender, settings, lambda: self.spool)
        self.workers = Workers(
            self._group,
            lambda: self.sender,
            self._attempt,
            lambda now: self._metrics.tick(now),
            self._announce,
        )
        self._init_state()

    def _init_state(self) -> None:
        """Begin afresh: at start, and in a forked child (no lock is taken)."""
        s = self.settings
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)
        self.done = threading.Condition(self.lock)
        self._ledger = Ledger(self._group)
        self._metrics_ledger = OwnLedger(self._group)
        self.queue.reset(self.lock, self.work, self.done, self._ledger, self._metrics_ledger)
        self.handovers.reset()
        limit = AdaptiveLimit(s.max_concurrency)
        self.outcomes = Outcomes(self.queue, self.handovers, self._ledger, limit, self._reach)
        self.scheduler = Scheduler(self.queue, limit, self.outcomes.drop)
        self.workers.reset(self.lock, self.queue, self.scheduler, self.outcomes)
        reporter = None
        if s.metrics_interval is not None:
            reporter = MetricsReporter(
                s.metrics_interval, s.metrics_namespace, self._group, time.monotonic(), os.getpid()
            )
        self._metrics = EngineMetrics(reporter, self.queue, self._ledger, self.workers.wake)
        self._attempt.reset()

    def use_spool(self, spool: Durability, first_seq: int) -> None:
        """Hand every event accepted from now on to `spool` too, numbered from `first_seq`."""
        with self.lock:
            self.handovers.use(spool, first_seq)

    @property
    def spool(self) -> Durability:
        """The disk spool (``spool_dir``), shared with the process's other engines naming it;
        `_ports.NO_SPOOL` without one."""
        return self.handovers.spool

    @property
    def group(self) -> str:
        """The log group this engine delivers to."""
        return self._group

    def half_queue(self) -> Tuple[int, int]:
        """Half the queue's limits: (events, bytes)."""
        return self.settings.max_queue_events // 2, self.settings.max_queue_bytes // 2

    def acquire(self) -> Engine:
        """Count one more front-end object using this engine."""
        with self.lock:
            self._refs += 1
        return self

    # ------------------------------------------------------------------ flush

    def flush(
        self,
        timeout: Optional[float] = None,
        *,
        grace: Optional[float] = None,
        leave_on_disk: bool = True,
    ) -> bool:
        """Send everything queued before this call; return whether that finished in time.

        With `grace`, give up once delivery has been impossible (credentials
        refused, no endpoint to connect to) for `grace` seconds, counted from the
        first failure of any engine sending to the same endpoint, however much of
        `timeout` is left: close, exit and short-lived functions use this, so that
        an endpoint that is down costs them seconds, not the whole deadline. A
        slow endpoint that answers still gets all of `timeout`. Whatever the
        grace, give up at once when the cause can't clear within the process (no
        credentials at all, no client can be made, a missing log group or stream
        the options forbid creating). With `grace` and `leave_on_disk`, also give
        up once no attempt has ended for `grace` seconds and every event left is
        safe on disk (the next start sends it); sending a spool
        (``spool --send``), whose events are all on disk and whose job is to send
        them, passes ``leave_on_disk=False`` and waits a slow endpoint out.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        stall = grace if leave_on_disk else None  # see `_stalled_with_all_on_disk`
        done = self._flush_queued(deadline, grace, stall)
        # Events held on disk only (the queue was full) are loaded back as it drains.
        while done and self.disk_waiting() > 0:
            if self.spool.off is not None or self.queue.closed or self.spool.closed:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.spool.wake()
            time.sleep(0.01 if deadline is None else min(0.01, deadline - time.monotonic()))
            done = self._flush_queued(deadline, grace, stall)
        self.workers.announce_outcomes()
        return done

    def _stalled_with_all_on_disk(self, since: float, grace: float, now: float) -> bool:
        """With a spool, whether no attempt has ended for `grace` seconds (since `since`) and
        every event in memory is on disk too: then waiting on saves nothing (lock held).

        An endpoint that never answers looks slow, not down; with the events on
        disk, exit need not wait the whole deadline for it.
        """
        if not self.handovers.spooling or now - max(self.outcomes.last_progress, since) < grace:
            return False
        # The metrics events are not spooled: they are no reason to wait.
        return all_on_disk(st for st in self.queue.streams.values() if st.ledger is self._ledger)

    def _flush_queued(
        self, deadline: Optional[float], grace: Optional[float], stall: Optional[float]
    ) -> bool:
        """Wait until every event in memory now is settled, or until `deadline`.

        `grace` as for `flush`; `stall`, if not None, the grace of `_stalled_with_all_on_disk`.
        """
        q = self.queue
        with self.lock:
            if self.workers.pid != os.getpid():
                return not q.queued_events
            if threading.current_thread() in self.workers.threads:
                return False
            q.absorb()
            targets = [(st, st.arrivals) for st in q.streams.values() if st.arrivals]
            self.scheduler.flushers += 1
            self.work.notify_all()  # while a flush waits, every stream is sent at once
            started = time.monotonic()
            try:
                while not all(st.done_up_to(n) for st, n in targets):
                    q.absorb()  # events handed in since, to be on disk with the rest
                    now = time.monotonic()
                    left = None if deadline is None else deadline - now
                    if (left is not None and left <= 0) or q.closed:
                        return False
                    if stall is not None and self._stalled_with_all_on_disk(started, stall, now):
                        return False  # what is left is safe on disk for the next start
                    if self.outcomes.hopeless is not None:
                        return False  # no wait helps
                    give_up, left = _within_grace(self._reach, now, left, grace)
                    if give_up:
                        return False
                    if not self.workers.threads:
                        self.workers.start()
                    self.done.wait(left)
                return True
            finally:
                self.scheduler.flushers -= 1

    # ------------------------------------------------------------------ close

    def release(self, timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
        """Let go of one front-end object's use; the last one closes the engine."""
        with self.lock:
            self._refs = max(0, self._refs - 1)
            last = self._refs == 0
        return (self.close if last else self.flush)(timeout, grace=grace)

    def close(self, timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
        """Deliver what is queued (up to `timeout`), stop the senders, report what is left.

        `grace` as for `flush`. Requests already in flight are waited for within
        the same `timeout`; what they carry is counted when they end (sent, or
        dropped as ``close_timeout`` if they fail). Idempotent. Returns whether
        everything queued was delivered.
        """
        self._on_close(self)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        done = self.flush(timeout, grace=grace)
        if self._metrics.reporter is not None:
            left = None if deadline is None else deadline - time.monotonic()
            self.deliver_last_metrics(left, grace=grace)
        q = self.queue
        with self.lock:
            if q.closed:
                return done
            q.close()  # what the inbox held is counted below with the rest still queued
            self.work.notify_all()
            self.done.notify_all()
            while self.scheduler.in_flight and self.workers.pid == os.getpid():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self.done.wait(left)
            lost, kept = self.outcomes.clear_for_close(self.spool.off is None)
            in_flight = q.queued_events
            if lost:
                self.handovers.left += kept
                lost -= kept
                if lost:
                    self._ledger.drop("close_timeout", lost)
            # Close's one warning sums up every event not delivered since the last summary
            # (dropped or rejected, by reason), whether close itself gave any up or not.
            loss = self._ledger.loss_since_summary()
            last_error = self._ledger.last_error
        self.workers.finish(0.1 if lost or in_flight else 1.0)
        self._announce()
        why = f" (last error: {last_error})" if last_error else ""
        kept += self.disk_waiting()
        spool = self.spool
        spool.release(self, None if deadline is None else deadline - time.monotonic())
        if kept and not spool.quiet:
            report(
                f"{kept} events for log group {self._group!r} were not delivered before"
                f" close and wait on disk in spool_dir={spool.directory!r} for the next start{why}",
                WatchtowerWarning,
                origin=self,
            )
        if loss:
            report(_loss_summary(self._group, lost, loss) + why, WatchtowerWarning, origin=self)
        return done and not lost and not kept and not in_flight and not loss

    @property
    def closed(self) -> bool:
        return self.queue.closed

    @property
    def owned_by_this_process(self) -> bool:
        """False in a forked child until the engine there has started afresh."""
        return self.workers.pid == os.getpid()

    def stats(self) -> Dict[str, Any]:
        """Return the engine's figures as a plain dict (a snapshot; it changes nothing).

        Events handed in and not yet moved to their streams count as queued.
        """
        q = self.queue
        with self.lock:
            handed_in = list(q.inbox)
            figures: Dict[str, Any] = {
                "enqueued": q.enqueued() + len(handed_in),
                **self._ledger.figures(),
            }
            if self._metrics.reporter is not None:
                figures["metrics_events"] = self._metrics_ledger.summary()
            figures["queued"] = q.queued_events + len(handed_in)
            figures["queued_bytes"] = q.queued_bytes + sum(h[3] for h in handed_in)
            figures["in_flight"] = self.scheduler.in_flight
            figures["concurrency"] = self.scheduler.limit.allowed
            figures["log_group_name"] = self._group
            figures["spool_left"] = self.handovers.left
            figures["index_policy_failed"] = self._attempt.groups.index_failures
        figures.update(self.spool.stats())
        return figures

    # ------------------------------------------------------------ attempts

    def send_now(self, stream: str, timestamp: int, message: str, attempts: int = 5) -> bool:
        """Send one event on the calling thread (watchtower's ``use_queues=False``).

        Makes at most `attempts` attempts, waiting at most a second between two.
        """
        return send_now(self.queue, self.outcomes, self._attempt, self._announce, stream,
                        timestamp, message, attempts)  # fmt: skip

    def refuse(self) -> None:
        """Count an event handed to a front end already closed: dropped as ``closed``.

        The front end gives the warning (watchtower's words); this only counts.
        """
        with self.lock:
            self._ledger.count_drop("closed", 1)

    def _announce(self) -> None:
        """Issue the warnings noted so far (lock not held)."""
        with self.lock:
            notices = self._ledger.take_notices()
        for message in notices:
            report(message, WatchtowerWarning, origin=self)

    def deliver_last_metrics(
        self, timeout: Optional[float] = None, *, grace: Optional[float] = None
    ) -> bool:
        """Queue a last metrics event and deliver it (close and exit call this, after a flush).

        Only if a counter changed since the last one: an engine never used, or
        idle since its last event, makes no request. Returns whether there was
        none to send or it was delivered within `timeout` (see `flush`).
        """
        with self.lock:
            if self.queue.closed or self.workers.pid != os.getpid():
                return True
            self.queue.absorb()
            if not self._metrics.put_last():
                return True
        return self.flush(timeout, grace=grace)

    # ------------------------------------------------------- the spool's calls

    def spool_collect(self, spool: Durability) -> List[Handover]:
        """Give the spool the events handed over since it last looked."""
        with self.lock:
            if self.workers.pid != os.getpid():  # in a fork child: not yet started afresh
                return []
            self.queue.absorb()
            return self.handovers.collect(self._group)

    def spool_stop(self) -> List[Handover]:
        """Hand no more events to the spool (it is off); return what it had not taken."""
        with self.lock:
            return self.handovers.stop()

    def disk_waiting(self) -> int:
        """Events of this engine's group kept on disk only (written, or about to be)."""
        with self.lock:
            return self.handovers.disk_waiting(self._group)

    def room(self) -> Tuple[int, int]:
        """Events and bytes the queue has room for now (a snapshot, no lock)."""
        return self.queue.room()

    def take_back(self, events: Sequence[LoadedEvent]) -> None:
        """Queue events read back from the spool."""
        self.queue.take_back(events)

    def count_possible_duplicates(self, n: int) -> None:
        """Count adopted events that a gone process may have had stored already."""
        with self.lock:
            self._ledger.counts["possible_duplicates"] += n

    # ------------------------------------------------------------------- fork

    def pause_for_fork(self, deadline: float) -> None:
        """Before a fork: let the sender threads finish, then hold the lock (see `Workers`)."""
        self.workers.pause_for_fork(deadline)

    def resume_after_fork(self) -> None:
        """In the parent, after a fork: let the sender threads go on."""
        self.workers.resume_after_fork()

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child: the parent delivers what it had queued.

        Runs in the at-fork hook, so it takes no lock: it only replaces state.
        The inherited connections are dropped by the child's first sender
        thread, before its first request.
        """
        self._init_state()
        self.workers.sender_stale = True


def _within_grace(
    reach: Reach, now: float, left: Optional[float], grace: Optional[float]
) -> Tuple[bool, Optional[float]]:
    """Whether a flush with `grace` gives up now (delivery impossible for `grace` seconds),
    and else how long it waits, at most `left`, before it looks again."""
    if grace is None:
        return False, left
    blocked_since = reach.blocked_since(now, grace)
    if blocked_since is None:
        bound = grace  # look again then
    else:
        bound = blocked_since + grace - now
        if bound <= 0:
            return True, left
    return False, bound if left is None else min(left, bound)


def _loss_summary(group: str, at_close: int, loss: Dict[str, int]) -> str:
    """Close's warning: every event not delivered since the last summary, by reason.

    `at_close` of them are those close itself gave up.
    """
    total = sum(loss.values())
    since = f"{total} events in all since the last summary: {describe_loss(loss)}"
    if at_close:
        return (
            f"Timed out while delivering logs: {at_close} events for log group {group!r}"
            f" could not be delivered before close; not delivered, {since}"
        )
    return f"wt_adapters did not deliver log events for log group {group!r}: {since}"
