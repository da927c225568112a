"""The transport for CloudWatch Logs' HTTP ingestion endpoint (``POST /ingest/bulk``, NDJSON).

It sends with a bearer token (a CloudWatch Logs API key) alone: no AWS
credentials, no signing, no boto3. The endpoint writes to a log group and
stream that exist already, on a group with bearer token authentication
enabled; it can't create either, so `create_log_group` and
`create_log_stream` do nothing here and a missing group or stream shows as
the endpoint's answer to the first batch (a permanent error, reported once).

How the endpoint's answers map to the engine's `SendError`:

====================  ===========================================================
200                   stored
400 naming a missing  ``NOT_FOUND``, permanent: the engine reports it and waits
group or stream       for nothing (it can't be created from here)
other 400, 413        ``INVALID``: the engine halves the batch to find the culprit
401, 403              ``AUTH``, permanent: the token is wrong, expired or not allowed
429                   ``RETRY``, throttled, after ``Retry-After`` seconds if given
5xx, other            ``RETRY`` (with ``Retry-After`` if given)
no connection         ``RETRY``, unreachable; an answer lost after sending: maybe stored
====================  ===========================================================
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
import urllib.parse
from typing import Any, Mapping, Optional, Sequence

from ._endpoints import configured_endpoint
from ._errors import WatchtowerError
from ._ingest_http import ANSWER, CONNECT, Answer, ConnectionPool, TransferError
from ._ingest_lines import MAX_REQUEST_BYTES, compress, encode_lines, requests_of
from ._ingest_token import BearerToken
from ._protocol import ErrorKind, Event, SendError

#: The endpoint's path for NDJSON.
PATH = "/ingest/bulk"

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-[0-9]+\Z")
_MISSING = re.compile(r"(log group|log stream|loggroup|logstream).*(not exist|not found)", re.I)
_BEARER_OFF = re.compile(r"bearer", re.I)


def ingest_url(endpoint_url: Optional[str]) -> str:
    """The endpoint to send to: `endpoint_url`, else one the environment names, else the region's.

    Raises `WatchtowerError` when there is none of them (no region set).
    """
    url = endpoint_url or configured_endpoint()
    if url:
        return url
    region = (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise WatchtowerError(
            "transport='http-ingest' needs an endpoint: set AWS_REGION (or AWS_DEFAULT_REGION),"
            " or pass endpoint_url='https://logs.REGION.amazonaws.com'"
        )
    if not _REGION.match(region):
        raise WatchtowerError(
            f"AWS_REGION={region!r} is not a region name (like 'us-east-1'): transport="
            "'http-ingest' makes its endpoint from it; set it right or pass endpoint_url="
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://logs.{region}.{domain}"


class IngestTransport:
    """Sends the engine's batches to ``/ingest/bulk`` with a bearer token, gzipped."""

    #: Nothing to make before the first call: connections are opened as needed.
    making_client = False

    def __init__(self, url: str, token: BearerToken) -> None:
        self.url = url
        self._token = token
        self._pool = ConnectionPool(url)
        self._auth = f"Bearer {token.reveal()}"

    def __repr__(self) -> str:
        return f"IngestTransport(url={self.url!r})"

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        """Send one batch as NDJSON (`entity` is PutLogEvents' own: the options refuse it)."""
        lines = encode_lines(events)
        longest = max(len(line) for line in lines) if lines else 0
        if longest > MAX_REQUEST_BYTES:  # refused before anything of the batch goes
            raise SendError(
                ErrorKind.INVALID,
                "RequestTooLarge",
                f"an event's NDJSON line is {longest} bytes, over the endpoint's"
                f" {MAX_REQUEST_BYTES} per request",
            )
        sent = False
        for body in requests_of(lines):
            try:
                self._post(group, stream, body)
            except SendError as e:
                # Part of the batch is stored: sending it all again may store that twice.
                e.maybe_stored = e.maybe_stored or sent
                raise
            sent = True
        return {}

    def _post(self, group: str, stream: str, body: bytes) -> None:
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "User-Agent": "wt-adapters (http-ingest)",
        }
        path = PATH
        if _header_safe(group) and _header_safe(stream):
            headers["x-aws-log-group"] = group
            headers["x-aws-log-stream"] = stream
        else:  # a name headers can't carry as it is: the endpoint takes query parameters too
            path += "?" + urllib.parse.urlencode({"logGroup": group, "logStream": stream})
        try:
            answer = self._pool.post(path, compress(body), headers)
        except TransferError as e:
            raise SendError(
                ErrorKind.RETRY,
                type(e.cause).__name__,
                self._hide(f"{e} ({self.url})"),
                maybe_stored=e.stage == ANSWER,
                unreachable=e.stage == CONNECT,
            ) from e
        if 200 <= answer.status < 300:
            return
        raise self._refusal(answer, group, stream)

    def _refusal(self, answer: Answer, group: str, stream: str) -> SendError:
        status = answer.status
        said = self._hide(_message_of(answer))
        where = f"log group {group!r}, stream {stream!r}"
        if status in (401, 403):
            return SendError(
                ErrorKind.AUTH,
                f"HTTP{status}",
                f"the ingestion endpoint refused the bearer token for {where} ({said}): check"
                " bearer_token (or WT_ADAPTERS_BEARER_TOKEN), that the API key allows"
                " logs:PutLogEvents and logs:CallWithBearerToken, and that bearer token"
                " authentication is enabled on the log group",
                permanent=True,
            )
        if status == 400 and _MISSING.search(said):
            return SendError(
                ErrorKind.NOT_FOUND,
                "ResourceNotFoundException",
                f"{said} ({where}); the ingestion endpoint can't create log groups or"
                " streams: create them beforehand, with bearer token authentication"
                " enabled on the group",
                permanent=True,
            )
        if status == 400 and _BEARER_OFF.search(said):
            return SendError(ErrorKind.AUTH, "HTTP400", f"{said} ({where})", permanent=True)
        if status in (400, 413):
            return SendError(ErrorKind.INVALID, f"HTTP{status}", f"{said} ({where})")
        retry_after = _retry_after(answer.headers.get("retry-after"))
        if status == 429:
            return SendError(
                ErrorKind.RETRY, "HTTP429", said, throttled=True, retry_after=retry_after
            )
        return SendError(ErrorKind.RETRY, f"HTTP{status}", said, retry_after=retry_after)

    def _hide(self, text: str) -> str:
        """`text` without the token in it (an endpoint or a proxy might echo a header)."""
        return text.replace(self._token.reveal(), "<hidden>")

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Do nothing: the endpoint can't create groups (a missing one fails the first batch)."""

    def create_log_stream(self, group: str, stream: str) -> None:
        """Do nothing: the endpoint can't create streams (a missing one fails the first batch)."""

    def put_retention_policy(self, group: str, days: int) -> None:
        """Do nothing: never called (the options refuse a retention with this transport)."""

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        """Do nothing: never called (the options refuse field_indexes with this transport)."""

    def after_fork(self) -> None:
        """Open new connections in a forked child; the parent keeps its own."""
        self._pool.clear()

    def close(self) -> None:
        """Close the idle connections, and each one in use as its request ends (the engine
        is closed)."""
        self._pool.close()


def _header_safe(name: str) -> bool:
    return name.isascii() and name.isprintable()


def _message_of(answer: Answer) -> str:
    """The endpoint's own words: a JSON body's ``message``, else the body's text (cut short)."""
    text = answer.body[:2000].decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        words = body.get("message") or body.get("Message") or body.get("error")
        kind = body.get("__type") or body.get("code")
        if words:
            text = f"{kind}: {words}" if kind else str(words)
    return f"HTTP {answer.status}: {text}" if text else f"HTTP {answer.status}"


def _retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: a number of them, or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), 3600.0)
