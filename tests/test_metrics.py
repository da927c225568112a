"""Loss you can alarm on: each engine's counters as Embedded Metric Format events in its group.

The pure part (`_metrics`) alone, then engines over HTTP against moto: the events
as stored are valid EMF, they add up to `stats()`, a last one goes out at close,
they come every interval, and a metrics event that is dropped is no user's loss.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping

import pytest
from faultproxy import FaultProxy
from helpers import ROOT, make_client, read_events, run_python, subprocess_env, wait_for

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters._metrics import (
    COUNTERS,
    MAX_METRICS_PER_DIRECTIVE,
    MetricsReporter,
    deltas,
    emf_document,
    reason_metric,
)
from wt_adapters._options import resolve
from wt_adapters.testing import capture_events

#: The metric units the EMF specification allows.
_SIZES = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")
_BITS = ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits")
UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None"}
    | {*_SIZES, *_BITS}
    | {f"{unit}/Second" for unit in (*_SIZES, *_BITS)}
)
#: The stats() figures an event's counters add up to, by metric name.
TOTALS = {metric: key for metric, key in COUNTERS}


def assert_valid_emf(document: Mapping[str, Any]) -> None:
    """Check `document` against the EMF specification's required members and limits."""
    aws = document["_aws"]
    assert isinstance(aws["Timestamp"], int) and not isinstance(aws["Timestamp"], bool)
    assert abs(aws["Timestamp"] - time.time() * 1000) < 3_600_000  # milliseconds, recent
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255
        assert not namespace.startswith(":")
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and 1 <= len(dimension_set) <= 30
            for key in dimension_set:
                value = document[key]  # every dimension a top-level string
                assert isinstance(value, str) and 1 <= len(value) <= 1024 and value.strip()
        metrics = directive["Metrics"]
        assert 1 <= len(metrics) <= MAX_METRICS_PER_DIRECTIVE
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 255
            assert metric.get("Unit", "None") in UNITS
            value = document[name]  # every metric a top-level number
            assert isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_names(document: Mapping[str, Any]) -> List[str]:
    return [m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


def summed(documents: List[Dict[str, Any]]) -> Dict[str, int]:
    """Each counter's deltas summed over `documents` (the queue depth is a gauge: left out)."""
    total: Dict[str, int] = {}
    for document in documents:
        for name in metric_names(document):
            if name != "QueueDepth":
                total[name] = total.get(name, 0) + document[name]
    return total


def expected_sums(stats: Mapping[str, Any]) -> Dict[str, int]:
    """What the summed deltas must come to, from `stats()`."""
    expected = {metric: stats[key] for metric, key in TOTALS.items()}
    for prefix, key in (("Dropped", "dropped"), ("Rejected", "rejected")):
        expected[prefix] = sum(stats[key].values())
        for reason, count in stats[key].items():
            expected[reason_metric(prefix, reason)] = count
    return expected


# ------------------------------------------------------------------------- the pure part


def test_deltas_carry_every_total_and_each_reason_that_changed() -> None:
    before = {"sent": 10, "dropped": {"queue_full": 2}, "rejected": {}}
    after = {"enqueued": 30, "sent": 25, "dropped": {"queue_full": 2, "too_old": 3},
             "rejected": {"expired": 1}}  # fmt: skip
    assert deltas(before, after) == {
        "Enqueued": 30,
        "Sent": 15,
        "Retried": 0,
        "BatchesFailed": 0,
        "PossibleDuplicates": 0,
        "Dropped": 3,
        "DroppedTooOld": 3,  # queue_full did not change: no DroppedQueueFull
        "Rejected": 1,
        "RejectedExpired": 1,
    }


def test_an_event_is_valid_emf_with_the_group_and_process_as_dimensions() -> None:
    reporter = MetricsReporter(60.0, "MyApp/Logs", "my/group", now=100.0, pid=4242)
    now_ms = int(time.time() * 1000)
    text = reporter.take({"sent": 3, "dropped": {"queue_full": 1}}, 7, 100.0, now_ms)
    document = json.loads(text)
    assert_valid_emf(document)
    assert document["_aws"]["Timestamp"] == now_ms
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "MyApp/Logs"
    assert directive["Dimensions"] == [["LogGroup"], ["LogGroup", "Process"]]
    assert document["LogGroup"] == "my/group" and document["Process"].endswith(":4242")
    assert document["Sent"] == 3 and document["DroppedQueueFull"] == 1
    assert document["QueueDepth"] == 7
    assert reporter.stream.startswith("wt_adapters-metrics/") and reporter.stream.endswith("/4242")
    assert ":" not in reporter.stream and reporter.due == 160.0


def test_the_next_event_carries_the_changes_since_the_last() -> None:
    reporter = MetricsReporter(1.0, "ns", "g", now=0.0, pid=1)
    reporter.take({"enqueued": 5, "sent": 5, "dropped": {"closed": 1}}, 0, 1.0, 1)
    reporter.kept()
    second = json.loads(
        reporter.take({"enqueued": 9, "sent": 8, "dropped": {"closed": 1}}, 1, 2.0, 2)
    )
    reporter.kept()
    assert (second["Enqueued"], second["Sent"], second["Dropped"]) == (4, 3, 0)
    assert "DroppedClosed" not in second and reporter.made == 2


def test_an_event_not_kept_leaves_its_changes_to_the_next() -> None:
    reporter = MetricsReporter(1.0, "ns", "g", now=0.0, pid=1)
    reporter.take({"enqueued": 5}, 0, 1.0, 1)  # found no room in the queue
    assert reporter.due == 2.0 and reporter.made == 0
    assert json.loads(reporter.take({"enqueued": 7}, 0, 2.0, 2))["Enqueued"] == 7


def test_more_than_100_metrics_are_split_into_directives() -> None:
    values = {f"M{i}": i for i in range(150)}
    document = emf_document(values, {"QueueDepth": 0}, {"LogGroup": "g", "Process": "h:1"},
                            "ns", int(time.time() * 1000))  # fmt: skip
    assert [len(d["Metrics"]) for d in document["_aws"]["CloudWatchMetrics"]] == [100, 51]
    assert_valid_emf(document)


# ------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("metrics_interval", 0.5),
        ("metrics_interval", 0),
        ("metrics_interval", -1),
        ("metrics_interval", "soon"),
        ("metrics_interval", True),
        ("metrics_namespace", ""),
        ("metrics_namespace", ":colon"),
        ("metrics_namespace", "AWS/Logs"),
        ("metrics_namespace", "x" * 256),
        ("metrics_namespace", "tab\there"),
        ("metrics_namespace", "héllo"),
        ("metrics_namespace", None),
    ],
)
def test_bad_metrics_options_are_refused_naming_the_argument(option: str, value: Any) -> None:
    with pytest.raises(WatchtowerError, match=option):
        CloudWatchLogHandler(log_group_name="g", **{option: value})


