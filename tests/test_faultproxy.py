"""Tests of tests/faultproxy.py: boto3 -> FaultProxy -> moto server, all on loopback."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import botocore.exceptions
import helpers
import pytest
from faultproxy import ERROR_REPLIES, PUT_LOG_EVENTS, FaultProxy
from helpers import host_and_port, messages, wait_for

if TYPE_CHECKING:
    from mypy_boto3_logs.client import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

# What botocore raises when the connection is closed or refused instead of answered.
CONNECTION_ERRORS = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
DESCRIBE_LOG_GROUPS = "Logs_20140328.DescribeLogGroups"


@pytest.fixture
def upstream(endpoint: str) -> tuple[str, int]:
    """The host and port of the moto server, reset for this test."""
    return host_and_port(endpoint)


def make_client(url: str, read_timeout: float = 10.0) -> CloudWatchLogsClient:
    """A client that makes one attempt per call, so each fault shows."""
    client: CloudWatchLogsClient = helpers.make_client(
        url, retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout
    )
    return client


@pytest.fixture
def logs(proxy: FaultProxy) -> Iterator[CloudWatchLogsClient]:
    client = make_client(proxy.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def stream(logs: CloudWatchLogsClient) -> tuple[str, str]:
    """A new log group and stream, created through the proxy."""
    group, name = f"/faultproxy/{uuid.uuid4().hex}", "stream"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    return group, name


def put(logs: CloudWatchLogsClient, stream: tuple[str, str], message: str) -> None:
    event: InputLogEventTypeDef = {"timestamp": int(time.time() * 1000), "message": message}
    logs.put_log_events(logGroupName=stream[0], logStreamName=stream[1], logEvents=[event])


def error_code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_requests_pass_through(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    put(logs, stream, "hello")
    stats = proxy.stats()
    assert stats["requests"] == {
        "Logs_20140328.CreateLogGroup": 1,
        "Logs_20140328.CreateLogStream": 1,
        PUT_LOG_EVENTS: 1,
    }
    assert stats["forwarded"] == 3
    assert stats["faults"] == {}
    assert stats["refused"] == stats["upstream_errors"] == 0
    assert messages(logs, *stream) == ["hello"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("throttle", 400, "ThrottlingException"),
        ("unavailable", 503, "ServiceUnavailableException"),
        ("server_error", 500, "InternalFailure"),
        ("invalid_parameter", 400, "InvalidParameterException"),
        ("access_denied", 400, "AccessDeniedException"),
    ],
)
def test_error_faults_answer_without_forwarding(
    proxy: FaultProxy,
    logs: CloudWatchLogsClient,
    stream: tuple[str, str],
    kind: str,
    status: int,
    code: str,
) -> None:
    proxy.add_fault(kind, count=1)  # type: ignore[arg-type]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        put(logs, stream, "rejected")
    assert error_code(exc) == code
    assert exc.value.response["Error"]["Message"] == ERROR_REPLIES[kind][2]
    metadata = exc.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == status
    assert metadata["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
    assert metadata["RequestId"]
    assert messages(logs, *stream) == []
    put(logs, stream, "accepted")  # the fault was for one request only
    assert messages(logs, *stream) == ["accepted"]
    assert proxy.stats()["faults"] == {kind: 1}


def test_throttle_reply_is_rate_exceeded(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.add_fault("throttle", count=1)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        put(logs, stream, "x")
    error = exc.value.response["Error"]
    assert error == {"Code": "ThrottlingException", "Message": "Rate exceeded"}


def test_drop_before_loses_the_request(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.add_fault("drop_before", count=1)
    with pytest.raises(CONNECTION_ERRORS):
        put(logs, stream, "never stored")
    assert messages(logs, *stream) == []
    put(logs, stream, "after")  # the client reconnects
    assert messages(logs, *stream) == ["after"]
    stats = proxy.stats()
    assert stats["faults"] == {"drop_before": 1}
    assert stats["requests"][PUT_LOG_EVENTS] == 2
    assert stats["forwarded"] == 5  # group, stream, 2 x get, 1 put


def test_drop_after_stores_but_loses_the_response(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.add_fault("drop_after", count=1)
    with pytest.raises(CONNECTION_ERRORS):
        put(logs, stream, "stored anyway")
    assert messages(logs, *stream) == ["stored anyway"]
    assert proxy.stats()["faults"] == {"drop_after": 1}


def test_latency_delays_then_forwards(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.add_fault("latency", count=1, latency=1.0)
    start = time.monotonic()
    put(logs, stream, "slow")
    slow = time.monotonic() - start
    start = time.monotonic()
    put(logs, stream, "fast")
    fast = time.monotonic() - start
    assert 1.0 <= slow < 1.0 + 5.0
    # A loopback round trip takes milliseconds: 1 s is the point (no delay), not a benchmark.
    assert fast < 1.0
    assert proxy.stats()["faults"] == {"latency": 1}
    assert messages(logs, *stream) == ["slow", "fast"]


def test_count_limited_fault_stops_after_count(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    fault = proxy.add_fault("throttle", count=2)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            put(logs, stream, "throttled")
        assert error_code(exc) == "ThrottlingException"
        logs.describe_log_groups()  # another target: neither faulted nor counted
    put(logs, stream, "third")
    assert messages(logs, *stream) == ["third"]
    assert fault.injected == 2
    assert proxy.active_faults() == []


def test_duration_limited_fault_stops_after_duration(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    added = time.monotonic()
    fault = proxy.add_fault("throttle", duration=0.5)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        put(logs, stream, "throttled")
    assert error_code(exc) == "ThrottlingException"

    def put_succeeds() -> bool:
        try:
            put(logs, stream, "through")
        except botocore.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "ThrottlingException"
            return False
        return True

    wait_for(put_succeeds, timeout=5.0)
    assert time.monotonic() - added >= 0.5
    assert messages(logs, *stream) == ["through"]
    assert fault.injected >= 1
    assert proxy.active_faults() == []


def test_faults_apply_in_order(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.add_fault("throttle", count=1)
    proxy.add_fault("unavailable", count=1)
    codes = []
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            put(logs, stream, "x")
        codes.append(error_code(exc))
    assert codes == ["ThrottlingException", "ServiceUnavailableException"]
    put(logs, stream, "ok")
    assert messages(logs, *stream) == ["ok"]


def test_target_none_matches_every_request(proxy: FaultProxy, logs: CloudWatchLogsClient) -> None:
    proxy.add_fault("unavailable", count=1, target=None)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        logs.describe_log_groups()
    assert error_code(exc) == "ServiceUnavailableException"
    logs.describe_log_groups()


def test_other_target_filter(proxy: FaultProxy, logs: CloudWatchLogsClient) -> None:
    proxy.add_fault("access_denied", target=DESCRIBE_LOG_GROUPS)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        logs.describe_log_groups()
    assert error_code(exc) == "AccessDeniedException"
    proxy.clear_faults()
    logs.describe_log_groups()


def test_down_fault_refuses_matching_requests_until_removed(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    fault = proxy.add_fault("down")
    for _ in range(3):
        with pytest.raises(CONNECTION_ERRORS):
            put(logs, stream, "refused")
        logs.describe_log_groups()  # other targets still work
    assert proxy.remove_fault(fault)
    assert not proxy.remove_fault(fault)
    put(logs, stream, "back")
    assert messages(logs, *stream) == ["back"]
    assert proxy.stats()["faults"] == {"down": 3}


def test_set_down_refuses_everything(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.set_down(True)
    assert proxy.is_down
    with pytest.raises(CONNECTION_ERRORS):
        logs.describe_log_groups()  # a request on a kept-alive connection
    fresh = make_client(proxy.url)
    try:
        with pytest.raises(CONNECTION_ERRORS):
            fresh.describe_log_groups()  # a new connection, closed when accepted
        with pytest.raises(CONNECTION_ERRORS):
            put(fresh, stream, "refused")
        proxy.set_down(False)
        put(fresh, stream, "up again")
    finally:
        fresh.close()
    assert messages(logs, *stream) == ["up again"]
    assert proxy.stats()["refused"] >= 3


def test_stats_count_requests_faults_and_forwards(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.reset_stats()
    proxy.add_fault("throttle", count=2)
    proxy.add_fault("drop_after", count=1)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError):
            put(logs, stream, "t")
    with pytest.raises(CONNECTION_ERRORS):
        put(logs, stream, "d")
    put(logs, stream, "ok")
    assert messages(logs, *stream) == ["d", "ok"]
    stats = proxy.stats()
    assert stats["requests"] == {PUT_LOG_EVENTS: 4, "Logs_20140328.GetLogEvents": 1}
    assert stats["faults"] == {"throttle": 2, "drop_after": 1}
    assert stats["forwarded"] == 3  # the dropped-after put, the good put, the get
    assert stats["refused"] == stats["upstream_errors"] == 0


def test_concurrent_requests_are_all_relayed(
    proxy: FaultProxy, logs: CloudWatchLogsClient, stream: tuple[str, str]
) -> None:
    proxy.reset_stats()
    proxy.add_fault("latency", count=8, latency=0.05)

    def send(worker: int) -> None:
        for i in range(5):
            put(logs, stream, f"{worker}-{i}")

    workers = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10.0)
    assert not any(worker.is_alive() for worker in workers)
    assert sorted(messages(logs, *stream)) == sorted(f"{w}-{i}" for w in range(8) for i in range(5))
    stats = proxy.stats()
    assert stats["requests"][PUT_LOG_EVENTS] == stats["forwarded"] - 1 == 40
    assert stats["faults"] == {"latency": 8}


def test_unreachable_upstream_answers_bad_gateway() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with FaultProxy("127.0.0.1", dead_port, upstream_timeout=2.0) as proxy:
        client = make_client(proxy.url)
        try:
            with pytest.raises(botocore.exceptions.ClientError) as exc:
                client.describe_log_groups()
        finally:
            client.close()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert proxy.stats()["upstream_errors"] == 1


def test_stop_is_prompt_and_leaves_no_threads(upstream: tuple[str, int]) -> None:
    proxy = FaultProxy(*upstream).start()
    port = proxy.port
    client = make_client(proxy.url, read_timeout=20.0)
    errors: list[Exception] = []

    def call() -> None:
        try:
            client.describe_log_groups()
        except (*CONNECTION_ERRORS, botocore.exceptions.ClientError) as error:
            errors.append(error)

    try:
        proxy.add_fault("latency", latency=30.0, target=None)
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        wait_for(lambda: proxy.stats()["faults"].get("latency") == 1)
        start = time.monotonic()
        proxy.stop()
        assert time.monotonic() - start < 3.0
        caller.join(5.0)
        assert not caller.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], CONNECTION_ERRORS)
        assert proxy.stats()["forwarded"] == 0
        leftovers = [t for t in threading.enumerate() if t.name.startswith(f"faultproxy-{port}")]
        assert leftovers == []
        with pytest.raises(RuntimeError):
            proxy.start()
        proxy.stop()  # idempotent
    finally:
        proxy.stop()
        client.close()


def test_add_fault_validates_arguments(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.add_fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        proxy.add_fault("throttle", count=0)
    with pytest.raises(ValueError):
        proxy.add_fault("throttle", duration=0)
    with pytest.raises(ValueError):
        proxy.add_fault("latency", latency=-1.0)
    assert proxy.active_faults() == []
