"""Where a CloudWatch Logs client made now is pointed: the endpoint environment variables."""

from __future__ import annotations

import os
from typing import Any, Optional

#: The environment variables botocore reads for a CloudWatch Logs endpoint, in order
#: (it also reads the ``services`` section of ~/.aws/config).
BOTOCORE_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL")
#: Read by wt_adapters alone (boto3 does not), when none of botocore's variables is set.
FALLBACK_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LOGS"
#: Every variable that can point the clients wt_adapters makes at an endpoint, in order.
ENDPOINT_VARIABLES = (*BOTOCORE_ENDPOINT_VARIABLES, FALLBACK_ENDPOINT_VARIABLE)


def _ignoring_configured_endpoints() -> bool:
    return os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true"


def endpoint_from_env() -> Optional[str]:
    """Return the endpoint URL wt_adapters itself must pass to botocore, if any.

    botocore resolves its own variables and ~/.aws/config; this returns only
    the `FALLBACK_ENDPOINT_VARIABLE`, when botocore has no variable of its own
    and configured endpoints are not being ignored.
    """
    if _ignoring_configured_endpoints():
        return None
    if any(os.environ.get(name) for name in BOTOCORE_ENDPOINT_VARIABLES):
        return None
    return os.environ.get(FALLBACK_ENDPOINT_VARIABLE) or None


def configured_endpoint() -> Optional[str]:
    """The endpoint URL an environment variable names for clients made now, if any."""
    if _ignoring_configured_endpoints():
        return None
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def endpoint_key() -> Any:
    """What in the environment decides the endpoint of a client made now (for sharing)."""
    return (
        _ignoring_configured_endpoints(),
        tuple(os.environ.get(name) for name in ENDPOINT_VARIABLES),
    )