def test_metrics_options_take_numbers_strings_and_timedeltas() -> None:
    assert resolve({"metrics_interval": "60"})["metrics_interval"] == 60.0
    assert resolve({"metrics_interval": timedelta(minutes=5)})["metrics_interval"] == 300.0
    assert resolve({"metrics_interval": 1})["metrics_interval"] == 1.0
    assert resolve({})["metrics_interval"] is None
    assert resolve({"metrics_namespace": "My App/Logs:1"})["metrics_namespace"] == "My App/Logs:1"
    assert resolve({})["metrics_namespace"] == "wt_adapters"


def test_metrics_need_the_background_threads() -> None:
    with pytest.raises(WatchtowerError, match="metrics_interval needs use_queues=True"):
        CloudWatchLogHandler(log_group_name="g", metrics_interval=60, use_queues=False)


# ------------------------------------------------------------------------- over HTTP


class Rejecting:
    """A boto3 client whose PutLogEvents responses say CloudWatch rejected the first event."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_log_events(self, **kwargs: Any) -> Any:
        response = self._client.put_log_events(**kwargs)
        if not kwargs["logStreamName"].startswith("wt_adapters-metrics/"):
            response["rejectedLogEventsInfo"] = {"tooOldLogEventEndIndex": 1}  # exclusive
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def shipper(logger: logging.Logger) -> Iterator[List[CloudWatchLogHandler]]:
    """Handlers a test adds to `logger` (closed at the end, if the test did not)."""
    handlers: List[CloudWatchLogHandler] = []
    yield handlers
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()


def ship(logger: logging.Logger, handlers: List[CloudWatchLogHandler], **options: Any) -> Any:
    handler = CloudWatchLogHandler(log_stream_name="app", **options)
    logger.addHandler(handler)
    handlers.append(handler)
    return handler


def metrics_documents(client: Any, group: str) -> List[Dict[str, Any]]:
    """The metrics events stored in `group`, decoded, in the order they were made."""
    events = [e for e in read_events(client, group) if e["logStreamName"] != "app"]
    assert all(e["logStreamName"].startswith("wt_adapters-metrics/") for e in events)
    return [json.loads(e["message"]) for e in sorted(events, key=lambda e: e["timestamp"])]


@pytest.mark.slow
def test_emf_events_as_stored_are_valid_and_add_up_to_stats(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    proxy.add_fault("throttle", count=2)  # retried batches, failed calls
    proxy.add_fault("drop_after", count=1)  # stored, the response lost: possible duplicates
    handler = ship(
        logger, shipper, log_group_name=group, metrics_interval=1, send_interval=0.2,
        max_queue_events=40, queue_overflow="drop_newest",
        boto3_client=Rejecting(make_client(proxy.url)),
    )  # fmt: skip
    with pytest.warns(WatchtowerWarning) as caught:
        for burst in range(3):
            for i in range(60):  # more than the queue holds at once: some are dropped
                logger.info("burst %d event %d", burst, i)
            wait_for(lambda: handler.stats()["queued"] == 0, timeout=30)
        start = handler.stats()["metrics_events"]["sent"]
        wait_for(lambda: handler.stats()["metrics_events"]["sent"] > start, timeout=10)
        logger.info("one more: the last event, at close, counts it")
        assert handler.close() is False  # some were dropped and rejected
    assert any("queue full" in str(w.message) for w in caught)
    stats = handler.stats()
    assert stats["dropped"].get("queue_full", 0) > 0 and stats["rejected"]["too_old"] > 0
    assert stats["retried"] > 0 and stats["possible_duplicates"] > 0
    documents = metrics_documents(client, group)
    assert len(documents) == stats["metrics_events"]["sent"] >= 2
    for document in documents:
        assert_valid_emf(document)
        assert document["LogGroup"] == group
        assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "wt_adapters"
    sums = summed(documents)
    assert sums == {name: sums[name] for name in expected_sums(stats)}  # no other metric
    assert sums == expected_sums(stats)
    assert stats["enqueued"] == stats["sent"] + sum(stats["rejected"].values())


def test_a_last_event_goes_out_at_close(
    client: Any, endpoint: str, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=3600,
                   endpoint_url=endpoint, metrics_namespace="Shop/Checkout")  # fmt: skip
    for i in range(25):
        logger.info("event %d", i)
    assert handler.close() is True
    (document,) = metrics_documents(client, group)
    assert_valid_emf(document)
    assert (document["Enqueued"], document["Sent"], document["Dropped"]) == (25, 25, 0)
    assert document["QueueDepth"] == 0
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Shop/Checkout"
    assert [e["message"] for e in read_events(client, group, "app")] == [
        f"event {i}" for i in range(25)
    ]


def test_an_engine_never_used_sends_nothing_at_close(
    proxy: FaultProxy, group: str, logger: logging.Logger, shipper: List[CloudWatchLogHandler]
) -> None:
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=1,
                   endpoint_url=proxy.url)  # fmt: skip
    assert handler.close() is True
    assert proxy.received() == []


@pytest.mark.slow
def test_events_come_every_interval_and_idle_engines_send_zeros(
    client: Any, endpoint: str, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=1,
                   send_interval=0.1, endpoint_url=endpoint)  # fmt: skip
    started = time.monotonic()
    logger.info("one event, then nothing")
    wait_for(lambda: handler.stats()["metrics_events"]["sent"] >= 3, timeout=15)
    elapsed = time.monotonic() - started
    handler.close()  # nothing changed since the last event: no other at close
    documents = metrics_documents(client, group)
    assert len(documents) == handler.stats()["metrics_events"]["sent"]
    assert 3 <= len(documents) <= elapsed / 1.0 + 1
    stamps = [d["_aws"]["Timestamp"] for d in documents]
    assert all(b - a >= 900 for a, b in zip(stamps, stamps[1:]))  # about 1 s apart, not less
    assert documents[0]["Enqueued"] == 1
    assert all(d["Enqueued"] == 0 and d["Dropped"] == 0 for d in documents[1:])
    assert sum(d["Sent"] for d in documents) == 1


@pytest.mark.parametrize("front_end", ["stdlib", "structlog"])
def test_a_last_event_goes_out_at_exit_without_a_close(
    tmp_path: Path, endpoint: str, client: Any, group: str, front_end: str
) -> None:
    setups = {
        # logging.shutdown closes the handler after the exit flush: still one event
        "stdlib": """
            import logging
            from wt_adapters import CloudWatchLogHandler
            log = logging.getLogger("app")
            log.addHandler(CloudWatchLogHandler(**OPTIONS))
            for i in range(7):
                log.warning("event %d", i)
        """,
        # nothing closes a renderer: the exit hook delivers
        "structlog": """
            import structlog
            from wt_adapters.structlog import CloudWatchRenderer
            log = structlog.wrap_logger(
                structlog.ReturnLogger(),
                processors=[CloudWatchRenderer(write_locally=False, **OPTIONS)],
            )
            for i in range(7):
                log.info("event", n=i)
        """,
    }
    options = dict(log_group_name=group, log_stream_name="app", metrics_interval=3600)
    script = f"OPTIONS = {options!r}\n" + textwrap.dedent(setups[front_end])
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=120,
        env=subprocess_env(endpoint, home=tmp_path),
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (document,) = metrics_documents(client, group)
    assert_valid_emf(document)
    assert (document["Enqueued"], document["Sent"], document["Dropped"]) == (7, 7, 0)


@pytest.mark.slow
def test_a_metrics_event_the_full_queue_drops_is_not_a_user_drop_and_makes_no_other(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    # The user's events hold the queue for 5 s from when their request arrives: a few
    # metrics_interval ticks (a fault timed from here was over before the first request
    # arrived on a loaded machine, and no metrics event was dropped).
    slow = proxy.add_fault("latency", count=1, latency=5.0)
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=1,
                   send_interval=0.1, max_queue_events=5, endpoint_url=proxy.url)  # fmt: skip
    for i in range(5):
        logger.info("event %d", i)  # exactly what the queue holds: no user drop
    wait_for(lambda: handler.stats()["metrics_events"]["dropped"].get("queue_full", 0) >= 2,
             timeout=30)  # fmt: skip
    assert proxy.remove_fault(slow) is False  # spent by the one request it held
    assert handler.close() is True
    stats = handler.stats()
    assert stats["dropped"] == {} and stats["sent"] == 5
    documents = metrics_documents(client, group)
    assert len(documents) == stats["metrics_events"]["sent"]
    assert documents and all(d["Dropped"] == 0 for d in documents)
    assert sum(d["Enqueued"] for d in documents) == 5
    assert summed(documents) == expected_sums(stats)


FORK_SCRIPT = """
import json, logging, os
from wt_adapters import CloudWatchLogHandler
handler = CloudWatchLogHandler(**OPTIONS)
log = logging.getLogger("app")
log.addHandler(handler)
log.warning("parent, before the fork")
log.warning("parent, before the fork, again")
assert handler.flush(10)
pid = os.fork()
if pid == 0:
    for i in range(3):
        log.warning("child %d", i)
    handler.close()
    os._exit(0)
