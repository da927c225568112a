"""The engine over HTTP/1.1 keep-alive, through the fault proxy: requests in flight, the calls
it makes to create streams, its own client's signed requests, a user's client left alone, fork.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from typing import Any, List

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from faultproxy import PUT_LOG_EVENTS, FaultProxy, Received
from helpers import DUMMY, REGION, make_client, messages, run_python

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning

CREATE_STREAM = "Logs_20140328.CreateLogStream"
CREATE_GROUP = "Logs_20140328.CreateLogGroup"


def targets(proxy: FaultProxy) -> List[str]:
    return [(r.target or "-").split(".")[-1] for r in proxy.received()]


def attach(logger: logging.Logger, handler: logging.Handler, *names: str) -> List[logging.Logger]:
    loggers = []
    for name in names:
        log = logger.getChild(name)
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        loggers.append(log)
    return loggers


def test_batches_for_many_streams_are_in_flight_at_once(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    handler = CloudWatchLogHandler(
        log_group_name=group,
        log_stream_name="{logger_name}",
        boto3_client=make_client(proxy.url),
        send_interval=600,
    )
    loggers = attach(logger, handler, *(f"s{n}" for n in range(10)))
    proxy.add_fault("latency", latency=0.3, target=PUT_LOG_EVENTS)
    for i in range(100):
        for log in loggers:
            log.info("%d", i)
    assert handler.close(30)
    # One request at a time would have taken 10 x 0.3 s; here several overlap.
    assert proxy.stats()["peak_in_flight"] >= 3
    assert len(messages(client, group)) == 1_000


def test_a_new_stream_is_created_before_its_first_put_and_nothing_fails(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", boto3_client=make_client(proxy.url)
    )
    [log] = attach(logger, handler, "a")
    log.info("one")
    assert handler.flush(10)
    log.info("two")
    assert handler.close(10)
    assert targets(proxy) == ["CreateLogStream", "PutLogEvents", "PutLogEvents"]
    assert handler.stats()["batches_failed"] == 0


def test_a_missing_group_costs_one_failed_create_stream_only(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group,
        log_stream_name="s",
        boto3_client=make_client(proxy.url),
        log_group_retention_days=7,
    )
    [log] = attach(logger, handler, "a")
    log.info("one")
    assert handler.close(10)
    assert targets(proxy) == [
        "CreateLogStream", "CreateLogGroup", "PutRetentionPolicy", "CreateLogStream", "PutLogEvents"
    ]  # fmt: skip
    assert messages(client, group) == ["one"]


@pytest.mark.slow
def test_a_throttled_stream_creation_is_retried_on_its_own(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    proxy.add_fault("throttle", count=2, target=CREATE_STREAM)
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", boto3_client=make_client(proxy.url)
    )
    [log] = attach(logger, handler, "a")
    log.info("one")
    assert handler.close(20)
    assert targets(proxy) == ["CreateLogStream"] * 3 + ["PutLogEvents"]
    assert messages(client, group) == ["one"]


def test_a_users_client_sees_every_event_of_each_request(
    client: Any, group: str, logger: logging.Logger
) -> None:
    seen: List[int] = []

    def observe(params: Any, **kwargs: Any) -> None:
        seen.append(len(params["logEvents"]))

    client.meta.events.register("provide-client-params.cloudwatch-logs.PutLogEvents", observe)
    handler = CloudWatchLogHandler(log_group_name=group, log_stream_name="s", boto3_client=client)
    [log] = attach(logger, handler, "a")
    for i in range(5):
        log.info("%d", i)
    assert handler.close(10)
    assert seen == [5]  # the request as the user's hooks and instrumentation see it


def signature_is_valid(request: Received) -> bool:
    """Recompute the request's SigV4 signature with the test keys and compare."""
    authorization = request.headers["Authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in request.headers.items() if k.lower() in signed}
    aws = AWSRequest(
        method=request.method,
        url=f"http://{request.headers['Host']}{request.path}",
        headers=headers,
        data=request.body,
    )
    stamp = request.headers["X-Amz-Date"]
    aws.context["timestamp"] = stamp
    signer = SigV4Auth(
        Credentials(DUMMY["aws_access_key_id"], DUMMY["aws_secret_access_key"]), "logs", REGION
    )
    signer._get_timestamp = lambda: stamp  # type: ignore[method-assign]
    canonical = signer.canonical_request(aws)
    expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
    return authorization.endswith(f"Signature={expected}")


def test_the_fast_body_is_what_botocore_signs(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url
    )
    [log] = attach(logger, handler, "a")
    for i in range(50):
        log.info("event %d", i)
    assert handler.close(10)
    [put] = [r for r in proxy.received() if r.target == PUT_LOG_EVENTS]
    assert len(json.loads(put.body)["logEvents"]) == 50  # the engine's whole body went
    assert signature_is_valid(put)
    assert not signature_is_valid(
        Received(put.method, put.path, put.headers, put.body.replace(b"event 0", b"event X"))
    )
    assert len(messages(client, group)) == 50


def test_the_fast_body_is_not_swapped_into_a_request_another_hook_changed(
    endpoint: str, client: Any, group: str
) -> None:
    from wt_adapters._boto import BotoSender

    own = make_client(endpoint)

    tampered: List[int] = []

    def tamper(params: Any, **kwargs: Any) -> None:
        if tampered:
            return
        tampered.append(1)
        body = json.loads(params["body"])
        body["logEvents"].append({"timestamp": body["logEvents"][0]["timestamp"], "message": "+"})
        params["body"] = json.dumps(body).encode()

    own.meta.events.register_first("before-call.cloudwatch-logs.PutLogEvents", tamper)
    sender = BotoSender(client_factory=lambda: own)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    sender.put_log_events(group, "s", [(now, str(i)) for i in range(5)])
    assert sender.fast_body is False  # it fell back to botocore's own bodies
    # The tampered first request went as the other hook made it; the rest went once each.
    assert sorted(messages(client, group, "s")) == sorted(["+", *map(str, range(5))])


def test_use_queues_false_with_an_empty_message_warns_and_makes_no_call(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, use_queues=False, boto3_client=make_client(proxy.url)
    )
    [log] = attach(logger, handler, "a")
    started = time.monotonic()
    with pytest.warns(WatchtowerWarning, match="Received empty message"):
        log.critical("")
    with pytest.warns(WatchtowerWarning, match="Received empty message"):
        log.critical("%s", "")
    assert time.monotonic() - started < 1.0
    assert proxy.received() == []
    handler.close(5)


def test_records_from_the_engines_own_threads_are_never_shipped(client: Any, group: str) -> None:
    root = logging.getLogger()
    handler = CloudWatchLogHandler(log_group_name=group, log_stream_name="s", boto3_client=client)
    handler.filters.clear()  # without the SDK's DEBUG filter, only the thread guard is left
    botocore_logger = logging.getLogger("botocore")
    saved = (root.level, botocore_logger.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    botocore_logger.setLevel(logging.DEBUG)
    try:
        logging.getLogger("app").info("the only record")
        assert handler.flush(10)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        botocore_logger.setLevel(saved[1])
    stats = handler.stats()
    handler.close(5)
    assert messages(client, group) == ["the only record"]
    assert stats["enqueued"] == 1


def test_the_final_warning_names_why_delivery_failed(group: str, logger: logging.Logger) -> None:
    from helpers import free_port

    handler = CloudWatchLogHandler(
        log_group_name=group,
        boto3_client=make_client(f"http://127.0.0.1:{free_port()}", connect_timeout=1),
    )
    [log] = attach(logger, handler, "a")
    log.info("lost")
    with pytest.warns(WatchtowerWarning) as caught:
        assert handler.close(1.5) is False
    final = str(caught[-1].message)
    assert "could not be delivered" in final
    assert "Could not connect to the endpoint URL" in final


FORK_SCRIPT = """
import json, logging, os, sys, time, wt_adapters
handler = wt_adapters.CloudWatchLogHandler(
    log_group_name={group!r}, log_stream_name="{{process_id}}", endpoint_url={url!r},
    max_batch_count=100)
log = logging.getLogger("forked")
log.setLevel(logging.INFO)
log.addHandler(handler)
log.info("parent before fork")
assert handler.flush(10)  # the parent now holds a keep-alive connection
pad = "x" * 200
pid = os.fork()
who = "child" if pid == 0 else "parent"
start = time.time() + 0.2  # both send at once: a shared connection would garble requests
while time.time() < start:
    time.sleep(0.01)
for round in range(3):
    for i in range(2000):
        log.info("%s %d %d %s", who, round, i, pad)
    ok = handler.flush(20)
stats = handler.stats()
print(json.dumps([who, ok, stats["batches_failed"], stats["sent"]]), flush=True)
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(json.dumps(["status", status]), flush=True)
handler.close()
"""


def test_after_fork_parent_and_child_each_use_their_own_keep_alive_connections(
    proxy: FaultProxy, client: Any, group: str
) -> None:
    result = run_python(textwrap.dedent(FORK_SCRIPT.format(group=group, url=proxy.url)))
    assert result.returncode == 0, result.stderr
    lines = {x[0]: x[1:] for x in map(json.loads, result.stdout.splitlines())}
    assert lines["status"] == [0]
    assert lines["child"] == [True, 0, 6_000]
    assert lines["parent"] == [True, 0, 6_001]
    stored = messages(client, group)
    assert len(stored) == len(set(stored)) == 12_001
    assert "Warning" not in result.stderr, result.stderr
