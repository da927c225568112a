"""`wt-adapters tail`'s times: --since/--until read from durations and ISO 8601, shown as UTC."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Optional

import click

#: The latest time CloudWatch takes (the year 9999), in ms since the epoch.
MAX_TIME_MS = 253_402_300_799_999

_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\Z"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str, now: Optional[float] = None) -> Optional[int]:
    """Return ms since the epoch for "10m", "2h", "1d" (ago), an ISO 8601 time, or "all" (None).

    Units are lower case (``1M`` is refused, not read as a minute). ISO 8601 is
    read by python-dateutil (botocore's own dependency), so every Python reads
    the same forms: ``2024-05-01T12:00:00.5Z``, ``+0100``, ``20240501T120000Z``.
    A time without a zone is UTC.
    """
    text = value.strip()
    if text.lower() in ("all", "beginning"):
        return None
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)[0]]
        ms = int(((time.time() if now is None else now) - seconds) * 1000)
    else:
        from dateutil.parser import isoparse  # type: ignore[import-untyped]

        try:
            when = isoparse(text)
        except (ValueError, OverflowError):
            raise ValueError(
                f"{value!r} is neither a duration like 30s, 10m, 2h, 1d, 1w nor an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        try:
            ms = int(when.timestamp() * 1000)
        except (OverflowError, ValueError, OSError):
            ms = -1
    if not 0 <= ms <= MAX_TIME_MS:
        raise ValueError(f"{value!r} is out of range (1970 to 9999)")
    return ms


if TYPE_CHECKING:
    _ParamType = click.ParamType[Optional[int], Any]
else:  # not subscriptable before click 8.2
    _ParamType = click.ParamType


class TimeParam(_ParamType):
    """A --since/--until value, converted to ms since the epoch (None: from the start)."""

    name = "TIME"

    def convert(
        self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> Any:
        if value is None or isinstance(value, int):
            return value
        try:
            return parse_time(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


def format_time(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
