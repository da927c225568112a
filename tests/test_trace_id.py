"""Trace ids: ``traceId`` in JSON events from all three front ends, from an OpenTelemetry span
or Lambda's ``_X_AMZN_TRACE_ID``, never replacing one, never in plain text.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Dict, Iterator, List

import pytest
import structlog
from helpers import run_python, stored
from loguru import logger as loguru_logger
from opentelemetry.sdk.trace import TracerProvider

from wt_adapters import CloudWatchLogHandler
from wt_adapters._trace import current_trace_id, with_trace_id, xray_root
from wt_adapters.loguru import cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer

XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"

#: Logs one JSON event with `fields` through a front end; returns its close().
Ship = Callable[[Dict[str, Any]], None]

tracer = TracerProvider().get_tracer("wt_adapters.tests")


@pytest.fixture(autouse=True)
def _no_lambda_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)


class FrontEnd:
    """One front end shipping to `group` with `options`; `log(fields)` logs one JSON event."""

    def __init__(self, kind: str, logger: logging.Logger, **options: Any) -> None:
        self.kind = kind
        if kind == "stdlib":
            self.handler = CloudWatchLogHandler(**options)
            logger.addHandler(self.handler)
            self._logger = logger
            self.close = self.handler.close
        elif kind == "structlog":
            renderer = CloudWatchRenderer(write_locally=False, **options)
            self._structlog = structlog.wrap_logger(structlog.ReturnLogger(), processors=[renderer])
            self.close = renderer.close
        else:
            sink = cloudwatch_sink(**options)
            self._handler_id = loguru_logger.add(sink)
            self.close = sink.close

    def log(self, fields: Dict[str, Any]) -> None:
        if self.kind == "stdlib":
            self._logger.info(dict(fields, event="hello"))
        elif self.kind == "structlog":
            with contextlib.suppress(structlog.DropEvent):
                self._structlog.info("hello", **fields)
        else:
            loguru_logger.bind(**fields).info("hello")

    def stop(self) -> None:
        assert self.close(10)
        if self.kind == "loguru":
            loguru_logger.remove(self._handler_id)


@pytest.fixture(params=["stdlib", "structlog", "loguru"])
def front_end(
    request: pytest.FixtureRequest, endpoint: str, group: str, logger: logging.Logger
) -> Iterator[Callable[..., FrontEnd]]:
    made: List[FrontEnd] = []

    def make(**options: Any) -> FrontEnd:
        made.append(
            FrontEnd(request.param, logger, log_group_name=group, endpoint_url=endpoint, **options)
        )
        return made[-1]

    yield make
    for f in made:
        f.close(10)
        if f.kind == "loguru":
            with contextlib.suppress(ValueError):
                loguru_logger.remove(f._handler_id)


def one_event(client: Any, group: str) -> Dict[str, Any]:
    [event] = stored(client, group)
    assert isinstance(event, dict)
    return event


def test_an_active_span_s_trace_id_is_added(
    front_end: Callable[..., FrontEnd], client: Any, group: str
) -> None:
    f = front_end(trace_id=True)
    with tracer.start_as_current_span("request") as span:
        f.log({"n": 1})
        expected = f"{span.get_span_context().trace_id:032x}"
    f.stop()
    event = one_event(client, group)
    assert event["traceId"] == expected and len(expected) == 32
    assert event["n"] == 1


def test_the_lambda_trace_root_is_added_without_a_span(
    front_end: Callable[..., FrontEnd], client: Any, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    f = front_end(trace_id=True)
    f.log({"n": 1})
    f.stop()
    assert one_event(client, group)["traceId"] == XRAY_ROOT


def test_no_trace_adds_nothing(front_end: Callable[..., FrontEnd], client: Any, group: str) -> None:
    f = front_end(trace_id=True)
    f.log({"n": 1})
    f.stop()
    assert "traceId" not in one_event(client, group)


def test_a_trace_id_the_event_has_is_kept(
    front_end: Callable[..., FrontEnd], client: Any, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    f = front_end(trace_id=True)
    with tracer.start_as_current_span("request"):
        f.log({"traceId": "mine"})
    f.stop()
    assert one_event(client, group)["traceId"] == "mine"


def test_without_the_option_no_trace_id_is_added(
    front_end: Callable[..., FrontEnd], client: Any, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    f = front_end()
    with tracer.start_as_current_span("request"):
        f.log({"n": 1})
    f.stop()
    assert "traceId" not in one_event(client, group)


def test_the_span_wins_over_the_lambda_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    with tracer.start_as_current_span("request") as span:
        assert current_trace_id() == f"{span.get_span_context().trace_id:032x}"
    assert current_trace_id() == XRAY_ROOT


def test_plain_text_from_the_stdlib_handler_is_left_alone(
    endpoint: str, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, endpoint_url=endpoint, trace_id=True)
    logger.addHandler(handler)
    with tracer.start_as_current_span("request"):
        logger.info("plain %s", "text")
    assert handler.close(10)
    assert stored(client, group) == ["plain text"]


def test_the_event_itself_is_not_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    event = {"a": 1}
    assert with_trace_id(event) == {"a": 1, "traceId": XRAY_ROOT}
    assert event == {"a": 1}
    assert with_trace_id("text") == "text"


@pytest.mark.parametrize(
    ("header", "root"),
    [
        (XRAY_HEADER, XRAY_ROOT),
        ("Sampled=1; Root=1-abc-def", "1-abc-def"),
        ("Parent=53995c3f42cd8ad8;Sampled=0", None),
        ("Root=", None),
        ("garbage", None),
    ],
)
def test_the_root_is_read_from_an_x_ray_header(header: str, root: Any) -> None:
    assert xray_root(header) == root


def test_the_package_never_imports_opentelemetry(endpoint: str) -> None:
    script = (
        "import sys, logging, wt_adapters\n"
        "h = wt_adapters.CloudWatchLogHandler(log_group_name='g', trace_id=True,"
        f" endpoint_url={endpoint!r})\n"
        "log = logging.getLogger('x'); log.addHandler(h); log.warning({'a': 1})\n"
        "h.close(10)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
