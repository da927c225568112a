"""The direct wire (``transport="auto"``): its requests, signatures and answers over HTTP.

Requests go through the fault proxy (HTTP/1.1 keep-alive, recording what it
receives) to moto's server. moto does not check signatures, so each recorded
request is verified here as AWS would: its SigV4 signature recomputed with
botocore's signer from what arrived on the wire and the secret key.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session
import pytest
from faultproxy import PUT_LOG_EVENTS, FaultProxy, Received
from helpers import DUMMY, REGION, free_port, make_client, read_events

from wt_adapters._boto import BotoSender
from wt_adapters._protocol import ErrorKind, SendError
from wt_adapters._wire import WireSender
from wt_adapters._wire_client import handlers, route_of

NOW = int(time.time() * 1000)
ODD = ["plain", 'quote " and \\ back', "tab\tnew\nline", "é ü 漢字 😀", "\x00\x1f", "x" * 3000]
OPERATIONS = ("PutLogEvents", "CreateLogGroup", "CreateLogStream", "PutRetentionPolicy")


def verify(request: Received, secret: str) -> bool:
    """Recompute the request's SigV4 signature from what arrived, as CloudWatch would."""
    auth = request.headers["Authorization"]
    fields = dict(part.strip().split("=", 1) for part in auth.split(" ", 1)[1].split(","))
    key_id, date, region, service, _ = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    headers = {k: v for k, v in request.headers.items() if k.lower() in signed}
    url = f"http://{request.headers['Host']}{request.path}"
    rebuilt = botocore.awsrequest.AWSRequest(
        method=request.method, url=url, data=request.body, headers=headers
    )
    rebuilt.context["timestamp"] = request.headers["X-Amz-Date"]
    assert rebuilt.context["timestamp"].startswith(date)
    creds = botocore.credentials.Credentials(
        key_id, secret, request.headers.get("X-Amz-Security-Token")
    )
    signer = botocore.auth.SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(rebuilt)
    expected = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
    return bool(expected == fields["Signature"])


def own_wire(url: str) -> WireSender:
    return WireSender(client_factory=lambda: make_client(url, retries={"total_max_attempts": 1}))


def own_boto(url: str) -> BotoSender:
    """The boto3 sender as the package makes it for its own client (the fast body on)."""
    return BotoSender(client_factory=lambda: make_client(url, retries={"total_max_attempts": 1}))


def prepare(client: Any, group: str, stream: str = "s") -> None:
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName=stream)


def test_every_operation_goes_direct_and_moto_stores_what_was_sent(
    proxy: FaultProxy, group: str
) -> None:
    client = make_client(proxy.url)
    wire = WireSender(client)
    wire.create_log_group(group, {"team": "a"}, {"logGroupClass": "STANDARD"})
    wire.put_retention_policy(group, 7)
    wire.create_log_stream(group, "s")
    events = [(NOW + i, m) for i, m in enumerate(ODD)]
    assert wire.put_log_events(group, "s", events) == {}

    assert [(e["timestamp"], e["message"]) for e in read_events(client, group, "s")] == events
    described = client.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert described["retentionInDays"] == 7
    assert client.list_tags_for_resource(resourceArn=described["logGroupArn"])["tags"] == {
        "team": "a"
    }
    sent = [r for r in proxy.received() if r.target and r.target.endswith(OPERATIONS)]
    assert [r.target for r in sent][:4] == [
        "Logs_20140328." + op
        for op in ("CreateLogGroup", "PutRetentionPolicy", "CreateLogStream", "PutLogEvents")
    ]
    assert all(r.headers["Content-Type"] == "application/x-amz-json-1.1" for r in sent)
    assert all(r.headers["User-Agent"].startswith("wt_adapters") for r in sent[:4])


def test_the_body_is_the_json_botocore_would_send(proxy: FaultProxy, group: str) -> None:
    client = make_client(proxy.url)
    prepare(client, group)
    events = [(NOW + i, m) for i, m in enumerate(ODD)]
    WireSender(client).put_log_events(group, "s", events)
    body = [r for r in proxy.received() if r.target == PUT_LOG_EVENTS][-1].body
    model = client.meta.service_model.operation_model("PutLogEvents")
    params = {
        "logGroupName": group,
        "logStreamName": "s",
        "logEvents": [{"timestamp": t, "message": m} for t, m in events],
    }
    assert json.loads(body) == json.loads(
        client._serializer.serialize_to_request(params, model)["body"]
    )


