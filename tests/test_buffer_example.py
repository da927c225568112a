"""examples/buffered_requests.py and the recipes of docs/buffering.md run and ship what they say."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any, Iterator

import pytest
from helpers import ROOT, read_events, stored, subprocess_env

import wt_adapters
from wt_adapters import CloudWatchLogHandler
from wt_adapters.testing import capture_events

EXAMPLE = ROOT / "examples" / "buffered_requests.py"

#: What the example ships: request 1 went well (its debug record is discarded),
#: request 2 logged an error, request 3 raised.
SHIPPED = [
    {"event": "order placed", "order_id": 1},
    {"event": "cart loaded", "order_id": 2, "items": []},
    {"event": "order rejected", "order_id": 2, "reason": "empty cart"},
    {"event": "cart loaded", "order_id": 3, "items": ["pen"]},
]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("buffered_requests", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _remove_handlers() -> Iterator[None]:
    yield
    for name in ("shop", "api"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            if isinstance(handler, CloudWatchLogHandler):
                log.removeHandler(handler)
                handler.close()


def test_the_example_ships_debug_records_of_failed_requests_only() -> None:
    with capture_events() as events:
        example = load()
        statuses, buffered, delivered = example.main()
        assert statuses == [200, 400, 500] and delivered
        assert stored(events, "example-buffering") == SHIPPED
    assert buffered == {"held": 3, "shipped": 2, "discarded": 1, "evicted": 0}


def test_the_example_runs_as_a_script_against_a_local_cloudwatch(
    endpoint: str, client: Any
) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=subprocess_env(endpoint),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[200, 400, 500]" in result.stdout
    got = [json.loads(e["message"]) for e in read_events(client, "example-buffering")]
    assert got == SHIPPED


def test_the_fastapi_recipe_ships_a_failed_requests_debug_records() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's own deprecation of its httpx client
        from fastapi import FastAPI, Request
        from fastapi.testclient import TestClient

    with capture_events() as events:
        logger = logging.getLogger("api")
        logger.setLevel(logging.DEBUG)
        handler = CloudWatchLogHandler(
            log_group_name="my-api", log_stream_name="fastapi", buffer_level="DEBUG"
        )
        logger.addHandler(handler)
        app = FastAPI()

        @app.middleware("http")
        async def buffer_each_request(request: Request, call_next: Any) -> Any:
            async with wt_adapters.buffer_scope():
                response = await call_next(request)
                if response.status_code >= 500:
                    logger.error({"event": "request failed", "path": request.url.path})
                return response

        @app.get("/orders/{order_id}")
        async def order(order_id: int) -> Any:
            logger.debug({"event": "looking up", "order_id": order_id})
            if order_id == 0:
                raise LookupError("no order 0")
            return {"order_id": order_id}

        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/orders/5").json() == {"order_id": 5}
            assert client.get("/orders/0").status_code == 500
        assert handler.flush(10)
        assert stored(events, "my-api") == [{"event": "looking up", "order_id": 0}]
    assert handler.stats()["buffered"]["discarded"] == 1
