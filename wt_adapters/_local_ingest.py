"""A stand-in for CloudWatch Logs' HTTP ingestion endpoint (``POST /ingest/bulk``) over moto.

`IngestBulk` is a WSGI layer: it answers ``/ingest/bulk`` itself and passes
every other request on. It takes what the real endpoint takes (a bearer
token, the group and stream in ``x-aws-log-group``/``x-aws-log-stream`` or
the ``logGroup``/``logStream`` query parameters, NDJSON, gzip or plain), and
stores the events in moto's backend, where GetLogEvents and FilterLogEvents
read them. It answers 401 to a token it does not know, 400 naming a missing
group or stream, and 429 (with ``Retry-After``) when told to (`throttle`).

An object line is stored as sent, at its numeric ``timestamp`` (ms) if it has
one, else at the time it arrived; an array's elements are events of their
own; a string is stored as its text, any other value as its JSON.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
import urllib.parse
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

#: The token the local endpoint takes unless told otherwise (not a secret: it opens nothing).
LOCAL_TOKEN = "ACWL-local-endpoint-token"
PATH = "/ingest/bulk"
_TYPES = ("application/json", "application/x-ndjson")

StartResponse = Callable[..., Any]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class IngestBulk:
    """Answers ``POST /ingest/bulk`` (in front of moto's WSGI `app`); the rest goes to `app`.

    `tokens` are the bearer tokens taken (a set the tests may change);
    `region` is where in moto's backend the events go (a bearer token names
    no region); `strict` answers 400 to a line that is not JSON, where
    CloudWatch skips it (counted in `skipped`).
    """

    def __init__(
        self,
        app: Any,
        tokens: Iterable[str] = (LOCAL_TOKEN,),
        *,
        region: str = "us-east-1",
        strict: bool = False,
    ) -> None:
        self.app = app
        self.tokens = set(tokens)
        self.region = region
        self.strict = strict
        self._lock = threading.Lock()
        #: The answers to give the next requests (with a good token) instead: (status,
        #: Retry-After or None).
        self._failures: List[Tuple[int, Optional[float]]] = []
        #: Requests answered: (status, content encoding, lines, monotonic time of the answer).
        self.requests: List[Tuple[int, str, int, float]] = []
        #: Lines that were not JSON, skipped.
        self.skipped = 0

    def throttle(self, times: int = 1, retry_after: Optional[float] = 1.0) -> None:
        """Answer the next `times` requests (with a good token) 429, with ``Retry-After``."""
        self.fail(times, 429, retry_after)

    def fail(self, times: int = 1, status: int = 503, retry_after: Optional[float] = None) -> None:
        """Answer the next `times` requests (with a good token) `status`."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def reset(self) -> None:
        """Forget the requests seen and the throttles to come (the tokens stay)."""
        with self._lock:
            self._failures.clear()
            self.requests.clear()
            self.skipped = 0

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Any:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        status, body, headers, seen = self._answer(environ)
        with self._lock:
            encoding = environ.get("HTTP_CONTENT_ENCODING", "")
            self.requests.append((status, encoding, seen, time.monotonic()))
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def _answer(self, environ: Dict[str, Any]) -> _Reply:
        if environ.get("REQUEST_METHOD") != "POST":
            return _error(405, "only POST is taken")
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return _error(401, "The bearer token is missing, invalid or expired.")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        group = environ.get("HTTP_X_AWS_LOG_GROUP") or _first(query, "logGroup")
        stream = environ.get("HTTP_X_AWS_LOG_STREAM") or _first(query, "logStream")
        if not group or not stream:
            return _error(400, "Both the log group and the log stream are required.")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, retry_after = failure
            headers = [] if retry_after is None else [("Retry-After", f"{retry_after:g}")]
            return status, b'{"message":"Rate exceeded"}', headers, 0
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type not in _TYPES:
            return _error(400, f"Content-Type {content_type!r} is not taken")
        try:
            data = _read_body(environ)
        except (OSError, EOFError, zlib.error, ValueError) as e:
            return _error(400, f"The body could not be decoded: {e}")
        streams = _streams_of(group, self.region)
        if streams is None:
            return _error(400, "The specified log group does not exist.")
        if stream not in streams:
            return _error(400, "The specified log stream does not exist.")
        events, skipped = _events_of(data)
        if skipped and self.strict:
            return _error(400, f"{skipped} lines are not JSON")
        with self._lock:
            self.skipped += skipped
        if events:
            streams[stream].put_log_events(events)
        return 200, b"{}", [], len(events) + skipped


_Reply = Tuple[int, bytes, List[Tuple[str, str]], int]


def _error(status: int, message: str) -> _Reply:
    """An answer refusing the request: (status, body, headers, lines read)."""
    return status, json.dumps({"message": message}).encode(), [], 0


def _first(query: Dict[str, List[str]], name: str) -> Optional[str]:
    values = query.get(name)
    return values[0] if values else None


def _read_body(environ: Dict[str, Any]) -> str:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    elif encoding not in ("", "identity"):
        raise ValueError(f"Content-Encoding {encoding!r} is not taken")
    return raw.decode("utf-8")


def _streams_of(group: str, region: str) -> Optional[Dict[str, Any]]:
    """The streams of `group` in moto's backend (None if there is no such group)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    account = os.environ.get("MOTO_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID
    found = logs_backends[account][region].groups.get(group)
    return None if found is None else found.streams


def _events_of(data: str) -> Tuple[List[Dict[str, Any]], int]:
    """The events NDJSON `data` holds, as CloudWatch reads them; and how many lines it skipped."""
    now = int(time.time() * 1000)
    events: List[Dict[str, Any]] = []
    skipped = 0
    for line in data.splitlines():
        text = line.strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            skipped += 1
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is value and isinstance(item, dict):
                message = text
            elif isinstance(item, str):
                message = item
            else:
                message = json.dumps(item, ensure_ascii=False)
            stamp = item.get("timestamp") if isinstance(item, dict) else None
            if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
                stamp = now
            events.append({"timestamp": int(stamp), "message": message})
    return events, skipped
