"""`wt_adapters.testing`: capture what would reach CloudWatch, without AWS or a server."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import subprocess_env

import wt_adapters.testing
from wt_adapters import CloudWatchLogHandler, _destination, _registry
from wt_adapters._memory import MemorySender
from wt_adapters.testing import CapturedEvents, _pytest_plugin, capture_events

#: The plugin's fixture, usable here before the package's entry point is installed.
cloudwatch_events = _pytest_plugin.cloudwatch_events


def handler(**options: Any) -> CloudWatchLogHandler:
    options.setdefault("log_group_name", "app")
    options.setdefault("log_stream_name", "web")
    return CloudWatchLogHandler(**options)


def test_a_handler_made_inside_is_captured_with_json_decoded(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler())
        logger.info({"event": "signed in", "user": "ada"})
        logger.info("plain %s", "text")
    assert [(e.group, e.stream) for e in events] == [("app", "web"), ("app", "web")]
    assert events[0].data == {"event": "signed in", "user": "ada"}
    assert events[0]["user"] == "ada"
    assert events[1].message == "plain text" and events[1].data is None
    assert events.messages()[1:] == ["plain text"]
    assert json.loads(events.messages()[0]) == {"event": "signed in", "user": "ada"}
    assert events.data() == [{"event": "signed in", "user": "ada"}]
    assert all(isinstance(e.timestamp, int) for e in events)


def test_events_are_readable_inside_the_block_without_waiting(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler(send_interval=3600))
        logger.warning("now")
        assert [e.message for e in events] == ["now"]
        assert len(events) == 1


def test_a_handler_made_before_is_routed_in_and_gets_its_sender_back(
    logger: logging.Logger,
) -> None:
    original = MemorySender()
    before = handler(boto3_client=None)
    engine = before._destination.engine
    engine.sender = original
    logger.addHandler(before)
    logger.info("before the capture")
    with capture_events() as events:
        logger.info("during the capture")
    logger.info("after the capture")
    before.flush()
    assert [e.message for e in events] == ["during the capture"]
    assert [m for _, _, m in original.events("app")] == ["before the capture", "after the capture"]
    assert engine.sender is original


def test_the_override_is_restored_and_handlers_made_inside_go_nowhere_after(
    logger: logging.Logger,
) -> None:
    assert _destination.sender_override is None
    with capture_events() as events:
        inside = handler()
        logger.addHandler(inside)
        logger.info("kept")
    assert _destination.sender_override is None
    logger.info("after: discarded, not sent to AWS")
    inside.flush()
    assert events.messages() == ["kept"]


def test_captures_nest(logger: logging.Logger) -> None:
    with capture_events() as outer:
        logger.addHandler(handler())
        logger.info("one")
        with capture_events() as inner:
            logger.info("two")
        logger.info("three")
    assert outer.messages() == ["one", "three"]
    assert inner.messages() == ["two"]


def test_groups_are_created_with_tags_and_retention_as_in_aws(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler(log_group_tags={"team": "web"}, log_group_retention_days=7))
        logger.info("x")
        assert events.groups == ["app"]
    assert events.sender.tags == {"app": {"team": "web"}}
    assert events.sender.retention == {"app": 7}


def test_create_flags_off_do_not_stall_a_test(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler(create_log_group=False, create_log_stream=False))
        logger.info("still captured")
        assert events.messages() == ["still captured"]


def test_cloudwatch_rules_are_enforced_as_in_aws(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler(max_message_size=40))
        with pytest.warns(wt_adapters.WatchtowerWarning, match="truncated"):
            logger.info("x" * 100)
        assert len(events[0].message.encode()) == 14


def test_events_of_one_group_or_stream_and_clear(logger: logging.Logger) -> None:
    with capture_events() as events:
        logger.addHandler(handler(log_group_name="a", log_stream_name="one"))
        logger.addHandler(handler(log_group_name="b", log_stream_name="two"))
        logger.info("both")
        assert sorted(e.group for e in events) == ["a", "b"]
        assert [e.stream for e in events.events(group="b")] == ["two"]
        assert events.events("a", "two") == []
        events.clear()
        assert list(events) == []
        logger.info("again")
        assert len(events) == 2


def test_events_of_several_threads_all_arrive(logger: logging.Logger) -> None:
    import threading

    with capture_events() as events:
        logger.addHandler(handler())
        threads = [
            threading.Thread(target=lambda n=n: [logger.info(f"{n}-{i}") for i in range(200)])
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(events) == 800


def test_structlog_and_loguru_front_ends_are_captured_too() -> None:
    structlog = pytest.importorskip("structlog")
    loguru = pytest.importorskip("loguru")
    from wt_adapters.loguru import cloudwatch_sink
    from wt_adapters.structlog import CloudWatchRenderer

    with capture_events() as events:
        log = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[CloudWatchRenderer(log_group_name="s", log_stream_name="s")],
        )
        log.info("from structlog", n=1)
        sink_id = loguru.logger.add(cloudwatch_sink(log_group_name="l", log_stream_name="l"))
        try:
            loguru.logger.bind(n=2).info("from loguru")
        finally:
            loguru.logger.remove(sink_id)
        assert events.data("s")[0]["n"] == 1
        assert events.data("l")[0]["n"] == 2


def test_the_fixture_captures(cloudwatch_events: CapturedEvents, logger: logging.Logger) -> None:
    logger.addHandler(handler())
    logger.error({"event": "boom"})
    assert cloudwatch_events.data() == [{"event": "boom"}]
    assert _destination.sender_override is not None


def test_the_plugin_gives_users_the_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_user_app.py").write_text(
        textwrap.dedent(
            """
            import logging
            from wt_adapters import CloudWatchLogHandler

            def test_logged(cloudwatch_events):
                log = logging.getLogger("user_app")
                log.addHandler(CloudWatchLogHandler(log_group_name="user"))
                log.warning({"event": "it works"})
                assert cloudwatch_events.data("user") == [{"event": "it works"}]
            """
        )
    )
    plugin = "wt_adapters.testing._pytest_plugin"
    points = importlib.metadata.entry_points()
    group = (
        points.select(group="pytest11")  # Python 3.10+
        if hasattr(points, "select")
        else points.get("pytest11", [])  # type: ignore[attr-defined]
    )
    registered = any(ep.value == plugin for ep in group)
    args = [] if registered else ["-p", plugin]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(credentials=False, home=tmp_path),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_nothing_is_left_routed_after_the_tests_above() -> None:
    assert _destination.sender_override is None
    assert all(
        not isinstance(e.sender, wt_adapters.testing.CaptureSender) for e in _registry.engines()
    )


def modules_after(code: str) -> Any:
    """Run `code` in a fresh interpreter; return the JSON it prints."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env=subprocess_env(credentials=False), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_plugin_module_imports_nothing_beyond_its_packages() -> None:
    """Every pytest run of a project that installs the package loads the plugin: the
    plugin itself adds nothing to what its packages import, and the fixture's
    machinery loads when a test asks for the fixture."""
    added, aws = modules_after(
        "import json, sys, pytest, wt_adapters.testing\n"
        "before = set(sys.modules)\n"
        "import wt_adapters.testing._pytest_plugin\n"
        "added = sorted(set(sys.modules) - before - {'wt_adapters.testing._pytest_plugin'})\n"
        "print(json.dumps([added, sorted(m for m in ('boto3', 'botocore') if m in sys.modules)]))"
    )
    assert (added, aws) == ([], [])


def test_loading_the_plugin_imports_no_engine() -> None:
    loaded = modules_after(
        "import json, sys, pytest, wt_adapters.testing._pytest_plugin\n"
        "heavy = ('boto3', 'botocore', 'asyncio', 'wt_adapters._engine',"
        " 'wt_adapters.testing._capture')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    assert loaded == []
