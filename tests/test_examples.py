"""The examples under examples/ run, and their logs arrive (captured, or in a local CloudWatch)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import logging
import logging.config
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from helpers import ROOT, LambdaContext, free_port, read_events, stored, subprocess_env, wait_for

from wt_adapters import CloudWatchLogHandler
from wt_adapters.testing import capture_events

EXAMPLES = ROOT / "examples"


def load(name: str) -> ModuleType:
    """Execute examples/<name>.py afresh as the module `name`."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _remove_example_handlers() -> Iterator[None]:
    """Examples attach handlers at import; take them off every logger afterwards."""
    yield
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in list(lg.handlers):
            if isinstance(handler, CloudWatchLogHandler):
                lg.removeHandler(handler)
                handler.close()


# ---------------------------------------------------------------------------- Lambda


def test_lambda_handler_delivers_before_returning() -> None:
    with capture_events() as events:
        example = load("lambda_function")
        assert example.handler({"order_id": 42}, LambdaContext()) == {"statusCode": 200}
        assert stored(events, "example-lambda") == [{"event": "order received", "order_id": 42}]
        assert example.handler({}, LambdaContext()) == {"statusCode": 400}
        assert stored(events, "example-lambda")[-1]["event"] == "order rejected"


def test_lambda_example_runs_as_a_script_against_a_local_cloudwatch(
    endpoint: str, client: Any, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "lambda_function.py")],
        capture_output=True,
        text=True,
        env=subprocess_env(endpoint),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "'statusCode': 200" in result.stdout
    messages = [json.loads(e["message"]) for e in read_events(client, "example-lambda")]
    assert messages == [{"event": "order received", "order_id": 42}]


# ----------------------------------------------------------------------------- Flask


def test_flask_app_logs_each_request() -> None:
    pytest.importorskip("flask")
    with capture_events() as events:
        example = load("flask_app")
        response = example.app.test_client().get("/orders/7")
        assert response.get_json() == {"order_id": 7, "status": "shipped"}
        assert events.data("example-flask") == [{"event": "order viewed", "order_id": 7}]


# ---------------------------------------------------------------------------- Django


def test_django_logging_setting_ships_app_records_and_server_errors() -> None:
    pytest.importorskip("django")
    with capture_events() as events:
        example = load("django_app")
        logging.config.dictConfig(example.LOGGING)  # as django.setup() does with settings
        from django.test import Client

        client = Client(raise_request_exception=False)
        assert client.get("/orders/3").json() == {"order_id": 3, "status": "shipped"}
        assert client.get("/fail").status_code == 500
        data = events.data("example-django")
        messages = events.messages("example-django")
    assert data[0] == {"event": "order viewed", "order_id": 3, "path": "/orders/3"}
    assert any("Internal Server Error: /fail" in m for m in messages)


# ---------------------------------------------------------------------------- FastAPI


def test_fastapi_app_logs_requests_and_flushes_at_shutdown() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")  # for fastapi.testclient
    structlog = pytest.importorskip("structlog")
    from fastapi.testclient import TestClient

    try:
        with capture_events() as events:
            example = load("fastapi_app")
            with TestClient(example.app) as client:
                assert client.get("/orders/5").json() == {"order_id": 5, "status": "shipped"}
            # The lifespan closed the renderer: everything is there without a flush.
            shipped = stored(events, "example-fastapi")
    finally:
        structlog.reset_defaults()
    assert [e["event"] for e in shipped] == ["started", "order viewed", "stopping"]
    assert shipped[1]["order_id"] == 5 and shipped[1]["level"] == "info"


# ----------------------------------------------------------------------------- Celery


def test_celery_task_logs_reach_cloudwatch_and_the_pool_process_flushes() -> None:
    pytest.importorskip("celery")
    from celery.signals import after_setup_task_logger, worker_process_shutdown

    task_logger = logging.getLogger("celery.task")
    handlers = list(task_logger.handlers)
    receivers = {s: list(s.receivers) for s in (after_setup_task_logger, worker_process_shutdown)}
    try:
        with capture_events() as events:
            example = load("celery_app")
            example.app.conf.task_always_eager = True
            # What a starting worker does: Celery sends this signal with its task logger.
            after_setup_task_logger.send(
                sender=None, logger=task_logger, loglevel=logging.INFO, logfile=None,
                format="", colorize=False,
            )  # fmt: skip
            result = example.charge.delay(17, 9.5).get(timeout=10)
            assert result == {"order_id": 17, "charged": 9.5}
            worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
            assert stored(events, "example-celery") == [
                {"event": "charged", "order_id": 17, "amount": 9.5}
            ]
    finally:  # the example connects to Celery's signals and adds a handler: once a process
        for added in set(task_logger.handlers) - set(handlers):
            task_logger.removeHandler(added)
            added.close()
        for signal_, before in receivers.items():
            signal_.receivers[:] = before


