"""CloudWatch's limits, and the checks that keep names inside them, as pure functions."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wt_adapters import WatchtowerError
from wt_adapters._rules import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNT,
    MAX_BATCH_SPAN_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_BYTES,
    MAX_EVENT_FUTURE_MS,
    MAX_MESSAGE_BYTES,
    RETENTION_DAYS,
    check_log_group_name,
    check_retention_days,
    clean_stream_part,
    stream_name_problem,
)

GROUP_CHARACTERS = string.ascii_letters + string.digits + "._-/#"


def test_the_limits_are_the_api_references() -> None:
    assert (EVENT_OVERHEAD, MAX_BATCH_BYTES, MAX_BATCH_COUNT) == (26, 1_048_576, 10_000)
    assert MAX_EVENT_BYTES == 1_048_576 and MAX_MESSAGE_BYTES == 1_048_550
    assert MAX_BATCH_SPAN_MS == 86_400_000
    assert MAX_EVENT_AGE_MS == 14 * 86_400_000 and MAX_EVENT_FUTURE_MS == 2 * 3_600_000


def test_the_retention_periods_are_cloudwatchs_sorted_and_distinct() -> None:
    assert tuple(sorted(set(RETENTION_DAYS))) == RETENTION_DAYS
    assert (RETENTION_DAYS[0], RETENTION_DAYS[-1], len(RETENTION_DAYS)) == (1, 3653, 22)


# ------------------------------------------------------------------------ log group names


@given(st.text(alphabet=GROUP_CHARACTERS, min_size=1, max_size=512))
def test_every_name_of_the_allowed_characters_up_to_512_is_accepted(name: str) -> None:
    assert check_log_group_name(name) == name


@given(st.text(max_size=600))
def test_a_group_name_is_accepted_exactly_when_cloudwatch_would(name: str) -> None:
    valid = 1 <= len(name) <= 512 and all(c in GROUP_CHARACTERS for c in name)
    if valid:
        assert check_log_group_name(name) == name
    else:
        with pytest.raises(WatchtowerError, match="is not a valid log group name"):
            check_log_group_name(name)


@pytest.mark.parametrize(
    "name", ["", "a" * 513, "has space", "colon:", "star*", "é", "new\nline", None, 7, b"g"]
)
def test_a_bad_group_name_is_refused_naming_the_argument(name: object) -> None:
    with pytest.raises(WatchtowerError, match=re.escape(f"group={name!r} is not a valid")):
        check_log_group_name(name, argument="group")


def test_a_group_name_of_512_characters_is_the_longest() -> None:
    assert check_log_group_name("a" * 512) == "a" * 512


# ----------------------------------------------------------------------- log stream names


@given(st.text(max_size=600))
def test_a_stream_name_has_a_problem_exactly_when_cloudwatch_refuses_it(name: str) -> None:
    valid = 1 <= len(name) <= 512 and ":" not in name and "*" not in name
    assert (stream_name_problem(name) is None) == valid


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("x" * 513, "it is 513 characters long (at most 512)"),
        ("a:b", "it contains ':'"),
        ("a*b", "it contains '*'"),
    ],
)
def test_the_problem_says_what_is_wrong(name: str, problem: str) -> None:
    assert stream_name_problem(name) == problem


@given(st.text())
def test_cleaning_removes_exactly_colons_and_asterisks(value: str) -> None:
    cleaned = clean_stream_part(value)
    assert cleaned == "".join(c for c in value if c not in ":*")
    assert clean_stream_part(cleaned) == cleaned


def test_cleaning_keeps_everything_else_cloudwatch_accepts() -> None:
    odd = "app/ü 日本 [x] #1 \t tab"
    assert clean_stream_part(odd) == odd
    assert stream_name_problem(odd) is None


# ----------------------------------------------------------------------- retention periods


@pytest.mark.parametrize("days", RETENTION_DAYS)
def test_every_offered_retention_period_is_accepted(days: int) -> None:
    assert check_retention_days(days) == days


def test_no_retention_period_means_never_expire() -> None:
    assert check_retention_days(None) is None


@given(st.integers())
def test_an_integer_is_accepted_exactly_when_cloudwatch_offers_it(days: int) -> None:
    if days in RETENTION_DAYS:
        assert check_retention_days(days) == days
    else:
        with pytest.raises(WatchtowerError, match="not a retention period CloudWatch offers"):
            check_retention_days(days)


@pytest.mark.parametrize("days", [True, 7.0, "7", 0, 2, -1])
def test_a_bad_retention_period_is_refused_naming_the_argument(days: object) -> None:
    with pytest.raises(WatchtowerError, match=re.escape(f"retention={days!r} is not")) as error:
        check_retention_days(days, argument="retention")
    assert "1, 3, 5, 7" in str(error.value)  # the offered periods are listed
