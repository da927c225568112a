"""One attempt at a CloudWatch call, and what came of it.

`put_batch` and `create_stream` each make one attempt through a `Transport` and
return an outcome: sent (with CloudWatch's rejections), created, retry at a
given time, split the batch into halves, the stream is missing, or dropped
for a reason. They change nothing of the engine's: the engine applies the
outcome, under its lock, in one place (`Engine._apply`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from ._protocol import ENTITY_ERROR, ErrorKind, Event, SendError, Transport
from ._rejections import Rejected, read_rejections
from ._settings import Settings

#: A warning to give: (kind, for rate limiting; text).
Report = Tuple[str, str]


@dataclass(frozen=True)
class Sent:
    """CloudWatch stored the batch, less the events its response says it rejected."""

    #: The events CloudWatch rejected, by reason (`_rejections.read_rejections`).
    rejected: List[Rejected]
    rtt: float
    #: Why CloudWatch refused the request's entity (``rejectedEntityInfo.errorType``),
    #: if it did; the events are stored all the same.
    entity_error: Optional[str] = None


@dataclass(frozen=True)
class Created:
    """The stream exists now (created, or found to exist)."""

    rtt: float
    report: Optional[Report] = None


@dataclass(frozen=True)
class Retry:
    """The call failed in a way worth trying again at `at` (monotonic seconds)."""

    at: float
    error: SendError
    failing_since: float
    report: Optional[Report] = None
    #: The cause can't clear within the process: nobody should wait for it.
    permanent: bool = False


@dataclass(frozen=True)
class Split:
    """CloudWatch refused the batch as invalid: send each half on its own to find the culprit."""

    error: SendError


@dataclass(frozen=True)
class Missing:
    """The stream (or its group) is missing: create it, then resend the batch at `at`."""

    at: float
    error: SendError
    failing_since: float


@dataclass(frozen=True)
class Dropped:
    """Give the events up, counted under `reason`, with a warning."""

    reason: str
    report: Report


Outcome = Union[Sent, Created, Retry, Split, Missing, Dropped]


@dataclass
class Attempts:
    """A batch's (or a stream creation's) record of failed attempts."""

    count: int = 0
    failing_since: Optional[float] = None


def put_batch(
    sender: Transport, settings: Settings, stream: str, events: Sequence[Event], past: Attempts
) -> Outcome:
    """Make one PutLogEvents attempt for `events` and say what came of it."""
    start = time.monotonic()
    group = settings.log_group_name
    try:
        if settings.entity is None:  # the three-argument call every sender takes
            info = sender.put_log_events(group, stream, events)
        else:
            info = sender.put_log_events(group, stream, events, entity=settings.entity.request())
        rejected = read_rejections(info, len(events)) if info else []
    except Exception as e:  # a sender bug is retried like a failed call
        return judge_put(_as_send_error(e), settings, stream, len(events), past, time.monotonic())
    refused = info.get(ENTITY_ERROR) if info else None
    return Sent(rejected, time.monotonic() - start, None if refused is None else str(refused))


def judge_put(
    error: SendError, settings: Settings, stream: str, count: int, past: Attempts, now: float
) -> Outcome:
    """Decide what a failed PutLogEvents of `count` events leads to."""
    group = settings.log_group_name
    if error.kind is ErrorKind.INVALID:
        if count > 1:
            return Split(error)
        return Dropped(
            "invalid", ("invalid", f"CloudWatch refused a log event for stream {stream!r}: {error}")
        )
    since = now if past.failing_since is None else past.failing_since
    if now - since >= settings.retry.deadline:
        return Dropped(
            "retry_deadline",
            (
                "deadline",
                f"Failed to deliver logs to {group!r}/{stream!r} within"
                f" {settings.retry.deadline:g} s; dropping {count} events: {error}",
            ),
        )
    if error.kind is ErrorKind.NOT_FOUND and error.permanent:
        # The transport can't create what is missing (the ingestion endpoint): say so, once.
        missing = ("missing", f"CloudWatch Logs can't take events for {stream!r}: {error}")
        return _retry(error, settings, past, now, missing, permanent=True)
    if error.kind is ErrorKind.NOT_FOUND and settings.create_log_stream:
        # The first time, create it at once; if it goes missing again, with backoff.
        at = now if past.count == 0 else now + settings.retry.delay(past.count + 1)
        return Missing(at, error, since)
    report: Optional[Report] = None
    if error.kind is ErrorKind.NOT_FOUND:
        report = (
            "no_stream",
            f"log stream {stream!r} in log group {group!r} does not"
            " exist and create_log_stream is False",
        )
        return _retry(error, settings, past, now, report, permanent=True)
    return _retry(error, settings, past, now, report)


#: Error codes of a CreateLogGroup the caller's role may not make (the group may well exist).
_DENIED_CODES = frozenset(("AccessDenied", "AccessDeniedException"))


class GroupCreator:
    """Creates an engine's log group once, however many stream creations find it missing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: How many times the group was made (or found) by this engine.
        self.generation = 0
        #: Why CreateLogGroup was last refused as access denied (None once it was not).
        self.refused: Optional[SendError] = None
        #: How many times a field index policy could not be applied to a group made here.
        self.index_failures = 0

    def ensure(self, sender: Transport, settings: Settings, seen: int) -> Optional[Report]:
        """Create the group unless it was made since generation `seen`; return a report, if any.

        A CreateLogGroup refused as access denied is taken as a role that may
        write events but not create groups: the refusal is kept in `refused`
        and the caller goes on to create the stream (which fails, and then
        reports it, only if the group is really missing). Raises `SendError`
        when CreateLogGroup fails for any other reason than the group being
        there already.
        """
        with self._lock:  # only the engine's sender threads wait here, never a caller
            if self.generation != seen:
                return None
            group = settings.log_group_name
            parameters = settings.log_group_parameters
            tags = dict(settings.log_group_tags)
            created = False
            try:
                if parameters:
                    sender.create_log_group(group, tags, parameters)
                else:  # the two-argument call every sender takes
                    sender.create_log_group(group, tags)
                created = True
                self.refused = None
            except SendError as e:
                if e.code in _DENIED_CODES:
                    self.refused = e
                elif e.kind is ErrorKind.ALREADY_EXISTS:
                    self.refused = None
                else:
                    raise
            self.generation += 1
            if not created:  # a group found there is left as it is
                return None
            reports: List[Report] = []
            if settings.log_group_retention_days:
                try:
                    sender.put_retention_policy(group, settings.log_group_retention_days)
                except SendError as e:
                    reports.append(
                        ("retention", f"Failed to set retention on log group {group!r}: {e}")
                    )
            if settings.field_indexes:
                try:
                    sender.put_index_policy(group, settings.field_indexes)
                except Exception as e:  # a sender bug too: never worth failing the stream
                    self.index_failures += 1
                    reports.append(
                        (
                            "index_policy",
                            f"Failed to apply field_indexes to log group {group!r}"
                            f" (its events are sent all the same): {_as_send_error(e)}",
                        )
                    )
            return _one_report(reports)


