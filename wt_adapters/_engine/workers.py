"""The engine's sender threads: each takes a job, makes its attempt, applies the outcome.

A thread that dies (a bug, MemoryError) puts its job back, says so on stderr,
and is replaced when there is work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from typing import Callable, List, Optional

from .._delivery import Outcome
from .._protocol import Transport
from .._threads import start_thread, thread_state
from .outcomes import Outcomes
from .queue import IDLE_STREAMS_KEPT, Queue
from .scheduler import Scheduler
from .streams import CREATE, Job, sooner


class Workers:
    """Starts, runs and replaces the sender threads of one engine.

    `transport()` is the engine's transport: a forked child's first sender thread
    has it drop the connections inherited (``after_fork``), and `finish` has it
    close its idle ones (``close``, if it has one); `attempt(job)`
    makes a job's one CloudWatch call (lock not held);
    `metrics(now)` queues a metrics event if one is due and returns the
    seconds until the next (lock held; None without metrics); `announce()`
    issues the ledger's warnings (lock not held).
    """

    def __init__(
        self,
        name: str,
        transport: Callable[[], Transport],
        attempt: Callable[[Job], Outcome],
        metrics: Callable[[float], Optional[float]],
        announce: Callable[[], None],
    ) -> None:
        self.name = name
        self._transport = transport
        self._attempt = attempt
        self._metrics = metrics
        self._announce = announce
        #: The first sender thread in a forked child drops the inherited connections.
        self.sender_stale = False

    def reset(self, lock: threading.Lock, queue: Queue, scheduler: Scheduler,
              outcomes: Outcomes) -> None:  # fmt: skip
        """Begin with no thread (at start, and in a forked child: no lock is taken)."""
        self.lock = lock
        self.work = queue.work
        self.done = queue.done
        self.queue = queue
        self.scheduler = scheduler
        self.outcomes = outcomes
        self.threads: List[threading.Thread] = []
        self._started = 0  # numbers the threads' names
        self._announcing = threading.RLock()  # see `announce_outcomes`
        #: Transport threads between taking a job and being done with it (warnings included).
        self.busy = 0
        #: A fork is about to happen: hand out no job until it has.
        self.forking = False
        self.pid = os.getpid()

    def announce_outcomes(self) -> None:
        """Issue the warnings noted so far, one thread at a time (lock not held).

        A sender thread settles a batch, then says what became of it (rejected events,
        say). A flush woken by the settling calls this before it returns: it says what
        is still unsaid, or waits while a sender thread says it, so that every warning
        its events made has been issued by then. A logging call's own warnings (drops)
        don't wait here.
        """
        if self.pid != os.getpid():
            return  # a child forked past the at-fork hooks: the notices are the parent's
        with self._announcing:
            self._announce()

    def wake(self) -> None:
        """Wake a sender thread for a first event, starting one if there is none (lock held)."""
        q = self.queue
        q.asleep = False
        self.scheduler.next_tick = time.monotonic() + q.settings.send_interval
        spool = q.handovers.spool
        if spool.needs_thread:
            spool.start_in_child()  # the first event in a forked child
        if self.threads:
            self.work.notify()
        else:
            self.start()

    def start(self) -> bool:
        """Start one more sender thread (lock held); False if none could be started.

        A thread that can't be started (the process is out of threads) is not
        kept: the next event, or flush, tries again.
        """
        if not self.threads:
            self.scheduler.next_tick = time.monotonic() + self.queue.settings.send_interval
        worker = threading.Thread(
            target=self._run, name=f"wt_adapters:{self.name}:{self._started}", daemon=True
        )
        self._started += 1
        self.threads.append(worker)
        try:
            start_thread(worker)
        except Exception as e:  # RuntimeError: can't start new thread
            self.threads.remove(worker)
            if not self.threads:
                self.queue.asleep = True  # the next event tries again
            _say(f"a delivery thread for log group {self.name!r} could not be started: {e!r}")
            return False
        return True

    def _run(self) -> None:
        thread_state.in_engine = True
        me = threading.current_thread()
        job: Optional[Job] = None
        busy = False
        slot = False  # the job holds one of the in-flight slots
        try:
            if self.sender_stale:  # the first sender thread in a forked child
                self.sender_stale = False
                self._transport().after_fork()
            while True:
                with self.lock:
                    job = self._next_job()
                    if job is None:
                        if me in self.threads:
                            self.threads.remove(me)
                        return
                    self.busy += 1
                    busy = slot = True
                outcome = self._attempt(job)
                with self.lock:
                    self.scheduler.in_flight -= 1
                    slot = False
                    self.outcomes.apply(job, outcome)
                    job = None
                if self.outcomes.ledger.notices:
                    self.announce_outcomes()
                with self.lock:
                    self.busy -= 1
                    busy = False
                    if self.forking:
                        self.done.notify_all()
        except BaseException as e:
            self._died(me, job, busy, slot, e)

    def _died(
        self,
        me: threading.Thread,
        job: Optional[Job],
        busy: bool,
        slot: bool,
        error: BaseException,
    ) -> None:
        """A sender thread failed (a bug, MemoryError): put its job back and say so.

        Its in-flight slot is given back once (`slot`: it still held one), and
        a batch not settled yet goes back to the front of its stream, however
        far the outcome's applying got: its events are counted once, when a
        later attempt settles them (as possible duplicates if its request was
        made). Another thread is started if work waits.
        """
        try:
            with self.lock:
                self.busy -= busy  # it died holding a job, or between a job and its warnings
                if me in self.threads:
                    self.threads.remove(me)
                if slot:
                    self.scheduler.in_flight -= 1
                if job is not None:
                    kind, st, batch = job
                    if kind == CREATE:
                        st.creating = False
                    elif batch is not None and batch.events:  # not settled
                        if not slot:  # its request was made: CloudWatch may have it
                            batch.maybe_stored += 1
                        if batch in st.in_flight:
                            st.in_flight.remove(batch)
                        if batch not in st.ready:
                            st.ready.appendleft(batch)
                if not self.threads:
                    self.queue.asleep = True  # the next event starts a sender thread again
                    if self.queue.queued_events and not self.queue.closed:
                        self.start()  # work waits: replace the thread now
                self.work.notify_all()
                self.done.notify_all()
            _say(
                f"a delivery thread for log group {self.name!r} stopped: {error!r};"
                " another is started when needed\n"
                + "".join(traceback.format_exception(type(error), error, error.__traceback__))
            )
        except BaseException:  # pragma: no cover - nothing more can be done
            pass

    def _next_job(self) -> Optional[Job]:
        """Wait (lock held) until there is a job to do; None when the engine stops."""
        q = self.queue
        sched = self.scheduler
        while True:
            if q.closed:
                return None
            if self.forking:
                self.work.wait()
                continue
            q.absorb()
            now = time.monotonic()
            sched.tick(now)
            metrics_wait = self._metrics(now)
            wait: Optional[float] = None
            if sched.in_flight < sched.limit.allowed:
                job, wait = sched.pick(now)
                if job is not None:
                    sched.in_flight += 1
                    if q.waiting:
                        self.work.notify()  # there may be more: let another thread look
                    elif len(self.threads) < sched.limit.allowed:
                        self.start()  # never raises: the job is this thread's either way
                    return job
            if not q.queued_events:
                q.asleep = True  # nothing queued: wait for `submit` to wake us
                if q.inbox:
                    continue  # handed in before the flag was set: see `submit`
                q.draining = False
                wait = None
                if len(q.streams) > IDLE_STREAMS_KEPT:
                    q.forget_idle_streams()
            if metrics_wait is not None:
                wait = sooner(wait, metrics_wait)
            q.waiting += 1
            try:
                self.work.wait(wait)
            finally:
                q.waiting -= 1

    def pause_for_fork(self, deadline: float) -> None:
        """Before a fork: let the threads finish what they are doing, then hold the lock.

        A sender thread caught in the middle of a request (an import, a write to
        stderr, a connection) at fork time can leave the child with a lock held
        for ever. So no new job starts, and those under way get until
        `deadline` (monotonic) to end; the lock stays held until
        `resume_after_fork` in the parent, and the child replaces it.
        """
        self.lock.acquire()
        self.forking = True
        while self.busy:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.done.wait(left)

    def resume_after_fork(self) -> None:
        """In the parent, after a fork: let the sender threads go on."""
        self.forking = False
        self.work.notify_all()
        self.lock.release()

    def finish(self, timeout: float) -> None:
        """Wait for the threads to end, each up to `timeout` (not from one of them), then
        have the transport close its idle connections (the engine is closed)."""
        if self.pid != os.getpid():
            return
        for worker in list(self.threads):
            if worker is not threading.current_thread():
                worker.join(timeout)
        close = getattr(self._transport(), "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # a connection that fails to close is gone
                close()


def _say(text: str) -> None:
    """Tell of a delivery thread's trouble on stderr (never through logging, never raising)."""
    with contextlib.suppress(Exception):  # no stderr left
        sys.stderr.write(f"wt_adapters: {text}\n")
