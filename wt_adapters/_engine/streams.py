"""What the engine's parts share: a stream's queue and batches, a sender thread's job."""

from __future__ import annotations

import operator
import time
from collections import deque
from typing import Deque, List, NamedTuple, Optional

from .._batching import Item
from .._delivery import Attempts
from .._ledger import Ledger

_SIZE = operator.itemgetter(2)
_ARRIVAL = operator.itemgetter(3)

#: The two kinds of job a sender thread does.
PUT = "put"
CREATE = "create"


class Batch:
    """Events on their way out together, sorted by timestamp, with their retry state."""

    __slots__ = ("events", "first_arrival", "maybe_stored", "nbytes", "past", "retry_at")

    def __init__(self, events: List[Item], nbytes: Optional[int] = None) -> None:
        self.events = events
        self.nbytes = sum(map(_SIZE, events)) if nbytes is None else nbytes
        self.first_arrival = min(map(_ARRIVAL, events))
        self.past = Attempts()
        self.retry_at = 0.0
        self.maybe_stored = 0  # failed attempts that CloudWatch may have stored all the same


class Stream:
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
        self.ready: Deque[Batch] = deque()
        self.in_flight: List[Batch] = []
        #: True once the stream is known to exist (or is never to be created).
        self.known = known
        self.creating = False
        self.create_past = Attempts()
        self.create_retry_at = 0.0

    def idle(self) -> bool:
        return not (self.pending or self.ready or self.in_flight or self.creating)

    def waiting(self) -> int:
        """Events queued and not in flight: pending, and in batches awaiting a (re)send."""
        return len(self.pending) + sum(len(b.events) for b in self.ready)

    def done_up_to(self, arrival: int) -> bool:
        """Tell whether every event that arrived before number `arrival` is finished."""
        if self.pending and self.pending[0][3] < arrival:
            return False
        return all(b.first_arrival >= arrival for b in self.ready) and all(
            b.first_arrival >= arrival for b in self.in_flight
        )


class Job(NamedTuple):
    """A sender thread's job: create `stream`, or put `batch` (PUT) into it."""

    kind: str
    stream: Stream
    batch: Optional[Batch]


def sooner(wait: Optional[float], other: float) -> float:
    return other if wait is None else min(wait, other)


def now_ms() -> int:
    return int(time.time() * 1000)
