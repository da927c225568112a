"""The entity over HTTP: sent with every PutLogEvents, kept by the local endpoint, refusals
counted and warned about once, entity="auto", each front end and the test helper.
"""

# ruff: noqa: F811  (the local_logs fixtures are imported, then named as arguments)
from __future__ import annotations

import json
import logging
import time
import urllib.request
from typing import Any, Dict

import pytest
from faultproxy import FaultProxy
from helpers import make_client, messages
from local_logs import (  # noqa: F401  (fixtures)
    PUT_LOG_EVENTS,
    bodies,
    local_endpoint,
    local_proxy,
    local_server,
    with_rejected_entity,
)

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._local import LocalEndpoint
from wt_adapters.testing import capture_events

SERVICE = {"Type": "Service", "Name": "checkout", "Environment": "prod"}
ENTITY: Dict[str, Any] = {
    "keyAttributes": SERVICE,
    "attributes": {"PlatformType": "Generic", "Host": "web-1"},
}


def ship(logger: logging.Logger, handler: CloudWatchLogHandler, *lines: str) -> bool:
    logger.addHandler(handler)
    for line in lines:
        logger.info(line)
    return handler.close(10)


def test_the_entity_goes_with_every_put_log_events(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    # The package's own client: the fast body path.
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_proxy.url, entity=ENTITY, max_batch_count=2
    )
    assert ship(logger, handler, "a", "b", "c", "d", "e")
    sent = bodies(local_proxy)
    assert len(sent) == 3
    assert all(body["entity"] == ENTITY for body in sent)
    # Batches go out in parallel: they land in any order.
    assert sorted(len(body["logEvents"]) for body in sent) == [1, 2, 2]
    kept = local_endpoint.entities(group)
    assert [k["entity"] for k in kept] == [ENTITY] * 3
    assert {k["logStreamName"] for k in kept} == {sent[0]["logStreamName"]}
    assert messages(make_client(local_endpoint.url), group) == ["a", "b", "c", "d", "e"]


def test_a_user_client_sends_the_entity_too(
    local_proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    # A user's client: botocore builds the body itself (the plain path).
    handler = CloudWatchLogHandler(
        log_group_name=group, boto3_client=make_client(local_proxy.url), entity=ENTITY
    )
    assert ship(logger, handler, "one", "two")
    [body] = bodies(local_proxy)
    assert body["entity"] == ENTITY


def test_no_entity_option_sends_no_entity(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    assert ship(
        logger, CloudWatchLogHandler(log_group_name=group, endpoint_url=local_proxy.url), "x"
    )
    assert all("entity" not in body for body in bodies(local_proxy))
    assert local_endpoint.entities(group) == []


def test_a_refused_entity_is_counted_and_warned_once_and_its_events_are_stored(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    local_proxy.add_fault("rewrite", rewrite=with_rejected_entity("InvalidAttributes"))
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_proxy.url, entity=ENTITY, max_batch_count=1
    )
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match=r"refused the entity.*InvalidAttributes") as caught:
        for line in ("a", "b", "c"):
            logger.info(line)
        assert handler.flush(10)
        stats = handler.stats()
        handler.close(10)
    assert len([w for w in caught if "refused the entity" in str(w.message)]) == 1
    assert stats["entity_rejected"] == {"InvalidAttributes": 3}
    assert stats["sent"] == 3 and stats["dropped"] == {} and stats["rejected"] == {}
    assert stats["last_error"] is None
    assert messages(make_client(local_endpoint.url), group) == ["a", "b", "c"]


def test_an_accepted_entity_counts_no_refusal(
    local_proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_proxy.url, entity=ENTITY
    )
    logger.addHandler(handler)
    logger.info("fine")
    assert handler.flush(10)
    assert handler.stats()["entity_rejected"] == {}
    handler.close(10)


def test_the_local_endpoint_refuses_an_entity_as_cloudwatch_would(
    local_endpoint: LocalEndpoint, group: str
) -> None:
    client = make_client(local_endpoint.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    bad = {"keyAttributes": {"Type": "Service", "Name": "checkout"}}
    answer = client.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": "m"}],
        entity=bad,
    )
    assert answer["rejectedEntityInfo"] == {"errorType": "MissingRequiredFields"}
    assert messages(client, group) == ["m"]
    url = f"{local_endpoint.url}/wt-local/entities?logGroupName={group}"
    with urllib.request.urlopen(url, timeout=10) as response:
        kept = json.load(response)["entities"]
    assert [(k["logStreamName"], k["entity"]) for k in kept] == [("s", bad)]


def test_auto_sends_the_entity_of_the_environment(
    local_endpoint: LocalEndpoint,
    group: str,
    logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "billing-fn")
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_endpoint.url, entity="auto"
    )
    assert ship(logger, handler, "hello")
    [kept] = local_endpoint.entities(group)
    assert kept["entity"] == {
        "keyAttributes": {"Type": "Service", "Name": "billing", "Environment": "staging"},
        "attributes": {"PlatformType": "AWS::Lambda", "Lambda.Function": "billing-fn"},
    }


# ------------------------------------------------------------------- the other front ends


def test_structlog_sends_the_entity(local_endpoint: LocalEndpoint, group: str) -> None:
    structlog = pytest.importorskip("structlog")
    from wt_adapters.structlog import CloudWatchRenderer

    renderer = CloudWatchRenderer(
        log_group_name=group, endpoint_url=local_endpoint.url, entity=ENTITY
    )
    log = structlog.wrap_logger(
        structlog.testing.ReturnLogger(), processors=[renderer], wrapper_class=structlog.BoundLogger
    )
    log.info("signed in", user="ada")
    assert renderer.close(10)
    assert [k["entity"] for k in local_endpoint.entities(group)] == [ENTITY]


def test_loguru_sends_the_entity(local_endpoint: LocalEndpoint, group: str) -> None:
    pytest.importorskip("loguru")
    from loguru import logger as loguru_logger

    from wt_adapters.loguru import cloudwatch_sink

    sink = cloudwatch_sink(log_group_name=group, endpoint_url=local_endpoint.url, entity=ENTITY)
    sink_id = loguru_logger.add(sink, serialize=False)
    try:
        loguru_logger.info("paid")
    finally:
        loguru_logger.remove(sink_id)
    assert [k["entity"] for k in local_endpoint.entities(group)] == [ENTITY]


def test_the_test_helper_keeps_the_entity(logger: logging.Logger) -> None:
    with capture_events() as events:
        handler = CloudWatchLogHandler(log_group_name="app", entity=ENTITY)
        logger.addHandler(handler)
        logger.info("captured")
        assert events.entities("app") == [ENTITY]
        assert events.sender.requests[-1].entity == ENTITY
        assert events.entities("other") == []
        handler.close()
