"""The one reading of a PutLogEvents response's ``rejectedLogEventsInfo``.

The API reference: ``tooOldLogEventEndIndex`` and ``expiredLogEventEndIndex``
are exclusive ends (the events before them were rejected), and
``tooNewLogEventStartIndex`` is an inclusive start (it and the events after
it were rejected), all into the batch as sent, sorted by timestamp. Each
rejected event is counted once, under one reason: the events before the
too-old end as ``too_old``, those between it and a later expired end as
``expired``, those from the too-new start on as ``too_new``.
"""

from __future__ import annotations

from typing import Any, List, Mapping, NamedTuple


class Rejected(NamedTuple):
    """Events ``[start, end)`` of a batch, rejected for `reason`."""

    reason: str
    start: int
    end: int


def read_rejections(info: Mapping[str, Any], n: int) -> List[Rejected]:
    """Say which of a batch's `n` events the response's `info` rejected, and why.

    Only the three indexes are read: other keys of `info` (the transport's
    ``entityErrorType``, say of the entity, not of events) are ignored.
    """
    too_old = _clamp(info.get("tooOldLogEventEndIndex", 0), n)
    expired = _clamp(info.get("expiredLogEventEndIndex", 0), n)
    old_end = max(too_old, expired)
    too_new = max(old_end, _clamp(info.get("tooNewLogEventStartIndex", n), n))
    ranges = [
        Rejected("too_old", 0, too_old),
        Rejected("expired", too_old, expired),
        Rejected("too_new", too_new, n),
    ]
    return [r for r in ranges if r.end > r.start]


def _clamp(index: int, n: int) -> int:
    return min(max(int(index), 0), n)