_, status = os.waitpid(pid, 0)
log.warning("parent, after the fork")
handler.close()
print(json.dumps([os.getpid(), pid, status]))
"""


def test_a_forked_child_reports_its_own_counts_in_a_stream_of_its_own(
    endpoint: str, client: Any, group: str
) -> None:
    options = dict(log_group_name=group, log_stream_name="app", metrics_interval=3600,
                   endpoint_url=endpoint)  # fmt: skip
    done = run_python(f"OPTIONS = {options!r}\n" + FORK_SCRIPT)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    parent, child, status = json.loads(done.stdout)
    assert status == 0
    documents = metrics_documents(client, group)
    for document in documents:
        assert_valid_emf(document)
    by_process = {
        process: summed([d for d in documents if d["Process"] == process])
        for process in {d["Process"] for d in documents}
    }
    assert sorted(p.rsplit(":", 1)[1] for p in by_process) == sorted([str(parent), str(child)])
    for process, sums in by_process.items():
        assert (sums["Enqueued"], sums["Sent"], sums["Dropped"]) == (3, 3, 0), process
    streams = {e["logStreamName"] for e in read_events(client, group)} - {"app"}
    assert streams == {f"wt_adapters-metrics/{p.replace(':', '/')}" for p in by_process}


def test_with_a_spool_the_counts_add_up_and_metrics_events_stay_off_disk(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=1,
                   send_interval=0.1, spool_dir=str(tmp_path / "spool"),
                   boto3_client=Rejecting(make_client(endpoint)))  # fmt: skip
    with pytest.warns(WatchtowerWarning, match="rejected"):
        for i in range(20):
            logger.info("event %d", i)
        wait_for(lambda: handler.stats()["metrics_events"]["sent"] >= 1, timeout=15)
        logger.info("one more")
        assert handler.close() is False  # some were rejected
    stats = handler.stats()
    documents = metrics_documents(client, group)
    assert len(documents) == stats["metrics_events"]["sent"] >= 2
    assert summed(documents) == expected_sums(stats)
    assert stats["enqueued"] == 21 and stats["rejected"]["too_old"] > 0
    # only the user's rejected events are dead letters; nothing waits on disk
    assert stats["dead_letters"] == stats["rejected"]["too_old"]
    assert stats["spool_events"] == 0 and stats["spool_left"] == 0


def test_the_metrics_stream_is_created_even_without_create_log_stream(
    client: Any, endpoint: str, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="app")
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=3600,
                   create_log_stream=False, endpoint_url=endpoint)  # fmt: skip
    logger.info("into a stream that exists")
    assert handler.close() is True
    (document,) = metrics_documents(client, group)
    assert document["Sent"] == 1


def test_the_testing_helper_shows_metrics_events(logger: logging.Logger) -> None:
    with capture_events() as events:
        handler = CloudWatchLogHandler(log_group_name="app", metrics_interval=60)
        logger.addHandler(handler)
        try:
            logger.info("hello")
        finally:
            logger.removeHandler(handler)
            handler.close()
        metrics = [e for e in events if e.stream.startswith("wt_adapters-metrics/")]
        assert [e.message for e in events if e not in metrics] == ["hello"]
        (event,) = metrics
        assert event.data is not None and event["Sent"] == 1
        assert_valid_emf(event.data)


def test_tail_shows_metrics_events(
    tmp_path: Path, endpoint: str, group: str, logger: logging.Logger,
    shipper: List[CloudWatchLogHandler],
) -> None:  # fmt: skip
    handler = ship(logger, shipper, log_group_name=group, metrics_interval=3600,
                   endpoint_url=endpoint)  # fmt: skip
    logger.info("hello")
    assert handler.close() is True
    result = subprocess.run(
        [sys.executable, "-m", "wt_adapters", "tail", "-g", group, "--json", "--since", "1h"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=subprocess_env(endpoint, credentials=True, home=tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["message"] for e in shown if e["stream"] == "app"] == ["hello"]
    (metrics,) = [e for e in shown if e["stream"].startswith("wt_adapters-metrics/")]
    assert metrics["message"]["Sent"] == 1 and "_aws" in metrics["message"]
