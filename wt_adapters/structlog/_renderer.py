"""`CloudWatchRenderer`: the structlog front end, a last processor that ships the event dict."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, MutableMapping, Optional, Union

if TYPE_CHECKING:
    from typing_extensions import Unpack

from structlog.exceptions import DropEvent
from structlog.processors import format_exc_info

from .._destination import Destination, Options
from .._frontend import trunc as _trunc
from .._options import LEVELS, front_end_option
from .._registry import FLUSH_DEFAULT
from .._report import report
from .._threads import MAX_NESTING, thread_state

#: How far (seconds) an event dict's ``timestamp`` may be from the time of the call and
#: still be taken as the event's time; further off, it is the user's data, not a stamp.
TIMESTAMP_TOLERANCE = 15 * 60.0
#: The level of a method name not in `LEVELS` (``msg``, ``log``'s own names), for buffering.
INFO = LEVELS["info"]


class CloudWatchRenderer:
    """Ship each event dict to AWS CloudWatch Logs as a JSON object; use as the last processor.

    ``structlog.configure(processors=[..., CloudWatchRenderer(log_group_name="app")])``

    Every key of the event dict arrives with its structure; values json can't
    encode go through `json_serialize_default`. An ``exc_info`` is rendered as
    `structlog.processors.format_exc_info` would; to ship a structured
    traceback, put `structlog.processors.dict_tracebacks` before this renderer.
    The event's CloudWatch time is that of the call, or the event dict's
    ``timestamp`` (from `structlog.processors.TimeStamper`, epoch or ISO 8601)
    when it lies within `TIMESTAMP_TOLERANCE` of it. The stream name
    template's ``{logger_name}`` is the event dict's ``logger`` key (see
    `structlog.stdlib.add_logger_name`), else the wrapped logger's name, else
    ``root``.

    Returns the JSON text so that the configured logger still writes it
    locally; with ``write_locally=False`` it raises `structlog.DropEvent`
    instead. It never raises anything else into the log call. Events logged
    by the delivery engine's own thread are not shipped, and events logged
    while rendering events (say, by a serializer that logs) are dropped once
    they nest too deep.

    Takes the options of `CloudWatchLogHandler`, keyword-only, validated the
    same way; ``write_locally`` too (``"false"``, ``"0"``, ``"no"``, ``"off"``
    are False, an unknown word is a `WatchtowerError` naming it). Renderers,
    sinks and handlers with the same client, group and options share one
    engine. Use `flush` to send what is queued and `close` when done (at exit,
    engines are flushed and closed anyway).
    """

    __slots__ = (
        "_buffer",
        "_by_logger",
        "_destination",
        "_encode",
        "_stream_names",
        "_submit",
        "write_locally",
    )

    def __init__(
        self, *, write_locally: Union[bool, str] = True, **options: Unpack[Options]
    ) -> None:
        local: bool = front_end_option("write_locally", write_locally)  # before any engine
        self._destination = Destination.from_options(options)
        self.write_locally = local
        self._encode = self._destination.encode
        self._stream_names = self._destination.stream_names
        by_logger = self._stream_names.by_logger
        # Never filled when None (a template with per-record fields): every look-up misses.
        self._by_logger: Dict[str, str] = {} if by_logger is None else by_logger
        self._submit = self._destination.submit
        self._buffer = self._destination.buffer

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        """Queue `event_dict` for CloudWatch; return its JSON text (or raise `DropEvent`)."""
        # The guard of `_frontend.enter`/`leave`, inlined: it runs on every log call.
        # The thread's own dict of `thread_state` (an attribute missing from it has the
        # class default): one thread-local look-up instead of four.
        state = thread_state.__dict__
        depth = state.get("depth", 0)
        if depth >= MAX_NESTING:
            raise DropEvent
        ship = not state.get("in_engine", False)
        now = time.time()
        state["depth"] = depth + 1
        try:
            if "exc_info" in event_dict:
                event_dict = _render_exc_info(logger, method_name, event_dict)
            message = self._encode(event_dict)
            if self._destination.closed:
                self._destination.refuse()  # counted as dropped, "closed"
                report("Received message after CloudWatchRenderer.close()")
            elif ship:
                try:
                    if "timestamp" in event_dict:
                        now = _event_time(event_dict["timestamp"], now)
                    name = event_dict.get("logger")
                    if not isinstance(name, str) or not name:
                        name = getattr(logger, "name", None)
                        name = name if isinstance(name, str) and name else "root"
                    stream = self._by_logger.get(name)
                    if stream is None:
                        stream = self._stream_names(name, threading.current_thread().name, now)
                    buffer = self._buffer
                    if buffer is None or not buffer.offer(
                        LEVELS.get(method_name, INFO), stream, _trunc(now * 1000), message
                    ):
                        self._submit(stream, _trunc(now * 1000), message)
                except Exception as e:  # a template that fails for this name: warn, never raise
                    report(f"Could not queue a log event for CloudWatch: {e!r}")
        finally:
            state["depth"] = depth
        if self.write_locally:
            return message
        raise DropEvent

    def flush(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Send everything queued so far; return whether that finished within `timeout` seconds."""
        return self._destination.flush(timeout)

    def close(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Send what is queued (up to `timeout` seconds) and stop shipping; idempotent.

        Later calls still return the JSON text (or raise `DropEvent`) but ship
        nothing. Returns whether everything was delivered.
        """
        return self._destination.close(timeout)

    def stats(self) -> Dict[str, Any]:
        """Return the delivery engine's counters (sent, retried, dropped, rejected, ...)."""
        return self._destination.stats()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._destination.describe()})"


def _render_exc_info(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Return a copy of `event_dict` with ``exc_info`` rendered as `format_exc_info` does."""
    try:
        rendered: MutableMapping[str, Any] = format_exc_info(logger, method_name, dict(event_dict))
        return rendered
    except Exception:  # an exc_info structlog can't read: ship it as it is, through the default
        return event_dict


def _event_time(value: Any, now: float) -> float:
    """Return the epoch time in `value` (a TimeStamper stamp) if it is near `now`, else `now`."""
    try:
        if isinstance(value, str):
            if value.endswith("Z"):  # TimeStamper(fmt="iso", utc=True); Python < 3.11 wants +00:00
                value = value[:-1] + "+00:00"
            stamp = datetime.fromisoformat(value).timestamp()  # naive: local time, as stamped
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            stamp = float(value)
        else:
            return now
    except (ValueError, OverflowError, OSError):
        return now
    return stamp if abs(stamp - now) <= TIMESTAMP_TOLERANCE else now
