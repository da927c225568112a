"""`capture_events`: route every engine in the process to an in-memory CloudWatch."""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass, field
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
    overload,
)

from .. import _destination, _engine, _registry
from .._errors import WatchtowerWarning
from .._filter_pattern import compile_pattern
from .._memory import MemorySender
from .._protocol import Event, SendError

#: How long reading the captured events waits for queued events to be delivered.
FLUSH_TIMEOUT = 5.0


def _decode(message: str) -> Optional[Dict[str, Any]]:
    if message[:1] != "{" and message.lstrip()[:1] != "{":
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class CapturedEvent:
    """One event as CloudWatch would have stored it.

    `data` is the message decoded, when the message is a JSON object (as the
    structlog and loguru front ends and dict messages of the stdlib handler
    send); otherwise None.
    """

    group: str
    stream: str
    timestamp: int
    message: str
    data: Optional[Dict[str, Any]] = field(default=None, compare=False)

    @classmethod
    def of(cls, group: str, stream: str, timestamp: int, message: str) -> CapturedEvent:
        return cls(group, stream, timestamp, message, _decode(message))

    def __getitem__(self, key: str) -> Any:
        """``event["key"]``: a key of the decoded JSON object (KeyError if not JSON)."""
        if self.data is None:
            raise KeyError(f"{key!r}: the message is not a JSON object: {self.message!r}")
        return self.data[key]


class CaptureSender(MemorySender):
    """`MemorySender`, forgiving where an app's settings would stall a test.

    A missing group or stream is created on first use when the engine sending
    to it would not create it itself (``create_log_group=False`` or
    ``create_log_stream=False``); otherwise CloudWatch's answer (not found)
    comes back, and the engine creates it with its tags and retention as
    it would in AWS.
    """

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        try:
            return super().put_log_events(group, stream, events, entity=entity)
        except SendError:
            if not self._creates_nothing(group):
                raise
        with self._lock:
            self.groups.setdefault(group, {}).setdefault(stream, [])
        return super().put_log_events(group, stream, events, entity=entity)

    def _creates_nothing(self, group: str) -> bool:
        return any(
            engine.sender is self
            and engine.settings.log_group_name == group
            and not (engine.settings.create_log_group and engine.settings.create_log_stream)
            for engine in _engines()
        )


def _engines() -> List[_engine.Engine]:
    """The process's open engines."""
    return [e for e in _registry.engines() if isinstance(e, _engine.Engine)]


class _NullSender:
    """Takes every call and keeps nothing: for engines made during a capture, after it."""

    making_client = False

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        return {}

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        return None

    def create_log_stream(self, group: str, stream: str) -> None:
        return None

    def put_retention_policy(self, group: str, days: int) -> None:
        return None

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        return None

    def after_fork(self) -> None:
        return None


