"""Error-triggered buffering (`buffer_scope`, ``buffer_level``) on the stdlib handler, over HTTP."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from faultproxy import FaultProxy
from helpers import LambdaContext, make_client, messages, read_events, stored, wait_for

import wt_adapters
from wt_adapters import (
    CloudWatchLogHandler,
    WatchtowerError,
    WatchtowerWarning,
    _spool,
    buffer_scope,
)
from wt_adapters._buffer import current_scope

Attach = Callable[..., CloudWatchLogHandler]


@pytest.fixture
def attach(logger: logging.Logger, client: Any, group: str) -> Attach:
    """Add a buffering handler (``buffer_level="DEBUG"``) for this test's group to `logger`."""

    def attach(**options: Any) -> CloudWatchLogHandler:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        options.setdefault("log_stream_name", "s")
        options.setdefault("buffer_level", "DEBUG")
        handler = CloudWatchLogHandler(**options)
        logger.addHandler(handler)
        return handler

    return attach


class Times(logging.Handler):
    """Keeps each record's creation time (ms), by message, to compare with what arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.ms: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.ms[record.getMessage()] = int(record.created * 1000)


@pytest.fixture
def times(logger: logging.Logger) -> Iterator[Times]:
    handler = Times()
    logger.addHandler(handler)
    yield handler


def buffered(handler: CloudWatchLogHandler) -> dict[str, int]:
    figures: dict[str, int] = handler.stats()["buffered"]
    return figures


# ------------------------------------------------------------------ held, shipped, discarded


def test_debug_records_are_held_then_shipped_on_error_with_their_own_times_in_order(
    attach: Attach, logger: logging.Logger, times: Times, client: Any, group: str
) -> None:
    handler = attach()
    with buffer_scope():
        logger.debug("first")
        time.sleep(0.01)
        logger.debug("second")
        time.sleep(0.01)
        logger.info("info ships at once")
        assert handler.flush(10)
        assert messages(client, group) == ["info ships at once"]
        time.sleep(0.01)
        logger.error("boom")
    assert handler.flush(10)
    events = read_events(client, group)
    assert [e["message"] for e in events] == ["first", "second", "info ships at once", "boom"]
    assert [e["timestamp"] for e in events] == [times.ms[e["message"]] for e in events]
    assert buffered(handler) == {"held": 2, "shipped": 2, "discarded": 0, "evicted": 0}


def test_a_scope_without_an_error_discards_its_records_counted_and_sends_nothing(
    attach: Attach, logger: logging.Logger, proxy: FaultProxy, group: str
) -> None:
    handler = attach(boto3_client=make_client(proxy.url))
    with buffer_scope():
        for i in range(5):
            logger.debug("detail %d", i)
        logger.warning("below the trigger: ships")
    with buffer_scope():
        logger.debug("another")
    assert handler.flush(10)
    assert [e["message"] for e in read_events(make_client(proxy.url), group)] == [
        "below the trigger: ships"
    ]
    assert buffered(handler) == {"held": 6, "shipped": 0, "discarded": 6, "evicted": 0}
    assert handler.stats()["dropped"] == {}


def test_a_discarded_scope_makes_no_request(
    attach: Attach, logger: logging.Logger, proxy: FaultProxy
) -> None:
    handler = attach(boto3_client=make_client(proxy.url))
    with buffer_scope():
        for i in range(100):
            logger.debug("detail %d", i)
    assert handler.flush(10)
    assert proxy.received() == []
    assert buffered(handler)["discarded"] == 100


def test_an_exception_escaping_the_scope_ships_its_records(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    with pytest.raises(KeyError), buffer_scope():
        logger.debug("looking up")
        raise KeyError("x")
    assert handler.flush(10)
    assert messages(client, group) == ["looking up"]
    assert buffered(handler)["shipped"] == 1


def test_records_after_a_trigger_are_held_again(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    with buffer_scope():
        logger.debug("before")
        logger.error("first error")
        logger.debug("after: discarded")
    assert handler.flush(10)
    assert messages(client, group) == ["before", "first error"]
    assert buffered(handler) == {"held": 2, "shipped": 1, "discarded": 1, "evicted": 0}


def test_outside_a_scope_debug_records_ship_as_usual(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    logger.debug("no scope")
    assert handler.flush(10)
    assert messages(client, group) == ["no scope"]
    assert buffered(handler)["held"] == 0


def test_without_buffer_level_a_scope_changes_nothing(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach(buffer_level=None)
    with buffer_scope():
        logger.debug("shipped")
    assert handler.flush(10)
    assert messages(client, group) == ["shipped"]
    assert "buffered" not in handler.stats()


def test_levels_by_number_and_a_custom_trigger(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach(buffer_level=20, flush_buffer_on="critical")
    with buffer_scope():
        logger.info("held")
        logger.error("an error alone ships only itself")
    with buffer_scope():
        logger.info("held too")
        logger.critical("critical")
    assert handler.flush(10)
    assert messages(client, group) == ["an error alone ships only itself", "held too", "critical"]


def test_flush_buffer_on_none_ships_only_on_an_exception(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach(flush_buffer_on=None)
    with buffer_scope():
        logger.debug("kept back")
        logger.critical("ships alone")
    assert handler.flush(10)
    assert messages(client, group) == ["ships alone"]


def test_one_scope_holds_for_several_handlers_each_shipping_to_its_own_group(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    first = attach()
    second = attach(log_group_name=group + "-2")
    with buffer_scope():
        logger.debug("one")
        logger.debug("two")
        logger.error("three")
    assert first.flush(10) and second.flush(10)
    assert messages(client, group) == ["one", "two", "three"]
    assert messages(client, group + "-2") == ["one", "two", "three"]


# ------------------------------------------------------------------ scopes: nesting, threads, tasks


def test_a_nested_scope_joins_the_outer_one(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    with buffer_scope() as outer:
        with buffer_scope() as inner:
            assert inner is outer
            logger.debug("inside the inner scope")
        assert current_scope() is outer
        logger.error("after it")
    assert current_scope() is None
    assert handler.flush(10)
    assert messages(client, group) == ["inside the inner scope", "after it"]


def test_a_new_thread_starts_outside_the_scope_unless_it_copies_the_context(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    with buffer_scope():
        logger.debug("held by the scope")
        plain = threading.Thread(target=logger.debug, args=("plain thread: ships",))
        plain.start()
        plain.join(10)
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(logger.debug, "copied: held"))
        copied.start()
        copied.join(10)
    assert handler.flush(10)
    assert messages(client, group) == ["plain thread: ships"]
    assert buffered(handler)["discarded"] == 2


def test_threads_sharing_a_scope_ship_together(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    def work(n: int) -> None:
        for i in range(50):
            logger.debug("worker %d line %d", n, i)

    with buffer_scope():
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(work, n))
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        logger.error("done")
    assert handler.flush(10)
    stored = messages(client, group)
    assert len(stored) == 201 and stored[-1] == "done"
    for n in range(4):
        assert [m for m in stored if m.startswith(f"worker {n} ")] == [
            f"worker {n} line {i}" for i in range(50)
        ]


def test_an_asyncio_task_joins_the_scope_of_its_creator(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    async def child() -> None:
        logger.debug("from the task")

    async def main() -> None:
        async with buffer_scope():
            await asyncio.create_task(child())
            logger.error("the request failed")
        async with buffer_scope():
            await asyncio.create_task(child())

    asyncio.run(main())
    assert handler.flush(10)
    assert messages(client, group) == ["from the task", "the request failed"]
    assert buffered(handler)["discarded"] == 1


def test_a_task_outliving_its_scope_ships_as_usual(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    async def main() -> None:
        gate = asyncio.Event()

        async def late() -> None:
            await gate.wait()
            logger.debug("after the scope ended")

        with buffer_scope():
            task = asyncio.create_task(late())
        gate.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert handler.flush(10)
    assert messages(client, group) == ["after the scope ended"]


# ------------------------------------------------------------------ decorator


def test_the_decorator_opens_a_scope_per_call_on_sync_functions(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    @buffer_scope
    def job(fail: bool) -> str:
        logger.debug("job detail, fail=%s", fail)
        if fail:
            raise RuntimeError("job failed")
        return "ok"

    @buffer_scope()
    def other() -> None:
        logger.debug("other")

    assert job(False) == "ok"
    with pytest.raises(RuntimeError):
        job(True)
    other()
    assert job.__name__ == "job"
    assert handler.flush(10)
    assert messages(client, group) == ["job detail, fail=True"]
    assert buffered(handler)["discarded"] == 2


def test_the_decorator_works_on_async_functions(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    @buffer_scope
    async def request(n: int) -> int:
        logger.debug("request %d", n)
        await asyncio.sleep(0)
        if n == 2:
            logger.error("request %d failed", n)
        return n

    async def main() -> List[int]:
        return list(await asyncio.gather(*(request(n) for n in range(4))))

    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert handler.flush(10)
    assert messages(client, group) == ["request 2", "request 2 failed"]
    assert buffered(handler) == {"held": 4, "shipped": 1, "discarded": 3, "evicted": 0}


def test_a_decorated_generator_holds_its_own_records_until_it_fails_or_ends(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    @buffer_scope
    def rows(n: int, fail_at: int = -1) -> Iterator[int]:
        for i in range(n):
            logger.debug("row %d of %d", i, n)
            if i == fail_at:
                raise ValueError("bad row")
            yield i
        return

    assert list(rows(2)) == [0, 1]  # ran to its end: discarded
    logger.debug("the consumer, outside the scope: ships")
    assert current_scope() is None
    with pytest.raises(ValueError):
        for _ in rows(3, fail_at=1):
            pass
    early = rows(5)
    assert next(early) == 0
    early.close()  # closed early: discarded, not shipped
    assert handler.flush(10)
    assert messages(client, group) == [
        "the consumer, outside the scope: ships",
        "row 0 of 3",
        "row 1 of 3",
    ]
    assert buffered(handler) == {"held": 5, "shipped": 2, "discarded": 3, "evicted": 0}


def test_a_decorated_generator_passes_sent_values_and_its_return_value() -> None:
    @buffer_scope
    def echo() -> Any:
        total = 0
        while True:
            value = yield total
            if value is None:
                return total
            total += value

    gen = echo()
    assert next(gen) == 0 and gen.send(2) == 2 and gen.send(3) == 5
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == 5


def test_the_decorator_refuses_async_generator_functions() -> None:
    async def alines() -> Any:
        yield 1

    with pytest.raises(WatchtowerError, match="async generator function"):
        buffer_scope(alines)


# ------------------------------------------------------------------ eviction


def test_past_buffer_max_bytes_the_oldest_are_evicted_counted_with_one_warning(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach(buffer_max_bytes=10 * (26 + 8))
    with pytest.warns(WatchtowerWarning, match="buffer_max_bytes=340") as caught:
        with buffer_scope():
            for i in range(25):
                logger.debug("line %03d", i)  # 8 characters
            logger.error("boom")
        with buffer_scope():
            for i in range(25):
                logger.debug("again %d", i)
    assert len([w for w in caught if "buffer_max_bytes" in str(w.message)]) == 1
    assert handler.flush(10)
    assert messages(client, group) == [f"line {i:03d}" for i in range(15, 25)] + ["boom"]
    figures = buffered(handler)
    assert figures["evicted"] == 30 and figures["shipped"] == 10 and figures["held"] == 50
    assert handler.stats()["dropped"] == {}


# ------------------------------------------------------------------ Lambda, spool, use_queues


def test_flush_after_opens_a_scope_per_invocation(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()

    @wt_adapters.flush_after(timeout=10)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        logger.debug("event %s", event["id"])
        if event["id"] == 2:
            raise ValueError("bad event")
        return {"statusCode": 200}

    assert lambda_handler({"id": 1}, LambdaContext()) == {"statusCode": 200}
    with pytest.raises(ValueError):
        lambda_handler({"id": 2}, LambdaContext())
    # flush_after flushed: the failed invocation's record is there without a flush here
    assert messages(client, group) == ["event 2"]
    assert buffered(handler)["discarded"] == 1


def test_async_flush_after_opens_a_scope_too(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    attach()

    @wt_adapters.flush_after(timeout=10)
    async def lambda_handler(event: dict[str, Any], context: Any) -> None:
        logger.debug("async detail")
        logger.error("async failure")

    asyncio.run(lambda_handler({}, LambdaContext()))
    assert messages(client, group) == ["async detail", "async failure"]


def test_held_records_go_through_the_spool_when_shipped(
    attach: Attach, logger: logging.Logger, proxy: FaultProxy, group: str, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    handler = attach(boto3_client=make_client(proxy.url), spool_dir=str(directory),
                     send_interval=0.2, spool_sync_interval=0.05)  # fmt: skip
    proxy.set_down(True)
    with buffer_scope():
        logger.debug("kept")
        logger.error("failed")
    with buffer_scope():
        logger.debug("discarded")
    # With the endpoint down, what the scope shipped waits on disk like any other event.
    wait_for(lambda: _spool.summary(directory).events == 2)
    proxy.set_down(False)
    assert handler.flush(30)
    assert messages(make_client(proxy.url), group) == ["kept", "failed"]


def test_use_queues_false_ships_held_records_on_the_callers_thread(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    attach(use_queues=False)
    with buffer_scope():
        logger.debug("sync detail")
        logger.error("sync failure")
    assert messages(client, group) == ["sync detail", "sync failure"]


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "options, named",
    [
        ({"buffer_level": "LOUD"}, "buffer_level='LOUD'"),
        ({"buffer_level": -1}, "buffer_level=-1"),
        ({"buffer_level": True}, "buffer_level=True"),
        ({"buffer_level": "DEBUG", "flush_buffer_on": 2.5}, "flush_buffer_on=2.5"),
        ({"buffer_level": "DEBUG", "buffer_max_bytes": 0}, "buffer_max_bytes=0"),
        ({"buffer_level": "ERROR"}, "buffer_level=40 is not below flush_buffer_on=40"),
    ],
)
def test_bad_buffer_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(WatchtowerError, match=named.replace("(", r"\(").replace(".", r"\.")):
        CloudWatchLogHandler(log_group_name="g", **options)


def test_level_names_of_every_framework_are_taken_in_any_case(client: Any) -> None:
    for value, number in (("debug", 10), ("TRACE", 5), ("Success", 25), ("warn", 30),
                          ("exception", 40), ("15", 15), (7, 7)):  # fmt: skip
        handler = CloudWatchLogHandler(
            log_group_name="g", boto3_client=client, buffer_level=value, flush_buffer_on=50
        )
        try:
            assert handler.buffer_level == number  # type: ignore[attr-defined]
        finally:
            handler.close()


def test_a_dict_message_is_held_and_shipped_as_a_json_object(
    attach: Attach, logger: logging.Logger, client: Any, group: str
) -> None:
    handler = attach()
    with buffer_scope():
        logger.debug({"step": 1, "items": [1, 2]})
        logger.error({"failed": True})
    assert handler.flush(10)
    assert stored(client, group) == [{"step": 1, "items": [1, 2]}, {"failed": True}]
