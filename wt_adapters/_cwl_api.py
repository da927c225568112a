"""The CloudWatch Logs JSON API's vocabulary, shared by every transport that speaks it.

Request bodies (written directly, not walked through botocore's model), the
error codes and how each maps to a `SendError`, and the redaction of key
material from error text. Nothing here imports botocore: the boto3 sender
and the direct wire both read a failed answer through `classify_answer`.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring_ascii
from typing import Any, Dict, Mapping, Optional, Sequence

from ._protocol import ENTITY_ERROR, ErrorKind, Event, SendError

try:
    import orjson
except ImportError:  # the fast extra is not installed
    orjson = None  # type: ignore[assignment]

#: The JSON 1.1 protocol's target prefix and content type (``X-Amz-Target: Logs_20140328.Op``).
TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"

RETRY_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationAbortedException",
        "LimitExceededException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "NotAuthorized",
    }
)
INVALID_CODES = frozenset(
    {"InvalidParameterException", "SerializationException", "ValidationException"}
)
#: HTTP 413, request entity too large: a proxy or load balancer refused the body's size.
TOO_LARGE = 413

_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}\b")
_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")


def redact(text: str) -> str:
    """Blank out anything that looks like an AWS access key id or secret key."""
    return _SECRET.sub("[redacted]", _KEY_ID.sub("[redacted]", text))


def classify_answer(code: str, message: str, status: Any) -> SendError:
    """Map an error answer (its code, message and HTTP status) to what the engine does next."""
    message = redact(message)
    if code == "ResourceNotFoundException":
        return SendError(ErrorKind.NOT_FOUND, code, message)
    if code == "ResourceAlreadyExistsException":
        return SendError(ErrorKind.ALREADY_EXISTS, code, message)
    if code in AUTH_CODES:
        return SendError(ErrorKind.AUTH, code, message)
    if status == TOO_LARGE:
        # Resending the same body gets the same answer: the engine splits the batch.
        return SendError(ErrorKind.INVALID, code, message or "request entity too large")
    if code in THROTTLE_CODES or status == 429:
        return SendError(ErrorKind.RETRY, code, message, throttled=True)
    if code in RETRY_CODES or (isinstance(status, int) and status >= 500):
        return SendError(ErrorKind.RETRY, code, message)
    if code in INVALID_CODES:
        return SendError(ErrorKind.INVALID, code, message)
    # Anything else (a new error code, a 4xx we don't know): retry with backoff.
    return SendError(ErrorKind.RETRY, code, message)


def rejections_of(answer: Mapping[str, Any]) -> Dict[str, Any]:
    """What a PutLogEvents answer says was refused, as `Transport.put_log_events` returns it.

    The ``rejectedLogEventsInfo`` indexes, and under `ENTITY_ERROR` the
    ``rejectedEntityInfo`` error type when the entity was refused.
    """
    rejected: Dict[str, Any] = {
        k: int(v) for k, v in (answer.get("rejectedLogEventsInfo") or {}).items()
    }
    refused = (answer.get("rejectedEntityInfo") or {}).get("errorType")
    if refused:
        rejected[ENTITY_ERROR] = str(refused)
    return rejected


def json_answer(body: bytes) -> Optional[Dict[str, Any]]:
    """An answer's body as the JSON object it should be; None if it is not one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def not_json(operation: str, body: bytes) -> SendError:
    """The error for a 200 answer whose body is not CloudWatch's JSON (a proxy's page, say).

    The request may have reached CloudWatch behind whatever answered: the
    engine retries and counts what it resends as possibly duplicated.
    """
    shown = redact(body[:120].decode("utf-8", "replace"))
    return SendError(
        ErrorKind.RETRY,
        "InvalidResponse",
        f"{operation} was answered 200 with a body that is not JSON: {shown!r}",
        maybe_stored=True,
    )


def error_of(status: int, body: bytes) -> SendError:
    """Read an error answer of the JSON 1.1 protocol as botocore's parser does, and classify it.

    The code is the body's ``__type`` (before any ``:``, after any ``#``),
    else the HTTP status; the message is the body's ``message`` (or
    ``Message``), or the body itself when it is not JSON.
    """
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {"message": body[:200].decode("utf-8", "replace")}
    if not isinstance(parsed, dict):
        parsed = {}
    code = str(parsed.get("__type") or status).split(":", 1)[0].rsplit("#", 1)[-1]
    message = parsed.get("message", parsed.get("Message", ""))
    return classify_answer(code, str(message), status)


def put_log_events_body(
    group: str,
    stream: str,
    events: Sequence[Event],
    entity: Optional[Mapping[str, Any]] = None,
) -> bytes:
    """Return the JSON body of a PutLogEvents request: the document botocore would send.

    botocore's generic serializer walks the API model for every event; this
    writes the same JSON document directly: with orjson (the fast extra) when
    it is installed, in UTF-8, else with the standard library's escaping, in
    ASCII. The `entity`, if any, goes with the names, before the events.
    """
    head: Dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
    if entity is not None:
        head["entity"] = entity
    if orjson is not None:
        try:
            return orjson.dumps(
                {**head, "logEvents": [{"timestamp": ts, "message": msg} for ts, msg in events]}
            )
        except TypeError:  # a lone surrogate, which UTF-8 can't hold: escape it as json does
            pass
    quote = encode_basestring_ascii
    items = ",".join([f'{{"timestamp":{ts},"message":{quote(msg)}}}' for ts, msg in events])
    return (_body(head)[:-1].decode("ascii") + ',"logEvents":[' + items + "]}").encode("ascii")


def create_log_group_body(
    group: str, tags: Optional[Mapping[str, str]], parameters: Optional[Mapping[str, Any]]
) -> bytes:
    """The JSON body of CreateLogGroup: the name, its tags, and the API's further parameters."""
    params: Dict[str, Any] = {"logGroupName": group, **(parameters or {})}
    if tags:
        params["tags"] = dict(tags)
    return _body(params)


def create_log_stream_body(group: str, stream: str) -> bytes:
    """The JSON body of CreateLogStream."""
    return _body({"logGroupName": group, "logStreamName": stream})


def put_retention_policy_body(group: str, days: int) -> bytes:
    """The JSON body of PutRetentionPolicy."""
    return _body({"logGroupName": group, "retentionInDays": days})


def index_policy_document(fields: Sequence[str]) -> str:
    """PutIndexPolicy's ``policyDocument`` (a JSON string) for `fields`."""
    return json.dumps({"Fields": list(fields)}, separators=(",", ":"))


def put_index_policy_body(group: str, fields: Sequence[str]) -> bytes:
    """The JSON body of PutIndexPolicy: the group and its policy document (the fields)."""
    return _body({"logGroupIdentifier": group, "policyDocument": index_policy_document(fields)})


def _body(params: Mapping[str, Any]) -> bytes:
    return json.dumps(params, separators=(",", ":")).encode("ascii")
