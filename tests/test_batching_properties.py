"""Properties of `take_batch` with rejects in the queue and limits down to one event.

tests/test_batching.py has the worked examples and draining valid events under
large limits; here the queue holds events out of range and the byte limit may be
smaller than an event.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Deque, List

from hypothesis import given
from hypothesis import strategies as st

from wt_adapters._batching import Item, take_batch
from wt_adapters._rules import (
    EVENT_OVERHEAD,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_FUTURE_MS,
)

NOW = 1_800_000_000_000
HOUR = 3600 * 1000
DAY = 24 * HOUR


def queue(timestamps: List[int], size: int = EVENT_OVERHEAD + 4) -> Deque[Item]:
    return deque((ts, f"m{i}", size, i) for i, ts in enumerate(timestamps))


def total(items: List[Item]) -> int:
    return sum(item[2] for item in items)


@st.composite
def queues(draw: st.DrawFn) -> Deque[Item]:
    """Events in arrival order: timestamps from too old to too new, some sizes at the limit."""
    stamps = draw(
        st.lists(
            st.integers(NOW - MAX_EVENT_AGE_MS - DAY, NOW + MAX_EVENT_FUTURE_MS + HOUR)
            | st.integers(NOW - 3 * DAY, NOW),
            max_size=60,
        )
    )
    sizes = draw(
        st.lists(st.integers(EVENT_OVERHEAD, 400), min_size=len(stamps), max_size=len(stamps))
    )
    return deque((ts, f"m{i}", size, i) for i, (ts, size) in enumerate(zip(stamps, sizes)))


@given(pending=queues(), max_count=st.integers(1, 25), max_bytes=st.integers(EVENT_OVERHEAD, 3000))
def test_a_batch_keeps_every_rule_and_loses_nothing(
    pending: Deque[Item], max_count: int, max_bytes: int
) -> None:
    before = list(pending)
    taken = take_batch(pending, total(before), max_count, max_bytes, NOW)
    batch, rest = taken.events, list(pending)

    assert len(batch) <= max_count
    assert taken.nbytes == total(batch)
    assert taken.nbytes <= max_bytes or len(batch) == 1  # an event larger than the limit goes alone
    assert batch == sorted(batch, key=lambda e: (e[0], e[3]))  # by time, stable
    if batch:
        assert batch[-1][0] - batch[0][0] < MAX_BATCH_SPAN_MS
    assert all(NOW - MAX_EVENT_AGE_MS <= e[0] <= NOW + MAX_EVENT_FUTURE_MS for e in batch)
    assert all(e[0] < NOW - MAX_EVENT_AGE_MS for e in taken.too_old)
    assert all(e[0] > NOW + MAX_EVENT_FUTURE_MS for e in taken.too_new)

    assert Counter(batch + taken.too_old + taken.too_new + rest) == Counter(before)
    assert rest == sorted(rest, key=lambda e: e[3])  # what is left stays in arrival order
    assert taken.removed_bytes == total(before) - total(rest)
    assert batch or not rest  # progress: a batch, unless nothing sendable was left


@given(pending=queues(), max_count=st.integers(1, 25), max_bytes=st.integers(EVENT_OVERHEAD, 3000))
def test_taking_until_empty_sends_each_acceptable_event_once(
    pending: Deque[Item], max_count: int, max_bytes: int
) -> None:
    acceptable = [e for e in pending if NOW - MAX_EVENT_AGE_MS <= e[0] <= NOW + MAX_EVENT_FUTURE_MS]
    sent: List[Item] = []
    for _ in range(len(pending) + 1):
        if not pending:
            break
        sent.extend(take_batch(pending, total(list(pending)), max_count, max_bytes, NOW).events)
    assert not pending
    assert Counter(sent) == Counter(acceptable)


def test_a_queue_of_only_rejects_leaves_an_empty_batch() -> None:
    pending = queue([NOW - MAX_EVENT_AGE_MS - 1, NOW + MAX_EVENT_FUTURE_MS + 1])
    taken = take_batch(pending, 60, 10, 10_000, NOW)
    assert taken.events == [] and not pending and taken.removed_bytes == 60


def test_an_event_larger_than_the_byte_limit_goes_in_a_batch_of_its_own() -> None:
    # max_message_size=10 with max_batch_size=10 is allowed: the 26 bytes of overhead
    # make each event 36 bytes, more than the batch limit.
    pending = queue([NOW, NOW], size=36)
    first = take_batch(pending, 72, 10, 10, NOW)
    assert [e[3] for e in first.events] == [0] and first.nbytes == 36
    assert [e[3] for e in take_batch(pending, 36, 10, 10, NOW).events] == [1]
