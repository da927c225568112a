"""How many requests an engine keeps in flight: an adaptive limit (AIMD, as TCP does).

The limit starts low and grows by one with every request that succeeds; it is
halved when CloudWatch throttles, or when round trips grow well past the
shortest one seen lately (a queue is building somewhere). A fleet of
processes under one account's quotas so backs off as a whole instead of
adding retries to the load. Pure logic: the caller passes the clock.
"""

from __future__ import annotations

from typing import Optional

#: The limit a new engine starts with.
INITIAL_LIMIT = 2
#: Round trips longer than ``FACTOR * shortest + SLACK`` (on average) mean latency rose.
LATENCY_FACTOR = 3.0
LATENCY_SLACK = 0.25
#: How long the shortest round trip seen is remembered (seconds).
FLOOR_WINDOW = 30.0
#: Weight of the newest round trip in the running average.
EWMA_WEIGHT = 0.2


class AdaptiveLimit:
    """Additive increase, multiplicative decrease of the requests allowed in flight."""

    __slots__ = ("_cut_at", "_ewma", "_floor", "_floor_next", "_window_end", "limit", "maximum")

    def __init__(self, maximum: int, initial: int = INITIAL_LIMIT) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(min(self.maximum, max(1, initial)))
        self._floor: Optional[float] = None
        self._floor_next: Optional[float] = None
        self._window_end = 0.0
        self._ewma: Optional[float] = None
        self._cut_at = float("-inf")

    @property
    def allowed(self) -> int:
        """How many requests may be in flight now."""
        return int(self.limit)

    def succeeded(self, rtt: float, now: float) -> None:
        """Count a request that succeeded after `rtt` seconds."""
        self._observe(rtt, now)
        floor, ewma = self._floor, self._ewma
        assert floor is not None and ewma is not None
        if ewma > LATENCY_FACTOR * floor + LATENCY_SLACK:
            self._decrease(now, ewma)
        else:
            self.limit = min(float(self.maximum), self.limit + 1.0)

    def throttled(self, now: float) -> None:
        """Count a request that CloudWatch throttled."""
        self._decrease(now, self._ewma or 0.0)

    def _observe(self, rtt: float, now: float) -> None:
        if now >= self._window_end:
            # A new window: the floor becomes the shortest of the window that ended.
            self._floor = self._floor_next if self._floor_next is not None else rtt
            self._floor_next = None
            self._window_end = now + FLOOR_WINDOW
        if self._floor is None or rtt < self._floor:
            self._floor = rtt
        if self._floor_next is None or rtt < self._floor_next:
            self._floor_next = rtt
        self._ewma = rtt if self._ewma is None else self._ewma + EWMA_WEIGHT * (rtt - self._ewma)

    def _decrease(self, now: float, rtt: float) -> None:
        # At most once per round trip: the requests already in flight saw the same conditions.
        if now - self._cut_at < rtt:
            return
        self._cut_at = now
        self.limit = max(1.0, self.limit / 2)
        if self._ewma is not None and self._floor is not None:
            self._ewma = self._floor  # judge what comes next afresh
