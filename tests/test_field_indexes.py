"""field_indexes: checked at construction, applied once to a group the package creates (over
HTTP, the local endpoint keeping the policy), never to one that exists, a failure warned once.
"""

# ruff: noqa: F811  (the local_logs fixtures are imported, then named as arguments)
from __future__ import annotations

import json
import logging
from typing import Any, List

import pytest
from faultproxy import FaultProxy
from helpers import make_client, messages
from local_logs import (  # noqa: F401  (fixtures)
    PUT_INDEX_POLICY,
    bodies,
    local_endpoint,
    local_proxy,
    local_server,
)

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters._local import LocalEndpoint
from wt_adapters.testing import capture_events

FIELDS = ["requestId", "userId"]


def index_fields(client: Any, group: str) -> List[List[str]]:
    """The Fields of each index policy DescribeIndexPolicies lists for `group`."""
    policies = client.describe_index_policies(logGroupIdentifiers=[group])["indexPolicies"]
    return [json.loads(p["policyDocument"])["Fields"] for p in policies]


# -------------------------------------------------------------------- at construction


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ([f"f{i}" for i in range(21)], "names 21 fields: an index policy takes at most 20"),
        (["x" * 101], "must be a field name of 1-100 characters"),
        ([""], "must be a field name of 1-100 characters"),
        ([7], "7 must be a field name"),
        (["requestId", "requestId"], "names 'requestId' twice"),
        ({"requestId": True}, "must be a list of field names"),
        (5, "must be a list of field names"),
    ],
)
def test_bad_field_indexes_are_an_error_naming_the_option(value: Any, named: str) -> None:
    with pytest.raises(WatchtowerError, match=r"^field_indexes") as raised:
        CloudWatchLogHandler(log_group_name="g", field_indexes=value)
    assert named in str(raised.value)


def test_twenty_fields_of_a_hundred_characters_and_case_variants_are_taken() -> None:
    fields = [f"{i:02d}" + "x" * 98 for i in range(19)] + ["RequestId"]
    handler = CloudWatchLogHandler(log_group_name="g", field_indexes=[*fields[:-1], "requestId"])
    handler.close()
    handler = CloudWatchLogHandler(log_group_name="g", field_indexes=["requestId", "RequestId"])
    assert handler._destination is not None
    assert handler._destination.settings.field_indexes == ("requestId", "RequestId")
    handler.close()


def test_a_comma_separated_string_is_taken_as_from_a_config_file() -> None:
    handler = CloudWatchLogHandler(log_group_name="g", field_indexes="requestId, userId")
    assert handler._destination is not None
    assert handler._destination.settings.field_indexes == ("requestId", "userId")
    handler.close()


@pytest.mark.parametrize("group_class", ["INFREQUENT_ACCESS"])
def test_field_indexes_on_another_class_is_an_error(group_class: str) -> None:
    with pytest.raises(WatchtowerError, match="field_indexes needs a Standard class") as raised:
        CloudWatchLogHandler(log_group_name="g", field_indexes=FIELDS, log_group_class=group_class)
    assert repr(group_class) in str(raised.value)


def test_field_indexes_without_creating_the_group_is_an_error() -> None:
    with pytest.raises(WatchtowerError, match="create_log_group=False creates none"):
        CloudWatchLogHandler(log_group_name="g", field_indexes=FIELDS, create_log_group=False)


# ---------------------------------------------------------------------------- over HTTP


def test_a_group_the_package_creates_gets_its_index_policy_once(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group,
        log_stream_name="{logger_name}-{thread_name}",
        endpoint_url=local_proxy.url,
        field_indexes=FIELDS,
        log_group_retention_days=7,
    )
    logger.addHandler(handler)
    logger.info("one")
    other = logging.getLogger(logger.name + ".other")
    other.info("two")  # a second stream: the group is made once, its policy put once
    assert handler.close(10)
    assert bodies(local_proxy, PUT_INDEX_POLICY) == [
        {
            "logGroupIdentifier": group,
            "policyDocument": json.dumps({"Fields": FIELDS}, separators=(",", ":")),
        }
    ]
    client = make_client(local_endpoint.url)
    assert index_fields(client, group) == [FIELDS]
    assert handler.stats()["index_policy_failed"] == 0


