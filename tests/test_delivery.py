"""One attempt and its outcome (`_delivery`), decided without the engine, in memory."""

from __future__ import annotations

import threading
import time
from typing import Any, List, Mapping, Optional, Sequence

import pytest

from wt_adapters._delivery import (
    Attempts,
    Created,
    Dropped,
    GroupCreator,
    Missing,
    Retry,
    Sent,
    Split,
    create_stream,
    judge_put,
    put_batch,
)
from wt_adapters._memory import MemorySender
from wt_adapters._protocol import ErrorKind, Event, SendError
from wt_adapters._retry import RetryPolicy
from wt_adapters._settings import Settings

NOW = int(time.time() * 1000)
SETTINGS = Settings(log_group_name="g", retry=RetryPolicy(initial=0.2, deadline=300))


def error(kind: ErrorKind, code: str = "X") -> SendError:
    return SendError(kind, code, "message")


def test_an_invalid_batch_is_split_and_an_invalid_event_dropped() -> None:
    invalid = error(ErrorKind.INVALID, "InvalidParameterException")
    assert isinstance(judge_put(invalid, SETTINGS, "s", 10, Attempts(), 0.0), Split)
    dropped = judge_put(invalid, SETTINGS, "s", 1, Attempts(), 0.0)
    assert isinstance(dropped, Dropped) and dropped.reason == "invalid"
    assert "'s'" in dropped.report[1]


def test_a_failed_call_is_retried_with_backoff_from_its_first_failure() -> None:
    outcome = judge_put(error(ErrorKind.RETRY), SETTINGS, "s", 5, Attempts(), 100.0)
    assert isinstance(outcome, Retry)
    assert 100.0 <= outcome.at <= 100.2 and outcome.failing_since == 100.0
    later = judge_put(error(ErrorKind.RETRY), SETTINGS, "s", 5, Attempts(3, 100.0), 110.0)
    assert isinstance(later, Retry) and later.failing_since == 100.0
    assert 110.0 <= later.at <= 110.0 + 0.2 * 2**3  # the fourth attempt's ceiling


def test_past_the_deadline_the_batch_is_dropped_not_retried() -> None:
    outcome = judge_put(error(ErrorKind.RETRY), SETTINGS, "s", 5, Attempts(9, 0.0), 300.0)
    assert isinstance(outcome, Dropped) and outcome.reason == "retry_deadline"
    assert "5 events" in outcome.report[1]


def test_a_missing_stream_is_created_at_once_the_first_time_then_with_backoff() -> None:
    missing = error(ErrorKind.NOT_FOUND, "ResourceNotFoundException")
    first = judge_put(missing, SETTINGS, "s", 5, Attempts(), 50.0)
    assert isinstance(first, Missing) and first.at == 50.0
    again = judge_put(missing, SETTINGS, "s", 5, Attempts(1, 50.0), 51.0)
    assert isinstance(again, Missing) and again.at >= 51.0


def test_without_create_log_stream_a_missing_stream_is_retried_and_reported() -> None:
    settings = Settings(log_group_name="g", create_log_stream=False)
    missing = error(ErrorKind.NOT_FOUND, "ResourceNotFoundException")
    outcome = judge_put(missing, settings, "s", 5, Attempts(), 0.0)
    assert isinstance(outcome, Retry) and outcome.report is not None
    assert outcome.report[0] == "no_stream"


def test_refused_credentials_are_retried_and_reported_by_code() -> None:
    outcome = judge_put(
        error(ErrorKind.AUTH, "AccessDeniedException"), SETTINGS, "s", 5, Attempts(), 0.0
    )
    assert isinstance(outcome, Retry) and outcome.report is not None
    assert outcome.report[0] == "auth:AccessDeniedException"


def test_put_batch_reports_what_was_sent_and_rejected() -> None:
    sender = MemorySender()
    sender.create_log_group("g", None)
    sender.create_log_stream("g", "s")
    new = NOW + 3 * 3600 * 1000  # more than 2 hours ahead: CloudWatch rejects it
    outcome = put_batch(sender, SETTINGS, "s", [(NOW, "now"), (new, "new")], Attempts())
    assert isinstance(outcome, Sent) and outcome.rejected == [("too_new", 1, 2)]
    assert outcome.rtt >= 0


