"""Messages as CloudWatch takes them: valid UTF-8, within the size limit, never empty."""

from __future__ import annotations

from typing import Tuple

from ._report import report
from ._rules import EVENT_OVERHEAD


def warn_empty() -> None:
    """Warn that an empty message was not sent (CloudWatch refuses them); never raises."""
    report("Received empty message. Empty messages cannot be sent to CloudWatch Logs")


def prepare_message(message: str, limit: int) -> Tuple[str, int]:
    """Return the message as CloudWatch will take it, and its size with overhead.

    Lone surrogates become backslash escapes (CloudWatch needs valid UTF-8);
    a message over `limit` bytes is cut at a character boundary, with a warning
    (which never raises, whatever the warning filters).
    """
    if message.isascii():
        size = len(message)
        if size <= limit:
            return message, size + EVENT_OVERHEAD
        message = message[:limit]
    else:
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError:
            data = message.encode("utf-8", "backslashreplace")
            message = data.decode("utf-8")
        if len(data) <= limit:
            return message, len(data) + EVENT_OVERHEAD
        data = data[:limit]
        message = data.decode("utf-8", "ignore")
        limit = len(message.encode("utf-8"))
    report(f"Log message size exceeds CWL max payload size, truncated to {limit} bytes")
    return message, limit + EVENT_OVERHEAD
