"""`take_batch`, the batching rules as a pure function: no engine, no threads, no network."""

from __future__ import annotations

from collections import deque
from typing import Deque, List

from hypothesis import given
from hypothesis import strategies as st

from wt_adapters._batching import Item, take_batch
from wt_adapters._memory import request_problem
from wt_adapters._rules import (
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNT,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_FUTURE_MS,
)

NOW = 1_800_000_000_000
HOUR = 3600 * 1000


def queue(stamps: List[int], size: int = 30) -> Deque[Item]:
    return deque((ts, f"m{i}", size, i) for i, ts in enumerate(stamps))


def total(items: Deque[Item]) -> int:
    return sum(e[2] for e in items)


def test_a_queue_that_fits_is_taken_whole_and_sorted_stably() -> None:
    pending = queue([NOW + 5, NOW, NOW + 5, NOW])
    taken = take_batch(pending, total(pending), 100, 10_000, NOW)
    assert [e[3] for e in taken.events] == [1, 3, 0, 2]
    assert not pending and taken.nbytes == taken.removed_bytes == 120


def test_the_count_limit_leaves_the_rest_queued_in_arrival_order() -> None:
    pending = queue([NOW + i for i in range(10)])
    taken = take_batch(pending, total(pending), 4, 10_000, NOW)
    assert [e[3] for e in taken.events] == [0, 1, 2, 3]
    assert [e[3] for e in pending] == [4, 5, 6, 7, 8, 9]


def test_the_byte_limit_counts_the_overhead_in_each_size() -> None:
    pending = queue([NOW] * 10, size=100)
    taken = take_batch(pending, total(pending), 100, 350, NOW)
    assert len(taken.events) == 3 and taken.nbytes == 300 and len(pending) == 7


def test_a_batch_never_spans_24_hours_and_the_later_events_go_back_first() -> None:
    pending = queue([NOW - 30 * HOUR, NOW, NOW - 29 * HOUR, NOW - HOUR])
    taken = take_batch(pending, total(pending), 100, 10_000, NOW)
    assert [e[3] for e in taken.events] == [0, 2]
    assert [e[3] for e in pending] == [1, 3]  # back at the front, in arrival order
    assert taken.removed_bytes == taken.nbytes == 60


def test_events_out_of_range_are_set_apart_not_batched() -> None:
    old, new = NOW - MAX_EVENT_AGE_MS - 1, NOW + MAX_EVENT_FUTURE_MS + 1
    pending = queue([old, NOW, new, NOW + 1])
    taken = take_batch(pending, total(pending), 100, 10_000, NOW)
    assert [e[3] for e in taken.events] == [1, 3]
    assert [e[3] for e in taken.too_old] == [0] and [e[3] for e in taken.too_new] == [2]
    assert taken.removed_bytes == 120 and taken.nbytes == 60


def test_a_batch_of_nothing_but_rejects_moves_on_to_the_next() -> None:
    old = NOW - MAX_EVENT_AGE_MS - 1
    pending = queue([old, old, NOW, NOW])
    taken = take_batch(pending, total(pending), 2, 10_000, NOW)
    assert len(taken.too_old) == 2 and [e[3] for e in taken.events] == [2, 3]


def test_an_empty_queue_gives_an_empty_batch() -> None:
    taken = take_batch(deque(), 0, 10, 100, NOW)
    assert taken.events == [] and taken.removed_bytes == 0


@given(
    stamps=st.lists(
        st.integers(min_value=NOW - 13 * 24 * HOUR, max_value=NOW + HOUR), min_size=1, max_size=300
    ),
    sizes=st.lists(st.integers(min_value=27, max_value=5_000), min_size=300, max_size=300),
    max_count=st.integers(min_value=1, max_value=MAX_BATCH_COUNT),
    max_bytes=st.integers(min_value=5_000, max_value=MAX_BATCH_BYTES),
)
def test_draining_a_queue_gives_valid_batches_and_loses_nothing(
    stamps: List[int], sizes: List[int], max_count: int, max_bytes: int
) -> None:
    pending: Deque[Item] = deque(
        (ts, "x" * (sizes[i] - 26), sizes[i], i) for i, ts in enumerate(stamps)
    )
    left = total(pending)
    seen: List[int] = []
    for _ in range(len(stamps)):
        taken = take_batch(pending, left, max_count, max_bytes, NOW)
        left -= taken.removed_bytes
        assert left == total(pending)
        if not taken.events:
            break
        assert len(taken.events) <= max_count and taken.nbytes <= max_bytes
        assert taken.nbytes == total(deque(taken.events))
        assert request_problem([(e[0], e[1]) for e in taken.events]) is None
        assert taken.events[-1][0] - taken.events[0][0] < MAX_BATCH_SPAN_MS
        seen.extend(e[3] for e in taken.events)
    assert not pending
    assert sorted(seen) == list(range(len(stamps)))
