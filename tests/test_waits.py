"""Nothing hangs when delivery can't happen: flush and close stop on a stall, shared by every
handler of the process, and at once on a cause that can't clear; a slow drain is not cut.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from typing import Any, List

import pytest
from faultproxy import PUT_LOG_EVENTS, FaultProxy
from helpers import free_port, run_python

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters._registry import FLUSH_TIMEOUT, STALL_WINDOW
from wt_adapters.loguru import cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer

#: Slack for a loaded 2-core machine on top of the waits the design allows.
SLACK = 4.0


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com", "localhost:4566", "http://", "http://h:99999"]
)
def test_a_malformed_endpoint_url_is_refused_at_construction_on_every_front_end(url: str) -> None:
    for make in (CloudWatchLogHandler, CloudWatchRenderer, cloudwatch_sink):
        with pytest.raises(WatchtowerError, match="endpoint_url=") as raised:
            make(log_group_name="g", endpoint_url=url)
        assert repr(url) in str(raised.value)


def test_localhost_without_a_scheme_is_refused_with_the_url_meant() -> None:
    with pytest.raises(WatchtowerError, match=r"did you mean 'http://localhost:4566'"):
        CloudWatchLogHandler(log_group_name="g", endpoint_url="localhost:4566")


#: Two handlers with the endpoint refusing connections, 100 records each; the script
#: says how long each call took, as JSON.
REFUSED = """
import json, logging, sys, time, warnings
import wt_adapters
warnings.simplefilter("ignore")
url, how = sys.argv[1], sys.argv[2]
log = logging.getLogger("w")
handlers = [wt_adapters.CloudWatchLogHandler(log_group_name=g, endpoint_url=url)
            for g in ("g1", "g2")]
for h in handlers:
    log.addHandler(h)
for i in range(100):
    log.warning("record %d", i)
took = []
if how == "close":
    for h in handlers:
        started = time.monotonic()
        took.append((h.close(), time.monotonic() - started))
else:
    started = time.monotonic()
    logging.shutdown()
    took.append((None, time.monotonic() - started))
print(json.dumps(took), flush=True)
"""


def child(script: str, *args: str, **env: Any) -> Any:
    """Run `script` with `args` in a fresh interpreter; return what it printed, as JSON."""
    run = run_python(textwrap.dedent(script), 120, args=args, **env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def refused(how: str) -> List[Any]:
    url = f"http://127.0.0.1:{free_port()}"
    result: List[Any] = child(REFUSED, url, how, endpoint=url)
    return result


@pytest.mark.slow
def test_close_with_the_endpoint_refusing_stops_after_one_shared_stall_window() -> None:
    (first_ok, first), (second_ok, second) = refused("close")
    assert first_ok is False and second_ok is False
    assert first < STALL_WINDOW + SLACK < FLUSH_TIMEOUT  # was the whole 30 s
    assert second < SLACK  # the first handler's window is the second's


@pytest.mark.slow
def test_logging_shutdown_with_the_endpoint_refusing_takes_one_stall_window() -> None:
    ((_, took),) = refused("shutdown")
    assert took < STALL_WINDOW + SLACK  # flush then close, for two handlers: was 120 s


NO_CREDENTIALS = """
import json, logging, sys, time, warnings
import wt_adapters
warnings.simplefilter("ignore")
handler = wt_adapters.CloudWatchLogHandler(log_group_name="g", endpoint_url=sys.argv[1])
log = logging.getLogger("w")
log.addHandler(handler)
log.warning("one record")
took = []
for call in (handler.flush, lambda: handler.flush(20), lambda: handler.close(20)):
    started = time.monotonic()
    took.append((call(), time.monotonic() - started))
print(json.dumps([took, handler.stats()["last_error"]]), flush=True)
"""


def test_with_no_credentials_flush_and_close_return_false_at_once(endpoint: str) -> None:
    took, last_error = child(
        NO_CREDENTIALS, endpoint, endpoint=endpoint, credentials=False, AWS_REGION="us-east-1"
    )
    assert [ok for ok, _ in took] == [False, False, False]
    assert all(seconds < SLACK for _, seconds in took), took  # even flush(20) and close(20)
    assert "Unable to locate credentials" in last_error


def test_a_missing_group_that_may_not_be_created_ends_close_at_once(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=endpoint, create_log_group=False
    )
    logger.addHandler(handler)
    logger.info("nowhere to go")
    started = time.monotonic()
    with pytest.warns(WatchtowerWarning, match="does not exist and create_log_group is False"):
        assert handler.close(20) is False
    assert time.monotonic() - started < SLACK


@pytest.mark.slow
def test_a_slow_endpoint_that_accepts_every_batch_is_drained_by_close(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url, send_interval=60
    )
    logger.addHandler(handler)
    for i in range(100_000):
        logger.info("record %d", i)
    # Each request of the close's drain takes longer than the stall window.
    proxy.add_fault("latency", latency=STALL_WINDOW + 0.5, duration=60, target=PUT_LOG_EVENTS)
    started = time.monotonic()
    assert handler.close() is True  # slower than the stall window, but never failing
    assert time.monotonic() - started > STALL_WINDOW
    assert handler.stats()["sent"] == 100_000


@pytest.mark.slow
def test_a_close_that_gives_events_up_sums_up_every_loss_by_reason_in_one_warning(
    group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=f"http://127.0.0.1:{free_port()}", max_queue_events=100
    )
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning) as caught:
        for i in range(1000):
            logger.info("record %d", i)
        assert handler.close() is False
    stats = handler.stats()
    assert stats["dropped"] == {"queue_full": 900, "close_timeout": 100}
    (summary,) = [str(w.message) for w in caught if "since the last summary" in str(w.message)]
    assert "1000 events in all" in summary
    assert "900 queue full" in summary and "100 close timeout" in summary
    assert "could not be delivered before close" in summary


def test_a_record_logged_after_close_is_counted(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, endpoint_url=endpoint)
    logger.addHandler(handler)
    logger.info("delivered")
    assert handler.close() is True
    engine = handler._destination.engine  # type: ignore[union-attr]
    with pytest.warns(WatchtowerWarning):
        engine.submit("s", int(time.time() * 1000), "too late")
    assert handler.stats()["dropped"] == {"closed": 1}
