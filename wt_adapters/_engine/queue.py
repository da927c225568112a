"""The engine's queue: admission by the queue's limits and overflow policy, and its counts.

The queue is the only writer of the queued counts. Far from its limits a log
call only appends to an inbox, without the lock; the sender threads (or,
near the limits, a caller) move its events to their streams (`absorb`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, List, Sequence, Set, Tuple

from .._batching import Item, Taken, take_batch
from .._ledger import Ledger
from .._messages import prepare_message, warn_empty
from .._ports import Handover, LoadedEvent, QueuedEvent
from .._rules import EVENT_OVERHEAD
from .._settings import Settings
from .handover import Handovers
from .overflow import make_room
from .streams import Stream, now_ms

#: Idle streams the engine keeps track of before it forgets them.
IDLE_STREAMS_KEPT = 64
#: Stream names remembered as existing (created or written to) before the memory is reset.
_KNOWN_STREAMS_KEPT = 100_000
#: How often a log call past half full yields the GIL to the sender threads, at most (s).
_YIELD_EVERY = 0.001
#: Events callers may hand in without the lock before one of them takes it (see `submit`).
_INBOX_MAX = 4096
#: Below this much room for hand-ins (half the room left under half full), every call takes
#: the lock: near the queue's limits, each event's admission is decided on its own.
_INBOX_MIN = 64

#: An event handed in: (stream, timestamp, message, size).
_Hand = Tuple[str, int, str, int]


class Queue:
    """The streams' queued events, the inbox, the counts, and who may come in.

    `wake()` (lock held) wakes or starts a sender thread; `sending()` says
    whether a request (or the client's making) is under way, `making_client()`
    whether the client is being made; `announce()` (lock not held) issues the
    ledger's warnings.
    """

    def __init__(
        self,
        settings: Settings,
        handovers: Handovers,
        wake: Callable[[], None],
        sending: Callable[[], bool],
        making_client: Callable[[], bool],
        announce: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.handovers = handovers
        self._wake = wake
        self._sending = sending
        self._making_client = making_client
        self._announce = announce
        # Copies of the settings the hot path reads, as plain attributes.
        self._body_limit = settings.max_body_size
        self._max_events = settings.max_queue_events
        self._max_bytes = settings.max_queue_bytes
        self._batch_count = settings.max_batch_count
        self._batch_bytes = settings.max_batch_size
        # Half the queue's limits: past either, every stream is sent at once.
        self.half_events = (settings.max_queue_events + 1) // 2
        self.half_bytes = (settings.max_queue_bytes + 1) // 2
        self._next_yield = 0.0
        self.known: Set[str] = set()

    def reset(self, lock: threading.Lock, work: threading.Condition, done: threading.Condition,
              ledger: Ledger, own_ledger: Ledger) -> None:  # fmt: skip
        """Begin empty (at start, and in a forked child: no lock is taken).

        `work` wakes sender threads; `done` wakes those who wait for events to be
        settled (flush, close, a call waiting for room): two conditions on one lock,
        so that a wake-up meant for a sender thread never goes to a flush instead.
        """
        self.lock = lock
        self.work = work
        self.done = done
        self.ledger = ledger
        self.own_ledger = own_ledger
        self.streams: Dict[str, Stream] = {}
        #: Events handed in without the lock, in order.
        self.inbox: Deque[_Hand] = deque()
        #: How many events the inbox may hold (0: every call takes the lock), the largest
        #: event it takes, and the length at which a caller asks a sender thread to take them.
        self._inbox_room = 0
        self._inbox_size = 0
        self._inbox_nudge = 0
        self.queued_events = 0
        self.queued_bytes = 0
        #: Events of streams forgotten since (see `enqueued`).
        self._enqueued = 0
        #: Nothing is queued, or no sender thread runs: the next event wakes or starts one.
        self.asleep = True
        #: Sender threads waiting for work (they count themselves).
        self.waiting = 0
        #: Send every stream's pending events now (tick, pressure, flush).
        self.draining = False
        self.closed = False

    # ------------------------------------------------------------ admission

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
        inbox = self.inbox
        if size <= self._inbox_size and len(inbox) < self._inbox_room:
            item = (stream, timestamp, message, size)
            inbox.append(item)
            # Read after the append: a sender thread going to sleep, or `close`, sets its
            # flag before it empties the inbox, so one of the two sees the other.
            if self.asleep or self.closed or len(inbox) == self._inbox_nudge:
                return self._handed_in(item)
            return True
        return self._submit_locked(stream, timestamp, message, size)

    def _handed_in(self, item: _Hand) -> bool:
        """After a hand-off to the inbox that needs the lock: wake, nudge, or refuse."""
        accepted = True
        with self.lock:
            if self.closed:
                # `close` took in what the inbox held when it closed; what a call hands in
                # after that, the call itself takes back and counts.
                try:
                    self.inbox.remove(item)
                except ValueError:
                    pass  # taken in by `close`: counted with the rest of the queue
                else:
                    self.ledger.drop("closed", 1)
                    accepted = False
            elif self.asleep:
                self.absorb()
            elif self.waiting:
                self.work.notify()  # a waiting sender thread takes the inbox's events
            # else the sender threads take them when their requests end, or, should the
            # inbox fill first, the call that finds it full.
        if self.ledger.notices:
            self._announce()
        return accepted

    def _submit_locked(self, stream: str, timestamp: int, message: str, size: int) -> bool:
        """Admit one event under the lock, with the queue's limits and the overflow policy."""
        with self.lock:
            self.absorb()  # the events handed in before this one go first
            fits = self.queued_events < self._max_events and (
                self.queued_bytes + size <= self._max_bytes
            )
            if self.closed:
                self.ledger.drop("closed", 1)
                accepted = False
            elif not fits and self.handovers.hold(stream, timestamp, message, size):
                self.press()
                accepted = True  # on disk only, loaded back as the queue drains
            elif fits or make_room(self, size):
                self.inbox.append((stream, timestamp, message, size))
                self.absorb()  # admitted: queued as the inbox's events are
                accepted = True
            else:
                accepted = False
        if self.ledger.notices:  # a drop to warn of (made room, refused, or closed)
            self._announce()
        if self.queued_events >= self.half_events and self._sending():
            # Past half full with a request (or the client's making) under way: let the
            # sender threads have the GIL. A thread that hardly ever blocks keeps it from
            # them otherwise, for seconds, until the queue overflows. At most once per
            # `_YIELD_EVERY`, so that a stalled endpoint costs the caller next to nothing;
            # on every call while the client is being made: that ends by itself, and
            # nothing can be sent before it has (botocore reads its files meanwhile, and
            # waits for the GIL after each read).
            now = time.monotonic()
            if now >= self._next_yield or self._making_client():
                self._next_yield = now + _YIELD_EVERY
                time.sleep(0)
        return accepted

    def press(self) -> None:
        """A full queue is a reason to send now (lock held)."""
        if not self.draining and not self.asleep:
            self.draining = True
            self.work.notify_all()

    def absorb(self, closing: bool = False) -> None:
        """Move the inbox's events to their streams, and wake or notify as needed (lock held).

        Their room was checked when they were handed in (`_inbox_room` keeps the
        inbox within half the queue's room, and `_submit_locked` admits each of
        its own), so each is taken as it is. Once closed, only `close` itself
        (`closing`) takes any.
        """
        if self.closed and not closing:
            return
        inbox = self.inbox
        n = len(inbox)
        if n:
            pop = inbox.popleft
            streams = self.streams
            h = self.handovers
            new = tuple.__new__  # a QueuedEvent for the spool, without its keyword constructor
            batch_count, batch_bytes = self._batch_count, self._batch_bytes
            full = False
            added = 0
            spool_room = h.room - h.buf_bytes  # 0 without a spool, or with it off
            name, st = "", None
            for _ in range(n):
                stream, timestamp, message, size = pop()
                if stream != name or st is None:  # a run of one stream's events: one look-up
                    st = streams.get(stream)
                    if st is None:
                        st = self.add_stream(stream)
                    name = stream
                arrival = st.arrivals
                if size > spool_room:  # no spool, or no room there: memory only
                    st.pending.append((timestamp, message, size, arrival, -1))
                else:  # the spool thread writes it (this adds no system call)
                    spool_room -= size
                    seq = h.next_seq
                    h.next_seq = seq + 1
                    item = (timestamp, message, size, arrival, seq)
                    st.pending.append(item)
                    h.buf.append(Handover(stream, new(QueuedEvent, item), False))
                    h.buf_bytes += size
                st.arrivals = arrival + 1  # also the stream's count of events enqueued
                nbytes = st.pending_bytes = st.pending_bytes + size
                if len(st.pending) == batch_count or nbytes >= batch_bytes > nbytes - size:
                    full = True  # this event made a full batch
                added += size
            self.queued_events += n
            self.queued_bytes += added
            if self.asleep:
                self._wake()
            elif full:
                self.work.notify()  # a full batch to send
            elif not self.draining and (
                self.queued_events >= self.half_events or self.queued_bytes >= self.half_bytes
            ):
                self.draining = True  # half full: send every stream now
                self.work.notify()
        self.size_inbox()

    def size_inbox(self) -> None:
        """Set how much the inbox may take before a call takes the lock (lock held).

        Half of the room left under half full, so that threads racing past the
        check can't take the queue past it; none when that is little.
        """
        n = min(_INBOX_MAX, (self.half_events - self.queued_events) // 2)
        if n < _INBOX_MIN or self.closed:
            self._inbox_room = 0
            return
        self._inbox_room = n
        self._inbox_nudge = n // 2
        self._inbox_size = min(
            self._body_limit + EVENT_OVERHEAD, (self.half_bytes - self.queued_bytes) // (2 * n)
        )

    def close(self) -> None:
        """Admit nothing more, and take in what the inbox holds (lock held)."""
        self.closed = True
        self._inbox_room = 0
        # After the flag: a call handing in an event later sees it (see `submit`).
        self.absorb(closing=True)

    # -------------------------------------------------------------- streams

    def add_stream(self, name: str, own: bool = False) -> Stream:
        """Start tracking stream `name` (lock held); `own`: the engine's metrics stream.

        The metrics stream is created when missing even with create_log_stream False.
        """
        if len(self.streams) >= IDLE_STREAMS_KEPT:
            self.forget_idle_streams()
        st = self.streams[name] = Stream(
            name,
            name in self.known or not (self.settings.create_log_stream or own),
            self.own_ledger if own else self.ledger,
        )
        return st

    def forget_idle_streams(self) -> None:
        """Forget streams with nothing queued (lock held).

        So that templates naming many streams over time ({strftime},
        {thread_name}) don't make every pass longer; which streams exist is
        remembered apart (`known`).
        """
        for name in [n for n, st in self.streams.items() if st.idle()]:
            st = self.streams.pop(name)
            if st.ledger is self.ledger:
                self._enqueued += st.arrivals

    def remember(self, stream: str) -> None:
        """Note that `stream` exists (lock held)."""
        known = self.known
        if stream not in known:
            if len(known) >= _KNOWN_STREAMS_KEPT:
                known.clear()
            known.add(stream)

    def enqueued(self) -> int:
        """Events the front ends handed in, the engine's metrics events left out (lock held)."""
        return self._enqueued + sum(
            st.arrivals for st in self.streams.values() if st.ledger is self.ledger
        )

    # ---------------------------------------------------------- the counts

    def free(self, n: int, nbytes: int) -> None:
        """Give back the room of `n` events of `nbytes` settled or dropped (lock held)."""
        self.queued_events -= n
        self.queued_bytes -= nbytes

    def take(self, st: Stream) -> Taken:
        """Take the stream's next batch off its pending events (lock held).

        The events CloudWatch would reject are left out, still counted as queued:
        the caller settles them.
        """
        s = self.settings
        taken = take_batch(
            st.pending, st.pending_bytes, s.max_batch_count, s.max_batch_size, now_ms()
        )
        st.pending_bytes -= taken.removed_bytes
        return taken

    def clear_pending(self, st: Stream) -> Tuple[List[Item], int]:
        """Take every pending event of `st` out of its stream, still counted as queued (lock
        held): return them and their bytes, for the caller to settle."""
        events, nbytes = list(st.pending), st.pending_bytes
        st.pending.clear()
        st.pending_bytes = 0
        return events, nbytes

    def put(self, st: Stream, timestamp: int, message: str, size: int, seq: int = -1) -> None:
        """Queue one event on `st` as it is, its room already checked (lock held)."""
        st.pending.append((timestamp, message, size, st.arrivals, seq))
        st.arrivals += 1
        st.pending_bytes += size
        self.queued_events += 1
        self.queued_bytes += size

    def count_direct(self, size: int) -> None:
        """Count one event sent on the caller's thread (``use_queues=False``) as queued."""
        self._enqueued += 1
        self.queued_events += 1
        self.queued_bytes += size

    def fits(self, size: int) -> bool:
        """Whether one more event of `size` fits in the queue's limits (lock held)."""
        return self.queued_events < self._max_events and self.queued_bytes + size <= self._max_bytes

    def take_back(self, events: Sequence[LoadedEvent]) -> None:
        """Queue events read back from the spool."""
        prepared = [
            (e.stream, e.timestamp, *prepare_message(e.message, self._body_limit), e.seq)
            for e in events
        ]
        with self.lock:
            if self.closed:
                return  # they stay on disk
            for stream, timestamp, message, size, seq in prepared:
                st = self.streams.get(stream)
                if st is None:
                    st = self.add_stream(stream)
                self.put(st, timestamp, message, size, seq)
            if events:
                if self.asleep:
                    self._wake()
                self.draining = True
                self.work.notify_all()
                self.size_inbox()

    def room(self) -> Tuple[int, int]:
        """Events and bytes the queue has room for now (a snapshot, no lock)."""
        return (
            max(0, self._max_events - self.queued_events - len(self.inbox)),
            max(0, self._max_bytes - self.queued_bytes),
        )
