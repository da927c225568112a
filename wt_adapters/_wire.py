"""The direct wire: CloudWatch Logs calls written, signed and sent without botocore's model.

botocore validates and serializes every PutLogEvents parameter against the
API model, event by event; here the request body is written once from the
queued events (`_cwl_api`), signed with botocore's own SigV4 signer and the
client's credentials, and sent over the client's own HTTP session (its
keep-alive pool, proxies, TLS verification and timeouts). The client is
read, never changed: no handler is registered on it.

A call that a test double or a user's hook must see (a `Stubber`, moto's
`mock_aws`, a handler registered for the operation) goes through the client
itself, as with ``transport="boto3"``: see `_wire_client.doubled`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.exceptions

from . import _cwl_api as api
from ._boto import BotoSender, classify
from ._protocol import Event
from ._wire_client import Route, doubled, route_of

_USER_AGENT = f"wt_adapters Botocore/{botocore.__version__}"


class WireSender(BotoSender):
    """Makes the engine's CloudWatch Logs calls directly, with a boto3 client's identity.

    Pass a `client` (a user's: read, never changed) or a `client_factory`
    (called on the first call, and again in a forked child), as for
    `BotoSender`, whose methods make every call the wire leaves to the client.
    """

    def __init__(
        self, client: Any = None, *, client_factory: Optional[Callable[[], Any]] = None
    ) -> None:
        super().__init__(client, client_factory=client_factory)
        #: (the client, the route read from it): one value, so threads see a matched pair.
        self._read: Tuple[Any, Optional[Route]] = (None, None)

    def _direct(self, operation: str, method: str) -> Optional[Route]:
        """The route to send `operation` on, or None when the client must make the call."""
        client = self.client_or_error()
        read, route = self._read
        if read is not client:
            route = route_of(client)
            self._read = (client, route)
        if route is None or doubled(route, operation, method):
            return None
        return route

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        route = self._direct("PutLogEvents", "put_log_events")
        if route is None:
            return super().put_log_events(group, stream, events, entity=entity)
        body = api.put_log_events_body(group, stream, events, entity)
        return api.rejections_of(_send(route, "PutLogEvents", body, need_json=True))

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        route = self._direct("CreateLogGroup", "create_log_group")
        if route is None:
            super().create_log_group(group, tags, parameters)
            return
        _send(route, "CreateLogGroup", api.create_log_group_body(group, tags, parameters))

    def create_log_stream(self, group: str, stream: str) -> None:
        route = self._direct("CreateLogStream", "create_log_stream")
        if route is None:
            super().create_log_stream(group, stream)
            return
        _send(route, "CreateLogStream", api.create_log_stream_body(group, stream))

    def put_retention_policy(self, group: str, days: int) -> None:
        route = self._direct("PutRetentionPolicy", "put_retention_policy")
        if route is None:
            super().put_retention_policy(group, days)
            return
        _send(route, "PutRetentionPolicy", api.put_retention_policy_body(group, days))

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        route = self._direct("PutIndexPolicy", "put_index_policy")
        if route is None:
            super().put_index_policy(group, fields)
            return
        _send(route, "PutIndexPolicy", api.put_index_policy_body(group, fields))

    def after_fork(self) -> None:
        """Stop using the connections a forked child inherited; the parent keeps its own.

        Called on the child's sender thread. A client the factory made is
        replaced by a new one on the next call; a user's client is closed
        (`BaseClient.close`: its pool then makes new connections), as
        `BotoSender.after_fork` does, and its route is read again.
        """
        super().after_fork()
        self._read = (None, None)


def _send(route: Route, operation: str, body: bytes, *, need_json: bool = False) -> Dict[str, Any]:
    """Sign and send one request; return its answer, or raise a `SendError`."""
    try:
        request = sign(route, operation, body)
        response = route.http.send(request.prepare())
        status, content = response.status_code, response.content
    except Exception as e:  # no credentials, a refresh that failed, a lost connection
        raise classify(e) from e
    if status != 200:
        raise api.error_of(status, content)
    answer = api.json_answer(content) if content or need_json else {}
    if answer is None:
        raise api.not_json(operation, content)
    return answer


def sign(route: Route, operation: str, body: bytes) -> botocore.awsrequest.AWSRequest:
    """The request for `operation` with `body`, signed with SigV4 as botocore signs it.

    The credentials are frozen for this request (`get_frozen_credentials`
    refreshes expiring ones, as botocore does before each request); a chain
    that found none raises `NoCredentialsError`, as botocore does.
    """
    credentials = route.credentials
    if credentials is None:
        raise botocore.exceptions.NoCredentialsError()
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=route.url,
        data=body,
        headers={
            "X-Amz-Target": api.TARGET_PREFIX + operation,
            "Content-Type": api.CONTENT_TYPE,
            "User-Agent": _USER_AGENT,
        },
    )
    frozen = credentials.get_frozen_credentials()
    botocore.auth.SigV4Auth(frozen, route.signing_name, route.region).add_auth(request)
    return request
