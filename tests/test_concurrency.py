"""`AdaptiveLimit`: how many requests an engine keeps in flight (AIMD), with the clock passed in."""

from __future__ import annotations

from wt_adapters._concurrency import FLOOR_WINDOW, INITIAL_LIMIT, AdaptiveLimit


def test_it_starts_low_and_adds_one_per_success_up_to_the_cap() -> None:
    limit = AdaptiveLimit(10)
    assert limit.allowed == INITIAL_LIMIT
    for i in range(20):
        limit.succeeded(0.05, now=i * 0.05)
    assert limit.allowed == 10


def test_throttling_halves_it_once_per_round_trip() -> None:
    limit = AdaptiveLimit(16)
    for i in range(20):
        limit.succeeded(0.05, now=i * 0.05)
    assert limit.allowed == 16
    limit.throttled(now=2.0)
    limit.throttled(now=2.01)  # the same burst of throttling: not halved again
    assert limit.allowed == 8
    limit.throttled(now=2.2)
    assert limit.allowed == 4


def test_it_never_goes_below_one() -> None:
    limit = AdaptiveLimit(4)
    for i in range(10):
        limit.throttled(now=float(i))
    assert limit.allowed == 1


def test_round_trips_growing_well_past_the_shortest_halve_it() -> None:
    limit = AdaptiveLimit(10)
    now = 0.0
    for _ in range(20):
        now += 0.05
        limit.succeeded(0.05, now)
    assert limit.allowed == 10
    for _ in range(30):  # a queue builds somewhere: 2 s round trips
        now += 2.0
        limit.succeeded(2.0, now)
    assert limit.allowed < 10


def test_slower_round_trips_are_the_new_normal_after_the_floor_window() -> None:
    limit = AdaptiveLimit(10)
    limit.succeeded(0.01, now=0.0)
    now = 0.0
    for _ in range(int(3 * FLOOR_WINDOW)):
        now += 1.0
        limit.succeeded(1.0, now)
    assert limit.allowed == 10  # a slower endpoint is not a congested one


def test_a_cap_of_one_means_one() -> None:
    limit = AdaptiveLimit(1)
    limit.succeeded(0.01, now=0.0)
    assert limit.allowed == 1