# --------------------------------------------------------------------- gunicorn, uWSGI


def test_gunicorn_settings_configure_logging_and_flush_at_worker_exit() -> None:
    with capture_events() as events:
        conf = load("gunicorn_conf")
        logging.config.dictConfig(conf.logconfig_dict)
        logging.getLogger("gunicorn.error").info("Booting worker with pid: 1")
        conf.worker_exit(None, None)
        assert stored(events, "example-gunicorn") == ["Booting worker with pid: 1"]
        logging.getLogger("gunicorn.access").info("GET / 200")
        conf.on_exit(None)
        assert stored(events, "example-gunicorn")[-1] == "GET / 200"


@pytest.mark.slow
def test_gunicorn_prefork_workers_deliver_their_logs(
    endpoint: str, client: Any, tmp_path: Path
) -> None:
    pytest.importorskip("gunicorn")
    pytest.importorskip("flask")
    port = free_port()
    env = subprocess_env(endpoint, BIND=f"127.0.0.1:{port}", WORKERS="2")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(EXAMPLES / "gunicorn_conf.py"),
         "--chdir", str(EXAMPLES), "flask_app:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def get(order_id: int) -> Any:
            url = f"http://127.0.0.1:{port}/orders/{order_id}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return json.load(response)
            except OSError:
                return None

        wait_for(lambda: server.poll() is not None or get(0), timeout=60, interval=0.2)
        assert server.poll() is None, "gunicorn exited"
        for order_id in range(1, 11):
            assert get(order_id) == {"order_id": order_id, "status": "shipped"}
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err.decode(errors="replace")
    events = read_events(client, "example-gunicorn")
    viewed = sorted(
        json.loads(e["message"])["order_id"] for e in events if "order viewed" in e["message"]
    )
    assert viewed == list(range(0, 11))
    streams = {e["logStreamName"] for e in events}
    assert any("/example_flask/" in s for s in streams)
    assert any("/gunicorn.access/" in s for s in streams)


def test_uwsgi_settings_enable_threads_and_the_app_flushes_at_exit() -> None:
    ini = configparser.ConfigParser()
    ini.read(EXAMPLES / "uwsgi.ini")
    assert ini["uwsgi"]["enable-threads"] == "true"
    assert ini["uwsgi"]["module"] == "uwsgi_app:application"
    with capture_events() as events:
        app = load("uwsgi_app")
        statuses = []
        body = app.application({"PATH_INFO": "/x"}, lambda status, headers: statuses.append(status))
        assert body == [b"ok\n"] and statuses == ["200 OK"]
        app.flush_at_exit()
        assert stored(events, "example-uwsgi") == [{"event": "request", "path": "/x"}]


def test_every_example_is_exercised() -> None:
    tested = {
        "lambda_function", "flask_app", "django_app", "fastapi_app", "celery_app",
        "gunicorn_conf", "uwsgi_app",
        "buffered_requests",  # in tests/test_buffer_example.py
        "endpoint_down",
    }  # fmt: skip
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


# ---------------------------------------------------------------- endpoint down


def test_endpoint_down_example_closes_after_one_stall_window_and_tells_the_loss() -> None:
    from wt_adapters._registry import STALL_WINDOW

    run = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / "endpoint_down.py")],
        capture_output=True, text=True, timeout=120, env=subprocess_env(credentials=False),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    slack = 4.0  # a loaded 2-core machine, on top of the window the design allows
    assert first.startswith("handler 1: close() returned False after ")
    assert float(first.split("after ")[1].split(" s")[0]) < STALL_WINDOW + slack
    assert float(second.split("after ")[1].split(" s")[0]) < slack  # the same stall
    assert "dropped {'close_timeout': 100}" in second
    assert run.stderr.count("100 events in all since the last summary") == 2
