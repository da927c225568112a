"""The engine's batching rules, checked on every request it makes (in memory)."""

from __future__ import annotations

import random
import sys
import threading
import time
import warnings
from typing import Any, List, Optional

import pytest
from helpers import wait_for, warned

from wt_adapters import WatchtowerWarning
from wt_adapters._destination import build_engine
from wt_adapters._engine import Engine
from wt_adapters._engine.queue import _YIELD_EVERY, Queue
from wt_adapters._memory import MemorySender, request_problem
from wt_adapters._protocol import ErrorKind, SendError
from wt_adapters._rules import MAX_BATCH_BYTES, MAX_BATCH_SPAN_MS
from wt_adapters._settings import Settings

NOW = int(time.time() * 1000)


def make_engine(sender: Optional[Any] = None, **options: Any) -> Engine:
    options.setdefault("log_group_name", "g")
    return build_engine(Settings(**options), sender or MemorySender())


@pytest.fixture
def sender() -> MemorySender:
    return MemorySender()


def assert_requests_valid(sender: MemorySender) -> None:
    for request in sender.requests:
        assert request_problem(request.events) is None


def test_batches_hold_at_most_10000_events(sender: MemorySender) -> None:
    engine = make_engine(sender)
    for i in range(25_000):
        engine.submit("s", NOW, f"m{i}")
    assert engine.close(30)
    # The batches may be in flight together, so they land in any order.
    assert sorted((len(r.events) for r in sender.requests), reverse=True) == [10_000, 10_000, 5_000]
    for request in sender.requests:  # each batch holds consecutive events, in order
        numbers = [int(m[1:]) for _, m in request.events]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    stored = [m for _, _, m in sender.events("g")]
    assert sorted(stored, key=lambda m: int(m[1:])) == [f"m{i}" for i in range(25_000)]


def test_batches_hold_at_most_1mib_counting_utf8_bytes_and_26_each(sender: MemorySender) -> None:
    engine = make_engine(sender, max_message_size=MAX_BATCH_BYTES - 26)
    message = "é" * 50_000  # 100,000 UTF-8 bytes in 50,000 characters
    for _ in range(40):
        engine.submit("s", NOW, message)
    assert engine.close(30)
    assert all(r.nbytes <= MAX_BATCH_BYTES for r in sender.requests)
    assert [len(r.events) for r in sender.requests] == [10, 10, 10, 10]
    assert_requests_valid(sender)


def test_max_batch_count_and_size_options_are_obeyed(sender: MemorySender) -> None:
    engine = make_engine(sender, max_batch_count=7, max_batch_size=2000, max_message_size=500)
    for i in range(100):
        engine.submit("s", NOW, "x" * 300 if i % 2 else "y")
    assert engine.close(10)
    assert all(len(r.events) <= 7 and r.nbytes <= 2000 for r in sender.requests)
    assert len(sender.events("g")) == 100


def test_events_are_sorted_by_timestamp_stably_inside_a_batch(sender: MemorySender) -> None:
    engine = make_engine(sender)
    stamps = [NOW - 1000 * random.randrange(50) for _ in range(2_000)]
    for i, ts in enumerate(stamps):
        engine.submit("s", ts, f"{ts}:{i}")
    assert engine.close(10)
    got = sender.events("g")
    assert [ts for _, ts, _ in got] == sorted(stamps)
    expected = sorted(((ts, i) for i, ts in enumerate(stamps)), key=lambda p: p[0])
    assert [m for _, _, m in got] == [f"{ts}:{i}" for ts, i in expected]


def test_no_batch_spans_24_hours_and_three_days_out_of_order_arrive_whole(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender)
    day = 24 * 3600 * 1000
    stamps = [NOW - 3 * day + random.randrange(3 * day) for _ in range(3_000)]
    for i, ts in enumerate(stamps):
        engine.submit("s", ts, str(i))
    assert engine.close(10)
    assert_requests_valid(sender)
    assert all(r.events[-1][0] - r.events[0][0] < MAX_BATCH_SPAN_MS for r in sender.requests)
    assert sorted(int(m) for _, _, m in sender.events("g")) == list(range(3_000))


