"""What the direct wire reads from a boto3 client, and when it must leave the call to it.

`route_of(client)` takes what a request needs from the client without
changing it: its endpoint, region, signing name, credentials (botocore's own
chain, refreshed as botocore refreshes them) and its HTTP session (its
connection pool, proxies, TLS verification and timeouts). `doubled(client,
operation)` tells, per call, whether a test double or a user's hook must see
the call: then it goes through the client itself.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Optional, Tuple

import botocore.client
import botocore.stub

#: The events botocore emits for one call; a handler on any of them wants to see the call.
_STAGES = (
    "provide-client-params",
    "before-parameter-build",
    "before-endpoint-resolution",
    "before-call",
    "request-created",
    "choose-signer",
    "before-sign",
    "before-send",
    "response-received",
    "needs-retry",
    "after-call",
    "after-call-error",
)
#: Modules whose handlers every client has: botocore's and boto3's built-ins, and ours.
_BUILT_IN = ("botocore.", "boto3.", "wt_adapters.")
_MAKE_API_CALL = getattr(botocore.client.BaseClient, "_make_api_call", None)


class Route(NamedTuple):
    """Where and as whom a client sends: what a direct request needs from it."""

    client: Any
    url: str
    region: str
    signing_name: str
    #: botocore's credentials object (may be refreshable), or None if the chain found none.
    credentials: Any
    #: The client's `botocore.httpsession.URLLib3Session`.
    http: Any
    #: The service's name in event names (``cloudwatch-logs``), for `doubled`.
    service_id: str


def route_of(client: Any) -> Optional[Route]:
    """What a direct request needs from `client`; None if only the client itself can send.

    None for a client the wire can't stand in for: one that doesn't sign with
    SigV4 (``signature_version=UNSIGNED``, say), one asked for FIPS or
    dual-stack endpoints (botocore resolves those per request), or one whose
    internals this botocore no longer has.
    """
    try:
        meta = client.meta
        config = meta.config
        if config.signature_version not in (None, "v4"):
            return None
        if getattr(config, "use_fips_endpoint", None) or getattr(
            config, "use_dualstack_endpoint", None
        ):
            return None
        model = meta.service_model
        if model.protocol != "json":
            return None
        http = client._endpoint.http_session
        credentials = client._get_credentials()
        url = meta.endpoint_url.rstrip("/") + "/"
        return Route(
            client,
            url,
            meta.region_name,
            model.signing_name,
            credentials,
            http,
            model.service_id.hyphenize(),
        )
    except AttributeError:
        return None


def doubled(route: Route, operation: str, method: str) -> bool:
    """Tell whether this call must go through the client: a double or a hook wants to see it.

    True while a `botocore.stub.Stubber` is active on the client, while moto's
    `mock_aws` is active (its handler is one of the client's ``before-send``
    handlers), when the user registered a handler on the client's events for
    this operation, and when the client's `_make_api_call` or the `method` was
    replaced (``mock.patch``, an instrumentation's wrapper). The check reads
    the client's handlers (a few dict look-ups each) and never imports moto.
    """
    client = route.client
    attributes = getattr(client, "__dict__", {})
    if "_make_api_call" in attributes or method in attributes:
        return True
    if getattr(type(client), "_make_api_call", None) is not _MAKE_API_CALL:
        return True
    try:
        search = client.meta.events._emitter._handlers.prefix_search
    except AttributeError:
        return True  # can't tell: let the client make the call
    for stage in _STAGES:
        if any(_wants_the_call(h) for h in search(f"{stage}.{route.service_id}.{operation}")):
            return True
    return False


def _wants_the_call(handler: Any) -> bool:
    owner = getattr(handler, "__self__", None)
    if isinstance(owner, botocore.stub.Stubber):
        return True
    module = getattr(handler, "__module__", None) or type(handler).__module__
    if module.startswith("moto."):
        # moto's handler is on every client made after moto was imported; it acts
        # only while a mock is active.
        return bool(getattr(handler, "enabled", True))
    return not module.startswith(_BUILT_IN)


def handlers(route: Route, operation: str) -> Iterable[Tuple[str, Any]]:
    """Every (event, handler) the client would run for `operation` (for tests and debugging)."""
    search = route.client.meta.events._emitter._handlers.prefix_search
    for stage in _STAGES:
        event = f"{stage}.{route.service_id}.{operation}"
        for handler in search(event):
            yield event, handler
