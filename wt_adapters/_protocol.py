"""What the engine needs from whatever talks to CloudWatch: the `Transport` protocol.

The engine depends on this small protocol only; `_boto.py` implements it
with boto3, `_memory.py` in memory for tests.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping, Optional, Protocol, Sequence, Tuple

#: An event as sent: (timestamp in ms since the epoch, message).
Event = Tuple[int, str]

#: The key of `Transport.put_log_events`' answer that says CloudWatch refused the
#: request's entity, with the response's ``rejectedEntityInfo.errorType`` (a str).
ENTITY_ERROR = "entityErrorType"


class ErrorKind(enum.Enum):
    """How the engine should react to a failed call."""

    NOT_FOUND = "not_found"  # the group or stream is missing
    ALREADY_EXISTS = "already_exists"  # a create call found it there
    INVALID = "invalid"  # the request itself was refused: don't resend it as is
    RETRY = "retry"  # throttled, unavailable, timed out, connection lost
    AUTH = "auth"  # credentials missing, wrong or not allowed


class SendError(Exception):
    """A CloudWatch call failed; `kind` says what to do about it."""

    def __init__(
        self,
        kind: ErrorKind,
        code: str,
        message: str,
        *,
        maybe_stored: bool = False,
        throttled: bool = False,
        unreachable: bool = False,
        retry_after: Optional[float] = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        #: True when the request may have been stored although the response was lost.
        self.maybe_stored = maybe_stored
        #: True when CloudWatch refused the call for its rate (send less at once).
        self.throttled = throttled
        #: True when CloudWatch can't be reached at all (no connection, no client), as
        #: opposed to slow or busy.
        self.unreachable = unreachable
        #: Seconds the endpoint asked to wait before the next call (``Retry-After``), if any.
        self.retry_after = retry_after
        #: True when the cause can't clear within the process (no credentials at all, no
        #: client can be made): flush and close stop waiting at once.
        self.permanent = permanent


class Transport(Protocol):
    """Makes the CloudWatch Logs calls the engine needs: the engine's one view of the wire.

    A transport owns the wire's vocabulary: it turns a failed call into a
    `SendError` (a kind and flags) and hands up the response's rejections;
    nothing above it names botocore or an HTTP status. A transport that keeps
    connections of its own may also have ``close()``: the engine calls it once
    closed, after its sender threads (`Workers.finish`).
    """

    #: True while the transport makes its client, before which no call can go out.
    making_client: bool

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        """Send one batch, with the PutLogEvents `entity` if given; return the rejections.

        The answer is the response's ``rejectedLogEventsInfo`` (its int indexes,
        or {}), plus `ENTITY_ERROR` with ``rejectedEntityInfo.errorType`` when
        CloudWatch refused the entity (it stores the events all the same). The
        engine passes `entity` only when the ``entity`` option is set: a
        transport without entities (HTTP ingestion) need not take the keyword.
        """

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Create the group, with its tags and CreateLogGroup's further `parameters`.

        `parameters` are named as in the API (``logGroupClass``, ``kmsKeyId``,
        ``deletionProtectionEnabled``); the engine passes them only when a
        group setting asks for one.
        """

    def create_log_stream(self, group: str, stream: str) -> None:
        """Create the stream."""

    def put_retention_policy(self, group: str, days: int) -> None:
        """Set the group's retention period."""

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        """Give the group a field index policy (PutIndexPolicy) indexing `fields`."""

    def after_fork(self) -> None:
        """Drop connections inherited from the parent process."""
