"""What the three front ends share, as pure functions: the guard, the SDK filter, the reporter."""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from pathlib import Path
from typing import Any, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wt_adapters import WatchtowerWarning, _frontend, _report
from wt_adapters._threads import MAX_NESTING, thread_state


def test_a_record_is_shipped_when_nothing_is_under_way() -> None:
    assert _frontend.enter() == _frontend.SHIP
    assert thread_state.depth == 1
    _frontend.leave()
    assert thread_state.depth == 0


def test_a_record_from_inside_the_engine_stays_local() -> None:
    thread_state.in_engine = True
    try:
        assert _frontend.enter() == _frontend.LOCAL
        _frontend.leave()
    finally:
        thread_state.in_engine = False
    assert thread_state.depth == 0


def test_records_nested_too_deep_are_left_out() -> None:
    entered = []
    while (how := _frontend.enter()) != _frontend.OUT:
        entered.append(how)
    assert entered == [_frontend.SHIP] * MAX_NESTING
    for _ in entered:
        _frontend.leave()
    assert thread_state.depth == 0


@pytest.mark.parametrize(
    ("name", "level", "noise"),
    [
        ("botocore.endpoint", 10, True),
        ("urllib3.connectionpool", 5, True),
        ("boto3.resources", 10, True),
        ("s3transfer", 10, True),
        ("botocore.endpoint", 20, False),
        ("urllib3", 30, False),
        ("app.botocore", 10, False),
        ("myboto3", 10, False),
    ],
)
def test_only_the_aws_sdks_debug_records_are_noise(name: str, level: int, noise: bool) -> None:
    assert _frontend.is_sdk_noise(name, level) is noise


def test_a_report_is_a_warning_at_the_callers_line() -> None:
    with pytest.warns(WatchtowerWarning, match="reported") as caught:
        _report.report("reported")  # this line
    (warning,) = caught.list
    assert warning.filename == __file__
    source = Path(__file__).read_text(encoding="utf-8").splitlines()
    assert "this line" in source[warning.lineno - 1]


def test_under_an_error_filter_a_report_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _report.report("not raised")
    assert capsys.readouterr().err == "wt_adapters: WatchtowerWarning: not raised\n"


def test_a_report_with_no_user_frame_points_where_its_origin_was_configured() -> None:
    class Owner:
        pass

    owner = Owner()
    _report.remember_origin(owner)  # this line is the origin
    caught: List[Any] = []
    with pytest.warns(WatchtowerWarning, match="from a thread") as record:
        thread = threading.Thread(
            target=_report.report, args=("from a thread",), kwargs={"origin": owner}
        )
        thread.start()
        thread.join()
        caught = record.list
    (warning,) = caught
    assert warning.filename == __file__
    assert (
        "this line is the origin"
        in Path(__file__).read_text(encoding="utf-8").splitlines()[warning.lineno - 1]
    )


def test_a_report_with_no_user_frame_and_no_origin_names_the_delivery_thread() -> None:
    with pytest.warns(WatchtowerWarning, match="anonymous") as record:
        thread = threading.Thread(target=_report.report, args=("anonymous",))
        thread.start()
        thread.join()
    (warning,) = record.list
    assert warning.filename == "<wt_adapters delivery thread>"


# ------------------------------------------------- the guard as each front end inlines it


def _front_end(name: str) -> Any:
    """A way of logging one dict through front end `name` into the group "guard"."""
    if name == "stdlib":
        import logging

        from wt_adapters import CloudWatchLogHandler

        handler = CloudWatchLogHandler(log_group_name="guard", log_stream_name="s")
        log = logging.getLogger("wt_test.guard")
        log.propagate = False
        log.addHandler(handler)
        return log.warning, lambda: log.removeHandler(handler)
    if name == "structlog":
        from structlog import DropEvent

        from wt_adapters.structlog import CloudWatchRenderer

        renderer = CloudWatchRenderer(log_group_name="guard", log_stream_name="s")

        def render(event_dict: Any) -> None:
            with contextlib.suppress(DropEvent):  # how a processor leaves an event out
                renderer(None, "info", dict(event_dict))

        return render, lambda: None
    from loguru import logger

    from wt_adapters.loguru import cloudwatch_sink

    handler_id = logger.add(cloudwatch_sink(log_group_name="guard", log_stream_name="s"))
    return lambda d: logger.bind(**d).info("m"), lambda: logger.remove(handler_id)


@pytest.mark.parametrize("front_end", ["stdlib", "structlog", "loguru"])
def test_each_front_end_applies_the_guard_as_enter_and_leave_define_it(front_end: str) -> None:
    from wt_adapters.testing import capture_events

    with capture_events() as events:
        log, done = _front_end(front_end)
        try:
            log({"n": 1})  # SHIP
            assert thread_state.depth == 0
            thread_state.in_engine = True
            try:
                log({"n": 2})  # LOCAL: not shipped
            finally:
                thread_state.in_engine = False
            assert thread_state.depth == 0
            thread_state.depth = MAX_NESTING
            try:
                log({"n": 3})  # OUT: left out
                assert thread_state.depth == MAX_NESTING
            finally:
                thread_state.depth = 0
            log({"n": 4})
            assert events.flush()
        finally:
            done()
        assert [e["n"] for e in events.events("guard")] == [1, 4]


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=-1e300, max_value=1e300))
def test_an_events_milliseconds_are_watchtowers_int_of_seconds_times_1000(seconds: float) -> None:
    assert _frontend.trunc(seconds * 1000) == int(seconds * 1000)


def test_milliseconds_of_a_time_that_is_no_number_fail_as_int_fails() -> None:
    for seconds in (math.nan, math.inf, -math.inf):
        with pytest.raises((ValueError, OverflowError)) as trunc_error:
            _frontend.trunc(seconds * 1000)
        with pytest.raises(trunc_error.type):
            int(seconds * 1000)
