"""`cloudwatch_sink`: the loguru front end, a sink object that ships records as JSON objects."""

from __future__ import annotations

import re
import time
import traceback
from typing import TYPE_CHECKING, Any, Dict, Optional

from .._destination import Destination, Options
from .._frontend import DEBUG, is_sdk_noise
from .._frontend import trunc as _trunc
from .._registry import FLUSH_DEFAULT
from .._report import report
from .._threads import MAX_NESTING, thread_state

if TYPE_CHECKING:
    from loguru import Message, Record, RecordException
    from typing_extensions import Unpack

#: The keys every event has; an ``extra`` key of the same name stays under ``extra``.
STANDARD_KEYS = frozenset(
    ("message", "level", "logger", "time", "module", "function", "line", "process", "thread",
     "exception", "extra")
)  # fmt: skip

_TRACEBACK_HEADER = "Traceback (most recent call last):"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CloudWatchSink:
    """A loguru sink shipping each record to AWS CloudWatch Logs as a JSON object.

    Make one with `cloudwatch_sink` and add it once: ``logger.add(cloudwatch_sink(...))``
    (``enqueue=True`` works too). Each event holds ``message``, ``level``,
    ``logger``, ``time`` (ISO 8601 with offset), ``module``, ``function``,
    ``line``, ``process`` and ``thread`` (each ``{"id", "name"}``), the
    ``extra`` keys (from ``bind``, ``contextualize`` and the call's keyword
    arguments) at the top level with their structure (one that collides with
    a key above stays under ``extra``), and ``exception`` (``type``, ``value``,
    ``traceback``) when there is one. Its CloudWatch time is ``record["time"]``.

    To ship a dict with its structure, give its items as keyword arguments,
    ``logger.info("login", **fields)``, or bind them,
    ``logger.bind(**fields).info("login")`` (``bind`` leaves braces in the
    message alone; keyword arguments also fill its ``{}`` fields): each item
    arrives at the top level as the JSON value it is. A dict passed as the
    message itself arrives as text: loguru makes every message a string
    (``str(message)``) before any sink sees it, so ``logger.info({"a": 1})``
    ships ``"message": "{'a': 1}"``.

    Loguru calls `stop` on ``logger.remove()`` and at exit: it flushes and
    closes. The network flush is `flush_to_cloudwatch`, not ``flush``, which
    loguru would call after every message. DEBUG records of the AWS SDK
    (``botocore``, ``urllib3``, ...) are left out, as the stdlib handler does,
    and so are records logged by the delivery engine's own thread and records
    logged while converting records (say, by a serializer that logs) once they
    nest too deep.
    """

    encoding = "utf-8"  # lets loguru's exception formatter use any character

    def __init__(self, destination: Destination) -> None:
        self._destination = destination
        self._stream_names = destination.stream_names
        by_logger = destination.stream_names.by_logger
        # Never filled when None (a template with per-record fields): every look-up misses.
        self._by_logger: Dict[str, str] = {} if by_logger is None else by_logger
        self._encode = destination.encode
        self._submit = destination.submit
        self._buffer = destination.buffer

    def write(self, message: Message) -> None:
        """Queue one loguru message for CloudWatch; never raises."""
        # The guard of `_frontend.enter`/`leave`, inlined: it runs on every log call.
        # The thread's own dict of `thread_state` (an attribute missing from it has the
        # class default): one thread-local look-up instead of four.
        state = thread_state.__dict__
        depth = state.get("depth", 0)
        if depth >= MAX_NESTING or state.get("in_engine", False):
            return
        state["depth"] = depth + 1
        try:
            if self._destination.closed:
                self._destination.refuse()  # counted as dropped, "closed"
                report("Received message after CloudWatchSink.close()")
                return
            try:
                record = message.record
                name = record["name"] or ""
                level = record["level"].no
                if level <= DEBUG and is_sdk_noise(name, level):
                    return
                created = record["time"].timestamp()
                stream = self._by_logger.get(name)
                if stream is None:
                    stream = self._stream_names(name, record["thread"].name, created)
                body = self._encode(_event(record, message))
            except Exception as e:  # not a loguru message: ship its text, never fail the caller
                created = time.time()
                stream = self._stream_names("", "", created)
                body = self._encode({"message": str(message), "error": f"unreadable record: {e!r}"})
                self._submit(stream, _trunc(created * 1000), body)  # never held
                return
            buffer = self._buffer
            if buffer is None or not buffer.offer(level, stream, _trunc(created * 1000), body):
                self._submit(stream, _trunc(created * 1000), body)
        finally:
            state["depth"] = depth

    def flush_to_cloudwatch(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Send everything queued so far; return whether that finished within `timeout` seconds.

        With ``enqueue=True``, call ``logger.complete()`` first so that loguru
        has handed every message to this sink.
        """
        return self._destination.flush(timeout)

    def close(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Send what is queued (up to `timeout` seconds) and stop accepting messages; idempotent.

        Returns whether everything was delivered.
        """
        return self._destination.close(timeout)

    def stop(self) -> None:
        """Flush and close; loguru calls this on ``logger.remove()`` and at exit."""
        self.close()

    def stats(self) -> Dict[str, Any]:
        """Return the delivery engine's counters (sent, retried, dropped, rejected, ...)."""
        return self._destination.stats()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._destination.describe()})"


