"""`flush_after`: every engine is flushed before a short-lived function returns or raises."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
import time
import warnings
from typing import Any, List, Optional

import pytest
from helpers import LambdaContext, free_port, messages, read_events, run_python

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters import _serverless as serverless
from wt_adapters._serverless import DEFAULT_MARGIN, DEFAULT_TIMEOUT, flush_after
from wt_adapters.testing import capture_events


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> List[Optional[float]]:
    """Record the timeout of every flush `flush_after` makes (and pretend it succeeded)."""
    calls: List[Optional[float]] = []

    def fake_flush_all(timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
        calls.append(timeout)
        return True

    monkeypatch.setattr(serverless, "flush_all", fake_flush_all)
    return calls


def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    """How long `fn(*args, **kwargs)` took: the most time a deadline inside it can have lost."""
    started = time.monotonic()
    fn(*args, **kwargs)
    return time.monotonic() - started


def test_events_are_delivered_before_the_function_returns(logger: logging.Logger) -> None:
    @flush_after
    def handler(event: Any, context: Any) -> str:
        logger.info({"event": "handled", "id": event["id"]})
        return "ok"

    with capture_events() as events:
        logger.addHandler(CloudWatchLogHandler(log_group_name="fn", send_interval=3600))
        assert handler({"id": 7}, LambdaContext(3000)) == "ok"
        assert [json.loads(m) for m in messages(events, "fn")] == [{"event": "handled", "id": 7}]


def test_events_are_delivered_before_an_exception_is_reraised(logger: logging.Logger) -> None:
    @flush_after(timeout=5)
    def handler() -> None:
        logger.error("about to fail")
        raise KeyError("boom")

    with capture_events() as events:
        logger.addHandler(CloudWatchLogHandler(log_group_name="fn", send_interval=3600))
        with pytest.raises(KeyError, match="boom"):
            handler()
        assert messages(events, "fn") == ["about to fail"]


def test_the_deadline_is_the_lambda_remaining_time_less_the_margin(
    flushes: List[Optional[float]],
) -> None:
    took = timed(flush_after(lambda event, context: None), {}, LambdaContext(2000))
    assert flushes[0] is not None
    assert 2.0 - DEFAULT_MARGIN - took <= flushes[0] <= 2.0 - DEFAULT_MARGIN


def test_the_context_is_found_as_a_keyword_argument_too(flushes: List[Optional[float]]) -> None:
    took = timed(
        flush_after(margin=0)(lambda event, context: None), event={}, context=LambdaContext(1000)
    )
    assert flushes[0] is not None and 1.0 - took <= flushes[0] <= 1.0


def test_the_smaller_of_timeout_and_remaining_time_wins(flushes: List[Optional[float]]) -> None:
    flush_after(timeout=0.25)(lambda e, c: None)({}, LambdaContext(60_000))
    flush_after(timeout=30)(lambda e, c: None)({}, LambdaContext(1_000))
    assert flushes[0] == 0.25
    assert flushes[1] is not None and flushes[1] <= 0.5


def test_without_a_context_the_timeout_or_the_default_is_used(
    flushes: List[Optional[float]],
) -> None:
    flush_after(lambda: None)()
    flush_after(timeout=3)(lambda: None)()
    assert flushes == [DEFAULT_TIMEOUT, 3]


def test_an_expired_deadline_flushes_without_waiting(flushes: List[Optional[float]]) -> None:
    flush_after(lambda e, c: None)({}, LambdaContext(100))
    assert flushes == [0.0]


def test_an_unfinished_flush_warns_and_keeps_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serverless, "flush_all", lambda timeout=None, grace=None: False)
    with pytest.warns(WatchtowerWarning, match="not delivered within"):
        assert flush_after(lambda: 42)() == 42


def test_a_failing_flush_does_not_replace_the_functions_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
        raise RuntimeError("flush broke")

    def fails() -> None:
        raise ValueError("the real error")

    monkeypatch.setattr(serverless, "flush_all", broken)
    with pytest.warns(WatchtowerWarning, match="flush broke"), pytest.raises(ValueError):
        flush_after(fails)()


def test_async_functions_are_flushed_after_they_complete(logger: logging.Logger) -> None:
    @flush_after
    async def handler(event: Any, context: Any) -> int:
        await asyncio.sleep(0)
        logger.info("async handled")
        return 1

    with capture_events() as events:
        logger.addHandler(CloudWatchLogHandler(log_group_name="fn", send_interval=3600))
        assert asyncio.run(handler({}, LambdaContext(3000))) == 1
        assert messages(events, "fn") == ["async handled"]


def test_the_decorated_function_keeps_its_name_and_doc() -> None:
    @flush_after
    def lambda_handler(event: Any, context: Any) -> None:
        """Handle it."""

    assert lambda_handler.__name__ == "lambda_handler"
    assert lambda_handler.__doc__ == "Handle it."


@pytest.mark.parametrize("options", [{"timeout": -1}, {"margin": "1"}, {"timeout": True}])
def test_bad_options_are_refused_eagerly(options: Any) -> None:
    with pytest.raises(WatchtowerError):
        flush_after(**options)


def test_a_lambda_handler_delivers_to_cloudwatch_before_returning(
    endpoint: str, client: Any, group: str, logger: logging.Logger
) -> None:
    logger.addHandler(
        CloudWatchLogHandler(log_group_name=group, log_stream_name="s", boto3_client=client)
    )

    @flush_after
    def handler(event: Any, context: Any) -> dict[str, Any]:
        logger.info({"event": "order", "id": event["id"]})
        return {"statusCode": 200}

    assert handler({"id": 1}, LambdaContext(10_000)) == {"statusCode": 200}
    messages = [json.loads(e["message"]) for e in read_events(client, group, "s")]
    assert messages == [{"event": "order", "id": 1}]


def test_under_an_error_filter_an_unfinished_flush_goes_to_stderr_and_the_result_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serverless, "flush_all", lambda timeout=None, grace=None: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert flush_after(lambda: 42)() == 42
        assert asyncio.run(flush_after(timeout=1)(asyncio.sleep)(0, "async")) == "async"
    err = capsys.readouterr().err
    assert err.count("WatchtowerWarning: flush_after: some log events were not delivered") == 2


def test_an_unfinished_flush_is_reported_at_the_callers_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serverless, "flush_all", lambda timeout=None, grace=None: False)
    with pytest.warns(WatchtowerWarning, match="not delivered") as caught:
        flush_after(lambda: None)()
    assert [w.filename for w in caught] == [__file__]


@pytest.mark.slow
def test_a_lambda_handler_under_w_error_returns_though_delivery_fails(group: str) -> None:
    script = textwrap.dedent(f"""
        import logging, wt_adapters
        log = logging.getLogger("fn")
        log.addHandler(wt_adapters.CloudWatchLogHandler(
            log_group_name={group!r}, endpoint_url="http://127.0.0.1:{free_port()}"))

        @wt_adapters.flush_after(timeout=0.5)
        def handler(event, context):
            log.warning({{"event": "order"}})
            return {{"statusCode": 200}}

        print("returned", handler({{}}, None))
        wt_adapters._registry.FLUSH_TIMEOUT = 0.5  # the exit deadline, shortened
    """)
    run = run_python(f"import warnings; warnings.simplefilter('error')\n{script}", timeout=60)
    assert "returned {'statusCode': 200}" in run.stdout, run.stderr
    assert "flush_after: some log events were not delivered within 0.5 s" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_app_without_coroutines_never_imports_asyncio() -> None:
    script = textwrap.dedent(
        """
        import sys, wt_adapters
        after_import = "asyncio" in sys.modules
        handler = wt_adapters.flush_after(timeout=0)(lambda: 1)
        print(after_import, handler(), "asyncio" in sys.modules)
        """
    )
    done = run_python(script, credentials=False)
    assert done.stdout.split() == ["False", "1", "False"], done.stderr
