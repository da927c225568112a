"""The engine's options, validated once, before any AWS call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

from ._errors import WatchtowerError
from ._retry import RetryPolicy
from ._rules import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNT,
    MAX_MESSAGE_BYTES,
    check_log_group_name,
    check_retention_days,
)

DROP_OLDEST = "drop_oldest"
DROP_NEWEST = "drop_newest"
BLOCK = "block"
OVERFLOW_POLICIES = (DROP_OLDEST, DROP_NEWEST, BLOCK)


def _number(name: str, value: Any, *, low: float, integer: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < low:
        what = "an integer" if integer else "a number"
        raise WatchtowerError(f"{name}={value!r} must be {what} >= {low:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """The engine's options, validated. Engines with equal settings and client are shared."""

    log_group_name: str
    send_interval: float = 60.0
    max_batch_size: int = MAX_BATCH_BYTES
    max_batch_count: int = MAX_BATCH_COUNT
    max_message_size: int = 256 * 1024
    create_log_group: bool = True
    create_log_stream: bool = True
    log_group_retention_days: Optional[int] = None
    log_group_tags: Tuple[Tuple[str, str], ...] = ()
    max_queue_events: int = 100_000
    max_queue_bytes: int = 64 * 1024 * 1024
    queue_overflow: str = DROP_OLDEST
    queue_block_timeout: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 10

    def __post_init__(self) -> None:
        check_log_group_name(self.log_group_name)
        _number("send_interval", self.send_interval, low=0)
        _number("max_message_size", self.max_message_size, low=1, integer=True)
        if self.max_message_size > MAX_MESSAGE_BYTES + EVENT_OVERHEAD:
            raise WatchtowerError(
                f"max_message_size={self.max_message_size} is above CloudWatch's limit of"
                f" {MAX_MESSAGE_BYTES + EVENT_OVERHEAD} bytes per event"
            )
        _number("max_batch_size", self.max_batch_size, low=1, integer=True)
        if self.max_batch_size > MAX_BATCH_BYTES:
            raise WatchtowerError(
                f"max_batch_size={self.max_batch_size} is above CloudWatch's limit of"
                f" {MAX_BATCH_BYTES} bytes per request"
            )
        if self.max_batch_size < self.max_message_size:
            raise WatchtowerError(
                f"max_batch_size={self.max_batch_size} is below max_message_size="
                f"{self.max_message_size}: the largest message would not fit in a batch"
            )
        _number("max_batch_count", self.max_batch_count, low=1, integer=True)
        if self.max_batch_count > MAX_BATCH_COUNT:
            raise WatchtowerError(
                f"max_batch_count={self.max_batch_count} must be between 1 and {MAX_BATCH_COUNT}"
            )
        check_retention_days(self.log_group_retention_days)
        for key, value in self.log_group_tags:
            if not isinstance(key, str) or not isinstance(value, str):
                raise WatchtowerError(
                    f"log_group_tags: {key!r}: {value!r} must map strings to strings"
                )
        _number("max_queue_events", self.max_queue_events, low=1, integer=True)
        _number("max_queue_bytes", self.max_queue_bytes, low=MAX_BATCH_BYTES, integer=True)
        if self.queue_overflow not in OVERFLOW_POLICIES:
            raise WatchtowerError(
                f"queue_overflow={self.queue_overflow!r} must be one of {OVERFLOW_POLICIES}"
            )
        _number("queue_block_timeout", self.queue_block_timeout, low=0)
        _number("max_concurrency", self.max_concurrency, low=1, integer=True)

    @property
    def max_body_size(self) -> int:
        """The largest message body in bytes (watchtower counts the 26 bytes in)."""
        return (
            self.max_message_size - EVENT_OVERHEAD
            if self.max_message_size > EVENT_OVERHEAD
            else self.max_message_size
        )
