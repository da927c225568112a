"""The boto3 sender: PutLogEvents bodies exactly as botocore would send them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from helpers import read_events

from wt_adapters._boto import BotoSender, redact, serialize_put_log_events

NOW = int(time.time() * 1000)
ODD = [
    "plain",
    'quote " and \\ backslash',
    "tab\tnew\nline\r",
    "é ü 漢字 😀",
    "\x00\x1f\x7f",
    '{"json":["inside",1,null]}',
    "\\udcff",
    "x" * 5000,
]


def own_sender(client: Any) -> BotoSender:
    """A sender as the package makes for its own clients: the fast body hook registered."""
    sender = BotoSender(client_factory=lambda: client)
    assert sender.client is client
    return sender


def botocore_body(client: Any, group: str, stream: str, events: list[tuple[int, str]]) -> Any:
    model = client.meta.service_model.operation_model("PutLogEvents")
    params = {
        "logGroupName": group,
        "logStreamName": stream,
        "logEvents": [{"timestamp": t, "message": m} for t, m in events],
    }
    request = client._serializer.serialize_to_request(params, model)
    return json.loads(request["body"])


def test_the_serialized_body_equals_botocores(client: Any) -> None:
    events = [(NOW + i, m) for i, m in enumerate(ODD)]
    ours = json.loads(serialize_put_log_events("grp/a#b", "stream.1", events))
    assert ours == botocore_body(client, "grp/a#b", "stream.1", events)


def test_events_sent_with_the_fast_body_are_stored_exactly(client: Any, group: str) -> None:
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    sender = own_sender(client)
    events = [(NOW + i, m) for i, m in enumerate(ODD)]
    assert sender.put_log_events(group, "s", events) == {}
    assert sender.fast_body is True
    stored = read_events(client, group, "s")
    assert [(e["timestamp"], e["message"]) for e in stored] == events


def test_the_clients_other_calls_are_untouched(client: Any, group: str) -> None:
    own_sender(client)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="user")
    client.put_log_events(
        logGroupName=group,
        logStreamName="user",
        logEvents=[{"timestamp": NOW, "message": "the user's own"}],
    )
    assert [e["message"] for e in read_events(client, group, "user")] == ["the user's own"]


def test_without_the_hook_every_event_still_goes_once(client: Any, group: str) -> None:
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    sender = own_sender(client)
    client.meta.events.unregister(
        "before-call.cloudwatch-logs.PutLogEvents", unique_id="wt_adapters.body"
    )
    events = [(NOW, str(i)) for i in range(5)]
    sender.put_log_events(group, "s", events)
    assert sender.fast_body is False
    sender.put_log_events(group, "s", [(NOW, "5")])
    assert [e["message"] for e in read_events(client, group, "s")] == [str(i) for i in range(6)]


def test_botocore_serializes_and_validates_one_event_per_request_not_all(
    client: Any, group: str
) -> None:
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    sender = own_sender(client)
    seen: list[int] = []
    original = client._serializer.serialize_to_request

    def spy(params: Any, model: Any) -> Any:
        seen.append(len(params.get("logEvents", [])))
        return original(params, model)

    client._serializer.serialize_to_request = spy
    sender.put_log_events(group, "s", [(NOW, "m" * 50)] * 10_000)
    assert seen == [1]
    assert len(read_events(client, group, "s")) == 10_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "key [redacted] here"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.", "secret [redacted]."),
        (
            "nothing secret in a 39-character string: abcdefghijabcdefghijabcdefghijabcdefghi",
            "nothing secret in a 39-character string: abcdefghijabcdefghijabcdefghijabcdefghi",
        ),
    ],
)
def test_key_material_is_redacted_from_error_text(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_sender_says_while_it_makes_its_client(client: Any) -> None:
    seen: list[bool] = []

    def factory() -> Any:
        seen.append(sender.making_client)
        return client

    sender = BotoSender(client_factory=factory)
    assert not sender.making_client
    assert sender.client is client
    assert seen == [True] and not sender.making_client

    def failing() -> Any:
        raise RuntimeError("no region")

    broken = BotoSender(client_factory=failing)
    with pytest.raises(RuntimeError):
        _ = broken.client
    assert not broken.making_client
