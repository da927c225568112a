"""CloudWatch Logs' limits, and the checks that keep requests inside them.

Every figure here comes from the PutLogEvents, CreateLogGroup, CreateLogStream
and PutRetentionPolicy API references. CloudWatch rejects a whole request that
breaks any of them, so the engine checks them itself.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ._errors import WatchtowerError

#: Bytes CloudWatch adds to each event when it measures a batch.
EVENT_OVERHEAD = 26
#: Largest PutLogEvents request: the UTF-8 bytes of every message plus 26 each.
MAX_BATCH_BYTES = 1_048_576
#: Most events in one PutLogEvents request.
MAX_BATCH_COUNT = 10_000
#: Largest single event, overhead included.
MAX_EVENT_BYTES = 1_048_576
#: Largest message, in UTF-8 bytes.
MAX_MESSAGE_BYTES = MAX_EVENT_BYTES - EVENT_OVERHEAD
#: A batch may not span more than this (newest minus oldest timestamp).
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
#: Events older than this are rejected as too old.
MAX_EVENT_AGE_MS = 14 * 24 * 3600 * 1000
#: Events further in the future than this are rejected as too new.
MAX_EVENT_FUTURE_MS = 2 * 3600 * 1000

RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}\Z")
_STREAM_FORBIDDEN = re.compile(r"[:*]")


def check_log_group_name(name: Any, argument: str = "log_group_name") -> str:
    """Return `name` if CloudWatch accepts it as a log group name, else raise."""
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        raise WatchtowerError(
            f"{argument}={name!r} is not a valid log group name: CloudWatch takes"
            " 1 to 512 characters of letters, digits and . - _ / #"
        )
    return name


def stream_name_problem(name: str) -> Optional[str]:
    """Say what is wrong with `name` as a log stream name, or return None."""
    if not name:
        return "it is empty"
    if len(name) > 512:
        return f"it is {len(name)} characters long (at most 512)"
    bad = _STREAM_FORBIDDEN.search(name)
    if bad:
        return f"it contains {bad.group()!r}"
    return None


def clean_stream_part(value: str) -> str:
    """Make a value substituted into a stream name template acceptable."""
    return _STREAM_FORBIDDEN.sub("", value)


def check_retention_days(days: Any, argument: str = "log_group_retention_days") -> Optional[int]:
    """Return `days` if CloudWatch offers that retention period (or None), else raise."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days not in RETENTION_DAYS:
        offered = ", ".join(map(str, RETENTION_DAYS))
        raise WatchtowerError(
            f"{argument}={days!r} is not a retention period CloudWatch offers ({offered} days)"
        )
    return days
