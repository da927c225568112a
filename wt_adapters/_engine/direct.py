"""Sending one event on the caller's thread: watchtower's ``use_queues=False``."""

from __future__ import annotations

import time
from typing import Callable

from .._delivery import Outcome, Sent
from .._messages import prepare_message, warn_empty
from .._threads import thread_state
from .outcomes import Outcomes
from .queue import Queue
from .streams import CREATE, PUT, Batch, Job, Stream


def send_now(
    queue: Queue,
    outcomes: Outcomes,
    attempt: Callable[[Job], Outcome],
    announce: Callable[[], None],
    stream: str,
    timestamp: int,
    message: str,
    attempts: int,
) -> bool:
    """Send one event now, in at most `attempts` attempts, at most a second apart.

    The event has a stream object of its own, never seen by the sender
    threads; it is counted as queued until its outcome is settled.
    """
    if not message:
        warn_empty()
        return False
    message, size = prepare_message(message, queue.settings.max_body_size)
    with queue.lock:
        if queue.closed:
            queue.ledger.drop("closed", 1)
            st = None
        else:
            queue.count_direct(size)
            known = stream in queue.known or not queue.settings.create_log_stream
            st = Stream(stream, known, queue.ledger)
            st.ready.append(Batch([(timestamp, message, size, 0, -1)], size))
    if st is None:
        announce()
        return False
    thread_state.in_engine = True
    try:
        for n in range(attempts):
            if n:
                due = st.ready[0].retry_at if st.known else st.create_retry_at
                time.sleep(min(1.0, max(0.0, due - time.monotonic())))
            if st.known:
                head = st.ready.popleft()
                st.in_flight.append(head)
                job = Job(PUT, st, head)
            else:
                st.creating = True
                job = Job(CREATE, st, None)
            outcome = attempt(job)
            with queue.lock:
                outcomes.apply(job, outcome)
            if not st.ready:  # settled: sent, rejected or dropped
                return isinstance(outcome, Sent)
        with queue.lock:
            for left in st.ready:
                outcomes.settle_batch(st, left, dropped="retries_exhausted")
            st.ready.clear()
        return False
    finally:
        thread_state.in_engine = False
        if queue.ledger.notices:
            announce()
