"""The default transport through the whole handler: doubles see every call, faults, fork.

Over moto's server (through the fault proxy) unless a test double is the
point: a `Stubber` on the user's client, moto's `mock_aws`, a user's hook.
"""

from __future__ import annotations

import json
import logging
import textwrap
from typing import Any, Iterator, List

import pytest
from botocore.stub import Stubber
from faultproxy import PUT_LOG_EVENTS, FaultProxy
from helpers import DUMMY, REGION, free_port, make_client, read_events, run_python
from moto import mock_aws

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._boto import BotoSender
from wt_adapters._wire import WireSender


def sender_of(handler: CloudWatchLogHandler) -> Any:
    return handler._destination.engine.sender  # type: ignore[union-attr]


def messages(client: Any, group: str, stream: str = "s") -> List[str]:
    return [e["message"] for e in read_events(client, group, stream)]


def test_auto_is_the_default_and_boto3_keeps_every_call_in_boto3(client: Any) -> None:
    auto = CloudWatchLogHandler(log_group_name="g", boto3_client=client)
    own = CloudWatchLogHandler(log_group_name="g", endpoint_url="http://127.0.0.1:1")
    boto3 = CloudWatchLogHandler(log_group_name="g", boto3_client=client, transport="boto3")
    try:
        assert isinstance(sender_of(auto), WireSender) and isinstance(sender_of(own), WireSender)
        assert type(sender_of(boto3)) is BotoSender
    finally:
        for h in (auto, own, boto3):
            h.close()


@pytest.mark.parametrize("transport", ["auto", "boto3"])
def test_a_413_answer_splits_the_batch_and_every_event_arrives(
    proxy: FaultProxy, group: str, logger: logging.Logger, transport: str
) -> None:
    proxy.add_fault("too_large", count=2)
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url, transport=transport
    )
    logger.addHandler(handler)
    for i in range(40):
        logger.info("record %d", i)
    assert handler.flush(timeout=20)
    assert messages(make_client(proxy.url), group) == [f"record {i}" for i in range(40)]
    stats = handler.stats()
    assert stats["dropped"] == {} and stats["possible_duplicates"] == 0
    assert proxy.stats()["faults"] == {"too_large": 2}
    puts = proxy.stats()["requests"][PUT_LOG_EVENTS]
    assert puts >= 4  # the batch, its halves, and theirs until each went


@pytest.mark.parametrize("transport", ["auto", "boto3"])
def test_one_event_answered_413_is_dropped_as_invalid_not_retried(
    proxy: FaultProxy, group: str, logger: logging.Logger, transport: str
) -> None:
    client = make_client(proxy.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    proxy.add_fault("too_large")
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", boto3_client=client, transport=transport
    )
    logger.addHandler(handler)
    dropped = pytest.warns(WatchtowerWarning, match="because of invalid")
    with dropped, pytest.warns(WatchtowerWarning, match="refused"):
        logger.info("too large for the proxy")
        assert handler.flush(timeout=10)
    assert sum(handler.stats()["dropped"].values()) == 1
    assert proxy.stats()["requests"][PUT_LOG_EVENTS] == 1
    with pytest.warns(WatchtowerWarning, match="1 invalid"):
        assert handler.close() is False


@pytest.mark.parametrize("transport", ["auto", "boto3"])
def test_a_200_page_that_is_not_json_is_resent_and_counted_as_possibly_duplicated(
    proxy: FaultProxy, group: str, logger: logging.Logger, transport: str
) -> None:
    client = make_client(proxy.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    proxy.add_fault("rewrite", count=1, rewrite=lambda body: b"<html>hello</html>")
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", endpoint_url=proxy.url, transport=transport
    )
    logger.addHandler(handler)
    for i in range(5):
        logger.info("page %d", i)
    assert handler.flush(timeout=20)
    # The proxy forwarded the first request, so moto stored it twice: both counted.
    assert sorted(messages(client, group)) == sorted([f"page {i}" for i in range(5)] * 2)
    assert handler.stats()["possible_duplicates"] == 5


def test_a_stubber_on_the_users_client_sees_every_call(logger: logging.Logger) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}")
    stubber = Stubber(client)
    stubber.add_response("create_log_stream", {}, {"logGroupName": "stubbed", "logStreamName": "s"})
    for _ in range(3):
        stubber.add_response("put_log_events", {})
    handler = CloudWatchLogHandler(
        log_group_name="stubbed", log_stream_name="s", boto3_client=client, max_batch_count=1
    )
    logger.addHandler(handler)
    with stubber:
        for i in range(3):
            logger.info("stubbed %d", i)
            assert handler.flush(timeout=10)
        stubber.assert_no_pending_responses()
    assert handler.stats()["sent"] == 3


def test_a_handler_the_user_registered_for_put_log_events_sees_every_call(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    client = make_client(proxy.url)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    seen: List[Any] = []
    client.meta.events.register(
        "before-call.cloudwatch-logs.PutLogEvents", lambda params, **kw: seen.append(params)
    )
    handler = CloudWatchLogHandler(log_group_name=group, log_stream_name="s", boto3_client=client)
    logger.addHandler(handler)
    logger.info("hooked")
    assert handler.flush(timeout=10)
    assert len(seen) == 1 and messages(client, group) == ["hooked"]


@pytest.fixture
def nowhere_but_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS's own endpoints, behind a proxy on loopback that nothing listens on.

    Under `mock_aws` every call stays in the process; a call that escaped the
    mock would fail there, never reach AWS.
    """
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, dead)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.parametrize("whose", ["user's client", "own client"])
def test_mock_aws_started_after_the_handler_was_built_sees_every_call(
    nowhere_but_moto: None, logger: logging.Logger, whose: str
) -> None:
    import boto3

    client = boto3.client("logs", region_name=REGION, **DUMMY)
    options = {"boto3_client": client} if whose == "user's client" else {}
    handler = CloudWatchLogHandler(log_group_name="mocked", log_stream_name="s", **options)
    logger.addHandler(handler)
    with mock_aws():
        for i in range(3):
            logger.info("mocked %d", i)
        assert handler.flush(timeout=10)
        assert messages(client, "mocked") == [f"mocked {i}" for i in range(3)]
        handler.close()


_FORK = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[2])
    from helpers import make_client
    from wt_adapters._wire import WireSender

    client = make_client(sys.argv[1])
    client.create_log_group(logGroupName="forked")
    client.create_log_stream(logGroupName="forked", logStreamName="s")
    wire = WireSender(client)
    pool = lambda: client._endpoint.http_session._manager.connection_from_url(sys.argv[1])

    def put(text):
        wire.put_log_events("forked", "s", [(int(time.time() * 1000), text)])
        conn = pool().pool.queue[-1]
        return conn.sock.getsockname()[1]

    first = put("parent before")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        wire.after_fork()
        os.write(write, json.dumps(put("child")).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = json.loads(os.read(read, 100))
    print(json.dumps({"parent": [first, put("parent after")], "child": child}))
    """
)


def test_after_fork_the_child_sends_on_connections_of_its_own(proxy: FaultProxy) -> None:
    from helpers import ROOT

    done = run_python(_FORK, timeout=60, args=[proxy.url, str(ROOT / "tests")])
    assert done.returncode == 0, done.stderr[-2000:]
    ports = json.loads(done.stdout.strip().splitlines()[-1])
    first, after = ports["parent"]
    assert first == after  # the parent kept its keep-alive connection
    assert ports["child"] != first
    assert messages(make_client(proxy.url), "forked") == ["parent before", "child", "parent after"]