def test_an_empty_message_is_not_sent_and_warned_about(sender: MemorySender) -> None:
    engine = make_engine(sender)
    with pytest.warns(WatchtowerWarning, match="Empty messages cannot be sent"):
        assert engine.submit("s", NOW, "") is False
    engine.submit("s", NOW, "after")
    assert engine.close(5)
    assert [m for _, _, m in sender.events("g")] == ["after"]


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
def test_an_oversized_message_is_cut_at_a_character_boundary(
    sender: MemorySender, char: str
) -> None:
    engine = make_engine(sender, max_message_size=1026)
    with pytest.warns(WatchtowerWarning, match="truncated"):
        engine.submit("s", NOW, char * 5000)
    assert engine.close(5)
    [(_, _, message)] = sender.events("g")
    data = message.encode("utf-8")
    assert 1000 - 3 <= len(data) <= 1000
    assert set(message) == {char}


def test_a_lone_surrogate_is_sent_as_valid_utf8(sender: MemorySender) -> None:
    engine = make_engine(sender)
    engine.submit("s", NOW, "bad \udcff here")
    assert engine.close(5)
    [(_, _, message)] = sender.events("g")
    message.encode("utf-8")
    assert message == "bad \\udcff here"


def test_an_event_waits_at_most_send_interval(sender: MemorySender) -> None:
    engine = make_engine(sender, send_interval=0.3)
    started = time.monotonic()
    engine.submit("s", NOW, "hello")
    wait_for(lambda: sender.events("g"), timeout=5)
    assert time.monotonic() - started < 3
    engine.close(5)


def test_a_full_batch_goes_at_once_without_waiting_for_the_interval(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender, send_interval=600, max_batch_count=100)
    for i in range(100):
        engine.submit("s", NOW, str(i))
    wait_for(lambda: len(sender.events("g")) == 100, timeout=5)
    engine.close(5)


def test_events_too_old_or_too_new_are_dropped_before_sending_and_counted(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender)
    day = 24 * 3600 * 1000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine.submit("s", NOW - 15 * day, "old")
        engine.submit("s", NOW, "fine")
        engine.submit("s", NOW + day, "future")
        assert engine.close(5) is False  # two were lost
    assert [m for _, _, m in sender.events("g")] == ["fine"]
    assert engine.stats()["dropped"] == {"too_old": 1, "too_new": 1}
    assert any("too old" in str(w.message) for w in caught)


def test_missing_group_and_stream_are_created_with_tags_and_retention(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender, log_group_retention_days=14, log_group_tags=(("team", "core"),))
    for i in range(10):
        engine.submit(f"s{i % 2}", NOW, str(i))
    assert engine.close(5)
    assert sorted(sender.groups["g"]) == ["s0", "s1"]
    assert sender.tags["g"] == {"team": "core"}
    assert sender.retention["g"] == 14
    assert len(sender.events("g")) == 10


def test_an_existing_group_is_left_as_it_is(sender: MemorySender) -> None:
    sender.create_log_group("g", None)
    engine = make_engine(sender, log_group_retention_days=14, log_group_tags=(("a", "b"),))
    engine.submit("s", NOW, "x")
    assert engine.close(5)
    assert "g" not in sender.retention and "g" not in sender.tags


