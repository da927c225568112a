"""Nothing the package reports raises into a log call, on any front end, whatever the filters.

Each front end runs in a fresh interpreter under ``-W error`` (as a user's
pytest ``filterwarnings = error`` does) against the local endpoint, and makes
every warning the package can issue: an oversized message, an empty one, a
record after close, a record dropped from a full queue, and events CloudWatch
rejected. The log calls must return, the events be counted, and each report
reach stderr instead.
"""

from __future__ import annotations

import json
import logging
import textwrap
import warnings
from pathlib import Path
from typing import Any, Dict

import pytest
from helpers import LoggingClient, run_python, wait_for

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning

#: Sets up `make(**options)` returning (log, front end) for each front end.
SETUPS = {
    "stdlib": """
        import logging
        from wt_adapters import CloudWatchLogHandler

        def make(**options):
            handler = CloudWatchLogHandler(**options)
            log = logging.getLogger("app." + options["log_group_name"])
            log.propagate = False
            log.addHandler(handler)
            return log.critical, handler
    """,
    "structlog": """
        import structlog
        from wt_adapters.structlog import CloudWatchRenderer

        def make(**options):
            renderer = CloudWatchRenderer(write_locally=False, **options)
            log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[renderer])
            return log.info, renderer
    """,
    "loguru": """
        from loguru import logger
        from wt_adapters.loguru import cloudwatch_sink

        logger.remove()

        def make(**options):
            sink = cloudwatch_sink(**options)
            group = options["log_group_name"]
            logger.add(sink, filter=lambda record: record["extra"].get("group") == group)
            return logger.bind(group=group).info, sink

        def flush(front_end, timeout):
            return front_end.flush_to_cloudwatch(timeout)
    """,
}

SCENARIOS = """
    import json, sys
    import boto3

    flush = globals().get("flush") or (lambda front_end, timeout: front_end.flush(timeout))
    results = {}

    # Oversized: cut, with a warning, and sent.
    log, oversized = make(log_group_name="g-oversized", max_message_size=1000)
    log("x" * 5000)
    results["oversized"] = (flush(oversized, 10), oversized.stats()["sent"])

    # After close: a warning, nothing sent.
    oversized.close()
    log("after close")
    results["after_close"] = oversized.stats()["enqueued"]

    # Empty (only the stdlib front end can make an empty message).
    log, empty = make(log_group_name="g-empty")
    log("")
    results["empty"] = empty.stats()["enqueued"]

    # Dropped: a queue of one event, dropping the newest.
    log, dropped = make(
        log_group_name="g-dropped", max_queue_events=1, queue_overflow="drop_newest"
    )
    log("kept")
    log("dropped")
    results["dropped"] = dropped.stats()["dropped"]

    # Rejected: CloudWatch says the first event was too old (warned from the engine's thread).
    class Rejecting:
        def __init__(self, client):
            self._client = client

        def put_log_events(self, **kwargs):
            response = self._client.put_log_events(**kwargs)
            response["rejectedLogEventsInfo"] = {"tooOldLogEventEndIndex": 1}  # exclusive
            return response

        def __getattr__(self, name):
            return getattr(self._client, name)

    log, rejected = make(log_group_name="g-rejected", boto3_client=Rejecting(boto3.client("logs")))
    log("one")
    flushed = flush(rejected, 10)
    log("two, after the warning")
    results["rejected"] = (flushed, flush(rejected, 10), rejected.stats()["rejected"])
    print(json.dumps(results))
"""

REPORTS = {
    "oversized": "Log message size exceeds CWL max payload size, truncated to 974 bytes",
    "after_close": "Received message after",
    "empty": "Received empty message",
    "dropped": "because of queue full",
    "rejected": "CloudWatch rejected log events as too old",
}


@pytest.mark.parametrize("front_end", sorted(SETUPS))
def test_no_warning_raises_into_a_log_call_under_w_error(endpoint: str, front_end: str) -> None:
    script = textwrap.dedent(SETUPS[front_end]) + textwrap.dedent(SCENARIOS)
    done = run_python(script, endpoint=endpoint, PYTHONWARNINGS="error")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["oversized"] == [True, 1]
    assert results["after_close"] == 1  # the record after close was not queued
    assert results["empty"] == (0 if front_end == "stdlib" else 1)  # JSON is never empty
    assert results["dropped"] == {"queue_full": 1}
    assert results["rejected"] == [True, True, {"too_old": 2}]  # the delivery thread lives on
    expected = dict(REPORTS)
    if front_end != "stdlib":
        del expected["empty"]  # a JSON event is never empty
    reports = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("wt_adapters: WatchtowerWarning: ")
    ]
    for what, text in expected.items():
        assert any(text in line for line in reports), what
    assert "Traceback" not in done.stderr
    assert "Logging error" not in done.stderr  # loguru's report of a sink that raised


def test_a_warning_from_the_delivery_thread_points_where_the_handler_was_made(
    client: Any, group: str, logger: logging.Logger
) -> None:
    class Rejecting(LoggingClient):
        def put_log_events(self, **kwargs: Any) -> Any:
            response: Dict[str, Any] = super().put_log_events(**kwargs)
            response["rejectedLogEventsInfo"] = {"tooOldLogEventEndIndex": 1}  # exclusive
            return response

    handler = CloudWatchLogHandler(
        boto3_client=Rejecting(client, lambda: None), log_group_name=group
    )  # the line the warning points at
    made_at = test_a_warning_from_the_delivery_thread_points_where_the_handler_was_made
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match="rejected log events as too old") as caught:
        logger.info("one")
        assert handler.flush(10)
        wait_for(lambda: caught.list)
    (warning,) = caught.list
    assert warning.filename == __file__
    first = made_at.__code__.co_firstlineno
    assert first < warning.lineno < first + 12
    assert handler.stats()["rejected"] == {"too_old": 1}
    with pytest.warns(WatchtowerWarning, match="1 rejected as too old"):
        assert handler.close() is False


def test_a_warning_on_the_callers_thread_points_at_the_log_call(
    client: Any, group: str, logger: logging.Logger
) -> None:
    logger.addHandler(CloudWatchLogHandler(boto3_client=client, log_group_name=group))
    with pytest.warns(WatchtowerWarning, match="Received empty message") as caught:
        logger.info("")  # the line the warning points at
    (warning,) = caught.list
    assert warning.filename == __file__
    source = Path(__file__).read_text(encoding="utf-8").splitlines()
    assert "logger.info" in source[warning.lineno - 1]


def test_a_failing_warning_hook_is_reported_on_stderr(
    client: Any, group: str, logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a showwarning hook that fails")

    handler = CloudWatchLogHandler(boto3_client=client, log_group_name=group)
    logger.addHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = broken
        logger.info("")
    assert "wt_adapters: WatchtowerWarning: Received empty message" in capsys.readouterr().err


def test_a_close_that_times_out_reports_without_raising_under_w_error() -> None:
    script = textwrap.dedent(
        """
        import logging
        from wt_adapters import CloudWatchLogHandler

        handler = CloudWatchLogHandler(
            log_group_name="g-unreachable", endpoint_url="http://127.0.0.1:9", retry_deadline=60
        )
        log = logging.getLogger("app")
        log.propagate = False
        log.addHandler(handler)
        log.warning("never delivered")
        print(handler.close(timeout=0.5), handler.stats()["dropped"])
        """
    )
    done = run_python(script, PYTHONWARNINGS="error")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False {'close_timeout': 1}\n"
    assert (
        "wt_adapters: WatchtowerWarning: Timed out while delivering logs: 1 events" in done.stderr
    )
    assert "Traceback" not in done.stderr