def cloudwatch_sink(**options: Unpack[Options]) -> CloudWatchSink:
    """Return a sink for ``logger.add()`` that ships records to CloudWatch Logs.

    Takes the options of `CloudWatchLogHandler` as keywords, with the same
    defaults, validated the same way (a `WatchtowerError` names a bad one).
    Sinks, renderers and handlers with the same client, group and options
    share one engine. The stream name template's ``{logger_name}`` is
    ``record["name"]`` and ``{thread_name}`` the record's thread name.

    A dict's items given as keyword arguments or bound (``logger.bind(**d)``)
    arrive at the top level of the event with their structure; a dict given
    as the message arrives as loguru's text of it (see `CloudWatchSink`).
    """
    return CloudWatchSink(Destination.from_options(options))


def _event(record: Record, text: str) -> Dict[str, Any]:
    """Turn a loguru record into the JSON object to ship."""
    process, thread = record["process"], record["thread"]
    event: Dict[str, Any] = {
        "message": record["message"],
        "level": record["level"].name,
        "logger": record["name"],
        "time": record["time"].isoformat(),
        "module": record["module"],
        "function": record["function"],
        "line": record["line"],
        "process": {"id": process.id, "name": process.name},
        "thread": {"id": thread.id, "name": thread.name},
    }
    clashes: Dict[Any, Any] = {}
    for key, value in record["extra"].items():
        if key in STANDARD_KEYS:
            clashes[key] = value
        else:
            event[key] = value
    if clashes:
        event["extra"] = clashes
    if record["exception"] is not None:
        event["exception"] = _exception(record["exception"], record["message"], text)
    return event


def _exception(exc: RecordException, message: str, text: str) -> Dict[str, Any]:
    """Describe the record's exception: type name, value and traceback text."""
    try:
        value = None if exc.value is None else str(exc.value)
    except Exception:
        value = f"<unprintable {type(exc.value).__name__}>"
    if exc.traceback is not None:
        try:
            trace: Optional[str] = "".join(
                traceback.format_exception(exc.type, exc.value, exc.traceback)
            )
        except Exception:
            trace = None
    else:  # with enqueue=True loguru drops the traceback; its formatted text is all there is
        trace = _traceback_in_text(text, message)
    return {
        "type": None if exc.type is None else exc.type.__name__,
        "value": value,
        "traceback": trace,
    }


def _traceback_in_text(text: str, message: str) -> Optional[str]:
    """Find the traceback loguru formatted after the message in `text`, if any."""
    start = text.find(message)
    start = start + len(message) if start >= 0 else 0
    at = text.find(_TRACEBACK_HEADER, start)
    if at < 0:
        return None
    return _ANSI.sub("", text[at:])