def test_a_group_that_exists_is_given_no_index_policy(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    client = make_client(local_endpoint.url)
    client.create_log_group(logGroupName=group)
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_proxy.url, field_indexes=FIELDS
    )
    logger.addHandler(handler)
    logger.info("kept as it is")
    assert handler.close(10)
    assert bodies(local_proxy, PUT_INDEX_POLICY) == []
    assert index_fields(client, group) == []
    assert messages(client, group) == ["kept as it is"]


def test_a_failed_index_policy_is_warned_once_counted_and_not_fatal(
    local_proxy: FaultProxy, local_endpoint: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    local_proxy.add_fault("access_denied", target=PUT_INDEX_POLICY)
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=local_proxy.url, field_indexes=FIELDS
    )
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match=r"Failed to apply field_indexes") as caught:
        logger.info("still sent")
        assert handler.flush(10)
        stats = handler.stats()
        handler.close(10)
    assert len([w for w in caught if "field_indexes" in str(w.message)]) == 1
    assert "AccessDeniedException" in str(caught[0].message)
    assert stats["index_policy_failed"] == 1
    assert stats["sent"] == 1 and stats["dropped"] == {}
    assert messages(make_client(local_endpoint.url), group) == ["still sent"]


def test_the_local_endpoint_refuses_a_policy_as_cloudwatch_would(
    local_endpoint: LocalEndpoint, group: str
) -> None:
    client = make_client(local_endpoint.url)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.put_index_policy(logGroupIdentifier=group, policyDocument='{"Fields": ["a"]}')
    client.create_log_group(logGroupName=group)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_index_policy(logGroupIdentifier=group, policyDocument='{"Fields": []}')
    client.put_index_policy(logGroupIdentifier=group, policyDocument='{"Fields": ["a"]}')
    assert index_fields(client, group) == [["a"]]
    client.delete_index_policy(logGroupIdentifier=group)
    assert index_fields(client, group) == []


# ------------------------------------------------------------------- the other front ends


def test_structlog_applies_field_indexes(local_endpoint: LocalEndpoint, group: str) -> None:
    structlog = pytest.importorskip("structlog")
    from wt_adapters.structlog import CloudWatchRenderer

    renderer = CloudWatchRenderer(
        log_group_name=group, endpoint_url=local_endpoint.url, field_indexes=FIELDS
    )
    log = structlog.wrap_logger(
        structlog.testing.ReturnLogger(), processors=[renderer], wrapper_class=structlog.BoundLogger
    )
    log.info("signed in", requestId="r-1")
    assert renderer.close(10)
    assert index_fields(make_client(local_endpoint.url), group) == [FIELDS]


def test_loguru_applies_field_indexes(local_endpoint: LocalEndpoint, group: str) -> None:
    pytest.importorskip("loguru")
    from loguru import logger as loguru_logger

    from wt_adapters.loguru import cloudwatch_sink

    sink = cloudwatch_sink(
        log_group_name=group, endpoint_url=local_endpoint.url, field_indexes=FIELDS
    )
    sink_id = loguru_logger.add(sink, serialize=False)
    try:
        loguru_logger.info("paid")
    finally:
        loguru_logger.remove(sink_id)
    assert index_fields(make_client(local_endpoint.url), group) == [FIELDS]


def test_the_test_helper_keeps_the_index_policy(logger: logging.Logger) -> None:
    with capture_events() as events:
        handler = CloudWatchLogHandler(log_group_name="app", field_indexes=FIELDS)
        logger.addHandler(handler)
        logger.info("captured")
        assert events.index_policy("app") == FIELDS
        assert events.index_policy("other") is None
        handler.close()


def test_pipe_takes_field_indexes_as_one_comma_separated_flag() -> None:
    from wt_adapters._cli._engine_flags import resolve_flags
    from wt_adapters._cli._pipe import ENGINE_FLAGS, pipe

    args = ["-g", "g", "--field-indexes", "requestId,userId"]
    with pipe.make_context("pipe", args) as ctx:
        values, _ = resolve_flags(ctx, ENGINE_FLAGS, ctx.params)
    assert values["field_indexes"] == ("requestId", "userId")
    assert "entity" not in values  # a nested dict: set in Python, not on the command line