def _one_report(reports: Sequence[Report]) -> Optional[Report]:
    """One report saying all of `reports` (None for none)."""
    if len(reports) <= 1:
        return reports[0] if reports else None
    return ("group_settings", "; ".join(text for _, text in reports))


def create_stream(
    sender: Transport, settings: Settings, stream: str, groups: GroupCreator, past: Attempts
) -> Outcome:
    """Make one attempt at creating `stream` (and its group, if missing and allowed)."""
    start = time.monotonic()
    group = settings.log_group_name
    seen = groups.generation
    report: Optional[Report] = None
    try:
        try:
            sender.create_log_stream(group, stream)
        except SendError as e:
            if e.kind is not ErrorKind.NOT_FOUND:
                raise
            if not settings.create_log_group:
                now = time.monotonic()
                return _retry(
                    e,
                    settings,
                    past,
                    now,
                    (
                        "no_group",
                        f"log group {group!r} does not exist and create_log_group is False",
                    ),
                    permanent=True,
                )
            report = groups.ensure(sender, settings, seen)
            sender.create_log_stream(group, stream)
    except SendError as e:
        if e.kind is not ErrorKind.ALREADY_EXISTS:
            refused = groups.refused
            if e.kind is ErrorKind.NOT_FOUND and refused is not None:
                report = (
                    "group_refused",
                    f"log group {group!r} does not exist and creating it was refused: {refused}",
                )
            return _retry(e, settings, past, time.monotonic(), report)
    except Exception as e:  # a sender bug is retried like a failed call
        return _retry(_as_send_error(e), settings, past, time.monotonic(), None)
    return Created(time.monotonic() - start, report)


def _retry(
    error: SendError,
    settings: Settings,
    past: Attempts,
    now: float,
    report: Optional[Report],
    *,
    permanent: bool = False,
) -> Outcome:
    """Retry a failed call with backoff, counting from its first failure; name refused keys."""
    if error.kind is ErrorKind.AUTH and report is None:
        report = (f"auth:{error.code}", f"CloudWatch Logs refused the credentials: {error}")
    since = now if past.failing_since is None else past.failing_since
    delay = settings.retry.delay(past.count + 1, throttled=error.throttled)
    if error.retry_after is not None:  # the endpoint said how long: never sooner
        delay = max(delay, error.retry_after)
    return Retry(now + delay, error, since, report, permanent or error.permanent)


def _as_send_error(error: Exception) -> SendError:
    if isinstance(error, SendError):
        return error
    return SendError(ErrorKind.RETRY, type(error).__name__, str(error))