def test_every_request_is_signed_as_aws_would_verify_it(proxy: FaultProxy, group: str) -> None:
    client = make_client(proxy.url)
    wire = WireSender(client)
    wire.create_log_group(group, None)
    wire.create_log_stream(group, "s")
    wire.put_retention_policy(group, 1)
    wire.put_log_events(group, "s", [(NOW, "signed")])
    ours = [r for r in proxy.received() if r.target and r.target.endswith(OPERATIONS)]
    assert len(ours) == 4
    for request in ours:
        assert verify(request, DUMMY["aws_secret_access_key"]), request.target
        signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
        assert {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(signed.split(";"))
    # The check itself: botocore's own requests pass it; a changed body or a wrong key fails.
    client.describe_log_groups()
    botocores = proxy.received()[-1]
    assert verify(botocores, DUMMY["aws_secret_access_key"])
    tampered = Received(ours[-1].method, ours[-1].path, ours[-1].headers, ours[-1].body + b" ")
    assert not verify(tampered, DUMMY["aws_secret_access_key"])
    assert not verify(ours[-1], "another secret")


def test_the_authorization_header_is_the_one_botocore_computes(
    proxy: FaultProxy, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(proxy.url)
    prepare(client, group)
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)
    WireSender(client).put_log_events(group, "s", [(NOW, "one")])
    ours = proxy.received()[-1]
    # botocore's signer, given the request as it left: the same header, byte for byte.
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=client.meta.endpoint_url + "/",
        data=ours.body,
        headers={k: ours.headers[k] for k in ("X-Amz-Target", "Content-Type", "User-Agent")},
    )
    credentials = client._get_credentials().get_frozen_credentials()
    botocore.auth.SigV4Auth(credentials, "logs", REGION).add_auth(request)
    assert ours.headers["X-Amz-Date"] == "20260102T030405Z"
    assert ours.headers["Authorization"] == request.headers["Authorization"]


def _refreshing_client(url: str) -> Tuple[Any, List[str]]:
    """A client whose credentials expire within botocore's refresh window: each use renews."""
    issued: List[str] = []

    def refresh() -> Dict[str, str]:
        issued.append(f"AKIDREFRESH{len(issued):09d}")
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=12)
        return {
            "access_key": issued[-1],
            "secret_key": f"secret-{issued[-1]}",
            "token": f"token-{issued[-1]}",
            "expiry_time": expiry.isoformat(),
        }

    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test"
    )
    session = botocore.session.get_session()
    session._credentials = credentials
    client = boto3.Session(botocore_session=session).client(
        "logs", endpoint_url=url, region_name=REGION
    )
    return client, issued


def test_expiring_credentials_are_refreshed_and_the_new_keys_sign(
    proxy: FaultProxy, group: str
) -> None:
    client, issued = _refreshing_client(proxy.url)
    prepare(client, group)
    wire = WireSender(client)
    before = len(issued)
    for i in range(3):
        wire.put_log_events(group, "s", [(NOW + i, f"refresh {i}")])
    puts = [r for r in proxy.received() if r.target == PUT_LOG_EVENTS]
    keys = [r.headers["Authorization"].split("Credential=")[1].split("/")[0] for r in puts]
    assert len(issued) >= before + 3
    assert len(set(keys)) == 3 and set(keys) <= set(issued[before:])
    for request, key in zip(puts, keys):
        assert request.headers["X-Amz-Security-Token"] == f"token-{key}"
        assert verify(request, f"secret-{key}")
    assert len(read_events(client, group, "s")) == 3


def _snapshot(client: Any) -> Any:
    route = route_of(client)
    assert route is not None
    emitter = client.meta.events._emitter
    return (
        [(e, h) for op in OPERATIONS for e, h in handlers(route, op)],
        dict(emitter._unique_id_handlers),
        sorted(vars(client)),
        client.meta.config,
        client.meta.endpoint_url,
    )


def test_the_users_client_is_read_never_changed(proxy: FaultProxy, group: str) -> None:
    client = make_client(proxy.url)
    before = _snapshot(client)
    wire = WireSender(client)
    wire.create_log_group(group, None)
    wire.create_log_stream(group, "s")
    wire.put_log_events(group, "s", [(NOW, "untouched")])
    assert _snapshot(client) == before
    # A plain botocore client: nothing of ours among its handlers.
    assert not any("wt_adapters" in repr(h) for h in before[0])


def test_connections_are_kept_alive_between_requests(proxy: FaultProxy, group: str) -> None:
    client = make_client(proxy.url)
    prepare(client, group)
    wire = WireSender(client)
    for i in range(5):
        wire.put_log_events(group, "s", [(NOW + i, str(i))])
    pool = client._endpoint.http_session._manager.connection_from_url(proxy.url)
    assert pool.num_connections == 1