def test_a_sender_bug_becomes_a_retry_not_an_exception() -> None:
    class Broken(MemorySender):
        def put_log_events(
            self, group: str, stream: str, events: Sequence[Event]
        ) -> Mapping[str, int]:
            raise KeyError("bug")

    outcome = put_batch(Broken(), SETTINGS, "s", [(NOW, "m")], Attempts())
    assert isinstance(outcome, Retry) and outcome.error.code == "KeyError"


def test_creating_a_stream_creates_a_missing_group_with_its_tags_and_retention() -> None:
    sender = MemorySender()
    settings = Settings(
        log_group_name="g", log_group_tags=(("team", "core"),), log_group_retention_days=7
    )
    outcome = create_stream(sender, settings, "s", GroupCreator(), Attempts())
    assert isinstance(outcome, Created) and outcome.report is None
    assert "s" in sender.groups["g"]
    assert sender.tags["g"] == {"team": "core"} and sender.retention["g"] == 7


def test_a_stream_that_exists_already_counts_as_created() -> None:
    sender = MemorySender()
    sender.create_log_group("g", None)
    sender.create_log_stream("g", "s")
    assert isinstance(create_stream(sender, SETTINGS, "s", GroupCreator(), Attempts()), Created)


def test_without_create_log_group_a_missing_group_is_retried_and_reported() -> None:
    settings = Settings(log_group_name="g", create_log_group=False)
    outcome = create_stream(MemorySender(), settings, "s", GroupCreator(), Attempts())
    assert isinstance(outcome, Retry) and outcome.report is not None
    assert outcome.report[0] == "no_group"


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException"])
def test_a_failed_creation_is_retried_on_its_own(code: str) -> None:
    class Refusing(MemorySender):
        def create_log_stream(self, group: str, stream: str) -> None:
            raise SendError(ErrorKind.RETRY, code, "slow down", throttled=True)

    outcome = create_stream(Refusing(), SETTINGS, "s", GroupCreator(), Attempts(2, 5.0))
    assert isinstance(outcome, Retry) and outcome.failing_since == 5.0
    assert outcome.error.throttled


def test_many_streams_finding_the_group_missing_create_it_once() -> None:
    group_calls: List[str] = []

    class Counting(MemorySender):
        def create_log_group(self, group: str, tags: Optional[Mapping[str, str]]) -> None:
            group_calls.append(group)
            time.sleep(0.01)  # long enough for the others to find the group missing too
            super().create_log_group(group, tags)

    sender = Counting()
    groups = GroupCreator()
    outcomes: List[Any] = []
    threads = [
        threading.Thread(
            target=lambda n=n: outcomes.append(
                create_stream(sender, SETTINGS, f"s{n}", groups, Attempts())
            )
        )
        for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(isinstance(o, Created) for o in outcomes) and len(outcomes) == 8
    assert group_calls == ["g"]
    assert sorted(sender.groups["g"]) == [f"s{n}" for n in range(8)]


def test_a_throttled_call_backs_off_from_a_longer_first_wait() -> None:
    throttled = SendError(ErrorKind.RETRY, "ThrottlingException", "Rate exceeded", throttled=True)
    waits = [
        judge_put(throttled, SETTINGS, "s", 5, Attempts(), 0.0).at  # type: ignore[union-attr]
        for _ in range(200)
    ]
    assert max(waits) <= SETTINGS.retry.throttled_initial
    assert max(waits) > SETTINGS.retry.initial  # beyond where an unthrottled retry would stop


def test_a_retry_waits_at_least_as_long_as_the_endpoint_asked() -> None:
    error = SendError(ErrorKind.RETRY, "TooManyRequests", "slow down", retry_after=7.5)
    for count in range(3):
        outcome = judge_put(error, SETTINGS, "s", 10, Attempts(count=count), 100.0)
        assert isinstance(outcome, Retry) and outcome.at >= 107.5
