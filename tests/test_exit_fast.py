"""When delivery can't work (no endpoint, no credentials), exit and `flush_after` say why at once
and wait a short grace, not the whole deadline; a slow endpoint that answers gets all of it.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any

import pytest
from faultproxy import PUT_LOG_EVENTS, FaultProxy
from helpers import free_port, messages, run_python, wait_for

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning, flush_after
from wt_adapters._registry import EXIT_GRACE, FLUSH_TIMEOUT

#: Two handlers and one record: at exit, both wait on the same endpoint.
SCRIPT = """
import logging, sys, time, wt_adapters
started = time.monotonic()
log = logging.getLogger("exit")
for group in ({group!r}, {group!r} + "-2"):
    log.addHandler(wt_adapters.CloudWatchLogHandler(log_group_name=group))
log.warning("one record")
import atexit
atexit.register(lambda: print(f"ran {{time.monotonic() - started:.1f}}", flush=True))
"""


def exit_seconds(group: str, **env: Any) -> tuple[float, str]:
    started = time.monotonic()
    run = run_python(textwrap.dedent(SCRIPT.format(group=group)), timeout=120, **env)
    assert run.returncode == 0, run.stderr
    return time.monotonic() - started, run.stderr


@pytest.mark.slow
def test_exit_with_the_endpoint_down_takes_seconds_and_says_why(group: str) -> None:
    seconds, stderr = exit_seconds(group, endpoint=f"http://127.0.0.1:{free_port()}")
    # Both engines together, interpreter start included, on a loaded 2-core machine: well
    # under one deadline, where each engine used to wait the whole of it.
    assert seconds < 20 < 2 * FLUSH_TIMEOUT
    assert "can't be reached" in stderr and "Could not connect to the endpoint URL" in stderr
    assert "could not be delivered" in stderr


def test_exit_with_no_credentials_takes_seconds_and_says_why(endpoint: str, group: str) -> None:
    seconds, stderr = exit_seconds(
        group, endpoint=endpoint, credentials=False, AWS_REGION="us-east-1"
    )
    assert seconds < 20 < 2 * FLUSH_TIMEOUT
    assert "Unable to locate credentials" in stderr
    assert "could not be delivered" in stderr


@pytest.mark.slow
def test_a_slow_endpoint_that_answers_gets_the_whole_deadline(
    proxy: FaultProxy, client: Any, group: str
) -> None:
    proxy.add_fault("latency", latency=EXIT_GRACE + 2, target=PUT_LOG_EVENTS)
    seconds, stderr = exit_seconds(group, endpoint=proxy.url)
    assert seconds >= EXIT_GRACE + 2  # it waited past the grace, for answers that came
    assert messages(client, group) == ["one record"]
    assert messages(client, group + "-2") == ["one record"]
    assert "could not be delivered" not in stderr


def test_exit_with_no_region_takes_seconds_and_says_why(endpoint: str, group: str) -> None:
    seconds, stderr = exit_seconds(group, endpoint=endpoint, credentials=False)
    assert seconds < 20 < 2 * FLUSH_TIMEOUT
    assert "no AWS region is configured" in stderr


@pytest.mark.slow
def test_flush_after_with_the_endpoint_down_returns_after_the_grace(
    group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    logger.addHandler(handler)

    @flush_after(timeout=30)
    def job() -> str:
        logger.info("from the job")
        return "done"

    with pytest.warns(WatchtowerWarning) as caught:
        # The grace counts from the first failed call: timed from there, so that making the
        # client first (seconds on a loaded machine) is left out.
        logger.info("before the job")
        wait_for(lambda: bool(handler.stats()["last_error"]), timeout=60)
        started = time.monotonic()
        assert job() == "done"
        took = time.monotonic() - started
    assert took < EXIT_GRACE + 4
    text = " ".join(str(w.message) for w in caught)
    assert "can't be reached" in text and "not delivered within" in text
    assert handler.stats()["last_error"].startswith("EndpointConnectionError")
    logger.removeHandler(handler)
    with pytest.warns(WatchtowerWarning, match="could not be delivered"):
        handler.close(0)