# ----------------------------------------------------------------- errors, as boto3


def _failure(sender: Any, call: str, group: str) -> Optional[SendError]:
    try:
        if call == "put":
            sender.put_log_events(group, "s", [(NOW, "x")])
        else:
            sender.create_log_stream(group, "s2")
    except SendError as e:
        return e
    return None


def _shape(e: Optional[SendError]) -> Any:
    assert e is not None
    return (e.kind, e.code, e.maybe_stored, e.throttled, e.unreachable, e.permanent)


FAULTS = {
    "throttle": (ErrorKind.RETRY, True),
    "unavailable": (ErrorKind.RETRY, False),
    "server_error": (ErrorKind.RETRY, False),
    "access_denied": (ErrorKind.AUTH, False),
    "invalid_parameter": (ErrorKind.INVALID, False),
    "too_large": (ErrorKind.INVALID, False),
    "html_ok": (ErrorKind.RETRY, False),
    "drop_before": (ErrorKind.RETRY, False),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_error_answer_maps_as_on_the_boto3_path(
    proxy: FaultProxy, group: str, fault: str
) -> None:
    prepare(make_client(proxy.url), group)
    boto = own_boto(proxy.url)
    wire = own_wire(proxy.url)
    proxy.add_fault(fault, count=2)  # type: ignore[arg-type]
    theirs, ours = _failure(boto, "put", group), _failure(wire, "put", group)
    assert _shape(ours) == _shape(theirs)
    kind, throttled = FAULTS[fault]
    assert ours is not None and ours.kind is kind and ours.throttled is throttled
    if fault == "html_ok":
        assert ours.maybe_stored and ours.code == "InvalidResponse"


def test_a_missing_group_and_a_refused_connection_map_as_on_the_boto3_path(
    proxy: FaultProxy, group: str
) -> None:
    for url, call, kind in (
        (proxy.url, "put", ErrorKind.NOT_FOUND),
        (proxy.url, "create", ErrorKind.NOT_FOUND),
        (f"http://127.0.0.1:{free_port()}", "put", ErrorKind.RETRY),
    ):
        theirs, ours = _failure(own_boto(url), call, group), _failure(own_wire(url), call, group)
        assert _shape(ours) == _shape(theirs)
        assert ours is not None and ours.kind is kind
    assert ours.unreachable and not ours.maybe_stored


def test_a_200_that_is_not_json_did_not_send_the_batch(proxy: FaultProxy, group: str) -> None:
    client = make_client(proxy.url)
    prepare(client, group)
    proxy.add_fault("rewrite", count=1, rewrite=lambda body: b"<html>welcome</html>")
    with pytest.raises(SendError) as raised:
        WireSender(client).put_log_events(group, "s", [(NOW, "stored behind the page")])
    assert raised.value.kind is ErrorKind.RETRY and raised.value.maybe_stored
    assert "welcome" in raised.value.message


def test_no_credentials_at_all_is_a_permanent_auth_error(proxy: FaultProxy) -> None:
    session = botocore.session.get_session()
    session._credentials = None
    session.get_credentials = lambda: None  # type: ignore[method-assign]
    client = boto3.Session(botocore_session=session).client(
        "logs", endpoint_url=proxy.url, region_name=REGION
    )
    with pytest.raises(SendError) as raised:
        WireSender(client).put_log_events("g", "s", [(NOW, "x")])
    assert raised.value.kind is ErrorKind.AUTH and raised.value.permanent
    assert proxy.received() == []


@pytest.mark.parametrize("encoder", ["orjson", "json"])
def test_both_body_writers_write_botocores_document(
    client: Any, monkeypatch: pytest.MonkeyPatch, encoder: str
) -> None:
    import wt_adapters._cwl_api as api

    if encoder == "json":
        monkeypatch.setattr(api, "orjson", None)
    elif api.orjson is None:
        pytest.skip("orjson (the fast extra) is not installed")
    events = [(NOW + i, m) for i, m in enumerate([*ODD, "lone \udcff surrogate"])]
    model = client.meta.service_model.operation_model("PutLogEvents")
    params = {
        "logGroupName": "grp/é",
        "logStreamName": "s",
        "logEvents": [{"timestamp": t, "message": m} for t, m in events],
    }
    theirs = client._serializer.serialize_to_request(params, model)["body"]
    assert json.loads(api.put_log_events_body("grp/é", "s", events)) == json.loads(theirs)
