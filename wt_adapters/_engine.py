"""The delivery engine: a bounded queue per log group, batches by CloudWatch's rules,
one background thread, retries, group and stream creation, flush with a deadline.

The engine knows nothing of logging frameworks. A front end hands it events
(a stream name, a timestamp in ms, a message string) through `submit`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections import deque
from operator import itemgetter
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

from . import _registry
from ._errors import WatchtowerWarning
from ._messages import prepare_message, warn_empty
from ._protocol import ErrorKind, Sender, SendError
from ._rules import (
    EVENT_OVERHEAD,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_FUTURE_MS,
)
from ._settings import BLOCK, DROP_OLDEST, Settings
from ._threads import in_engine_call, thread_state

#: Queued event: (timestamp ms, message, size in bytes with overhead, arrival number).
_Item = Tuple[int, str, int, int]

#: Idle streams the worker keeps track of before it forgets them.
_IDLE_STREAMS_KEPT = 64

#: How often the same kind of problem is warned about, at most (seconds).
REPORT_INTERVAL = 60.0

_by_timestamp = itemgetter(0)
_by_arrival = itemgetter(3)


class _Batch:
    """Events on their way out together, sorted by timestamp, with their retry state."""

    __slots__ = (
        "attempts",
        "events",
        "failing_since",
        "first_arrival",
        "maybe_stored",
        "nbytes",
        "retry_at",
    )

    def __init__(self, events: List[_Item]) -> None:
        self.events = events
        self.nbytes = sum(e[2] for e in events)
        self.first_arrival = min(e[3] for e in events)
        self.attempts = 0
        self.failing_since: Optional[float] = None
        self.retry_at = 0.0
        self.maybe_stored = 0  # failed attempts that CloudWatch may have stored all the same


class _Stream:
    """One log stream's queue: events not yet batched, then batches awaiting (re)send."""

    __slots__ = ("arrivals", "held", "name", "pending", "pending_bytes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: Deque[_Item] = deque()
        self.pending_bytes = 0
        self.arrivals = 0
        self.held: Deque[_Batch] = deque()

    def done_up_to(self, arrival: int) -> bool:
        """Tell whether every event that arrived before number `arrival` is finished."""
        if self.pending and self.pending[0][3] < arrival:
            return False
        return all(b.first_arrival >= arrival for b in self.held)


class Engine:
    """Delivers events to one log group through one background thread.

    Use `submit` from any thread; it never blocks on the network (with the
    "block" overflow policy it waits at most `queue_block_timeout`).
    """

    def __init__(self, settings: Settings, sender: Sender) -> None:
        self.settings = settings
        self.sender = sender
        # Copies of the settings the hot path reads, as plain attributes.
        self._body_limit = settings.max_body_size
        self._max_events = settings.max_queue_events
        self._max_bytes = settings.max_queue_bytes
        self._batch_count = settings.max_batch_count
        self._batch_bytes = settings.max_batch_size
        self._refs = 0
        self._init_state()
        _registry.register(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._streams: Dict[str, _Stream] = {}
        self._queued_events = 0
        self._queued_bytes = 0
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._sleeping = False  # the worker waits for a first event
        self._woken = False
        self._flushers = 0
        self._draining = False
        self._next_tick = 0.0
        self._stopping = False
        self._closed = False
        self._enqueued = 0
        self._counts: Dict[str, int] = dict.fromkeys(
            ("sent", "retried", "batches_sent", "batches_failed",
             "possible_duplicates"), 0
        )  # fmt: skip
        self._dropped: Dict[str, int] = {}
        self._rejected: Dict[str, int] = {}
        self._last_error: Optional[str] = None
        self._reported: Dict[str, float] = {}
        self._notices: List[str] = []

    # ------------------------------------------------------------------ callers

    def acquire(self) -> Engine:
        """Count one more front-end object using this engine."""
        with self._lock:
            self._refs += 1
        return self

    def submit(self, stream: str, timestamp: int, message: str) -> bool:
        """Queue one event; return False if it was not accepted (and is counted)."""
        if message.isascii() and 0 < len(message) <= self._body_limit:
            size = len(message) + EVENT_OVERHEAD  # the common case, measured cheaply
        elif not message:
            warn_empty()
            return False
        else:
            message, size = prepare_message(message, self._body_limit)
        with self._lock:
            if self._closed:
                self._count_drop("closed", 1)
                accepted = False
            elif (
                self._queued_events < self._max_events
                and self._queued_bytes + size <= self._max_bytes
            ) or self._make_room(size):
                st = self._streams.get(stream)
                if st is None:
                    st = self._streams[stream] = _Stream(stream)
                pending = st.pending
                pending.append((timestamp, message, size, st.arrivals))
                st.arrivals += 1
                st.pending_bytes += size
                self._queued_events += 1
                self._queued_bytes += size
                self._enqueued += 1
                if self._thread is None:
                    self._start()
                elif self._sleeping or (
                    not self._woken
                    and (len(pending) >= self._batch_count or st.pending_bytes >= self._batch_bytes)
                ):
                    self._woken = True
                    self._sleeping = False
                    self._cond.notify()
                accepted = True
            else:
                accepted = False
        if self._notices:  # a drop to warn of (made room, refused, or closed)
            self._announce()
        return accepted

    def _make_room(self, size: int) -> bool:
        """Apply the overflow policy (lock held); True if the new event may go in."""
        s = self.settings
        if not self._draining and self._thread is not None:
            self._draining = True  # a full queue is a reason to send now
            self._woken = True
            self._sleeping = False
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
                return True
        elif s.queue_overflow == DROP_OLDEST:
            while self._queued_events >= s.max_queue_events or (
                self._queued_bytes + size > s.max_queue_bytes
            ):
                victim = None
                for st in self._streams.values():
                    if st.pending and (victim is None or st.pending[0][0] < victim.pending[0][0]):
                        victim = st
                if victim is None:
                    break  # all that is queued is in batches already being sent
                old = victim.pending.popleft()
                victim.pending_bytes -= old[2]
                self._queued_events -= 1
                self._queued_bytes -= old[2]
                self._count_drop("queue_full", 1)
            else:
                return True
        self._count_drop("queue_full", 1)
        return False

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send everything queued before this call; return whether that finished in time."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                return not self._queued_events
            if threading.current_thread() is self._thread:
                return False
            targets = [(st, st.arrivals) for st in self._streams.values() if st.arrivals]
            self._flushers += 1
            self._woken = True
            self._sleeping = False
            self._cond.notify_all()
            try:
                while not all(st.done_up_to(n) for st, n in targets):
                    left = None if deadline is None else deadline - time.monotonic()
                    if (left is not None and left <= 0) or not self._thread.is_alive():
                        return False
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
        """Deliver what is queued (up to `timeout`), stop the thread, report what is left.

        Idempotent. Returns whether everything queued was delivered.
        """
        _registry.forget(self)
        start = time.monotonic()
        done = self.flush(timeout)
        with self._lock:
            if self._closed:
                return done
            self._closed = True
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if (
            thread is not None
            and thread is not threading.current_thread()
            and (self._pid == os.getpid())
        ):
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
            thread.join(1.0 if left is None else min(left, 1.0))
        with self._lock:
            lost = self._queued_events
            if lost:
                for st in self._streams.values():
                    st.pending.clear()
                    st.held.clear()
                self._queued_events = self._queued_bytes = 0
                self._count_drop("close_timeout", lost)
                self._notices = [n for n in self._notices if "close timeout" not in n]
        self._announce()
        if lost:
            why = f" (last error: {self._last_error})" if self._last_error else ""
            warnings.warn(
                f"Timed out while delivering logs: {lost} events for log group "
                f"{self.settings.log_group_name!r} could not be delivered before close{why}",
                WatchtowerWarning,
                stacklevel=2,
            )
        return done and not lost

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
            figures: Dict[str, Any] = {"enqueued": self._enqueued, **self._counts}
            figures["queued"] = self._queued_events
            figures["queued_bytes"] = self._queued_bytes
            figures["dropped"] = dict(self._dropped)
            figures["rejected"] = dict(self._rejected)
            figures["last_error"] = self._last_error
            figures["log_group_name"] = self.settings.log_group_name
        return figures

    # ------------------------------------------------------------ synchronous

    def send_now(self, stream: str, timestamp: int, message: str, attempts: int = 5) -> bool:
        """Send one event on the calling thread (watchtower's ``use_queues=False``)."""
        message, size = prepare_message(message, self.settings.max_body_size)
        batch = _Batch([(timestamp, message, size, 0)])
        with self._lock:
            self._enqueued += 1
            self._queued_events += 1
            self._queued_bytes += size
        thread_state.in_engine = True
        try:
            for attempt in range(attempts):
                if self._deliver(stream, batch, time.monotonic()):
                    return True
                if batch.events and attempt + 1 < attempts:
                    time.sleep(min(1.0, max(0.0, batch.retry_at - time.monotonic())))
            if batch.events:
                self._finish(batch, dropped="retries_exhausted")
            return False
        finally:
            thread_state.in_engine = False
            if self._notices:
                self._announce()

    # ----------------------------------------------------------------- worker

    def _start(self) -> None:
        self._next_tick = time.monotonic() + self.settings.send_interval
        self._thread = threading.Thread(
            target=self._run, name=f"wt_adapters:{self.settings.log_group_name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        thread_state.in_engine = True
        try:
            while True:
                with self._lock:
                    work = self._next_work()
                    if work is None:
                        return
                for st, batch in work:
                    self._deliver(st.name, batch, time.monotonic())
                    with self._lock:
                        if not batch.events and st.held and st.held[0] is batch:
                            st.held.popleft()
                        self._cond.notify_all()
                    if self._notices:
                        self._announce()
        except BaseException as e:  # pragma: no cover - a bug; say so rather than die quietly
            sys.stderr.write(f"wt_adapters: the delivery thread stopped: {e!r}\n")
            raise

    def _next_work(self) -> Optional[List[Tuple[_Stream, _Batch]]]:
        """Wait (lock held) until some batch should go out; None when the engine stops."""
        s = self.settings
        while True:
            now = time.monotonic()
            if now >= self._next_tick:
                self._draining = True
                self._next_tick = now + s.send_interval
            urgent = self._draining or self._flushers > 0 or self._stopping
            work: List[Tuple[_Stream, _Batch]] = []
            wait: Optional[float] = None
            anything = False
            for st in self._streams.values():
                if (
                    not st.held
                    and st.pending
                    and (
                        urgent
                        or len(st.pending) >= s.max_batch_count
                        or st.pending_bytes >= s.max_batch_size
                    )
                ):
                    self._take_batch(st)
                if st.held:
                    anything = True
                    head = st.held[0]
                    if head.retry_at <= now:
                        work.append((st, head))
                    else:
                        wait = (
                            head.retry_at - now if wait is None else min(wait, head.retry_at - now)
                        )
                elif st.pending:
                    anything = True
            if work:
                return work
            if len(self._streams) > _IDLE_STREAMS_KEPT:
                # Forget idle streams, so that templates naming many of them over time
                # ({strftime}, {thread_name}) don't make every pass longer.
                for name in [
                    n for n, st in self._streams.items() if not st.pending and not st.held
                ]:
                    del self._streams[name]
            if self._draining and not any(st.pending for st in self._streams.values()):
                self._draining = False
            if self._stopping and (self._closed or not anything):
                return None
            if not anything:
                self._sleeping = True
                wait = None
            elif wait is None or any(st.pending for st in self._streams.values()):
                tick = max(0.0, self._next_tick - now)
                wait = tick if wait is None else min(wait, tick)
            self._woken = False
            self._cond.wait(wait)
            if self._sleeping:
                # Woken from idle by a first event: it may wait a whole send_interval.
                self._sleeping = False
                self._next_tick = time.monotonic() + s.send_interval

    def _take_batch(self, st: _Stream) -> None:
        """Move the next batch from `st.pending` to `st.held` (lock held)."""
        s = self.settings
        pending = st.pending
        while pending:
            events: List[_Item]
            if len(pending) <= s.max_batch_count and st.pending_bytes <= s.max_batch_size:
                events = list(pending)  # all of it fits: take it in one step
                pending.clear()
                nbytes = st.pending_bytes
            else:
                events = []
                nbytes = 0
                while pending and len(events) < s.max_batch_count:
                    size = pending[0][2]
                    if nbytes + size > s.max_batch_size:
                        break
                    events.append(pending.popleft())
                    nbytes += size
            st.pending_bytes -= nbytes
            events.sort(key=_by_timestamp)
            now_ms = int(time.time() * 1000)
            if events[0][0] < now_ms - MAX_EVENT_AGE_MS or (
                events[-1][0] > now_ms + MAX_EVENT_FUTURE_MS
            ):
                events = self._drop_out_of_range(events, now_ms)
                if not events:
                    continue
            if events[-1][0] - events[0][0] >= MAX_BATCH_SPAN_MS:
                cutoff = events[0][0] + MAX_BATCH_SPAN_MS
                cut = next(i for i, e in enumerate(events) if e[0] >= cutoff)
                rest = sorted(events[cut:], key=_by_arrival)
                del events[cut:]
                pending.extendleft(reversed(rest))
                st.pending_bytes += sum(e[2] for e in rest)
            st.held.append(_Batch(events))
            return

    def _drop_out_of_range(self, events: List[_Item], now_ms: int) -> List[_Item]:
        oldest, newest = now_ms - MAX_EVENT_AGE_MS, now_ms + MAX_EVENT_FUTURE_MS
        kept = [e for e in events if oldest <= e[0] <= newest]
        for reason, bad in (
            ("too_old", [e for e in events if e[0] < oldest]),
            ("too_new", [e for e in events if e[0] > newest]),
        ):
            if bad:
                self._queued_events -= len(bad)
                self._queued_bytes -= sum(e[2] for e in bad)
                self._count_drop(reason, len(bad))
        return kept

    # --------------------------------------------------------------- delivery

    def _deliver(self, stream: str, batch: _Batch, now: float) -> bool:
        """Make one attempt at sending `batch`; settle it, or schedule its retry.

        Returns True when the batch is settled (sent, rejected or dropped).
        """
        group = self.settings.log_group_name
        events = [(e[0], e[1]) for e in batch.events]
        try:
            try:
                rejected = self.sender.put_log_events(group, stream, events)
            except SendError as e:
                if e.kind is not ErrorKind.NOT_FOUND or not self._create(stream):
                    raise
                rejected = self.sender.put_log_events(group, stream, events)
        except SendError as e:
            return self._failed(stream, batch, e, now)
        except Exception as e:  # a sender bug or an unexpected client error: retry later
            return self._failed(
                stream, batch, SendError(ErrorKind.RETRY, type(e).__name__, str(e)), now
            )
        self._finish(batch, rejected=rejected)
        return True

    def _create(self, stream: str) -> bool:
        """Create the missing stream (and group, if allowed); True if both now exist."""
        s = self.settings
        group = s.log_group_name
        if not s.create_log_stream:
            self._report(
                "no_stream",
                f"log stream {stream!r} in log group {group!r} does not"
                " exist and create_log_stream is False",
            )
            return False
        try:
            self.sender.create_log_stream(group, stream)
            return True
        except SendError as stream_error:
            if stream_error.kind is ErrorKind.ALREADY_EXISTS:
                return True
            if stream_error.kind is not ErrorKind.NOT_FOUND:
                raise
        if not s.create_log_group:
            self._report(
                "no_group", f"log group {group!r} does not exist and create_log_group is False"
            )
            return False
        try:
            self.sender.create_log_group(group, dict(s.log_group_tags))
            created = True
        except SendError as group_error:
            if group_error.kind is not ErrorKind.ALREADY_EXISTS:
                raise
            created = False
        if created and s.log_group_retention_days:
            try:
                self.sender.put_retention_policy(group, s.log_group_retention_days)
            except SendError as e:
                self._report("retention", f"Failed to set retention on log group {group!r}: {e}")
        try:
            self.sender.create_log_stream(group, stream)
        except SendError as retry_error:
            if retry_error.kind is not ErrorKind.ALREADY_EXISTS:
                raise
        return True

    def _failed(self, stream: str, batch: _Batch, error: SendError, now: float) -> bool:
        s = self.settings
        with self._lock:
            self._counts["batches_failed"] += 1
            self._last_error = str(error)
        if error.kind is ErrorKind.INVALID:
            if len(batch.events) == 1:
                self._report(
                    "invalid", f"CloudWatch refused a log event for stream {stream!r}: {error}"
                )
                self._finish(batch, dropped="invalid")
                return True
            # Find the offending event: send each half on its own.
            half = len(batch.events) // 2
            first, second = _Batch(batch.events[:half]), _Batch(batch.events[half:])
            with self._lock:
                st = self._streams.get(stream)
                if st is not None and st.held and st.held[0] is batch:
                    st.held.popleft()
                    st.held.extendleft((second, first))
                    batch.events = []
                    return True
            # A synchronous send: try the halves right here.
            ok = self._deliver(stream, first, now) and self._deliver(stream, second, now)
            batch.events = []
            return ok
        if error.kind is ErrorKind.AUTH:
            self._report(f"auth:{error.code}", f"CloudWatch Logs refused the credentials: {error}")
        batch.attempts += 1
        batch.maybe_stored += error.maybe_stored
        if batch.failing_since is None:
            batch.failing_since = now
        if now - batch.failing_since >= s.retry.deadline:
            self._report(
                "deadline",
                f"Failed to deliver logs to {s.log_group_name!r}/{stream!r} within"
                f" {s.retry.deadline:g} s; dropping {len(batch.events)} events: {error}",
            )
            self._finish(batch, dropped="retry_deadline")
            return True
        batch.retry_at = now + s.retry.delay(batch.attempts)
        with self._lock:
            self._counts["retried"] += len(batch.events)
        return False

    def _finish(
        self,
        batch: _Batch,
        *,
        rejected: Optional[Mapping[str, int]] = None,
        dropped: Optional[str] = None,
    ) -> None:
        """Settle a batch: count it as sent, rejected or dropped, and free its room."""
        n = len(batch.events)
        with self._lock:
            self._queued_events -= n
            self._queued_bytes -= batch.nbytes
            if dropped:
                self._count_drop(dropped, n)
            else:
                before = dict(self._rejected)
                refused = _count_rejected(rejected or {}, n, self._rejected)
                self._counts["sent"] += n - refused
                self._counts["batches_sent"] += 1
                self._counts["possible_duplicates"] += n * batch.maybe_stored
                for reason, total in self._rejected.items():
                    if total != before.get(reason):
                        self._note(
                            f"rejected:{reason}",
                            f"CloudWatch rejected log events as {reason.replace('_', ' ')}:"
                            f" {total} so far for log group {self.settings.log_group_name!r}",
                        )
            batch.events = []
            self._cond.notify_all()

    # -------------------------------------------------------------- reporting

    def _count_drop(self, reason: str, n: int) -> None:
        """Count `n` dropped events (lock held) and note a warning, at most once a minute."""
        self._dropped[reason] = self._dropped.get(reason, 0) + n
        self._note(
            f"drop:{reason}",
            f"wt_adapters dropped log events for log group {self.settings.log_group_name!r}:"
            f" {self._dropped[reason]} so far because of {reason.replace('_', ' ')}",
        )

    def _note(self, key: str, message: str, *, error: bool = True) -> None:
        """Queue a warning (lock held), unless the same kind was warned of lately.

        Warnings are issued by `_announce`, outside the lock: a warning may be
        routed into logging (`logging.captureWarnings`) and so back to us.
        """
        now = time.monotonic()
        last = self._reported.get(key)
        if error:
            self._last_error = message
        if last is not None and now - last < REPORT_INTERVAL:
            return
        self._reported[key] = now
        self._notices.append(message)

    def _report(self, key: str, message: str) -> None:
        """Warn of a problem now, rate-limited per kind (lock not held)."""
        with self._lock:
            self._note(key, message)
        self._announce()

    def _announce(self) -> None:
        """Issue the warnings noted so far (lock not held)."""
        with self._lock:
            notices, self._notices = self._notices, []
        for message in notices:
            warnings.warn(message, WatchtowerWarning, stacklevel=3)

    # ------------------------------------------------------------------- fork

    def _after_fork_in_child(self) -> None:
        """Start afresh in a forked child: the parent delivers what it had queued."""
        refs = self._refs
        self._init_state()
        self._refs = refs
        self.sender.after_fork()


def _count_rejected(info: Mapping[str, int], n: int, into: Dict[str, int]) -> int:
    """Count the events a response rejected, by reason; return how many were rejected."""
    too_old = info.get("tooOldLogEventEndIndex", -1) + 1
    expired = info.get("expiredLogEventEndIndex", -1) + 1
    too_new = n - info["tooNewLogEventStartIndex"] if "tooNewLogEventStartIndex" in info else 0
    for reason, count in (("too_old", too_old), ("expired", expired), ("too_new", too_new)):
        if count > 0:
            into[reason] = into.get(reason, 0) + count
    return min(n, max(too_old, expired) + too_new)
