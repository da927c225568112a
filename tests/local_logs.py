"""Fixtures for what moto's server leaves out: the local endpoint (moto plus `_local_extras`).

moto drops PutLogEvents' ``entity`` and knows no PutIndexPolicy; the package's
local endpoint keeps both. A test module takes these fixtures with
``from local_logs import local_endpoint, local_proxy, local_server  # noqa: F401``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterator, List

import pytest
from faultproxy import FaultProxy
from helpers import host_and_port, reset_endpoint

from wt_adapters._local import LocalEndpoint

PUT_LOG_EVENTS = "Logs_20140328.PutLogEvents"
PUT_INDEX_POLICY = "Logs_20140328.PutIndexPolicy"


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalEndpoint]:
    """The package's local endpoint on a free loopback port, for the session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with LocalEndpoint() as server:
        yield server


@pytest.fixture
def local_endpoint(local_server: LocalEndpoint) -> LocalEndpoint:
    """The local endpoint, with moto's state and the kept entities and policies reset."""
    reset_endpoint(local_server.url)
    return local_server


@pytest.fixture
def local_proxy(local_endpoint: LocalEndpoint) -> Iterator[FaultProxy]:
    """A fault proxy in front of the local endpoint, recording every request."""
    with FaultProxy(*host_and_port(local_endpoint.url), record=True) as fault_proxy:
        yield fault_proxy


def bodies(proxy: FaultProxy, target: str = PUT_LOG_EVENTS) -> List[Dict[str, Any]]:
    """The JSON bodies of the requests to `target` the proxy received, in order."""
    return [json.loads(r.body) for r in proxy.received() if r.target == target]


def with_rejected_entity(error_type: str) -> Any:
    """A rewrite for the fault proxy: the reply says CloudWatch refused the entity."""

    def rewrite(data: bytes) -> bytes:
        document = json.loads(data or b"{}")
        document["rejectedEntityInfo"] = {"errorType": error_type}
        return json.dumps(document).encode()

    return rewrite
