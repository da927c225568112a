"""PutLogEvents bodies written by the package, handed to botocore through a hook.

botocore's generic serializer walks the API model for every event;
`serialize_put_log_events` writes the same JSON document directly, several
times faster, and `use_pending_body` (a ``before-call`` hook) puts it in
place of the one-event body botocore made. `_boto.BotoSender` uses both.
"""

from __future__ import annotations

import json
import threading
from json.encoder import encode_basestring_ascii
from typing import Any, Dict, Mapping, Optional, Sequence

from ._protocol import Event

__all__ = ["HOOK", "pending", "put_params", "serialize_put_log_events", "use_pending_body"]


class _PendingBody(threading.local):
    #: The body to put in place of botocore's, for this thread's call in progress.
    body: Optional[bytes] = None
    #: What botocore's own body must decode to for the swap to be right: the one event.
    expected: Any = None
    #: Whether the swap was made in the call just finished.
    swapped = False


pending = _PendingBody()
HOOK = "before-call.cloudwatch-logs.PutLogEvents"


def use_pending_body(params: Dict[str, Any], **kwargs: Any) -> None:
    """Put the body the engine serialized into the PutLogEvents request being made.

    Runs after botocore serialized the (one-event) parameters and before the
    request is signed and sent, so signing, retries and credential refresh are
    botocore's own. It acts only on this thread's pending body, and only when
    botocore's body is the one-event request expected: other calls made with
    the same client, and a request changed by other hooks, are left alone.
    """
    body = pending.body
    if body is None:
        return
    pending.body = None
    try:
        expected = json.loads(params.get("body") or b"null") == pending.expected
    except ValueError:
        expected = False
    if expected:
        params["body"] = body
        pending.swapped = True


def serialize_put_log_events(
    group: str,
    stream: str,
    events: Sequence[Event],
    entity: Optional[Mapping[str, Any]] = None,
) -> bytes:
    """Return the JSON body of a PutLogEvents request, as botocore would send it.

    botocore's generic serializer walks the API model for every event; this
    writes the same JSON document directly, several times faster.
    """
    quote = encode_basestring_ascii
    items = ",".join([f'{{"timestamp":{ts},"message":{quote(msg)}}}' for ts, msg in events])
    head = f'{{"logGroupName":{quote(group)},"logStreamName":{quote(stream)},"logEvents":['
    tail = "]}"
    if entity is not None:  # json.dumps writes ASCII, as the rest of the body is
        tail = '],"entity":' + json.dumps(entity, separators=(",", ":")) + "}"
    return (head + items + tail).encode("ascii")


def put_params(
    group: str, stream: str, events: Sequence[Event], entity: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """PutLogEvents' parameters, as botocore takes them."""
    params: Dict[str, Any] = {
        "logGroupName": group,
        "logStreamName": stream,
        "logEvents": [{"timestamp": ts, "message": msg} for ts, msg in events],
    }
    if entity is not None:
        params["entity"] = entity
    return params
