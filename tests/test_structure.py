"""A dict logged on any front end arrives in CloudWatch as the same JSON object.

Each front end in the way its framework hands a dict over: stdlib `logging` as
the message, structlog as the event dict, loguru as keyword arguments or bound
values (loguru makes the message itself text before any sink sees it). Read
back over HTTP from moto's CloudWatch Logs server.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Dict, Iterator

import pytest
import structlog
from helpers import PAYLOAD, stored
from loguru import logger as loguru_logger

from wt_adapters import CloudWatchLogHandler
from wt_adapters.loguru import STANDARD_KEYS, cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer


@pytest.fixture
def loguru_sink(client: Any, group: str) -> Iterator[Any]:
    """A CloudWatch sink for this test's group, added to loguru, removed afterwards."""
    sink = cloudwatch_sink(boto3_client=client, log_group_name=group)
    handler_id = loguru_logger.add(sink)
    try:
        yield sink
    finally:
        with contextlib.suppress(ValueError):
            loguru_logger.remove(handler_id)


def beside_the_standard_keys(event: Dict[str, Any]) -> Dict[str, Any]:
    """What a loguru event holds besides the keys every one of them has."""
    return {k: v for k, v in event.items() if k not in STANDARD_KEYS}


def test_stdlib_a_dict_message_arrives_as_the_same_json_object(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=client)
    logger.addHandler(handler)
    logger.info(PAYLOAD)
    assert handler.flush(10)
    assert stored(client, group) == [PAYLOAD]


def test_structlog_the_event_dict_arrives_as_the_same_json_object(client: Any, group: str) -> None:
    renderer = CloudWatchRenderer(log_group_name=group, boto3_client=client)
    structlog.configure(processors=[renderer], logger_factory=structlog.ReturnLoggerFactory())
    try:
        structlog.get_logger().info("payload", **PAYLOAD)
        assert renderer.flush(10)
    finally:
        structlog.reset_defaults()
        renderer.close(5)
    assert stored(client, group) == [{"event": "payload", **PAYLOAD}]


def test_loguru_a_dict_given_as_keyword_arguments_arrives_as_the_same_json_object(
    loguru_sink: Any, client: Any, group: str
) -> None:
    loguru_logger.info("payload", **PAYLOAD)
    assert loguru_sink.flush_to_cloudwatch(10)
    [event] = stored(client, group)
    assert beside_the_standard_keys(event) == PAYLOAD
    assert event["message"] == "payload"


def test_loguru_a_bound_dict_arrives_as_the_same_json_object_with_braces_left_alone(
    loguru_sink: Any, client: Any, group: str
) -> None:
    loguru_logger.bind(**PAYLOAD).info("payload {not a field}")
    assert loguru_sink.flush_to_cloudwatch(10)
    [event] = stored(client, group)
    assert beside_the_standard_keys(event) == PAYLOAD
    assert event["message"] == "payload {not a field}"


def test_loguru_a_dict_as_the_message_arrives_as_loguru_made_it_text(
    loguru_sink: Any, client: Any, group: str
) -> None:
    loguru_logger.info({"user": {"id": 7}, "ok": True})
    assert loguru_sink.flush_to_cloudwatch(10)
    [event] = stored(client, group)
    assert event["message"] == "{'user': {'id': 7}, 'ok': True}"
    assert beside_the_standard_keys(event) == {}


def test_loguru_a_dict_key_named_as_a_standard_key_stays_under_extra(
    loguru_sink: Any, client: Any, group: str
) -> None:
    loguru_logger.bind(**{"level": "custom", "user": 7}).info("clash")
    assert loguru_sink.flush_to_cloudwatch(10)
    [event] = stored(client, group)
    assert (event["level"], event["extra"], event["user"]) == ("INFO", {"level": "custom"}, 7)
