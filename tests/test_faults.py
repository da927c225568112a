"""Delivery through real network faults, injected between boto3 and moto's server."""

from __future__ import annotations

import json
import logging
import os
import textwrap
import threading
import time
import warnings
from typing import Any

import pytest
from fault_scenarios import SCENARIOS, run
from faultproxy import FaultProxy
from helpers import host_and_port, make_client, read_events, run_python, wait_for, warned

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender
from wt_adapters._protocol import ErrorKind, SendError
from wt_adapters._settings import Settings

RECORDS = 30_000


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "endpoint down for 3 s"])
def test_every_record_arrives_in_order_through(endpoint: str, group: str, name: str) -> None:
    outcome = run(endpoint, group, SCENARIOS[name], name=name, records=RECORDS)
    assert outcome.closed_ok
    assert outcome.delivered == RECORDS and outcome.dropped == 0
    assert outcome.in_order
    # Duplicates only where a response was lost after the server stored the batch;
    # the engine counts every resend after a lost response as a possible duplicate.
    assert outcome.duplicates <= outcome.stats["possible_duplicates"]
    if "lost after storing" in name:
        assert outcome.duplicates == outcome.stats["possible_duplicates"] > 0
    elif "read timeout" not in name:
        assert outcome.duplicates == 0


@pytest.mark.slow
def test_every_record_arrives_after_the_endpoint_was_down(endpoint: str, group: str) -> None:
    name = "endpoint down for 3 s"
    outcome = run(endpoint, group, SCENARIOS[name], name=name, records=RECORDS, precreate=False)
    assert outcome.closed_ok and outcome.in_order
    assert outcome.delivered == RECORDS and outcome.duplicates == 0 and outcome.dropped == 0


def _proxy(endpoint: str) -> FaultProxy:
    return FaultProxy(*host_and_port(endpoint))


def _client(proxy: FaultProxy) -> Any:
    return make_client(
        proxy.url, retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2
    )


