"""CloudWatch filter patterns: the matcher, and the local endpoint that answers with it."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from helpers import make_client
from hypothesis import given
from hypothesis import strategies as st

from wt_adapters._filter_pattern import FilterPatternError, compile_pattern, matches
from wt_adapters._local import LocalEndpoint


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("", "anything", True),
        ("ERROR", "[ERROR] disk full", True),
        ("ERROR", "error: disk full", False),  # case matters
        ("ERROR disk", "ERROR: the disk is full", True),
        ("ERROR disk", "ERROR: the network", False),
        ('"disk full"', "ERROR disk full", True),
        ('"disk full"', "disk is full", False),
        ("?ERROR ?WARN", "WARN low memory", True),
        ("?ERROR ?WARN", "INFO fine", False),
        ("ERROR -retrying", "ERROR retrying in 1 s", False),
        ("ERROR -retrying", "ERROR gave up", True),
        ("-DEBUG", "INFO x", True),
        ("-DEBUG", "DEBUG x", False),
        ("%ERR(OR)?%", "ERR 1", True),
    ],
)
def test_terms(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


@pytest.mark.parametrize(
    ("pattern", "document", "expected"),
    [
        ('{ $.level = "error" }', {"level": "error"}, True),
        ('{ $.level = "error" }', {"level": "info"}, False),
        ("{ $.level = error }", {"level": "error"}, True),
        ('{ $.level != "error" }', {"level": "info"}, True),
        ('{ $.level != "error" }', {}, False),  # a missing field matches no comparison
        ("{ $.n = 500 }", {"n": 500}, True),
        ("{ $.n = 500 }", {"n": 500.0}, True),
        ("{ $.n = 500 }", {"n": "500"}, False),
        ("{ $.n > 5 }", {"n": 6}, True),
        ("{ $.n >= 6 && $.n <= 6 }", {"n": 6}, True),
        ("{ $.n < 5 }", {"n": True}, False),  # a boolean is not a number
        ('{ $.user.name = "ad*" }', {"user": {"name": "ada"}}, True),
        ('{ $.user.name = "*d*" }', {"user": {"name": "grace"}}, False),
        ("{ $.tags[1] = b }", {"tags": ["a", "b"]}, True),
        ("{ $.tags[*] = b }", {"tags": ["b", "c"]}, True),
        ('{ $.a = 1 || $.b = "x" }', {"b": "x"}, True),
        ('{ ($.a = 1 || $.a = 2) && $.b = "x" }', {"a": 2, "b": "y"}, False),
        ("{ $.ok IS TRUE }", {"ok": True}, True),
        ("{ $.ok IS FALSE }", {"ok": 0}, False),
        ("{ $.gone IS NULL }", {"gone": None}, True),
        ("{ $.gone NOT EXISTS }", {"here": 1}, True),
        ("{ $.here NOT EXISTS }", {"here": None}, False),
        ("{ $.msg = %fail(ed)?% }", {"msg": "it failed"}, True),
    ],
)
def test_json_patterns(pattern: str, document: Any, expected: bool) -> None:
    assert matches(pattern, json.dumps(document)) is expected


ACCESS_LOG = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 404 2326'


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ip, id, user, timestamp, request, status_code, bytes]", True),
        ("[ip, id, user]", False),  # seven fields, not three
        ("[ip, id, user, timestamp, request, status_code = 404, bytes]", True),
        ("[ip, id, user, timestamp, request, status_code = 4*, bytes]", True),
        ("[..., status_code = 404 || status_code = 410, bytes]", True),
        ("[..., status_code = 200, bytes]", False),
        ("[ip, ..., bytes > 1000]", True),
        ("[ip, ..., bytes >= 2327]", False),
        ('[..., request = "*gif*", status_code, bytes]', True),
        ('[ip, id, user, timestamp = "10/Oct/2000*", ...]', True),
        ("[ip = 127.0.0.1, ...]", True),
        ("[a, ..., b = frank, ...]", True),
        ("[a, b, c != frank, ...]", False),
        ("[..., code = 404 && size < 3000, size]", True),
    ],
)
def test_space_delimited_patterns(pattern: str, expected: bool) -> None:
    assert matches(pattern, ACCESS_LOG) is expected


def test_a_json_pattern_matches_no_text_message() -> None:
    assert not matches("{ $.n = 1 }", "n = 1")
    assert not matches("{ $.n = 1 }", "[1]")


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.a > "x" }',
        "{ $.a = }",
        "{ $.a = 1",
        "{ a = 1 }",
        "{ $.a = 1 } extra",
        "{ $.a IS MAYBE }",
        '"unterminated',
        "%(%",
        "[]",
        "[...]",
        "[a, a]",
        "[a = ]",
        "[a b]",
        "[a, b = 1 && z = 2]",
        "[a, b > x]",
    ],
)
def test_a_pattern_cloudwatch_would_refuse_is_an_error(pattern: str) -> None:
    with pytest.raises(FilterPatternError, match="filter pattern"):
        compile_pattern(pattern)


WORDS = st.text(alphabet="abcXYZ019_", min_size=1, max_size=4)


@given(st.lists(WORDS, min_size=1, max_size=4), st.lists(WORDS, max_size=6))
def test_terms_agree_with_a_model(terms: list[str], words: list[str]) -> None:
    message = " ".join(words)
    assert matches(" ".join(terms), message) is all(t in message for t in terms)
    assert matches(" ".join(f"?{t}" for t in terms), message) is any(t in message for t in terms)
    assert matches(" ".join(f"-{t}" for t in terms), message) is not any(
        t in message for t in terms
    )


@given(st.dictionaries(st.sampled_from("abc"), st.integers(-5, 5) | st.sampled_from("xyz")),
       st.sampled_from("abc"), st.integers(-5, 5) | st.sampled_from("xyz"))  # fmt: skip
def test_json_equality_agrees_with_python(document: dict[str, Any], key: str, value: Any) -> None:
    literal = json.dumps(value)
    expected = key in document and document[key] == value and type(document[key]) is type(value)
    assert matches(f"{{ $.{key} = {literal} }}", json.dumps(document)) is expected


PATTERN_TEXT = st.text(alphabet='{}[]()$.*"%?-=!<>&| ,abc019', max_size=30)
MESSAGES = st.text(max_size=40) | st.just("{" * 100_000) | st.builds(
    json.dumps, st.recursive(st.integers() | st.text(max_size=5),
                             lambda inner: st.lists(inner) | st.dictionaries(st.text("abc"), inner)))  # fmt: skip


@given(st.text(max_size=30) | PATTERN_TEXT, MESSAGES)
def test_any_pattern_compiles_or_is_refused_and_never_raises_on_a_message(
    pattern: str, message: str
) -> None:
    try:
        match = compile_pattern(pattern)
    except FilterPatternError:
        return
    assert match(message) in (True, False)


def test_a_deeply_nested_message_is_not_json_to_a_pattern() -> None:
    assert not matches("{ $.a = 1 }", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_many_ellipses_over_a_long_message_are_answered_in_time() -> None:
    started = time.monotonic()
    long = " ".join(["w"] * 2000)
    assert not matches("[..., a = x, ..., b = y, ..., c = z]", long)
    assert matches("[..., a = x, ..., b = y, ..., c = z]", f"x {long} y {long} z")
    # A condition across fields can't cut placements short: past the budget, no match.
    assert not matches("[..., a, ..., b, ..., c = z && a = q]", long)
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------ the local endpoint


@pytest.fixture(scope="module")
def local_client() -> Iterator[Any]:
    with LocalEndpoint() as endpoint:
        client = make_client(endpoint.url)
        client.create_log_group(logGroupName="g")
        now = int(time.time() * 1000)
        streams = {
            "web/1": ["INFO start", '{"n": 500, "level": "error"}', "WARN slow"],
            "web/2": ["ERROR boom", '{"n": 7}'],
            "worker": ["ERROR -term here", "plain"],
        }
        for offset, (stream, messages) in enumerate(streams.items()):
            client.create_log_stream(logGroupName="g", logStreamName=stream)
            events = [{"timestamp": now + 10 * i + offset, "message": m}
                      for i, m in enumerate(messages)]  # fmt: skip
            client.put_log_events(logGroupName="g", logStreamName=stream, logEvents=events)
        yield client


def messages_for(client: Any, **params: Any) -> list[str]:
    pages = client.get_paginator("filter_log_events").paginate(logGroupName="g", **params)
    return [e["message"] for page in pages for e in page["events"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filterPattern": "{ $.n = 500 }"}, ['{"n": 500, "level": "error"}']),
        ({"filterPattern": "?ERROR ?WARN"}, ["ERROR boom", "ERROR -term here", "WARN slow"]),
        ({"filterPattern": "-term"}, None),
        ({"logStreamNamePrefix": "web/"}, None),
        ({"logStreamNames": ["worker"]}, ["ERROR -term here", "plain"]),
    ],
)  # fmt: skip
def test_the_local_endpoint_filters_as_cloudwatch_does(
    local_client: Any, params: dict[str, Any], expected: Any
) -> None:
    got = messages_for(local_client, **params)
    if expected is None:  # computed from the matcher and the streams
        everything = local_client.filter_log_events(logGroupName="g")["events"]
        wanted = [
            e["message"]
            for e in everything
            if compile_pattern(params.get("filterPattern"))(e["message"])
            and e["logStreamName"].startswith(params.get("logStreamNamePrefix", ""))
        ]
        assert got == wanted and 0 < len(got) < len(everything)
    else:
        assert got == expected


def test_the_local_endpoint_interleaves_streams_in_time_order_and_pages(
    local_client: Any,
) -> None:
    pages = list(local_client.get_paginator("filter_log_events").paginate(
        logGroupName="g", PaginationConfig={"PageSize": 2}))  # fmt: skip
    events = [e for page in pages for e in page["events"]]
    assert len(pages) == 4 and len(events) == 7
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len({e["logStreamName"] for e in events[:3]}) == 3


def test_the_local_endpoint_refuses_a_bad_pattern(local_client: Any) -> None:
    with pytest.raises(local_client.exceptions.InvalidParameterException, match="filter pattern"):
        local_client.filter_log_events(logGroupName="g", filterPattern='{ $.a > "x" }')
    with pytest.raises(local_client.exceptions.ResourceNotFoundException):
        local_client.filter_log_events(logGroupName="absent")


# ------------------------------------------------------------- wt_adapters.testing


def test_captured_events_can_be_filtered_as_filterlogevents_would() -> None:
    import logging

    from wt_adapters import CloudWatchLogHandler
    from wt_adapters.testing import capture_events

    with capture_events() as events:
        log = logging.getLogger("test_filter_pattern.capture")
        log.setLevel(logging.INFO)
        log.propagate = False
        handler = CloudWatchLogHandler(log_group_name="app", log_stream_name="s")
        log.addHandler(handler)
        try:
            log.info({"event": "paid", "amount": 120})
            log.info({"event": "paid", "amount": 5})
            log.warning("WARN disk low")
            log.error("ERROR disk full")
            assert events.messages("app", pattern="?ERROR ?WARN") == [
                "WARN disk low", "ERROR disk full"]  # fmt: skip
            assert events.data(pattern="{ $.amount > 100 }") == [{"event": "paid", "amount": 120}]
            assert len(events.events(pattern="-disk")) == 2
            with pytest.raises(FilterPatternError):
                events.events(pattern='{ $.amount > "x" }')
        finally:
            log.removeHandler(handler)
            handler.close()
