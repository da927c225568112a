"""A sender that keeps everything in memory and enforces CloudWatch's request rules.

Used by the package's tests and by `wt_adapters.testing`: every request is
recorded, and one that CloudWatch would refuse raises `SendError` as
CloudWatch would answer it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._protocol import ENTITY_ERROR, ErrorKind, Event, SendError
from ._rules import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNT,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_FUTURE_MS,
)


@dataclass
class Request:
    """One PutLogEvents request as received."""

    group: str
    stream: str
    events: List[Event]
    #: The request's PutLogEvents ``entity`` (None: sent without one).
    entity: Optional[Dict[str, Any]] = None

    @property
    def nbytes(self) -> int:
        return sum(len(m.encode("utf-8")) + EVENT_OVERHEAD for _, m in self.events)


def request_problem(events: Sequence[Event]) -> Optional[str]:
    """Say which PutLogEvents rule `events` break, or return None."""
    if not events:
        return "no events"
    if len(events) > MAX_BATCH_COUNT:
        return f"{len(events)} events (at most {MAX_BATCH_COUNT})"
    size = sum(len(m.encode("utf-8")) + EVENT_OVERHEAD for _, m in events)
    if size > MAX_BATCH_BYTES:
        return f"{size} bytes (at most {MAX_BATCH_BYTES})"
    if any(not m for _, m in events):
        return "an empty message"
    stamps = [t for t, _ in events]
    if stamps != sorted(stamps):
        return "events not in chronological order"
    if stamps[-1] - stamps[0] >= MAX_BATCH_SPAN_MS:
        return "the batch spans 24 hours or more"
    return None


@dataclass
class MemorySender:
    """Stores log groups, streams and events in memory, like CloudWatch would."""

    groups: Dict[str, Dict[str, List[Event]]] = field(default_factory=dict)
    requests: List[Request] = field(default_factory=list)
    tags: Dict[str, Dict[str, str]] = field(default_factory=dict)
    retention: Dict[str, int] = field(default_factory=dict)
    #: CreateLogGroup's further parameters (``logGroupClass``, ...) per group created with any.
    group_parameters: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: Each group's field index policy (PutIndexPolicy's ``Fields``), as last put.
    index_policies: Dict[str, List[str]] = field(default_factory=dict)
    #: Set to an ``errorType`` to answer every PutLogEvents with an entity as CloudWatch
    #: does when it refuses one (``rejectedEntityInfo``): the events are stored all the same.
    reject_entities: Optional[str] = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Its "client" is there from the start (`Transport.making_client`).
    making_client = False

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        with self._lock:
            problem = request_problem(events)
            if problem:
                raise SendError(ErrorKind.INVALID, "InvalidParameterException", problem)
            if group not in self.groups:
                raise SendError(
                    ErrorKind.NOT_FOUND,
                    "ResourceNotFoundException",
                    "The specified log group does not exist.",
                )
            if stream not in self.groups[group]:
                raise SendError(
                    ErrorKind.NOT_FOUND,
                    "ResourceNotFoundException",
                    "The specified log stream does not exist.",
                )
            kept_entity = None if entity is None else _copy_entity(entity)
            self.requests.append(Request(group, stream, list(events), kept_entity))
            now = int(time.time() * 1000)
            rejected: Dict[str, Any] = {}
            kept: List[Event] = []
            for i, (ts, msg) in enumerate(events):
                if ts < now - MAX_EVENT_AGE_MS:
                    rejected["tooOldLogEventEndIndex"] = i + 1  # exclusive, as AWS documents
                elif ts > now + MAX_EVENT_FUTURE_MS:
                    rejected.setdefault("tooNewLogEventStartIndex", i)
                else:
                    kept.append((ts, msg))
            self.groups[group][stream].extend(kept)
            if entity is not None and self.reject_entities is not None:
                rejected[ENTITY_ERROR] = self.reject_entities
            return rejected

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        with self._lock:
            if group in self.groups:
                raise SendError(ErrorKind.ALREADY_EXISTS, "ResourceAlreadyExistsException", group)
            self.groups[group] = {}
            if tags:
                self.tags[group] = dict(tags)
            if parameters:
                self.group_parameters[group] = dict(parameters)

    def create_log_stream(self, group: str, stream: str) -> None:
        with self._lock:
            if group not in self.groups:
                raise SendError(ErrorKind.NOT_FOUND, "ResourceNotFoundException", group)
            if stream in self.groups[group]:
                raise SendError(ErrorKind.ALREADY_EXISTS, "ResourceAlreadyExistsException", stream)
            self.groups[group][stream] = []

    def put_retention_policy(self, group: str, days: int) -> None:
        with self._lock:
            self.retention[group] = days

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        with self._lock:
            if group not in self.groups:
                raise SendError(ErrorKind.NOT_FOUND, "ResourceNotFoundException", group)
            self.index_policies[group] = list(fields)

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    def entities(self, group: Optional[str] = None) -> List[Dict[str, Any]]:
        """Return the distinct entities sent with `group`'s requests (or any), first sent first."""
        with self._lock:
            found: List[Dict[str, Any]] = []
            for request in self.requests:
                entity = request.entity
                if entity is None or entity in found:
                    continue
                if group is None or request.group == group:
                    found.append(entity)
            return found

    def events(self, group: str, stream: Optional[str] = None) -> List[Tuple[str, int, str]]:
        """Return (stream, timestamp, message) for every stored event of `group`."""
        with self._lock:
            streams = self.groups.get(group, {})
            return [
                (name, ts, msg)
                for name, evs in streams.items()
                if stream is None or name == stream
                for ts, msg in evs
            ]


def _copy_entity(entity: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of an entity parameter, its maps copied too (the caller may reuse its own)."""
    return {key: dict(value) for key, value in entity.items()}
