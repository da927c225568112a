"""Fixtures: a real CloudWatch Logs endpoint (moto's server) on loopback, and clients for it."""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Any, Iterator

import pytest
from faultproxy import FaultProxy
from helpers import REGION, host_and_port, make_client, reset_endpoint
from moto.server import ThreadedMotoServer

from wt_adapters import WatchtowerWarning, _registry

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
for _name in (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LOGS",
    "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
):
    os.environ.pop(_name, None)
# The suite starts some 300 Python processes, each importing botocore. With bytecode caching
# off (PYTHONDONTWRITEBYTECODE=1, as many CI images set it) each compiled it from source
# again, 0.2 s of CPU a process: 208 s of pytest on 2 cores where cached took 151 s. Caches
# change nothing a test here looks at, so the workers and every child write and read them.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` starts two workers a core: most tests wait on children, timers and loopback I/O.

    On 2 cores 4 workers took 125 s where 2 took 155 s (docs/contributing.md).
    """
    return 2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)  # fmt: skip


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yield its URL.

    Once per session, so once per xdist worker: each worker has a server (and port) of
    its own, and `endpoint` resets only that worker's.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        inner = getattr(server, "_server", None)
        if inner is not None:
            inner.server_close()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """The endpoint URL, with the server's state reset for this test."""
    reset_endpoint(moto_server)
    return moto_server


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of the endpoint, recording every request it receives."""
    with FaultProxy(*host_and_port(endpoint), record=True) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def client(endpoint: str) -> Any:
    return make_client(endpoint)


@pytest.fixture
def group(request: pytest.FixtureRequest) -> str:
    """A log group name of this test's own."""
    return "test/" + re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:200]


@pytest.fixture(autouse=True)
def _unexpected_warnings_fail() -> Iterator[None]:
    """Fail a test that causes a `WatchtowerWarning` it does not expect.

    The package reports through `warnings.warn_explicit` and, where a filter turns
    the warning into an error, falls back to stderr rather than raise into a log
    call: so `filterwarnings = error` alone would not fail a test. Here every
    warning is recorded instead; the package's own fail the test, others go on to
    pytest's summary. A test that expects one says so with `pytest.warns`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WatchtowerWarning)
        yield
    unexpected = []
    for w in caught:
        if issubclass(w.category, WatchtowerWarning):
            unexpected.append(f"{w.filename}:{w.lineno}: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if unexpected:
        pytest.fail("unexpected WatchtowerWarning:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture(autouse=True)
def _close_leftover_engines() -> Iterator[None]:
    yield
    for engine in _registry.engines():
        engine.close(timeout=2)


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logger of this test's own, not propagating to the root logger."""
    log = logging.getLogger(f"wt_test.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield log
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