def test_a_queue_overflowing_while_the_endpoint_is_down_counts_drops_exactly(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    with _proxy(endpoint) as proxy:
        proxy.set_down(True)
        handler = CloudWatchLogHandler(
            log_group_name=group,
            log_stream_name="s",
            boto3_client=_client(proxy),
            max_queue_events=2_000,
            send_interval=0.05,
            max_batch_count=500,
        )
        logger.addHandler(handler)
        highest = 0
        with pytest.warns(WatchtowerWarning, match="queue full"):
            for i in range(10_000):
                logger.info("%d", i)
                if i % 500 == 0:
                    highest = max(highest, handler.stats()["queued"])
        assert handler.stats()["queued"] <= 2_000 and highest <= 2_000
        proxy.set_down(False)
        with pytest.warns(WatchtowerWarning, match="8000 events in all since the last summary"):
            assert handler.close(timeout=60) is False  # the rest delivered; 8,000 were lost
        stats = handler.stats()
    delivered = [int(e["message"]) for e in read_events(make_client(endpoint), group)]
    assert len(delivered) + stats["dropped"]["queue_full"] == 10_000
    # Requests go out in parallel, so the stream holds them in the order they landed.
    assert len(set(delivered)) == len(delivered) and max(delivered) == 9_999


@pytest.mark.slow
def test_flush_with_the_endpoint_down_returns_false_in_about_its_timeout(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    with _proxy(endpoint) as proxy:
        proxy.set_down(True)
        handler = CloudWatchLogHandler(log_group_name=group, boto3_client=_client(proxy))
        logger.addHandler(handler)
        logger.info("waiting")
        started = time.monotonic()
        assert handler.flush(timeout=1) is False
        assert 0.9 < time.monotonic() - started < 4
        with pytest.warns(WatchtowerWarning, match="could not be delivered"):
            started = time.monotonic()
            assert handler.close(timeout=1) is False
        assert time.monotonic() - started < 5
        assert handler.stats()["dropped"] == {"close_timeout": 1}


def test_a_batch_failing_past_its_retry_deadline_is_dropped_and_counted(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    with _proxy(endpoint) as proxy:
        proxy.add_fault("unavailable")
        handler = CloudWatchLogHandler(
            log_group_name=group, boto3_client=_client(proxy), retry_deadline=1, send_interval=0.05
        )
        logger.addHandler(handler)
        with pytest.warns(WatchtowerWarning) as caught:
            logger.info("doomed")
            handler.flush(timeout=10)
            # The delivery thread warns of the drop just after the flush returns.
            wait_for(lambda: warned(caught, "within 1 s", "because of retry deadline"))
        assert handler.stats()["dropped"] == {"retry_deadline": 1}
        with pytest.warns(WatchtowerWarning, match="1 retry deadline"):
            assert handler.close() is False


def test_refused_credentials_are_reported_once_not_in_a_loop(
    endpoint: str, group: str, logger: logging.Logger
) -> None:
    with _proxy(endpoint) as proxy:
        proxy.add_fault("access_denied", count=4)
        handler = CloudWatchLogHandler(
            log_group_name=group,
            log_stream_name="s",
            boto3_client=_client(proxy),
            send_interval=0.05,
        )
        logger.addHandler(handler)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            logger.info("secret-free")
            assert handler.close(timeout=30)
    refused = [w for w in caught if "refused the credentials" in str(w.message)]
    assert len(refused) == 1
    assert "testing" not in str(refused[0].message)  # no key material in the report
    assert [e["message"] for e in read_events(make_client(endpoint), group)] == ["secret-free"]


class StreamFailingSender(MemorySender):
    """Throttles every request for stream 'slow' until `healed` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.healed = threading.Event()

    def put_log_events(self, group: str, stream: str, events: Any) -> Any:
        if stream == "slow" and not self.healed.is_set():
            raise SendError(ErrorKind.RETRY, "ThrottlingException", "Rate exceeded")
        return super().put_log_events(group, stream, events)


def test_other_streams_flow_while_one_backs_off_and_then_it_delivers_everything() -> None:
    sender = StreamFailingSender()
    engine = build_engine(Settings(log_group_name="g", send_interval=0.02, max_batch_count=10), sender)
    now = int(time.time() * 1000)
    for i in range(100):
        engine.submit("slow", now, f"slow {i}")
        engine.submit("fast", now, f"fast {i}")
    wait_for(lambda: len(sender.events("g", "fast")) >= 100)
    assert len(sender.events("g", "fast")) == 100
    assert sender.events("g", "slow") == []
    sender.healed.set()
    assert engine.close(30)
    slow = [m for _, _, m in sender.events("g", "slow")]
    assert sorted(slow, key=lambda m: int(m.split()[1])) == [f"slow {i}" for i in range(100)]
    for request in sender.requests:  # several may be in flight: each is in order
        numbers = [int(m.split()[1]) for _, m in request.events]
        assert numbers == sorted(numbers)


class RejectingSender(MemorySender):
    def put_log_events(self, group: str, stream: str, events: Any) -> Any:
        super().put_log_events(group, stream, events)
        return {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": len(events) - 1}


def test_partial_rejections_are_counted_per_reason_and_warned_once() -> None:
    engine = build_engine(Settings(log_group_name="g", max_batch_count=10), RejectingSender())
    now = int(time.time() * 1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(30):
            engine.submit("s", now, str(i))
        assert engine.close(10) is False  # six were rejected
    stats = engine.stats()
    assert stats["rejected"] == {"too_old": 3, "too_new": 3}  # the first and last of each 10
    assert stats["sent"] == 24
    rejected = [str(w.message) for w in caught if "CloudWatch rejected" in str(w.message)]
    assert len(rejected) == 2  # once per reason
    assert any("too old" in m for m in rejected) and any("too new" in m for m in rejected)


def test_a_serializer_that_raises_still_lets_the_record_out(
    client: Any, group: str, logger: logging.Logger
) -> None:
    def broken(o: Any) -> Any:
        raise RuntimeError("serializer bug")

    handler = CloudWatchLogHandler(
        log_group_name=group,
        log_stream_name="s",
        boto3_client=client,
        json_serialize_default=broken,
    )
    logger.addHandler(handler)
    logger.info({"thing": object(), "n": 1})
    handler.close()
    [event] = read_events(client, group)
    data = json.loads(event["message"])
    assert data["n"] == 1 and data["thing"].startswith("<object object")


def test_a_two_megabyte_message_is_cut_to_one(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", boto3_client=client, max_message_size=1_048_576
    )
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match="truncated"):
        logger.info("é" * 1_048_576)  # 2 MiB of UTF-8
    logger.info("z" * 1_048_550)
    assert handler.close()
    first, second = (e["message"] for e in read_events(client, group))
    assert len(first.encode("utf-8")) == 1_048_550 and set(first) == {"é"}
    assert second == "z" * 1_048_550


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_delivers_its_records_and_the_parent_its_own(
    endpoint: str, group: str
) -> None:
    script = textwrap.dedent(f"""
        import logging, os, sys, boto3, wt_adapters
        client = boto3.client("logs", endpoint_url={endpoint!r}, region_name="us-east-1")
        handler = wt_adapters.CloudWatchLogHandler(
            log_group_name={group!r}, log_stream_name="{{process_id}}", boto3_client=client)
        log = logging.getLogger("forked")
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        for i in range(50):
            log.info("parent before fork %d", i)
        pid = os.fork()
        if pid == 0:
            for i in range(100):
                log.info("child %d", i)
            sys.exit(0)  # exits without closing: the exit hook delivers
        _, status = os.waitpid(pid, 0)
        log.info("parent after fork")
        handler.close()
        print(pid, status)
    """)
    run_ = run_python(script, timeout=120)
    assert run_.returncode == 0, run_.stderr
    child_pid, status = run_.stdout.split()
    assert status == "0"
    events = read_events(make_client(endpoint), group)
    by_stream: dict[str, list[str]] = {}
    for e in events:
        by_stream.setdefault(e["logStreamName"], []).append(e["message"])
    assert by_stream[child_pid] == [f"child {i}" for i in range(100)]
    parent = [m for s, ms in by_stream.items() if s != child_pid for m in ms]
    assert parent == [f"parent before fork {i}" for i in range(50)] + ["parent after fork"]


def test_a_serializer_that_logs_never_loops(
    client: Any, group: str, logger: logging.Logger
) -> None:
    def chatty(o: Any) -> Any:
        logger.info({"serializing": o})  # would recurse forever without a guard
        return repr(o)

    handler = CloudWatchLogHandler(
        log_group_name=group,
        log_stream_name="s",
        boto3_client=client,
        json_serialize_default=chatty,
    )
    logger.addHandler(handler)
    logger.info({"thing": object()})
    logger.info("after")
    handler.close()
    got = [e["message"] for e in read_events(client, group)]
    assert got[-1] == "after" and 2 <= len(got) <= 4
