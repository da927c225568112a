"""The retry policy: exponential backoff with full jitter, a cap and a deadline."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ._errors import WatchtowerError


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often the engine retries a batch that failed to send.

    The n-th retry waits a random time between 0 and
    ``min(maximum, initial * multiplier ** (n - 1))`` seconds ("full jitter"), for as
    long as the batch's first failure is less than `deadline` seconds ago. A
    call CloudWatch throttled starts from `throttled_initial` instead: its
    quotas are per second and shared by every process of an account, so a
    fleet that retries sooner only adds to the calls refused.
    """

    initial: float = 0.2
    maximum: float = 30.0
    multiplier: float = 2.0
    deadline: float = 300.0
    throttled_initial: float = 2.0

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "multiplier", "deadline", "throttled_initial"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise WatchtowerError(f"retry {name}={value!r} must be a number >= 0")
        if self.multiplier < 1:
            raise WatchtowerError(f"retry multiplier={self.multiplier!r} must be >= 1")

    def delay(self, attempt: int, *, throttled: bool = False) -> float:
        """Return the wait before retry number `attempt` (1 for the first retry)."""
        initial = max(self.initial, self.throttled_initial) if throttled else self.initial
        try:
            grown = initial * self.multiplier ** max(0, attempt - 1)
        except OverflowError:  # a long outage: the growth is past any maximum
            grown = math.inf if initial else 0.0
        return random.uniform(0, min(self.maximum, grown))
