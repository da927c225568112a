"""Which transport a destination sends with, and which engines share it: the wiring.

`choose(values)` reads the checked options (`transport`, `boto3_client`,
`boto3_profile_name`, `endpoint_url`) and returns a `Choice`: the key
engines are shared by (one key, one endpoint and identity) and a function
that makes a new `Transport` for each engine. Each transport has its own
builder below; nothing here imports boto3 until a builder needs it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Mapping, NamedTuple

from ._endpoints import endpoint_key
from ._errors import WatchtowerError
from ._protocol import Transport


class Choice(NamedTuple):
    """The transport a destination sends with."""

    #: What engines are shared by: equal keys send to one endpoint as one identity.
    key: Any
    #: Makes the transport of one engine (called once per engine, in the wiring).
    make: Callable[[], Transport]


def choose(values: Mapping[str, Any]) -> Choice:
    """Return the transport the checked option `values` ask for."""
    builder = _BUILDERS.get(values["transport"])
    if builder is None:  # the option's check lists the same names
        raise WatchtowerError(f"transport={values['transport']!r} is not built in")
    key, make = builder(values)
    return Choice((values["transport"], key), make)


def _boto3(values: Mapping[str, Any]) -> Choice:
    """Every call through a boto3 client: the user's, or one made on the first request."""
    from ._boto import BotoSender

    return _with_client(values, BotoSender)


def _auto(values: Mapping[str, Any]) -> Choice:
    """The default: the direct wire, with a boto3 client's identity (see `_wire`)."""
    from ._wire import WireSender

    return _with_client(values, WireSender)


def _with_client(values: Mapping[str, Any], sender: Callable[..., Transport]) -> Choice:
    """A transport that sends as a boto3 client: the user's, or one made on the first request.

    `sender` takes the user's client (used as it is, never changed) or a
    `client_factory`.
    """
    client = values["boto3_client"]
    if client is not None:
        return Choice(("client", id(client)), lambda: sender(client))
    profile = values["boto3_profile_name"]
    endpoint_url = values["endpoint_url"]
    if profile is not None:
        from ._boto import check_profile

        check_profile(profile)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def make() -> Transport:
        # The client is made on the first request: constructing needs no region.
        from ._boto import make_client

        return sender(
            client_factory=lambda: make_client(profile_name=profile, endpoint_url=endpoint_url)
        )

    return Choice(("profile", profile, endpoint_url, endpoint_key(), region), make)


def _http_ingest(values: Mapping[str, Any]) -> Choice:
    """CloudWatch Logs' HTTP ingestion endpoint with a bearer token: no boto3, no credentials."""
    from ._ingest import IngestTransport, ingest_url
    from ._ingest_token import TOKEN_VARIABLE, token_from_env

    token = values["bearer_token"] or token_from_env()
    if token is None:  # the options' check says so first; the environment may have changed
        raise WatchtowerError(f"transport='http-ingest' needs bearer_token= or {TOKEN_VARIABLE}")
    url = ingest_url(values["endpoint_url"])
    return Choice(("ingest", url, token.fingerprint), lambda: IngestTransport(url, token))


_BUILDERS: Dict[str, Callable[[Mapping[str, Any]], Choice]] = {
    "auto": _auto,
    "boto3": _boto3,
    "http-ingest": _http_ingest,
}
