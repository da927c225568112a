"""Taking a batch from a stream's queue by CloudWatch's PutLogEvents rules.

A pure function over a queue of events: no threads, no clock of its own
(the time is an argument), no counters. The engine calls it under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Deque, List, Tuple

from ._rules import MAX_BATCH_SPAN_MS, MAX_EVENT_AGE_MS, MAX_EVENT_FUTURE_MS

#: A queued event, as the engine keeps it: (timestamp ms, message, size in bytes with
#: overhead, arrival number, sequence number in the disk spool or -1), the fields of
#: `_ports.QueuedEvent`, which is what leaves the engine. A plain tuple inside it: on
#: the sender threads, building a NamedTuple for each event costs more than all else
#: the queue does with it (about 350 ns against 250 ns).
Item = Tuple[int, str, int, int, int]

_by_timestamp = itemgetter(0)
_by_arrival = itemgetter(3)


@dataclass
class Taken:
    """What `take_batch` took from a queue."""

    #: The batch, sorted by timestamp (stably), within the limits; may be empty.
    events: List[Item] = field(default_factory=list)
    #: Its size in bytes, overhead included.
    nbytes: int = 0
    #: Events CloudWatch would reject, left out of the batch.
    too_old: List[Item] = field(default_factory=list)
    too_new: List[Item] = field(default_factory=list)
    #: Bytes taken off the queue in all (the batch, the rejects), for the caller's accounting.
    removed_bytes: int = 0


def take_batch(
    pending: Deque[Item], pending_bytes: int, max_count: int, max_bytes: int, now_ms: int
) -> Taken:
    """Take the next batch off the front of `pending` (events in arrival order).

    The batch holds at most `max_count` events and `max_bytes` bytes, is sorted
    by timestamp, spans less than 24 hours (later events go back to the front of
    `pending`, in arrival order) and leaves out events older than 14 days or
    more than 2 hours ahead of `now_ms`, which are returned apart. `pending_bytes`
    is the size of all of `pending`, so that a queue that fits is taken in one step.

    When the next event left in `pending` is of the batch's last millisecond
    (or earlier), a batch that spans more than one millisecond ends before its
    last one: the events of that millisecond go back too, so that the next
    batch starts in a later millisecond than this one ends. CloudWatch orders
    events of one millisecond as they arrive; two batches in flight at once
    whose times don't meet can land in any order and still read back as they
    were logged.
    """
    taken = Taken()
    while pending and not taken.events:
        events: List[Item]
        if len(pending) <= max_count and pending_bytes <= max_bytes:
            events = list(pending)  # all of it fits: take it in one step
            pending.clear()
            nbytes = pending_bytes
        else:
            events = []
            nbytes = 0
            while pending and len(events) < max_count:
                size = pending[0][2]
                if nbytes + size > max_bytes and events:  # one too large goes alone
                    break
                events.append(pending.popleft())
                nbytes += size
        pending_bytes -= nbytes
        taken.removed_bytes += nbytes
        events.sort(key=_by_timestamp)
        oldest, newest = now_ms - MAX_EVENT_AGE_MS, now_ms + MAX_EVENT_FUTURE_MS
        if events[0][0] < oldest or events[-1][0] > newest:
            taken.too_old.extend(e for e in events if e[0] < oldest)
            taken.too_new.extend(e for e in events if e[0] > newest)
            events = [e for e in events if oldest <= e[0] <= newest]
            nbytes = sum(e[2] for e in events)
            if not events:
                continue
        cut = len(events)
        if events[-1][0] - events[0][0] >= MAX_BATCH_SPAN_MS:
            cutoff = events[0][0] + MAX_BATCH_SPAN_MS
            cut = next(i for i, e in enumerate(events) if e[0] >= cutoff)
        elif pending and events[0][0] < events[-1][0] >= pending[0][0]:
            last = events[-1][0]
            cut = next(i for i in range(len(events) - 1, -1, -1) if events[i][0] < last) + 1
        if cut < len(events):
            rest = sorted(events[cut:], key=_by_arrival)
            del events[cut:]
            pending.extendleft(reversed(rest))
            rest_bytes = sum(e[2] for e in rest)
            taken.removed_bytes -= rest_bytes
            nbytes -= rest_bytes
        taken.events = events
        taken.nbytes = nbytes
    return taken
