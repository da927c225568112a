"""The ingestion endpoint's bearer token: a secret that never shows, and the options it goes with.

`BearerToken` holds the token; its `repr` and `str` name no part of it, so
that a `Destination.values` repr, a message or a traceback can't leak it.
`bearer_token` is the option's check; `check_transport` is what no single
option can check (a token only with ``transport="http-ingest"``, which
needs one; no option that only creating a log group would use).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping, Optional

from ._errors import WatchtowerError

#: The environment variable a token is read from when `bearer_token` is not given. AWS
#: documents no variable for CloudWatch Logs API keys, so the package names its own.
TOKEN_VARIABLE = "WT_ADAPTERS_BEARER_TOKEN"

#: The transport that sends with a bearer token.
HTTP_INGEST = "http-ingest"

#: Options used only to create a log group or set it up, with their defaults: the
#: ingestion endpoint can do neither, so a value other than the default is refused.
_GROUP_SETUP_OPTIONS = {
    "log_group_tags": (),
    "log_group_retention_days": None,
    "log_group_class": "STANDARD",
    "kms_key_id": None,
    "deletion_protection": False,
    "field_indexes": (),
    "entity": None,  # PutLogEvents' own: the ingestion endpoint takes none
    "boto3_client": None,
    "boto3_profile_name": None,
}


class BearerToken:
    """A CloudWatch Logs bearer token (API key); shown as ``BearerToken(<hidden>)``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The token itself, for the ``Authorization`` header and nothing else."""
        return self._value

    @property
    def fingerprint(self) -> str:
        """A digest that tells tokens apart without showing them (engines are shared by it)."""
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerToken) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("BearerToken", self._value))


def _header_safe(text: str) -> bool:
    return bool(text) and text.isascii() and text.isprintable() and " " not in text


def bearer_token(name: str, value: Any) -> Optional[BearerToken]:
    """None, or a bearer token: a string of printable ASCII without spaces (or a `BearerToken`).

    The value never appears in the error, which only says what is wrong with it.
    """
    if value is None or isinstance(value, BearerToken):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _header_safe(text):
            return BearerToken(text)
        raise WatchtowerError(
            f"{name} must be a non-empty string of printable ASCII characters without spaces"
            " (the value given is not shown: it is a secret)"
        )
    raise WatchtowerError(
        f"{name} must be a string (a CloudWatch Logs API key) or None, not {type(value).__name__}"
    )


def token_from_env() -> Optional[BearerToken]:
    """The token `TOKEN_VARIABLE` holds, if it holds one (raises if it holds a bad one)."""
    text = os.environ.get(TOKEN_VARIABLE, "").strip()
    return bearer_token(TOKEN_VARIABLE, text) if text else None


def check_transport(values: Mapping[str, Any]) -> None:
    """Check the options that go with the transport (`_options.check_together` calls this)."""
    transport = values.get("transport")
    if transport is None:  # not a front end's options (the engine's `Settings`)
        return
    token = values.get("bearer_token")
    if transport != HTTP_INGEST:
        if token is not None:
            raise WatchtowerError(
                f"bearer_token is given but transport={transport!r}: a bearer token is only"
                f" used with transport={HTTP_INGEST!r}"
            )
        return
    if token is None and token_from_env() is None:
        raise WatchtowerError(
            f"transport={HTTP_INGEST!r} needs a bearer token: pass bearer_token=... or set"
            f" {TOKEN_VARIABLE}"
        )
    if values.get("metrics_interval") is not None:
        raise WatchtowerError(
            f"metrics_interval={values['metrics_interval']:g} does not apply with"
            f" transport={HTTP_INGEST!r}: the metrics go"
            " to a stream of each process's own, which the ingestion endpoint can't create"
        )
    for option, default in _GROUP_SETUP_OPTIONS.items():
        value = values.get(option, default)
        if value != default:
            shown = "a client" if option == "boto3_client" else repr(value)
            if option == "entity":
                raise WatchtowerError(
                    f"entity={shown} does not apply with transport={HTTP_INGEST!r}: the"
                    " ingestion endpoint takes no entity (PutLogEvents does)"
                )
            raise WatchtowerError(
                f"{option}={shown} does not apply with transport={HTTP_INGEST!r}: the"
                " ingestion endpoint sends with the bearer token alone and can't create or"
                " set up log groups (create them beforehand)"
            )