class CapturedEvents(Sequence[CapturedEvent]):
    """The events delivered while capturing, in time order (a live, read-only list).

    Reading it first flushes every engine (waiting up to `FLUSH_TIMEOUT`
    seconds), so an event logged just before is there. `sender` is the
    in-memory CloudWatch itself: its `tags`, `retention`, `index_policies`
    and `requests` show what the engine asked for; `entities` the entities
    sent (the ``entity`` option).
    """

    def __init__(self) -> None:
        self.sender = CaptureSender()
        self._active = True

    def flush(self, timeout: Optional[float] = FLUSH_TIMEOUT) -> bool:
        """Deliver what every engine has queued; return whether that finished in time."""
        if not self._active:
            return True
        done = _registry.flush_all(timeout)
        if not done:
            warnings.warn(
                f"wt_adapters.testing: some events were still queued after {timeout} s",
                WatchtowerWarning,
                stacklevel=3,
            )
        return done

    def events(
        self,
        group: Optional[str] = None,
        stream: Optional[str] = None,
        *,
        pattern: Optional[str] = None,
    ) -> List[CapturedEvent]:
        """Return the captured events, of one group (and stream) if given, in time order.

        `pattern` keeps those a CloudWatch filter pattern matches, as
        FilterLogEvents would (``"ERROR"``, ``"?ERROR ?WARN"``,
        ``'{ $.level = "error" }'``); a pattern CloudWatch would refuse raises
        `FilterPatternError`.
        """
        match = compile_pattern(pattern)
        self.flush()
        with self.sender._lock:
            found = [
                CapturedEvent.of(g, s, ts, message)
                for g, streams in self.sender.groups.items()
                if group is None or g == group
                for s, stored in streams.items()
                if stream is None or s == stream
                for ts, message in stored
                if match(message)
            ]
        found.sort(key=lambda e: e.timestamp)  # stable: a stream keeps its stored order
        return found

    def messages(
        self,
        group: Optional[str] = None,
        stream: Optional[str] = None,
        *,
        pattern: Optional[str] = None,
    ) -> List[str]:
        """Return the messages of `events` (the text CloudWatch stored)."""
        return [e.message for e in self.events(group, stream, pattern=pattern)]

    def data(
        self,
        group: Optional[str] = None,
        stream: Optional[str] = None,
        *,
        pattern: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Return the decoded JSON objects of the events whose message is one."""
        events = self.events(group, stream, pattern=pattern)
        return [e.data for e in events if e.data is not None]

    def entities(self, group: Optional[str] = None) -> List[Dict[str, Any]]:
        """Return the distinct entities sent with the events (of `group`, if given), first first.

        Each is the PutLogEvents ``entity`` parameter as sent:
        ``{"keyAttributes": {...}, "attributes": {...}}``.
        """
        self.flush()
        return self.sender.entities(group)

    def index_policy(self, group: str) -> Optional[List[str]]:
        """Return the fields `group`'s index policy indexes (``field_indexes``), or None."""
        self.flush()
        with self.sender._lock:
            fields = self.sender.index_policies.get(group)
            return None if fields is None else list(fields)

    @property
    def groups(self) -> List[str]:
        """The log groups that exist in the in-memory CloudWatch."""
        self.flush()
        with self.sender._lock:
            return list(self.sender.groups)

    def clear(self) -> None:
        """Forget the events captured so far (groups and streams stay)."""
        self.flush()
        with self.sender._lock:
            for streams in self.sender.groups.values():
                for stored in streams.values():
                    stored.clear()
            self.sender.requests.clear()

    def __len__(self) -> int:
        return len(self.events())

    @overload
    def __getitem__(self, index: int) -> CapturedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> List[CapturedEvent]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[CapturedEvent, List[CapturedEvent]]:
        return self.events()[index]

    def __iter__(self) -> Iterator[CapturedEvent]:
        return iter(self.events())

    def __repr__(self) -> str:
        with self.sender._lock:
            n = sum(len(s) for streams in self.sender.groups.values() for s in streams.values())
        return f"<CapturedEvents: {n} events>"


_capture_lock = threading.Lock()


class capture_events:
    """Route every engine in this process to an in-memory CloudWatch; yield what arrives.

    ::

        with wt_adapters.testing.capture_events() as events:
            logging.getLogger("app").info({"event": "signed in", "user": "ada"})
        assert events[0].data == {"event": "signed in", "user": "ada"}

    Handlers, renderers and sinks created inside use it, and so do those that
    already exist (whatever they had queued is flushed to where it was going
    first, for up to `flush_timeout` seconds). On exit, everything is flushed
    into the capture and the engines that existed before get their own
    senders back; those created inside keep sending, to nowhere (or to an
    enclosing capture). Nothing
    reaches AWS or needs a server. Captures nest.
    """

    def __init__(self, *, flush_timeout: float = FLUSH_TIMEOUT) -> None:
        self.flush_timeout = flush_timeout
        self.events = CapturedEvents()
        self._saved_override: Any = None
        self._saved_senders: Dict[_engine.Engine, Any] = {}

    def _make_sender(self) -> CaptureSender:
        return self.events.sender

    def __enter__(self) -> CapturedEvents:
        with _capture_lock:
            _registry.flush_all(self.flush_timeout)
            self._saved_override = _destination.sender_override
            _destination.sender_override = self._make_sender
            for engine in _engines():
                self._saved_senders[engine] = engine.sender
                engine.sender = self.events.sender
        return self.events

    def __exit__(self, *exc_info: object) -> None:
        with _capture_lock:
            _registry.flush_all(self.flush_timeout)
            _destination.sender_override = self._saved_override
            for engine in _engines():
                if engine in self._saved_senders:
                    if engine.sender is self.events.sender:
                        engine.sender = self._saved_senders[engine]
                elif engine.sender is self.events.sender:
                    # Made inside: to an enclosing capture if there is one, else nowhere.
                    outer = self._saved_override
                    engine.sender = outer() if outer is not None else _NullSender()
            self._saved_senders.clear()
            self.events._active = False
