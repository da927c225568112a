"""The retry policy and the retry decision, as pure functions: backoff bounds and the deadline."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wt_adapters import RetryPolicy, WatchtowerError
from wt_adapters._delivery import Attempts, Dropped, Missing, Retry, Split, judge_put
from wt_adapters._protocol import ErrorKind, SendError
from wt_adapters._settings import Settings

seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)
multipliers = st.floats(min_value=1, max_value=100, allow_nan=False)
attempts = st.integers(min_value=1, max_value=100_000)


def ceiling(policy: RetryPolicy, attempt: int) -> float:
    """The longest wait before retry `attempt`, by the documented formula."""
    try:
        return min(policy.maximum, policy.initial * policy.multiplier ** (attempt - 1))
    except OverflowError:
        return policy.maximum if policy.initial else 0.0


# ------------------------------------------------------------------------- the backoff


@given(initial=seconds, maximum=seconds, multiplier=multipliers, attempt=attempts)
def test_every_delay_is_between_zero_and_the_capped_exponential(
    initial: float, maximum: float, multiplier: float, attempt: int
) -> None:
    policy = RetryPolicy(initial=initial, maximum=maximum, multiplier=multiplier)
    delay = policy.delay(attempt)
    assert 0 <= delay <= ceiling(policy, attempt) <= maximum


def test_the_ceiling_doubles_from_the_initial_delay_up_to_the_maximum() -> None:
    policy = RetryPolicy(initial=0.2, maximum=30.0, multiplier=2.0)
    ceilings = [ceiling(policy, n) for n in range(1, 11)]
    assert ceilings == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_delays_are_spread_over_the_whole_range_full_jitter() -> None:
    policy = RetryPolicy(initial=1.0, maximum=1.0)
    state = random.getstate()
    random.seed(1234)
    try:
        delays = [policy.delay(5) for _ in range(2000)]
    finally:
        random.setstate(state)
    assert min(delays) < 0.05 and max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_a_very_long_outage_keeps_the_delay_at_the_maximum() -> None:
    # With retry_deadline set to days, a batch can be retried thousands of times:
    # the exponential overflows a float long before that.
    policy = RetryPolicy(initial=0.2, maximum=30.0, multiplier=2.0)
    assert 0 <= policy.delay(5000) <= 30.0
    assert RetryPolicy(initial=0, multiplier=2.0).delay(5000) == 0.0


def test_attempt_zero_or_below_waits_at_most_the_initial_delay() -> None:
    policy = RetryPolicy(initial=0.5, maximum=30.0)
    assert all(0 <= policy.delay(n) <= 0.5 for n in (-3, 0, 1))


def test_no_wait_at_all_when_the_initial_delay_is_zero() -> None:
    assert {RetryPolicy(initial=0).delay(n) for n in range(1, 50)} == {0.0}


def test_the_policy_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().deadline = 1  # type: ignore[misc]


@pytest.mark.parametrize("name", ["initial", "maximum", "multiplier", "deadline"])
@pytest.mark.parametrize("value", [-1, -0.001, True, "1", None])
def test_a_bad_value_is_refused_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(WatchtowerError, match=f"retry {name}="):
        RetryPolicy(**{name: value})  # type: ignore[arg-type]


def test_a_multiplier_below_one_is_refused() -> None:
    with pytest.raises(WatchtowerError, match=re.escape("multiplier=0.5 must be >= 1")):
        RetryPolicy(multiplier=0.5)


# -------------------------------------------------------------------------- the deadline

NOW = 1_000.0
THROTTLED = SendError(ErrorKind.RETRY, "ThrottlingException", "Rate exceeded")


def settings(deadline: float = 300.0, **options: object) -> Settings:
    return Settings(log_group_name="g", retry=RetryPolicy(deadline=deadline), **options)  # type: ignore[arg-type]


def test_the_first_failure_starts_the_clock_and_is_retried_within_the_first_ceiling() -> None:
    outcome = judge_put(THROTTLED, settings(), "s", 5, Attempts(), NOW)
    assert isinstance(outcome, Retry)
    assert outcome.failing_since == NOW
    assert NOW <= outcome.at <= NOW + RetryPolicy().initial * RetryPolicy().multiplier


@given(elapsed=st.floats(min_value=0, max_value=1e5, allow_nan=False), count=st.integers(1, 60))
def test_a_batch_is_retried_before_the_deadline_and_dropped_from_it_on(
    elapsed: float, count: int
) -> None:
    policy = RetryPolicy(deadline=300.0)
    past = Attempts(count=count, failing_since=NOW - elapsed)
    outcome = judge_put(THROTTLED, settings(300.0), "s", 7, past, NOW)
    if elapsed >= 300.0:
        assert isinstance(outcome, Dropped) and outcome.reason == "retry_deadline"
        assert "within 300 s; dropping 7 events" in outcome.report[1]
    else:
        assert isinstance(outcome, Retry)
        assert outcome.failing_since == NOW - elapsed  # the clock is not restarted
        assert NOW <= outcome.at <= NOW + ceiling(policy, count + 1)


def test_a_deadline_of_zero_drops_at_the_first_failure() -> None:
    outcome = judge_put(THROTTLED, settings(0), "s", 1, Attempts(), NOW)
    assert isinstance(outcome, Dropped) and outcome.reason == "retry_deadline"


def test_an_invalid_batch_is_split_and_a_single_invalid_event_dropped_never_retried() -> None:
    invalid = SendError(ErrorKind.INVALID, "InvalidParameterException", "bad")
    late = Attempts(count=3, failing_since=NOW - 10_000)  # past any deadline
    assert isinstance(judge_put(invalid, settings(), "s", 2, late, NOW), Split)
    dropped = judge_put(invalid, settings(), "s", 1, late, NOW)
    assert isinstance(dropped, Dropped) and dropped.reason == "invalid"


def test_a_missing_stream_is_created_at_once_the_first_time_then_with_backoff() -> None:
    missing = SendError(ErrorKind.NOT_FOUND, "ResourceNotFoundException", "no stream")
    first = judge_put(missing, settings(), "s", 1, Attempts(), NOW)
    assert isinstance(first, Missing) and first.at == NOW
    again = judge_put(missing, settings(), "s", 1, Attempts(count=4, failing_since=NOW), NOW)
    assert isinstance(again, Missing)
    assert NOW <= again.at <= NOW + ceiling(RetryPolicy(), 5)


def test_a_missing_stream_without_create_log_stream_is_retried_and_reported() -> None:
    missing = SendError(ErrorKind.NOT_FOUND, "ResourceNotFoundException", "no stream")
    outcome = judge_put(missing, settings(create_log_stream=False), "s", 1, Attempts(), NOW)
    assert isinstance(outcome, Retry)
    assert outcome.report is not None and "create_log_stream is False" in outcome.report[1]


def test_refused_credentials_are_retried_and_reported_without_the_key() -> None:
    denied = SendError(ErrorKind.AUTH, "AccessDeniedException", "not authorized")
    outcome = judge_put(denied, settings(), "s", 1, Attempts(), NOW)
    assert isinstance(outcome, Retry)
    assert outcome.report == (
        "auth:AccessDeniedException",
        f"CloudWatch Logs refused the credentials: {denied}",
    )
