"""PutLogEvents bodies written by the package, handed to botocore through hooks.

botocore's generic serializer walks the API model for every event;
`_cwl_api.put_log_events_body` writes the same JSON document directly,
several times faster, `use_pending_body` (a ``before-call`` hook) puts it in
place of the one-event body botocore made, and `check_answer` (an
``after-call`` hook) notes a 200 answer that is not JSON. `_boto.BotoSender`
registers both on the clients the package makes.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, Mapping, Optional, Sequence

from ._cwl_api import json_answer
from ._protocol import Event

__all__ = ["ANSWER_HOOK", "HOOK", "check_answer", "pending", "put_params", "use_pending_body"]


class _PendingBody(threading.local):
    #: The body to put in place of botocore's, for this thread's call in progress.
    body: Optional[bytes] = None
    #: What botocore's own body must decode to for the swap to be right: the one event.
    expected: Any = None
    #: Whether the swap was made in the call just finished.
    swapped = False
    #: The body of a 200 answer to the swapped call that was not JSON (a proxy's page).
    not_json: Optional[bytes] = None


pending = _PendingBody()
HOOK = "before-call.cloudwatch-logs.PutLogEvents"
ANSWER_HOOK = "after-call.cloudwatch-logs.PutLogEvents"


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


def check_answer(http_response: Any = None, **kwargs: Any) -> None:
    """Note a 200 answer to this thread's swapped PutLogEvents whose body is not JSON.

    botocore reads such a body as an empty answer, which would count the
    batch as sent although CloudWatch may never have seen it.
    """
    if not pending.swapped or http_response is None or http_response.status_code != 200:
        return
    content = http_response.content
    if json_answer(content) is None:
        pending.not_json = bytes(content or b"")


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
