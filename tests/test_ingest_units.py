"""The http-ingest transport's parts on their own: lines, answers, Retry-After, the token."""

from __future__ import annotations

import email.utils
import json
import pickle
import time

import pytest
from ingest_support import TOKEN

from wt_adapters import WatchtowerError
from wt_adapters._ingest import IngestTransport, _retry_after, ingest_url
from wt_adapters._ingest_http import Answer
from wt_adapters._ingest_lines import encode_lines, line_of
from wt_adapters._ingest_token import BearerToken, bearer_token
from wt_adapters._protocol import ErrorKind


@pytest.mark.parametrize(
    "message, line",
    [
        ("plain", '{"timestamp":7,"message":"plain"}'),
        ('{"a":1}', '{"timestamp":7,"a":1}'),
        ('{ "a": 1 }', '{"timestamp":7,"a": 1 }'),
        ("{}", '{"timestamp":7}'),
        ('{"timestamp":3,"a":1}', '{"timestamp":3,"a":1}'),
        ('{"timestamp":"2026-01-01T00:00:00Z"}', '{"timestamp":"2026-01-01T00:00:00Z"}'),
        ('{\n  "a": [1,\n 2]\n}', '{"timestamp":7,"a":[1,2]}'),
        ('{"big":18446744073709551617}', '{"timestamp":7,"big":18446744073709551617}'),
        ("{not json}", '{"timestamp":7,"message":"{not json}"}'),
        ('{"nan":NaN}', '{"timestamp":7,"message":"{\\"nan\\":NaN}"}'),
        ("[1,2]", '{"timestamp":7,"message":"[1,2]"}'),
        ("42", '{"timestamp":7,"message":"42"}'),
        ("two\nlines ☃", '{"timestamp":7,"message":"two\\nlines ☃"}'),
    ],
)
def test_each_message_becomes_one_line_holding_one_json_object(message: str, line: str) -> None:
    assert line_of(7, message) == line
    assert "\n" not in line and isinstance(json.loads(line), dict)


def test_a_pretty_printed_object_keeps_its_big_integers_when_put_on_one_line() -> None:
    line = line_of(1, '{\n "n": 18446744073709551617\n}')
    assert json.loads(line) == {"timestamp": 1, "n": 2**64 + 1}


def test_lines_are_utf8_and_a_lone_surrogate_does_not_break_the_batch() -> None:
    lines = encode_lines([(1, "é"), (2, "bad \ud800 half")])
    assert lines[0] == '{"timestamp":1,"message":"é"}\n'.encode()
    assert json.loads(lines[1])["timestamp"] == 2


@pytest.mark.parametrize(
    "header, seconds",
    [(None, None), ("", None), ("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None),
     ("nan", None), ("99999", 3600.0)],
)  # fmt: skip
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert _retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    got = _retry_after(when)
    assert got is not None and 25 <= got <= 31


def refusal(status: int, body: bytes = b"", **headers: str) -> object:
    transport = IngestTransport("http://127.0.0.1:9", BearerToken(TOKEN))
    return transport._refusal(Answer(status, headers, body), "g", "s")


@pytest.mark.parametrize(
    "status, body, kind, permanent",
    [
        (401, b'{"message":"bad token"}', ErrorKind.AUTH, True),
        (403, b"", ErrorKind.AUTH, True),
        (400, b'{"message":"The specified log stream does not exist."}', ErrorKind.NOT_FOUND, True),
        (400, b'{"message":"The specified log group does not exist."}', ErrorKind.NOT_FOUND, True),
        (400, b'{"message":"Bearer token authentication is not enabled"}', ErrorKind.AUTH, True),
        (400, b'{"message":"bad request"}', ErrorKind.INVALID, False),
        (413, b"too big", ErrorKind.INVALID, False),
        (429, b"", ErrorKind.RETRY, False),
        (500, b"oops", ErrorKind.RETRY, False),
        (503, b"", ErrorKind.RETRY, False),
    ],
)
def test_each_answer_is_a_kind_the_engine_knows(
    status: int, body: bytes, kind: ErrorKind, permanent: bool
) -> None:
    error = refusal(status, body)
    assert error.kind is kind and error.permanent is permanent  # type: ignore[attr-defined]


def test_429_is_throttled_and_carries_its_retry_after() -> None:
    error = refusal(429, b"{}", **{"retry-after": "3"})
    assert error.throttled and error.retry_after == 3.0  # type: ignore[attr-defined]


def test_an_answer_that_echoes_the_token_does_not_pass_it_on() -> None:
    error = refusal(401, json.dumps({"message": f"token {TOKEN} refused"}).encode())
    assert TOKEN not in str(error) and "<hidden>" in str(error)


def test_a_token_never_shows_but_compares() -> None:
    token = bearer_token("bearer_token", f"  {TOKEN} ")
    assert token is not None and token.reveal() == TOKEN
    assert TOKEN not in repr(token) + str(token) + repr({"bearer_token": token})
    assert token == BearerToken(TOKEN) and hash(token) == hash(BearerToken(TOKEN))
    assert token != BearerToken(TOKEN + "x") and TOKEN not in token.fingerprint
    assert pickle.loads(pickle.dumps(token)) == token  # a spawned child gets it whole


@pytest.mark.parametrize("bad", ["", "   ", 42, b"ACWL"])
def test_a_token_must_be_a_non_empty_string(bad: object) -> None:
    with pytest.raises(WatchtowerError, match="bearer_token must be"):
        bearer_token("bearer_token", bad)


def test_the_endpoint_url_wins_then_the_environment_then_the_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    assert ingest_url(None) == "https://logs.cn-north-1.amazonaws.com.cn"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:4566")
    assert ingest_url(None) == "http://127.0.0.1:4566"
    assert ingest_url("http://localhost:1") == "http://localhost:1"
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
    monkeypatch.setenv("AWS_REGION", "not a region")
    with pytest.raises(WatchtowerError, match="AWS_REGION='not a region' is not a region"):
        ingest_url(None)
