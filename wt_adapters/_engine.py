"""The delivery engine: a bounded queue per log group, sent by a few sender threads.

The engine knows nothing of logging frameworks. A front end hands it events
(a stream name, a timestamp in ms, a message string) through `submit`, and
the engine sends them in batches by CloudWatch's rules:

- admission (`submit`): the queue's limits and the overflow policy; far from
  them, a log call only appends to an inbox, without the lock, and the sender
  threads (or, every few hundred events, a caller) move its events to their
  streams (`_absorb`);
- scheduling (`_next_job`): which stream's batch, or which stream creation,
  goes out next, fairly between streams, and when;
- batching (`_batching.take_batch`, a pure function);
- delivery (`_delivery`): one attempt, which returns an outcome;
- applying outcomes (`_apply`): the one place where a batch's fate is settled;
- counting and reporting (`_ledger.Ledger`, issued by `_announce`): every event
  counted once, warnings at most once a minute per kind;
- metrics (`_metrics`, with ``metrics_interval``): the counters put in the log
  group as Embedded Metric Format events by the sender threads, in a stream
  whose events a ledger of their own counts;
- the engines of the process, exit and fork (`_registry`).

Several requests may be in flight at once, up to an adaptive limit
(`_concurrency.AdaptiveLimit`), across streams and within one stream.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ._batching import Item, take_batch
from ._concurrency import AdaptiveLimit
from ._delivery import (
    Attempts,
    Created,
    Dropped,
    GroupCreator,
    Missing,
    Outcome,
    Retry,
    Sent,
    Split,
    create_stream,
    put_batch,
)
from ._errors import WatchtowerWarning
from ._ledger import Ledger
from ._messages import prepare_message, warn_empty
from ._metrics import MetricsReporter, OwnLedger
from ._ports import NO_SPOOL, Durability, Handover, LoadedEvent, QueuedEvent
from ._protocol import ErrorKind, Sender
from ._report import report
from ._rules import EVENT_OVERHEAD
from ._settings import BLOCK, DROP_OLDEST, Settings
from ._threads import in_engine_call, thread_state

#: Idle streams the engine keeps track of before it forgets them.
_IDLE_STREAMS_KEPT = 64
#: Stream names remembered as existing (created or written to) before the memory is reset.
_KNOWN_STREAMS_KEPT = 100_000
#: How often a log call past half full yields the GIL to the sender threads, at most (s).
_YIELD_EVERY = 0.001
#: Events callers may hand in without the lock before one of them takes it (see `submit`).
_INBOX_MAX = 4096
#: Below this much room for hand-ins (half the room left under half full), every call takes
#: the lock: near the queue's limits, each event's admission is decided on its own.
_INBOX_MIN = 64


#: Failed calls that say CloudWatch can't be reached at all (as opposed to slow or busy).
_UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ProxyConnectionError",
        "ConnectionError",
        "ClientConfiguration",  # no client could be made: no region, say
    }
)

#: Why events are given up for good: with a spool, they go to its dead-letter file.
_REFUSED = frozenset(
    ("invalid", "too_old", "too_new", "expired", "retry_deadline", "retries_exhausted")
)

#: The two kinds of job a sender thread does.
PUT = "put"
CREATE = "create"


class _Batch:
    """Events on their way out together, sorted by timestamp, with their retry state."""

    __slots__ = ("events", "first_arrival", "maybe_stored", "nbytes", "past", "retry_at")

    def __init__(self, events: List[Item], nbytes: Optional[int] = None) -> None:
        self.events = events
        self.nbytes = sum(e[2] for e in events) if nbytes is None else nbytes
        self.first_arrival = min(e[3] for e in events)
        self.past = Attempts()
        self.retry_at = 0.0
        self.maybe_stored = 0  # failed attempts that CloudWatch may have stored all the same


class _Stream:
    """One log stream: events not yet batched, batches awaiting a (re)send, batches in flight."""

    __slots__ = (
        "arrivals",
        "create_past",
        "create_retry_at",
        "creating",
        "in_flight",
        "known",
        "ledger",
        "name",
        "pending",
        "pending_bytes",
        "ready",
    )

    def __init__(self, name: str, known: bool, ledger: Ledger) -> None:
        self.name = name
        #: Where the stream's events are counted: the engine's, or its metrics events' own.
        self.ledger = ledger
        self.pending: Deque[Item] = deque()
        self.pending_bytes = 0
        self.arrivals = 0
        self.ready: Deque[_Batch] = deque()
        self.in_flight: List[_Batch] = []
        #: True once the stream is known to exist (or is never to be created).
        self.known = known
        self.creating = False
        self.create_past = Attempts()
        self.create_retry_at = 0.0

    def idle(self) -> bool:
        return not (self.pending or self.ready or self.in_flight or self.creating)

    def done_up_to(self, arrival: int) -> bool:
        """Tell whether every event that arrived before number `arrival` is finished."""
        if self.pending and self.pending[0][3] < arrival:
            return False
        return all(b.first_arrival >= arrival for b in self.ready) and all(
            b.first_arrival >= arrival for b in self.in_flight
        )


#: A sender thread's job: (kind, stream, batch for PUT or None for CREATE).
_Job = Tuple[str, _Stream, Optional[_Batch]]


class Engine:
    """Delivers events to one log group through a few background sender threads.

    Use `submit` from any thread; it never blocks on the network (with the
    "block" overflow policy it waits at most `queue_block_timeout`).
    """

    def __init__(
        self,
        settings: Settings,
        sender: Sender,
        *,
        on_close: Callable[[Engine], None] = lambda engine: None,
    ) -> None:
        """Make an engine; `on_close(engine)` is called as `close` begins (the registry
        stops handing it out). The wiring gives it a spool with `use_spool`."""
        self.settings = settings
        self.sender = sender
        # Copies of the settings the hot path reads, as plain attributes.
        self._body_limit = settings.max_body_size
        self._max_events = settings.max_queue_events
        self._max_bytes = settings.max_queue_bytes
        self._batch_count = settings.max_batch_count
        self._batch_bytes = settings.max_batch_size
        # Half the queue's limits: past either, every stream is sent at once.
        self._half_events = (settings.max_queue_events + 1) // 2
        self._half_bytes = (settings.max_queue_bytes + 1) // 2
        self._group = settings.log_group_name
        self._refs = 0
        self._next_yield = 0.0
        self._known: Set[str] = set()
        self._sender_stale = False
        self._on_close = on_close
        #: The disk spool (``spool_dir``), shared with the process's other engines naming
        #: it; `NO_SPOOL` without one.
        self.spool: Durability = NO_SPOOL
        self._spool_first = 0
        #: Events left on disk by `close` for the next process, not counted as dropped.
        self._spool_left = 0
        self._init_state()

    def use_spool(self, spool: Durability, first_seq: int) -> None:
        """Hand every event accepted from now on to `spool` too, numbered from `first_seq`."""
        with self._lock:
            self.spool = spool
            self._spool_first = first_seq
            self._init_spooling()

    @property
    def group(self) -> str:
        """The log group this engine delivers to."""
        return self._group

    def half_queue(self) -> Tuple[int, int]:
        """Half the queue's limits: (events, bytes)."""
        return self.settings.max_queue_events // 2, self.settings.max_queue_bytes // 2

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._streams: Dict[str, _Stream] = {}
        #: Events handed in without the lock, in order: (stream, timestamp, message, size).
        self._inbox: Deque[Tuple[str, int, str, int]] = deque()
        #: How many events the inbox may hold (0: every call takes the lock), the largest
        #: event it takes, and the length at which a caller asks a sender thread to take them.
        self._inbox_room = 0
        self._inbox_size = 0
        self._inbox_nudge = 0
        self._queued_events = 0
        self._queued_bytes = 0
        self._workers: List[threading.Thread] = []
        self._started_workers = 0  # numbers the threads' names
        self._waiting = 0  # sender threads waiting for work
        #: Nothing is queued, or no sender thread runs: the next event wakes or starts one.
        self._asleep = True
        self._in_flight = 0
        #: Sender threads between taking a job and being done with it (warnings included).
        self._busy = 0
        #: A fork is about to happen: hand out no job until it has.
        self._forking = False
        self._limit = AdaptiveLimit(self.settings.max_concurrency)
        self._groups = GroupCreator()
        self._pid = os.getpid()
        self._flushers = 0
        self._draining = False  # send every stream's pending events now (tick, pressure)
        self._next_tick = 0.0
        self._closed = False
        self._enqueued = 0
        self._ledger = Ledger(self.settings.log_group_name)
        #: With `metrics_interval`: when the next metrics event is due, and its stream.
        self._metrics: Optional[MetricsReporter] = None
        self._metrics_ledger = OwnLedger(self.settings.log_group_name)
        if self.settings.metrics_interval is not None:
            self._metrics = MetricsReporter(
                self.settings.metrics_interval,
                self.settings.metrics_namespace,
                self.settings.log_group_name,
                time.monotonic(),
                self._pid,
            )
        #: Since when every call has failed for want of credentials or of a reachable endpoint.
        self._blocked_since: Optional[float] = None
        #: When the last attempt ended, whatever its outcome (monotonic).
        self._last_progress = 0.0
        self._init_spooling()

    def _init_spooling(self) -> None:
        spool = self.spool
        #: Whether events are handed to the spool: not without one, nor once it is off.
        self._spooling = spool.off is None
        #: Events for the spool thread to write.
        self._spool_buf: List[Handover] = []
        self._spool_next = self._spool_first
        #: Events in `_spool_buf` to be kept on disk only; bytes of all in it.
        self._spool_held = 0
        self._spool_buf_bytes = 0
        #: Bytes the spool had room for when it last looked (``spool_max_bytes`` less its
        #: files): 0 when events are not handed to it.
        self._spool_room = spool.max_bytes - spool.disk_bytes if self._spooling else 0

    # ------------------------------------------------------------------ callers

    def acquire(self) -> Engine:
        """Count one more front-end object using this engine."""
        with self._lock:
            self._refs += 1
        return self

    def submit(self, stream: str, timestamp: int, message: str) -> bool:
        """Queue one event; return False if it was not accepted (and is counted).

        Far from the queue's limits the event is only appended to the inbox, which
        takes no lock: the sender threads move it to its stream. Near them, or when
        a sender must be woken, the call takes the lock and decides there.
        """
        if message.isascii() and 0 < len(message) <= self._body_limit:
            size = len(message) + EVENT_OVERHEAD  # the common case, measured cheaply
        elif not message:
            warn_empty()
            return False
        else:
            message, size = prepare_message(message, self._body_limit)
        inbox = self._inbox
        if size <= self._inbox_size and len(inbox) < self._inbox_room:
            item = (stream, timestamp, message, size)
            inbox.append(item)
            # Read after the append: a sender thread going to sleep, or `close`, sets its
            # flag before it empties the inbox, so one of the two sees the other.
            if self._asleep or self._closed or len(inbox) == self._inbox_nudge:
                return self._handed_in(item)
            return True
        return self._submit_locked(stream, timestamp, message, size)

    def _handed_in(self, item: Tuple[str, int, str, int]) -> bool:
        """After a hand-off to the inbox that needs the lock: wake, nudge, or refuse."""
        accepted = True
        with self._lock:
            if self._closed:
                # `close` took in what the inbox held when it closed; what a call hands in
                # after that, the call itself takes back and counts.
                try:
                    self._inbox.remove(item)
                except ValueError:
                    pass  # taken in by `close`: counted with the rest of the queue
                else:
                    self._ledger.drop("closed", 1)
                    accepted = False
            elif self._asleep:
                self._absorb()
            elif self._waiting:
                self._cond.notify()  # a waiting sender thread takes the inbox's events
            # else the sender threads take them when their requests end, or, should the
            # inbox fill first, the call that finds it full.
        if self._ledger.notices:
            self._announce()
        return accepted

    def _submit_locked(self, stream: str, timestamp: int, message: str, size: int) -> bool:
        """Admit one event under the lock, with the queue's limits and the overflow policy."""
        with self._lock:
            self._absorb()  # the events handed in before this one go first
            fits = self._queued_events < self._max_events and (
                self._queued_bytes + size <= self._max_bytes
            )
            if self._closed:
                self._ledger.drop("closed", 1)
                accepted = False
            elif not fits and self._hold(stream, timestamp, message, size):
                accepted = True  # on disk only, loaded back as the queue drains
            elif fits or self._make_room(size):
                self._inbox.append((stream, timestamp, message, size))
                self._absorb()  # admitted: queued as the inbox's events are
                accepted = True
            else:
                accepted = False
        if self._ledger.notices:  # a drop to warn of (made room, refused, or closed)
            self._announce()
        if self._queued_events >= self._half_events and self._in_flight:
            # Past half full with a request (or the client's making) under way: let the
            # sender threads have the GIL. A thread that hardly ever blocks keeps it from
            # them otherwise, for seconds, until the queue overflows. At most once per
            # `_YIELD_EVERY`, so that a stalled endpoint costs the caller next to nothing;
            # on every call while the client is being made: that ends by itself, and
            # nothing can be sent before it has (botocore reads its files meanwhile, and
            # waits for the GIL after each read).
            now = time.monotonic()
            if now >= self._next_yield or self.sender.making_client:
                self._next_yield = now + _YIELD_EVERY
                time.sleep(0)
        return accepted

    def _add_stream(self, name: str, own: bool = False) -> _Stream:
        """Start tracking stream `name` (lock held); `own`: the engine's metrics stream.

        The metrics stream is created when missing even with create_log_stream False.
        """
        if len(self._streams) >= _IDLE_STREAMS_KEPT:
            self._forget_idle_streams()
        st = self._streams[name] = _Stream(
            name,
            name in self._known or not (self.settings.create_log_stream or own),
            self._metrics_ledger if own else self._ledger,
        )
        return st

    def _forget_idle_streams(self) -> None:
        """Forget streams with nothing queued (lock held).

        So that templates naming many streams over time ({strftime},
        {thread_name}) don't make every pass longer; which streams exist is
        remembered apart (`_known`).
        """
        for name in [n for n, st in self._streams.items() if st.idle()]:
            st = self._streams.pop(name)
            if st.ledger is self._ledger:
                self._enqueued += st.arrivals

    def _wake(self) -> None:
        """Wake a sender thread for a first event, starting one if there is none (lock held)."""
        self._asleep = False
        self._next_tick = time.monotonic() + self.settings.send_interval
        if self.spool.needs_thread:
            self.spool.start_in_child()  # the first event in a forked child
        if self._workers:
            self._cond.notify()
        else:
            self._start_worker()

    def _absorb(self, closing: bool = False) -> None:
        """Move the inbox's events to their streams, and wake or notify as needed (lock held).

        Their room was checked when they were handed in (`_inbox_room` keeps the
        inbox within half the queue's room, and `_submit_locked` admits each of
        its own), so each is taken as it is. Once closed, only `close` itself
        (`closing`) takes any.
        """
        if self._closed and not closing:
            return
        inbox = self._inbox
        n = len(inbox)
        if n:
            pop = inbox.popleft
            streams = self._streams
            batch_count, batch_bytes = self._batch_count, self._batch_bytes
            full = False
            added = 0
            for _ in range(n):
                stream, timestamp, message, size = pop()
                st = streams.get(stream)
                if st is None:
                    st = self._add_stream(stream)
                arrival = st.arrivals
                if self._spool_buf_bytes + size > self._spool_room:  # no spool, or no room
                    st.pending.append(QueuedEvent(timestamp, message, size, arrival, -1))
                else:  # the spool thread writes it (this adds no system call)
                    seq = self._spool_next
                    self._spool_next = seq + 1
                    item = QueuedEvent(timestamp, message, size, arrival, seq)
                    st.pending.append(item)
                    self._spool_buf.append(Handover(stream, item, False))
                    self._spool_buf_bytes += size
                st.arrivals = arrival + 1  # also the stream's count of events enqueued
                nbytes = st.pending_bytes = st.pending_bytes + size
                if len(st.pending) == batch_count or nbytes >= batch_bytes > nbytes - size:
                    full = True  # this event made a full batch
                added += size
            self._queued_events += n
            self._queued_bytes += added
            if self._asleep:
                self._wake()
            elif full:
                self._cond.notify()  # a full batch to send
            elif not self._draining and (
                self._queued_events >= self._half_events or self._queued_bytes >= self._half_bytes
            ):
                self._draining = True  # half full: send every stream now
                self._cond.notify()
        self._size_inbox()

    def _size_inbox(self) -> None:
        """Set how much the inbox may take before a call takes the lock (lock held).

        Half of the room left under half full, so that threads racing past the
        check can't take the queue past it; none when that is little.
        """
        n = min(_INBOX_MAX, (self._half_events - self._queued_events) // 2)
        if n < _INBOX_MIN or self._closed:
            self._inbox_room = 0
            return
        self._inbox_room = n
        self._inbox_nudge = n // 2
        self._inbox_size = min(
            self._body_limit + EVENT_OVERHEAD, (self._half_bytes - self._queued_bytes) // (2 * n)
        )

    def _make_room(self, size: int) -> bool:
        """Apply the overflow policy (lock held); True if the new event may go in."""
        s = self.settings
        if not self._draining and self._workers:
            self._draining = True  # a full queue is a reason to send now
            self._cond.notify_all()
        if s.queue_overflow == BLOCK and not in_engine_call():
            deadline = time.monotonic() + s.queue_block_timeout
            while self._queued_events >= s.max_queue_events or (
                self._queued_bytes + size > s.max_queue_bytes
            ):
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            else:
                if not self._closed:
                    return True
                self._ledger.drop("closed", 1)  # while it waited for room
                return False
        elif s.queue_overflow == DROP_OLDEST:
            while self._queued_events >= s.max_queue_events or (
                self._queued_bytes + size > s.max_queue_bytes
            ):
                victim = None
                for st in self._streams.values():
                    if st.pending and (victim is None or st.pending[0][0] < victim.pending[0][0]):
                        victim = st
                if victim is None:
                    break  # all that is queued is in batches already taken
                old = victim.pending.popleft()
                if old.seq >= 0:
                    self.spool.settle([old.seq])
                victim.pending_bytes -= old[2]
                self._queued_events -= 1
                self._queued_bytes -= old[2]
                victim.ledger.drop("queue_full", 1)
            else:
                return True
        self._ledger.drop("queue_full", 1)
        return False

    def flush(self, timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
        """Send everything queued before this call; return whether that finished in time.

        With `grace`, give up once delivery has been impossible (no credentials,
        access denied, no endpoint to connect to) for `grace` seconds, however
        much of `timeout` is left: exit and short-lived functions use this, so
        that an endpoint that is down costs them seconds, not the whole
        deadline. A slow endpoint that answers still gets all of `timeout`.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        done = self._flush_queued(deadline, grace)
        spool = self.spool
        # Events held on disk only (the queue was full) are loaded back as it drains.
        while done and self.disk_waiting() > 0:
            if spool.off is not None or self._closed or spool.closed:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            spool.wake()
            time.sleep(0.01 if deadline is None else min(0.01, deadline - time.monotonic()))
            done = self._flush_queued(deadline, grace)
        return done

    def _stalled_with_all_on_disk(self, since: float, grace: float, now: float) -> bool:
        """With a spool, whether no attempt has ended for `grace` seconds (since `since`) and
        every event in memory is on disk too: then waiting on saves nothing (lock held).

        An endpoint that never answers looks slow, not down; with the events on
        disk, exit need not wait the whole deadline for it.
        """
        if not self._spooling or now - max(self._last_progress, since) < grace:
            return False
        for st in self._streams.values():
            if st.ledger is not self._ledger:
                continue  # metrics events are not spooled: they are no reason to wait
            if any(e[4] < 0 for e in st.pending) or any(
                e[4] < 0 for b in (*st.ready, *st.in_flight) for e in b.events
            ):
                return False
        return True

    def _flush_queued(self, deadline: Optional[float], grace: Optional[float]) -> bool:
        """Wait until every event in memory now is settled, or until `deadline`."""
        with self._lock:
            if self._pid != os.getpid():
                return not self._queued_events
            if threading.current_thread() in self._workers:
                return False
            self._absorb()
            targets = [(st, st.arrivals) for st in self._streams.values() if st.arrivals]
            self._flushers += 1
            self._cond.notify_all()
            started = time.monotonic()
            try:
                while not all(st.done_up_to(n) for st, n in targets):
                    self._absorb()  # events handed in since, to be on disk with the rest
                    now = time.monotonic()
                    left = None if deadline is None else deadline - now
                    if (left is not None and left <= 0) or self._closed:
                        return False
                    if grace is not None and self._stalled_with_all_on_disk(started, grace, now):
                        return False  # what is left is safe on disk for the next start
                    if grace is not None and self._blocked_since is not None:
                        blocked_left = self._blocked_since + grace - now
                        if blocked_left <= 0:
                            return False
                        left = blocked_left if left is None else min(left, blocked_left)
                    elif grace is not None:
                        left = grace if left is None else min(left, grace)  # look again then
                    if not self._workers:
                        self._start_worker()
                    self._cond.wait(left)
                return True
            finally:
                self._flushers -= 1

    def release(self, timeout: Optional[float] = None) -> bool:
        """Let go of one front-end object's use; the last one closes the engine."""
        with self._lock:
            self._refs = max(0, self._refs - 1)
            last = self._refs == 0
        if last:
            return self.close(timeout)
        return self.flush(timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (up to `timeout`), stop the senders, report what is left.

        Requests already in flight are waited for within the same `timeout`;
        what they carry is counted when they end (sent, or dropped as
        ``close_timeout`` if they fail). Idempotent. Returns whether everything
        queued was delivered.
        """
        self._on_close(self)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        done = self.flush(timeout)
        if self._metrics is not None:
            self.deliver_last_metrics(None if deadline is None else deadline - time.monotonic())
        with self._lock:
            if self._closed:
                return done
            self._closed = True
            self._inbox_room = 0
            # After the flag: a call handing in an event later sees it (see `submit`).
            self._absorb(closing=True)  # counted below with the rest still queued
            self._cond.notify_all()
            while self._in_flight and self._pid == os.getpid():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            lost = lost_bytes = own_lost = kept = 0
            on_disk = self.spool.off is None
            for st in self._streams.values():
                n = len(st.pending) + sum(len(b.events) for b in st.ready)
                if st.ledger is self._ledger:
                    lost += n
                elif n:
                    own_lost += n  # metrics events: counted apart, no one's loss
                    st.ledger.drop("close_timeout", n)
                lost_bytes += st.pending_bytes + sum(b.nbytes for b in st.ready)
                if on_disk:
                    kept += sum(1 for e in st.pending if e[4] >= 0) + sum(
                        1 for b in st.ready for e in b.events if e[4] >= 0
                    )
                st.pending.clear()
                st.pending_bytes = 0
                st.ready.clear()
            self._queued_events -= own_lost
            in_flight = self._queued_events - lost
            if lost or own_lost:
                self._queued_bytes -= lost_bytes
            if lost:
                self._queued_events -= lost
                self._spool_left += kept
                lost -= kept
                if lost:
                    self._ledger.drop("close_timeout", lost)
                self._ledger.notices = [n for n in self._ledger.notices if "close timeout" not in n]
            workers = list(self._workers)
            last_error = self._ledger.last_error
        if self._pid == os.getpid():
            for worker in workers:
                if worker is not threading.current_thread():
                    worker.join(0.1 if lost or in_flight else 1.0)
        self._announce()
        why = f" (last error: {last_error})" if last_error else ""
        kept += self.disk_waiting()
        spool = self.spool
        spool.release(self)
        if kept and not spool.quiet:
            report(
                f"{kept} events for log group {self._group!r} were not delivered before"
                f" close and wait on disk in spool_dir={spool.directory!r} for the next start{why}",
                WatchtowerWarning,
                origin=self,
            )
        if lost:
            report(
                f"Timed out while delivering logs: {lost} events for log group "
                f"{self.settings.log_group_name!r} could not be delivered before close{why}",
                WatchtowerWarning,
                origin=self,
            )
        return done and not lost and not kept and not in_flight

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def owned_by_this_process(self) -> bool:
        """False in a forked child until the engine there has started afresh."""
        return self._pid == os.getpid()

    def stats(self) -> Dict[str, Any]:
        """Return the engine's figures as a plain dict (a snapshot)."""
        with self._lock:
            self._absorb()
            figures: Dict[str, Any] = {
                "enqueued": self._enqueued_so_far(),
                **self._ledger.figures(),
            }
            if self._metrics is not None:
                figures["metrics_events"] = self._metrics_ledger.summary()
            figures["queued"] = self._queued_events
            figures["queued_bytes"] = self._queued_bytes
            figures["in_flight"] = self._in_flight
            figures["concurrency"] = self._limit.allowed
            figures["log_group_name"] = self.settings.log_group_name
            figures["spool_left"] = self._spool_left
        figures.update(self.spool.stats())
        return figures

    # ------------------------------------------------------------ synchronous

    def send_now(self, stream: str, timestamp: int, message: str, attempts: int = 5) -> bool:
        """Send one event on the calling thread (watchtower's ``use_queues=False``).

        Makes at most `attempts` attempts, waiting at most a second between two.
        """
        if not message:
            warn_empty()
            return False
        message, size = prepare_message(message, self.settings.max_body_size)
        with self._lock:
            if self._closed:
                self._ledger.drop("closed", 1)
                st = None
            else:
                self._enqueued += 1
                self._queued_events += 1
                self._queued_bytes += size
                known = stream in self._known or not self.settings.create_log_stream
                st = _Stream(stream, known, self._ledger)  # the call's own: never seen by senders
                st.ready.append(_Batch([QueuedEvent(timestamp, message, size, 0, -1)], size))
        if st is None:
            self._announce()
            return False
        thread_state.in_engine = True
        try:
            for attempt in range(attempts):
                if attempt:
                    due = st.ready[0].retry_at if st.known else st.create_retry_at
                    time.sleep(min(1.0, max(0.0, due - time.monotonic())))
                job: _Job
                if st.known:
                    head = st.ready.popleft()
                    st.in_flight.append(head)
                    job = (PUT, st, head)
                else:
                    st.creating = True
                    job = (CREATE, st, None)
                outcome = self._attempt(job)
                with self._lock:
                    self._apply(job, outcome)
                if not st.ready:  # settled: sent, rejected or dropped
                    return isinstance(outcome, Sent)
            with self._lock:
                for left in st.ready:
                    self._settle(st, left, dropped="retries_exhausted")
                st.ready.clear()
            return False
        finally:
            thread_state.in_engine = False
            if self._ledger.notices:
                self._announce()

    # ---------------------------------------------------------- sender threads

    def _start_worker(self) -> None:
        """Start one more sender thread (lock held)."""
        if not self._workers:
            self._next_tick = time.monotonic() + self.settings.send_interval
        worker = threading.Thread(
            target=self._run,
            name=f"wt_adapters:{self.settings.log_group_name}:{self._started_workers}",
            daemon=True,
        )
        self._workers.append(worker)
        self._started_workers += 1
        worker.start()

    def _run(self) -> None:
        thread_state.in_engine = True
        me = threading.current_thread()
        job: Optional[_Job] = None
        busy = False
        try:
            if self._sender_stale:  # the first sender thread in a forked child
                self._sender_stale = False
                self.sender.after_fork()
            while True:
                with self._lock:
                    job = self._next_job()
                    if job is None:
                        if me in self._workers:
                            self._workers.remove(me)
                        return
                    self._busy += 1
                    busy = True
                outcome = self._attempt(job)
                with self._lock:
                    self._in_flight -= 1
                    self._apply(job, outcome)
                    job = None
                if self._ledger.notices:
                    self._announce()
                with self._lock:
                    self._busy -= 1
                    busy = False
                    if self._forking:
                        self._cond.notify_all()
        except BaseException as e:
            self._died(me, job, busy, e)

    def _died(
        self, me: threading.Thread, job: Optional[_Job], busy: bool, error: BaseException
    ) -> None:
        """A sender thread failed (a bug, MemoryError): put its job back and say so."""
        try:
            with self._lock:
                self._busy -= busy  # it died holding a job, or between a job and its warnings
                if me in self._workers:
                    self._workers.remove(me)
                if not self._workers:
                    self._asleep = True  # the next event starts a sender thread again
                if job is not None:
                    kind, st, batch = job
                    self._in_flight -= 1
                    if kind == CREATE:
                        st.creating = False
                    elif batch is not None and batch in st.in_flight:
                        st.in_flight.remove(batch)
                        st.ready.appendleft(batch)
                self._cond.notify_all()
            sys.stderr.write(
                f"wt_adapters: a delivery thread for log group {self.settings.log_group_name!r}"
                f" stopped: {error!r}; another is started when needed\n"
                + "".join(traceback.format_exception(type(error), error, error.__traceback__))
            )
        except BaseException:  # pragma: no cover - nothing more can be done
            pass

    def _attempt(self, job: _Job) -> Outcome:
        """Make the job's one CloudWatch attempt (lock not held)."""
        kind, st, batch = job
        if kind == CREATE:
            return create_stream(self.sender, self.settings, st.name, self._groups, st.create_past)
        assert batch is not None
        self.spool.sending([e.seq for e in batch.events])
        return put_batch(
            self.sender, self.settings, st.name, [(e[0], e[1]) for e in batch.events], batch.past
        )

    def _next_job(self) -> Optional[_Job]:
        """Wait (lock held) until there is a job to do; None when the engine stops."""
        s = self.settings
        while True:
            if self._closed:
                return None
            if self._forking:
                self._cond.wait()
                continue
            self._absorb()
            now = time.monotonic()
            if now >= self._next_tick:
                self._draining = True
                self._next_tick = now + s.send_interval
            if self._metrics is not None and now >= self._metrics.due:
                self._put_metrics()
            wait: Optional[float] = None
            if self._in_flight < self._limit.allowed:
                job, wait = self._pick(now)
                if job is not None:
                    self._in_flight += 1
                    if self._waiting:
                        self._cond.notify()  # there may be more: let another thread look
                    elif len(self._workers) < self._limit.allowed:
                        self._start_worker()
                    return job
            if not self._queued_events:
                self._asleep = True  # nothing queued: wait for `submit` to wake us
                if self._inbox:
                    continue  # handed in before the flag was set: see `submit`
                self._draining = False
                wait = None
                if len(self._streams) > _IDLE_STREAMS_KEPT:
                    self._forget_idle_streams()
            if self._metrics is not None:
                wait = _sooner(wait, max(0.0, self._metrics.due - now))
            self._waiting += 1
            try:
                self._cond.wait(wait)
            finally:
                self._waiting -= 1

    def _pick(self, now: float) -> Tuple[Optional[_Job], Optional[float]]:
        """Choose the next job (lock held), or say how long until one may be due.

        Stream creations and resends go first, streams taking turns (the one
        served goes to the back of the line). Of the streams with a new batch
        due, the one whose first event is oldest goes: it has waited longest,
        it has gathered the most events, and it is the one a full queue would
        drop from first. A stream whose batch waits for a retry sends nothing
        else meanwhile.
        """
        s = self.settings
        urgent = (
            self._draining
            or self._flushers > 0
            or self._queued_events >= self._half_events
            or self._queued_bytes >= self._half_bytes
        )
        wait: Optional[float] = None
        waiting_for_tick = False
        any_pending = False
        job: Optional[_Job] = None
        oldest: Optional[_Stream] = None
        for st in self._streams.values():
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
                    wait = _sooner(wait, st.create_retry_at - now)
                    continue
                st.creating = True
                job = (CREATE, st, None)
                break
            if st.ready:
                head = st.ready[0]
                if head.retry_at > now:
                    wait = _sooner(wait, head.retry_at - now)
                    continue
                st.ready.popleft()
                st.in_flight.append(head)
                job = (PUT, st, head)
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
                return self._pick(now)
            oldest.in_flight.append(batch)
            job = (PUT, oldest, batch)
        if job is not None:
            name = job[1].name
            self._streams[name] = self._streams.pop(name)  # to the back of the line
            return job, None
        if self._draining and not any_pending:
            self._draining = False
        if waiting_for_tick:
            wait = _sooner(wait, max(0.0, self._next_tick - now))
        return None, wait

    def _take(self, st: _Stream) -> Optional[_Batch]:
        """Take the stream's next batch off its pending events (lock held)."""
        s = self.settings
        taken = take_batch(
            st.pending, st.pending_bytes, s.max_batch_count, s.max_batch_size, _now_ms()
        )
        st.pending_bytes -= taken.removed_bytes
        for reason, bad in (("too_old", taken.too_old), ("too_new", taken.too_new)):
            if bad:
                self._queued_events -= len(bad)
                self._queued_bytes -= sum(e[2] for e in bad)
                st.ledger.drop(reason, len(bad))
                if st.ledger is self._ledger:
                    self._spool_settle(st.name, bad, reason)
        return _Batch(taken.events, taken.nbytes) if taken.events else None

    # ------------------------------------------------------- applying outcomes

    def _apply(self, job: _Job, outcome: Outcome) -> None:
        """Settle what an attempt came to (lock held): the one place a batch's fate changes."""
        kind, st, batch = job
        now = self._last_progress = time.monotonic()
        if kind == CREATE:
            st.creating = False
            if isinstance(outcome, Created):
                self._blocked_since = None
                st.known = True
                self._remember(st.name)
                st.ledger.counts["streams_created"] += 1
                st.create_past = Attempts()
                self._limit.succeeded(outcome.rtt, now)
                if outcome.report:
                    self._ledger.note(*outcome.report)
            elif isinstance(outcome, Retry):
                self._failed_attempt(st, outcome)
                st.create_past.count += 1
                st.create_past.failing_since = outcome.failing_since
                st.create_retry_at = outcome.at
                if now - outcome.failing_since >= self.settings.retry.deadline:
                    self._give_up_stream(st, str(outcome.error))
            self._cond.notify_all()
            return
        assert batch is not None
        st.in_flight.remove(batch)
        if isinstance(outcome, Sent):
            self._blocked_since = None
            self._remember(st.name)
            self._limit.succeeded(outcome.rtt, now)
            self._settle(st, batch, rejected=outcome.rejected)
        elif isinstance(outcome, Dropped):
            self._ledger.note(*outcome.report)
            self._settle(st, batch, dropped=outcome.reason)
        elif isinstance(outcome, Split):
            st.ledger.counts["batches_failed"] += 1
            self._ledger.last_error = str(outcome.error)
            half = len(batch.events) // 2
            st.ready.extendleft((_Batch(batch.events[half:]), _Batch(batch.events[:half])))
        elif isinstance(outcome, (Retry, Missing)):
            self._failed_attempt(st, outcome)
            batch.past.count += 1
            batch.past.failing_since = outcome.failing_since
            batch.maybe_stored += outcome.error.maybe_stored
            batch.retry_at = outcome.at
            if self._closed:
                self._settle(st, batch, dropped="close_timeout")
            else:
                st.ledger.counts["retried"] += len(batch.events)
                st.ready.appendleft(batch)
                if isinstance(outcome, Missing):
                    st.known = False
                    self._known.discard(st.name)
        self._cond.notify_all()

    def _failed_attempt(self, st: _Stream, outcome: Retry | Missing) -> None:
        """Count a failed call and adapt the concurrency to it (lock held)."""
        error = outcome.error
        st.ledger.counts["batches_failed"] += 1
        self._ledger.last_error = str(error)
        if error.throttled:
            self._limit.throttled(time.monotonic())
        if isinstance(outcome, Retry) and outcome.report:
            self._ledger.note(*outcome.report)
        if error.kind is ErrorKind.AUTH or error.code in _UNREACHABLE:
            if self._blocked_since is None:
                self._blocked_since = time.monotonic()
            if error.kind is not ErrorKind.AUTH:  # refused credentials are reported already
                self._ledger.note(
                    "unreachable",
                    f"CloudWatch Logs can't be reached for log group"
                    f" {self.settings.log_group_name!r}: {error}",
                    error=False,
                )

    def _give_up_stream(self, st: _Stream, error: str) -> None:
        """Drop what waits for a stream that could not be created in time (lock held)."""
        n = len(st.pending) + sum(len(b.events) for b in st.ready)
        for b in st.ready:
            self._settle(st, b, dropped="retry_deadline")
        st.ready.clear()
        if st.pending:
            self._queued_events -= len(st.pending)
            self._queued_bytes -= st.pending_bytes
            st.ledger.drop("retry_deadline", len(st.pending))
            if st.ledger is self._ledger:
                self._spool_settle(st.name, list(st.pending), "retry_deadline")
            st.pending.clear()
            st.pending_bytes = 0
        st.create_past = Attempts()
        if n:
            self._ledger.note(
                "deadline",
                f"Failed to create log stream {st.name!r} in {self.settings.log_group_name!r}"
                f" within {self.settings.retry.deadline:g} s; dropping {n} events: {error}",
            )

    def _remember(self, stream: str) -> None:
        known = self._known
        if stream not in known:
            if len(known) >= _KNOWN_STREAMS_KEPT:
                known.clear()
            known.add(stream)

    def _settle(
        self,
        st: _Stream,
        batch: _Batch,
        *,
        rejected: Optional[Mapping[str, int]] = None,
        dropped: Optional[str] = None,
    ) -> None:
        """Count a batch as sent, rejected or dropped, and free its room (lock held)."""
        n = len(batch.events)
        self._queued_events -= n
        self._queued_bytes -= batch.nbytes
        if st.ledger is self._ledger:
            n -= self._spool_settle(st.name, batch.events, dropped, rejected)
        if dropped:
            if n:
                st.ledger.drop(dropped, n)
        else:
            st.ledger.sent(n, rejected or {}, batch.maybe_stored)
        batch.events = []

    def _spool_settle(
        self,
        stream: str,
        events: List[Item],
        dropped: Optional[str],
        rejected: Optional[Mapping[str, int]] = None,
    ) -> int:
        """Tell the spool events are settled (lock held); refused ones go to the dead letters.

        Events given up at close stay on disk for the next process instead:
        returns how many, which are then not counted as dropped.
        """
        spool = self.spool
        if dropped == "close_timeout":
            kept = 0 if spool.off is not None else sum(1 for e in events if e[4] >= 0)
            self._spool_left += kept
            return kept
        if dropped in _REFUSED:
            spool.dead_letter(self._group, stream, [(e[0], e[1]) for e in events], dropped)
        elif rejected:
            for reason, refused in _rejected_events(events, rejected):
                spool.dead_letter(self._group, stream, [(e[0], e[1]) for e in refused], reason)
        spool.settle([e[4] for e in events if e[4] >= 0])
        return 0

    # ------------------------------------------------------------------- spool

    def _hold(self, stream: str, timestamp: int, message: str, size: int) -> bool:
        """Keep an event on disk only, the queue being full (lock held); False if no room there."""
        if self._spool_buf_bytes + size > self._spool_room:
            return False
        seq = self._spool_next
        self._spool_next = seq + 1
        event = QueuedEvent(timestamp, message, size, -1, seq)
        self._spool_buf.append(Handover(stream, event, True))
        self._spool_held += 1
        self._spool_buf_bytes += size
        if not self._draining and self._workers:
            self._draining = True  # a full queue is a reason to send now
            self._cond.notify_all()
        return True

    def spool_collect(self, spool: Durability) -> List[Handover]:
        """Give the spool the events handed over since it last looked."""
        with self._lock:
            if self._pid != os.getpid():  # in a fork child: not yet started afresh
                return []
            self._absorb()
            buf = self._spool_buf
            if buf:
                self._spool_buf = []
                spool.taken_over(self._group, self._spool_held, self._spool_buf_bytes)
                self._spool_held = self._spool_buf_bytes = 0
            if self._spooling:
                self._spool_room = spool.max_bytes - spool.disk_bytes
            return buf

    def spool_stop(self) -> List[Handover]:
        """Hand no more events to the spool (it is off); return what it had not taken."""
        with self._lock:
            buf, self._spool_buf = self._spool_buf, []
            self._spooling = False
            self._spool_room = 0
            self._spool_held = self._spool_buf_bytes = 0
            return buf

    def disk_waiting(self) -> int:
        """Events of this engine's group kept on disk only (written, or about to be)."""
        with self._lock:
            return self._spool_held + self.spool.disk_only(self._group)

    def room(self) -> Tuple[int, int]:
        """Events and bytes the queue has room for now (a snapshot, no lock)."""
        return (
            max(0, self._max_events - self._queued_events - len(self._inbox)),
            max(0, self._max_bytes - self._queued_bytes),
        )

    def take_back(self, events: Sequence[LoadedEvent]) -> None:
        """Queue events read back from the spool."""
        prepared = [
            (e.stream, e.timestamp, *prepare_message(e.message, self._body_limit), e.seq)
            for e in events
        ]
        with self._lock:
            if self._closed:
                return  # they stay on disk
            for stream, timestamp, message, size, seq in prepared:
                st = self._streams.get(stream)
                if st is None:
                    st = self._add_stream(stream)
                st.pending.append(QueuedEvent(timestamp, message, size, st.arrivals, seq))
                st.arrivals += 1
                st.pending_bytes += size
                self._queued_events += 1
                self._queued_bytes += size
            if events:
                if self._asleep:
                    self._wake()
                self._draining = True
                self._cond.notify_all()
                self._size_inbox()

    def count_possible_duplicates(self, n: int) -> None:
        """Count adopted events that a gone process may have had stored already."""
        with self._lock:
            self._ledger.counts["possible_duplicates"] += n

    # ---------------------------------------------------------------- metrics

    def _enqueued_so_far(self) -> int:
        """Events the front ends handed in, the engine's metrics events left out (lock held)."""
        return self._enqueued + sum(
            st.arrivals for st in self._streams.values() if st.ledger is self._ledger
        )

    def _metrics_figures(self) -> Dict[str, Any]:
        """The counters a metrics event reports, shaped as `stats()` (lock held)."""
        return {"enqueued": self._enqueued_so_far(), **self._ledger.figures()}

    def _put_metrics(self) -> None:
        """Queue a metrics event with the counters' changes since the last (lock held).

        It takes room only where there is some: it never makes room by dropping
        a user's event, and if it finds none it is counted apart, not reported,
        and the next one carries its changes.
        """
        reporter = self._metrics
        assert reporter is not None
        st = self._streams.get(reporter.stream)
        if st is None:
            st = self._add_stream(reporter.stream, own=True)
        own = len(st.pending) + sum(len(b.events) for b in (*st.ready, *st.in_flight))
        figures = self._metrics_figures()
        timestamp = _now_ms()
        message = reporter.take(figures, self._queued_events - own, time.monotonic(), timestamp)
        size = len(message) + EVENT_OVERHEAD  # JSON of ASCII only
        if self._queued_events >= self._max_events or self._queued_bytes + size > self._max_bytes:
            st.ledger.drop("queue_full", 1)  # its changes go with the next one
            return
        reporter.kept()
        st.pending.append(QueuedEvent(timestamp, message, size, st.arrivals, -1))
        st.arrivals += 1
        st.pending_bytes += size
        self._queued_events += 1
        self._queued_bytes += size
        self._size_inbox()
        if self._asleep:
            self._wake()

    def deliver_last_metrics(
        self, timeout: Optional[float] = None, *, grace: Optional[float] = None
    ) -> bool:
        """Queue a last metrics event and deliver it (close and exit call this, after a flush).

        Only if a counter changed since the last one: an engine never used, or
        idle since its last event, makes no request. Returns whether there was
        none to send or it was delivered within `timeout` (see `flush`).
        """
        with self._lock:
            reporter = self._metrics
            if reporter is None or self._closed or self._pid != os.getpid():
                return True
            self._absorb()
            if not reporter.changed(self._metrics_figures()):
                return True
            self._put_metrics()
        return self.flush(timeout, grace=grace)

    # -------------------------------------------------------------- reporting

    def _announce(self) -> None:
        """Issue the warnings noted so far (lock not held)."""
        with self._lock:
            notices = self._ledger.take_notices()
        for message in notices:
            report(message, WatchtowerWarning, origin=self)

    # ------------------------------------------------------------------- fork

    def pause_for_fork(self, deadline: float) -> None:
        """Before a fork: let the sender threads finish what they are doing, then hold the lock.

        A sender thread caught in the middle of a request (an import, a write to
        stderr, a connection) at fork time can leave the child with a lock held
        for ever. So no new job starts, and those under way get until
        `deadline` (monotonic) to end; the lock stays held until
        `resume_after_fork` in the parent, and the child replaces it.
        """
        self._lock.acquire()
        self._forking = True
        while self._busy:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(left)

    def resume_after_fork(self) -> None:
        """In the parent, after a fork: let the sender threads go on."""
        self._forking = False
        self._cond.notify_all()
        self._lock.release()

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child: the parent delivers what it had queued.

        Runs in the at-fork hook, so it takes no lock: it only replaces state.
        The inherited connections are dropped by the child's first sender
        thread, before its first request.
        """
        refs = self._refs
        self._init_state()
        self._refs = refs
        self._sender_stale = True


def _rejected_events(events: List[Item], info: Mapping[str, int]) -> List[Tuple[str, List[Item]]]:
    """The events (sorted as sent) a PutLogEvents response rejected, by reason."""
    n = len(events)
    too_old = info.get("tooOldLogEventEndIndex", -1) + 1
    expired = info.get("expiredLogEventEndIndex", -1) + 1
    too_new = info.get("tooNewLogEventStartIndex", n)
    out: List[Tuple[str, List[Item]]] = []
    if expired > too_old:
        out.append(("expired", events[:expired]))
    elif too_old:
        out.append(("too_old", events[:too_old]))
    if too_new < n:
        out.append(("too_new", events[max(too_new, 0) :]))
    return out


def _sooner(wait: Optional[float], other: float) -> float:
    return other if wait is None else min(wait, other)


def _now_ms() -> int:
    return int(time.time() * 1000)