class SlowSender(MemorySender):
    """Blocks every PutLogEvents until released."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.started = threading.Event()  # set when the first PutLogEvents arrives

    def put_log_events(self, group: str, stream: str, events: Any) -> Any:
        self.started.set()
        self.gate.wait(10)
        return super().put_log_events(group, stream, events)


def test_flush_returns_false_when_its_timeout_passes() -> None:
    sender = SlowSender()
    engine = make_engine(sender)
    engine.submit("s", NOW, "x")
    started = time.monotonic()
    assert engine.flush(timeout=0.3) is False
    assert 0.25 < time.monotonic() - started < 4
    sender.gate.set()
    assert engine.flush(timeout=5) is True
    engine.close(5)


def test_past_half_full_with_a_request_under_way_a_log_call_yields_the_gil(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A thread that logs without ever blocking would keep the GIL from the sender
    # threads (the client's making, a request) until the queue overflowed.
    yields: List[float] = []
    sleep = time.sleep
    sender = SlowSender()
    engine = make_engine(sender, max_queue_events=100, send_interval=0.01)
    engine.submit("s", NOW, "first")  # goes at once, and waits at the gate
    assert sender.started.wait(5)
    monkeypatch.setattr(time, "sleep", lambda s: (yields.append(s), sleep(s)))
    for i in range(48):
        engine.submit("s", NOW, str(i))
    assert yields == []  # below half full (50): the call costs nothing more
    for i in range(10):
        engine.submit("s", NOW, str(i))
        time.sleep(0.002)  # more than _engine._YIELD_EVERY: each of these calls yields
    assert yields.count(0) == 10
    before = len(yields)
    started = time.monotonic()
    for i in range(20):  # a tight burst: a few microseconds a call
        engine.submit("s", NOW, str(i))
    took = time.monotonic() - started
    # At most one yield per `_YIELD_EVERY` (1 ms) of the burst: a burst that takes
    # microseconds yields once or twice; one that a loaded machine stretches (the
    # thread preempted between calls) may yield once per millisecond it took, no more.
    assert len(yields) - before <= 3 + int(took / _YIELD_EVERY)
    monkeypatch.setattr(time, "sleep", sleep)
    sender.gate.set()
    assert engine.flush(5)
    engine.close(5)


def test_past_half_full_while_the_client_is_made_every_log_call_yields_the_gil(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # botocore reads its files while it makes the client and waits for the GIL after
    # each read: nothing can be sent before it is done, so a burst waits for it.
    class MakingClient(SlowSender):
        making_client = True

    yields: List[float] = []
    sleep = time.sleep
    sender = MakingClient()
    engine = make_engine(sender, max_queue_events=100, send_interval=0.01)
    engine.submit("s", NOW, "first")
    assert sender.started.wait(5)
    monkeypatch.setattr(time, "sleep", lambda s: (yields.append(s), sleep(s)))
    for i in range(48):
        engine.submit("s", NOW, str(i))
    assert yields == []  # below half full: the call costs nothing more
    for i in range(20):  # a tight burst
        engine.submit("s", NOW, str(i))
    assert yields.count(0) == 20
    monkeypatch.setattr(time, "sleep", sleep)
    sender.making_client = False
    sender.gate.set()
    assert engine.flush(5)
    engine.close(5)


def test_flush_waits_only_for_what_was_queued_before_it() -> None:
    sender = MemorySender()
    engine = make_engine(sender)
    for i in range(1000):
        engine.submit("s", NOW, str(i))
    assert engine.flush(5)
    assert len(sender.events("g")) == 1000
    assert engine.stats()["queued"] == 0
    engine.close(5)


def test_close_is_idempotent_and_later_events_are_counted_as_dropped(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender)
    engine.submit("s", NOW, "x")
    assert engine.close(5)
    assert engine.close(5)
    with pytest.warns(WatchtowerWarning, match="because of closed"):
        assert engine.submit("s", NOW, "late") is False
    assert engine.stats()["dropped"] == {"closed": 1}


class RefusingSender(MemorySender):
    """Refuses any batch holding a message that starts with 'bad'."""

    def put_log_events(self, group: str, stream: str, events: Any) -> Any:
        if any(m.startswith("bad") for _, m in events):
            raise SendError(ErrorKind.INVALID, "InvalidParameterException", "refused")
        return super().put_log_events(group, stream, events)


def test_an_invalid_event_is_isolated_and_the_rest_of_its_batch_arrives() -> None:
    sender = RefusingSender()
    engine = make_engine(sender)
    with pytest.warns(WatchtowerWarning) as caught:
        for i in range(100):
            engine.submit("s", NOW, "bad" if i == 37 else str(i))
        assert engine.close(5) is False  # one was lost
    assert warned(caught, "because of invalid") and warned(caught, "1 events in all")
    # The halves go out in parallel: each arrives whole, in whichever order they land.
    assert sorted(int(m) for _, _, m in sender.events("g")) == [i for i in range(100) if i != 37]
    assert engine.stats()["dropped"] == {"invalid": 1}


def test_stats_count_what_happened(sender: MemorySender) -> None:
    engine = make_engine(sender)
    for i in range(10):
        engine.submit("s", NOW, str(i))
    assert engine.close(5)
    stats = engine.stats()
    assert stats["enqueued"] == 10 and stats["sent"] == 10 and stats["queued"] == 0
    assert stats["batches_sent"] == 1 and stats["dropped"] == {} and stats["rejected"] == {}


def test_events_flow_from_many_threads_without_loss(sender: MemorySender) -> None:
    engine = make_engine(sender, send_interval=0.05)

    def work(n: int) -> None:
        for i in range(2000):
            engine.submit(f"s{n}", NOW, f"{n}:{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.close(10)
    for n in range(4):
        assert [m for _, _, m in sender.events("g", f"s{n}")] == [f"{n}:{i}" for i in range(2000)]


def test_queue_limit_drops_oldest_by_default_and_counts_exactly() -> None:
    sender = SlowSender()
    engine = make_engine(sender, max_queue_events=1000, max_batch_count=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(5000):
            engine.submit("s", NOW, str(i))
        sender.gate.set()
        engine.close(10)
    stats = engine.stats()
    delivered: List[str] = [m for _, _, m in sender.events("g")]
    assert stats["dropped"]["queue_full"] == 5000 - len(delivered)
    assert "4999" in delivered  # the newest is kept; batches in flight may land after it
    assert any("queue full" in str(w.message) for w in caught)


def test_queue_limit_drop_newest_keeps_the_oldest() -> None:
    sender = SlowSender()
    engine = make_engine(sender, max_queue_events=100, queue_overflow="drop_newest")
    with pytest.warns(WatchtowerWarning) as caught:
        for i in range(500):
            engine.submit("s", NOW, str(i))
        sender.gate.set()
        assert engine.close(10) is False
    assert warned(caught, "because of queue full") and warned(caught, "400 queue full")
    delivered = [m for _, _, m in sender.events("g")]
    assert delivered == [str(i) for i in range(100)]
    assert engine.stats()["dropped"]["queue_full"] == 400


def test_queue_limit_block_waits_for_room_up_to_its_timeout() -> None:
    sender = SlowSender()
    engine = make_engine(
        sender, max_queue_events=10, queue_overflow="block", queue_block_timeout=1.0
    )
    for i in range(10):
        engine.submit("s", NOW, str(i))
    started = time.monotonic()
    with pytest.warns(WatchtowerWarning, match="because of queue full"):
        assert engine.submit("s", NOW, "blocked") is False
    assert 0.95 < time.monotonic() - started < 5
    # Room appears 0.05 s into a wait of up to 1 s: a wide margin on a loaded machine.
    opener = threading.Timer(0.05, sender.gate.set)
    opener.start()
    try:
        assert engine.submit("s", NOW, "waited") is True
    finally:
        opener.join()
    with pytest.warns(WatchtowerWarning, match="1 events in all since the last summary"):
        assert engine.close(10) is False  # the one that timed out was lost
    assert len(sender.events("g")) == 11


def test_idle_streams_are_forgotten_and_later_events_still_arrive(sender: MemorySender) -> None:
    engine = make_engine(sender, send_interval=0.01)
    for i in range(500):
        engine.submit(f"stream-{i}", NOW, str(i))
    assert engine.flush(10)
    wait_for(lambda: len(engine.queue.streams) <= 64, timeout=5)
    engine.submit("stream-7", NOW, "again")
    assert engine.close(10)
    assert len(sender.events("g")) == 501
    assert [m for _, _, m in sender.events("g", "stream-7")] == ["7", "again"]


def test_close_waits_for_a_batch_in_flight_and_counts_it_as_sent() -> None:
    sender = SlowSender()
    engine = make_engine(sender)
    for i in range(10):
        engine.submit("s", NOW, str(i))
    assert engine.flush(0.2) is False
    assert sender.started.wait(5)  # the batch is in flight when close begins
    threading.Timer(0.3, sender.gate.set).start()
    assert engine.close(5) is True
    stats = engine.stats()
    assert stats["sent"] == 10 and stats["dropped"] == {}
    assert stats["queued"] == 0 and stats["queued_bytes"] == 0


def test_a_batch_still_in_flight_when_close_gives_up_is_counted_once_it_lands() -> None:
    sender = SlowSender()
    engine = make_engine(sender)
    for i in range(10):
        engine.submit("s", NOW, str(i))
    engine.flush(0.2)
    assert sender.started.wait(5)
    assert engine.close(0.2) is False  # in flight: not delivered yet, but not lost either
    assert engine.stats()["dropped"] == {}
    sender.gate.set()
    wait_for(lambda: engine.stats()["sent"] == 10)
    stats = engine.stats()
    assert stats["queued"] == 0 and stats["queued_bytes"] == 0 and stats["dropped"] == {}


def test_the_final_warning_names_the_real_cause_not_the_close_timeout() -> None:
    class Unreachable(MemorySender):
        def create_log_stream(self, group: str, stream: str) -> None:
            raise SendError(
                ErrorKind.RETRY,
                "EndpointConnectionError",
                "Could not connect to the endpoint URL",
                unreachable=True,
            )

    engine = make_engine(Unreachable())
    engine.submit("s", NOW, "lost")
    with pytest.warns(WatchtowerWarning) as caught:
        assert engine.close(0.3) is False
    final = str(caught[-1].message)
    assert "could not be delivered" in final and "Could not connect to the endpoint URL" in final
    assert engine.stats()["last_error"] == (
        "EndpointConnectionError: Could not connect to the endpoint URL"
    )


def test_a_sender_thread_that_dies_applying_an_outcome_gives_its_slot_back_once(
    sender: MemorySender, capsys: pytest.CaptureFixture[str]
) -> None:
    class Bug(BaseException):
        pass

    engine = make_engine(sender, max_batch_count=10)
    apply = engine.outcomes.apply
    calls: List[int] = []

    def dying_half_way(job: Any, outcome: Any) -> None:
        if job.batch is not None:
            calls.append(1)
        if len(calls) == 1 and job.batch is not None:  # the first batch's outcome
            job.stream.in_flight.remove(job.batch)  # as far as applying got
            raise Bug("a bug while applying an outcome")
        apply(job, outcome)

    engine.outcomes.apply = dying_half_way  # type: ignore[method-assign]
    for i in range(10):
        engine.submit("s", NOW, f"m{i}")
    assert engine.flush(5)  # the batch went back to its stream and was sent again
    stats = engine.stats()
    assert stats["in_flight"] == 0 and stats["queued"] == 0
    assert stats["sent"] == 10 and stats["dropped"] == {}
    assert stats["possible_duplicates"] == 10  # the first request was made before the bug
    err: List[str] = []

    def said() -> str:
        err.append(capsys.readouterr().err)  # the dying thread says so after it let go
        return "".join(err)

    wait_for(lambda: "stopped: Bug('a bug while applying an outcome')" in said())
    assert engine.close(5)
    got = [m for _, _, m in sender.events("g")]
    assert sorted(got) == sorted([f"m{i}" for i in range(10)] * 2)  # sent again, as counted
    assert engine.stats()["in_flight"] == 0


def test_a_sender_thread_that_cannot_be_started_is_not_kept_and_is_tried_again(
    sender: MemorySender, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sender)
    start = threading.Thread.start
    refused: List[str] = []

    def out_of_threads(self: threading.Thread) -> None:
        if self.name.startswith("wt_adapters:") and not refused:
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        start(self)

    monkeypatch.setattr(threading.Thread, "start", out_of_threads)
    engine.submit("s", NOW, "first")  # its sender thread can't be started
    assert refused and not engine.workers.threads
    assert "could not be started: RuntimeError" in capsys.readouterr().err
    engine.submit("s", NOW, "second")  # the next event tries again
    assert engine.flush(5)
    assert sorted(m for _, _, m in sender.events("g")) == ["first", "second"]
    assert engine.close(5)


def test_a_sender_thread_that_dies_is_replaced_and_says_so_on_stderr(
    sender: MemorySender, capsys: pytest.CaptureFixture[str]
) -> None:
    class Bug(BaseException):
        pass

    engine = make_engine(sender)
    attempt = engine.workers._attempt
    calls: List[int] = []

    def failing_once(job: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Bug("a bug in the engine")
        return attempt(job)

    engine.workers._attempt = failing_once
    engine.submit("s", NOW, "first")
    first = engine.workers.threads[0]
    # The only sender thread dies on its first job; flush starts another, which sends.
    assert engine.flush(5)
    assert first not in engine.workers.threads
    wait_for(lambda: not first.is_alive())  # it ends once it has said so
    assert "stopped: Bug('a bug in the engine')" in capsys.readouterr().err
    engine.submit("s", NOW, "second")
    assert engine.close(5)
    assert sorted(m for _, _, m in sender.events("g")) == ["first", "second"]
    assert engine.stats()["queued"] == 0


def test_many_small_streams_are_sent_when_the_queue_is_half_full_not_dropped(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender, send_interval=600, max_queue_events=2_000)
    for i in range(20_000):
        engine.submit(f"stream-{i % 200}", NOW, str(i))
        if i % 1000 == 999:  # half full: the senders send every stream (not at the interval)
            wait_for(lambda: engine.stats()["queued"] < 1000, timeout=5)
    assert engine.close(10)
    stats = engine.stats()
    assert stats["dropped"] == {} and stats["sent"] == 20_000
    assert len({s for s, _, _ in sender.events("g")}) == 200


def test_a_new_stream_is_created_before_its_first_batch(sender: MemorySender) -> None:
    calls: List[str] = []

    class Recording(MemorySender):
        def create_log_stream(self, group: str, stream: str) -> None:
            calls.append("CreateLogStream")
            super().create_log_stream(group, stream)

        def create_log_group(self, group: str, tags: Any) -> None:
            calls.append("CreateLogGroup")
            super().create_log_group(group, tags)

        def put_log_events(self, group: str, stream: str, events: Any) -> Any:
            calls.append("PutLogEvents")
            return super().put_log_events(group, stream, events)

    engine = make_engine(Recording())
    engine.submit("s", NOW, "one")
    assert engine.flush(5)
    engine.submit("s", NOW, "two")
    assert engine.close(5)
    assert calls == [
        "CreateLogStream", "CreateLogGroup", "CreateLogStream", "PutLogEvents", "PutLogEvents"
    ]  # fmt: skip


def test_a_stream_deleted_while_running_is_created_again(sender: MemorySender) -> None:
    engine = make_engine(sender)
    engine.submit("s", NOW, "before")
    assert engine.flush(5)
    del sender.groups["g"]["s"]
    engine.submit("s", NOW, "after")
    assert engine.close(5)
    assert [m for _, _, m in sender.events("g")] == ["after"]
    assert engine.stats()["dropped"] == {}


def test_send_now_with_an_empty_message_warns_and_sends_nothing(sender: MemorySender) -> None:
    engine = make_engine(sender)
    with pytest.warns(WatchtowerWarning, match="Received empty message"):
        assert engine.send_now("s", NOW, "") is False
    assert sender.requests == [] and engine.stats()["enqueued"] == 0


def test_send_now_creates_the_stream_then_sends_on_the_callers_thread(
    sender: MemorySender,
) -> None:
    engine = make_engine(sender)
    assert engine.send_now("s", NOW, "now") is True
    assert [m for _, _, m in sender.events("g")] == ["now"]
    assert not engine.workers.threads and engine.stats()["sent"] == 1


def test_send_now_gives_up_on_an_invalid_event_at_once() -> None:
    class Refusing(MemorySender):
        def put_log_events(self, group: str, stream: str, events: Any) -> Any:
            raise SendError(ErrorKind.INVALID, "ParamValidationError", "bad")

    engine = make_engine(Refusing())
    started = time.monotonic()
    with pytest.warns(WatchtowerWarning) as caught:
        assert engine.send_now("s", NOW, "x") is False
    assert warned(caught, "refused a log event", "because of invalid")
    assert time.monotonic() - started < 1.0  # never retried: nothing waits
    assert engine.stats()["dropped"] == {"invalid": 1}


def test_a_fork_waits_for_the_request_under_way_and_holds_new_ones() -> None:
    from wt_adapters import _lifecycle

    sender = SlowSender()
    engine = make_engine(sender)
    engine.submit("s", NOW, "x")
    engine.flush(0.2)
    assert sender.started.wait(5)  # a sender thread is in the middle of a request
    threading.Timer(0.2, sender.gate.set).start()
    started = time.monotonic()
    _lifecycle._before_fork()  # what os.fork() runs first
    try:
        waited = time.monotonic() - started
        assert engine.workers.busy == 0  # the request ended before the fork could go on
        assert 0.1 < waited < _lifecycle.FORK_PAUSE + 0.5
    finally:
        _lifecycle._after_fork_in_parent()
    assert engine.close(5)
    assert [m for _, _, m in sender.events("g")] == ["x"]


def test_a_fork_waits_no_longer_than_its_pause_for_a_request_that_hangs() -> None:
    from wt_adapters import _lifecycle

    sender = SlowSender()  # never released until the end
    engine = make_engine(sender)
    engine.submit("s", NOW, "x")
    engine.flush(0.2)
    assert sender.started.wait(5)
    started = time.monotonic()
    _lifecycle._before_fork()
    _lifecycle._after_fork_in_parent()
    assert time.monotonic() - started < _lifecycle.FORK_PAUSE + 0.5
    sender.gate.set()
    assert engine.close(5)


# ------------------------------------------------- the hand-off without the lock


def test_far_from_full_a_log_call_does_not_wait_for_the_senders_lock() -> None:
    sender = SlowSender()
    engine = make_engine(sender)
    engine.submit("s", NOW, "first")
    engine.flush(0.2)
    assert sender.started.wait(5)  # a request under way: the engine is awake
    done = threading.Event()

    def log() -> None:
        for i in range(500):
            engine.submit("s", NOW, f"m{i}")
        done.set()

    with engine.lock:  # as a sender thread holds it while it takes a batch
        threading.Thread(target=log).start()
        assert done.wait(5)
    sender.gate.set()
    assert engine.close(10)
    got = sorted(m for _, _, m in sender.events("g"))
    assert got == sorted(["first"] + [f"m{i}" for i in range(500)])


def test_events_from_many_threads_all_arrive_each_thread_s_in_its_order() -> None:
    sender = MemorySender()
    engine = make_engine(sender, max_queue_events=400_000)
    threads, per_thread = 6, 20_000

    def log(t: int) -> None:
        for i in range(per_thread):
            engine.submit("s", NOW, f"{t}:{i}")

    workers = [threading.Thread(target=log, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert engine.close(30)
    got = sorted(m for _, _, m in sender.events("g"))
    assert got == sorted(f"{t}:{i}" for t in range(threads) for i in range(per_thread))
    for request in sender.requests:  # batches may land in any order; each keeps arrival order
        for t in range(threads):
            mine = [int(m.split(":")[1]) for _, m in request.events if m.startswith(f"{t}:")]
            assert mine == sorted(mine)
    assert engine.stats()["dropped"] == {}


def test_an_event_handed_in_as_the_senders_fall_asleep_goes_without_another_call() -> None:
    class Racing(Queue):
        """Hands an event in from another thread just as a sender thread, having found
        the inbox empty, is about to sleep (the narrowest window there is)."""

        armed = False

        def absorb(self, closing: bool = False) -> None:
            super().absorb(closing)
            if self.armed and not self.queued_events and not self.inbox:
                Racing.armed = False
                caller = threading.Thread(target=self.submit, args=("s", NOW, "late"))
                caller.start()
                caller.join(5)  # it takes no lock: this sender thread holds it
                assert not caller.is_alive()

    sender = MemorySender()
    engine = Engine(Settings(log_group_name="g", send_interval=0.01, max_concurrency=1), sender)
    engine.queue.__class__ = Racing
    engine.submit("s", NOW, "first")
    wait_for(lambda: len(sender.events("g")) == 1, timeout=5)
    Racing.armed = True
    engine.submit("s", NOW, "second")  # wakes the sender thread, which then meets "late"
    wait_for(lambda: len(sender.events("g")) == 3, timeout=5)  # no flush, no other call
    assert not Racing.armed
    assert engine.close(5)


@pytest.mark.slow
def test_handing_in_as_the_senders_fall_asleep_under_constant_thread_switches() -> None:
    sender = MemorySender()
    engine = make_engine(sender, send_interval=0.01)
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between almost any two steps
    try:
        for i in range(300):  # each event finds the senders idle, or about to be
            engine.submit("s", NOW, f"m{i}")
            wait_for(lambda n=i + 1: len(sender.events("g")) == n, timeout=5, interval=0)
    finally:
        sys.setswitchinterval(switching)
    assert engine.close(5)


def test_a_full_queue_takes_exactly_its_limit_though_calls_start_without_the_lock() -> None:
    sender = SlowSender()  # nothing leaves until the end
    engine = make_engine(sender, max_queue_events=10_000, queue_overflow="drop_newest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WatchtowerWarning)
        accepted = sum(engine.submit("s", NOW, f"m{i}") for i in range(30_000))
    assert accepted == 10_000
    assert engine.stats()["dropped"] == {"queue_full": 20_000}
    sender.gate.set()
    with pytest.warns(WatchtowerWarning, match="20000 events in all since the last summary"):
        assert engine.close(10) is False
    got = sorted((m for _, _, m in sender.events("g")), key=lambda m: int(m[1:]))
    assert got == [f"m{i}" for i in range(10_000)]


def test_threads_logging_through_close_leave_every_event_counted() -> None:
    sender = MemorySender()
    engine = make_engine(sender, max_queue_events=1_000_000)
    stop = threading.Event()
    results: List[List[bool]] = [[] for _ in range(4)]

    def log(t: int) -> None:
        deadline = time.monotonic() + 10
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            results[t].append(engine.submit("s", NOW, f"{t}:{i}"))
            i += 1

    workers = [threading.Thread(target=log, args=(t,)) for t in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WatchtowerWarning)
        for w in workers:
            w.start()
        wait_for(lambda: all(len(r) > 2_000 for r in results), timeout=10)
        engine.close(10)
        time.sleep(0.05)  # calls after close, refused
        stop.set()
        for w in workers:
            w.join(10)
        stats = engine.stats()
    submitted = sum(len(r) for r in results)
    delivered = len(sender.events("g"))
    assert not engine.queue.inbox  # nothing left behind uncounted
    assert delivered == stats["sent"]
    assert delivered + sum(stats["dropped"].values()) == submitted
    refused = sum(1 for r in results for ok in r if not ok)
    assert refused == stats["dropped"]["closed"] > 0  # what a call refused, and only that


def test_stats_is_a_snapshot_that_changes_nothing() -> None:
    sender = SlowSender()
    engine = make_engine(sender, max_concurrency=1)
    engine.submit("s", NOW, "first")
    engine.flush(0.2)
    assert sender.started.wait(5)  # the only sender thread is in a request: nobody takes
    for i in range(10):  # these stay in the inbox
        engine.submit("s", NOW, f"m{i}")
    handed_in = len(engine.queue.inbox)
    assert handed_in == 10
    streams = dict(engine.queue.streams)
    stats = engine.stats()
    assert stats["queued"] == 11 and stats["enqueued"] == 11
    assert len(engine.queue.inbox) == handed_in and engine.queue.streams == streams
    sender.gate.set()
    assert engine.close(5)
    assert len(sender.events("g")) == 11
