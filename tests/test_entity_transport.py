"""The transports' side of the entity and the index policy: the boto3 sender's two bodies,
its answer (``entityErrorType``), the in-memory sender, and group creation's reports.
"""

# ruff: noqa: F811  (the local_logs fixtures are imported, then named as arguments)
from __future__ import annotations

import json
import time
from typing import Any, Dict, Mapping, Sequence

from faultproxy import FaultProxy
from helpers import make_client, read_events
from local_logs import (  # noqa: F401  (fixtures)
    bodies,
    local_endpoint,
    local_proxy,
    local_server,
    with_rejected_entity,
)

from wt_adapters._boto import BotoSender, serialize_put_log_events
from wt_adapters._delivery import Attempts, Created, GroupCreator, Sent, create_stream, put_batch
from wt_adapters._memory import MemorySender
from wt_adapters._protocol import ENTITY_ERROR, ErrorKind, SendError
from wt_adapters._rejections import read_rejections
from wt_adapters._settings import Settings

NOW = int(time.time() * 1000)
ENTITY: Dict[str, Any] = {
    "keyAttributes": {"Type": "Service", "Name": "café", "Environment": "prod"},
    "attributes": {"Host": "web-1"},
}


def test_the_fast_body_with_an_entity_equals_botocores(client: Any) -> None:
    events = [(NOW, 'a "quoted" é'), (NOW + 1, "b")]
    ours = json.loads(serialize_put_log_events("g", "s", events, ENTITY))
    model = client.meta.service_model.operation_model("PutLogEvents")
    params = {
        "logGroupName": "g",
        "logStreamName": "s",
        "logEvents": [{"timestamp": t, "message": m} for t, m in events],
        "entity": ENTITY,
    }
    assert ours == json.loads(client._serializer.serialize_to_request(params, model)["body"])


def test_both_bodies_carry_the_entity_and_answer_its_refusal(
    local_proxy: FaultProxy, group: str
) -> None:
    client = make_client(local_proxy.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    fast = BotoSender(client_factory=lambda: make_client(local_proxy.url))
    plain = BotoSender(make_client(local_proxy.url))
    assert fast.fast_body and not plain.fast_body
    local_proxy.add_fault("rewrite", count=2, rewrite=with_rejected_entity("InvalidEntity"))
    for sender in (fast, plain):
        answer = sender.put_log_events(group, "s", [(NOW, "x"), (NOW, "y")], entity=ENTITY)
        assert answer == {ENTITY_ERROR: "InvalidEntity"}
        assert read_rejections(answer, 2) == []
    assert fast.fast_body  # the hook ran: both events in one request
    sent = bodies(local_proxy)
    assert [(len(b["logEvents"]), b["entity"]) for b in sent] == [(2, ENTITY), (2, ENTITY)]
    assert len(read_events(client, group, "s")) == 4


def test_without_the_hook_the_rest_goes_with_the_entity_too(
    local_proxy: FaultProxy, group: str
) -> None:
    client = make_client(local_proxy.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    sender = BotoSender(client_factory=lambda: client)
    assert sender.client is client  # made now: its hook registered, then taken away
    client.meta.events.unregister(
        "before-call.cloudwatch-logs.PutLogEvents", unique_id="wt_adapters.body"
    )
    local_proxy.add_fault("rewrite", count=1, rewrite=with_rejected_entity("InvalidAttributes"))
    answer = sender.put_log_events(group, "s", [(NOW, "1"), (NOW, "2"), (NOW, "3")], entity=ENTITY)
    assert sender.fast_body is False
    assert answer == {ENTITY_ERROR: "InvalidAttributes"}
    assert [len(b["logEvents"]) for b in bodies(local_proxy)] == [1, 2]
    assert all(b["entity"] == ENTITY for b in bodies(local_proxy))


def test_the_index_policy_is_put_as_a_json_document(local_proxy: FaultProxy, group: str) -> None:
    make_client(local_proxy.url).create_log_group(logGroupName=group)
    BotoSender(make_client(local_proxy.url)).put_index_policy(group, ["requestId", "userId"])
    [body] = bodies(local_proxy, "Logs_20140328.PutIndexPolicy")
    assert body == {
        "logGroupIdentifier": group,
        "policyDocument": '{"Fields":["requestId","userId"]}',
    }


def test_the_memory_sender_keeps_entities_and_answers_a_refusal() -> None:
    sender = MemorySender()
    sender.create_log_group("g", None)
    sender.create_log_stream("g", "s")
    assert sender.put_log_events("g", "s", [(NOW, "a")], entity=ENTITY) == {}
    assert sender.put_log_events("g", "s", [(NOW, "b")]) == {}
    sender.reject_entities = "InvalidTypeValue"
    assert sender.put_log_events("g", "s", [(NOW, "c")], entity=ENTITY) == {
        ENTITY_ERROR: "InvalidTypeValue"
    }
    assert [r.entity for r in sender.requests] == [ENTITY, None, ENTITY]
    assert sender.entities() == [ENTITY] and sender.entities("h") == []
    assert [m for _, _, m in sender.events("g")] == ["a", "b", "c"]


def test_put_batch_passes_the_entity_and_reads_its_refusal() -> None:
    sender = MemorySender(reject_entities="InvalidAttributes")
    sender.create_log_group("g", None)
    sender.create_log_stream("g", "s")
    settings = Settings(log_group_name="g", entity=ENTITY)
    outcome = put_batch(sender, settings, "s", [(NOW, "a")], Attempts())
    assert isinstance(outcome, Sent)
    assert outcome.entity_error == "InvalidAttributes" and outcome.rejected == []
    plain = put_batch(sender, Settings(log_group_name="g"), "s", [(NOW, "b")], Attempts())
    assert isinstance(plain, Sent) and plain.entity_error is None
    assert sender.requests[-1].entity is None


class ThreeArgumentSender(MemorySender):
    """A transport that knows no entity (as HTTP ingestion): the engine calls it as before."""

    def put_log_events(  # type: ignore[override]
        self, group: str, stream: str, events: Sequence[Any]
    ) -> Mapping[str, Any]:
        return super().put_log_events(group, stream, events)


def test_without_the_option_a_sender_needs_no_entity_keyword() -> None:
    sender = ThreeArgumentSender()
    sender.create_log_group("g", None)
    sender.create_log_stream("g", "s")
    outcome = put_batch(sender, Settings(log_group_name="g"), "s", [(NOW, "a")], Attempts())
    assert isinstance(outcome, Sent)


class FailingGroupSettings(MemorySender):
    def put_retention_policy(self, group: str, days: int) -> None:
        raise SendError(ErrorKind.AUTH, "AccessDeniedException", "no retention for you")

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        raise SendError(ErrorKind.INVALID, "InvalidParameterException", "no index for you")


def test_failed_retention_and_index_policy_are_one_report_and_the_stream_is_made() -> None:
    sender = FailingGroupSettings()
    settings = Settings(log_group_name="g", log_group_retention_days=7, field_indexes=("a",))
    groups = GroupCreator()
    outcome = create_stream(sender, settings, "s", groups, Attempts())
    assert isinstance(outcome, Created)
    assert outcome.report is not None
    kind, text = outcome.report
    assert kind == "group_settings"
    assert "retention" in text and "no index for you" in text
    assert groups.index_failures == 1
    assert "s" in sender.groups["g"]


def test_an_index_policy_is_put_once_per_group_made() -> None:
    sender = MemorySender()
    settings = Settings(log_group_name="g", field_indexes=("requestId",))
    groups = GroupCreator()
    for stream in ("a", "b"):
        assert isinstance(create_stream(sender, settings, stream, groups, Attempts()), Created)
    assert sender.index_policies == {"g": ["requestId"]}
    sender.index_policies.clear()
    other = GroupCreator()  # another engine: CreateLogGroup finds the group there
    sender.groups["g"].pop("a")
    assert isinstance(create_stream(sender, settings, "a", other, Attempts()), Created)
    assert sender.index_policies == {}
