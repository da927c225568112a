"""transport="http-ingest" over real HTTP: the local endpoint's /ingest/bulk stand-in, bearer tokens."""

from __future__ import annotations

import gzip
import json
import logging
import time
from typing import Any

import pytest
from faultproxy import FaultProxy
from helpers import free_port, wait_for
from ingest_support import (  # noqa: F401  (fixtures)
    TOKEN,
    WRONG_TOKEN,
    ingest,
    ingest_client,
    ingest_options,
    ingest_server,
    make_stream,
    objects,
    without,
)

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._ingest_lines import MAX_REQUEST_BYTES
from wt_adapters._local import LocalEndpoint


def handler_for(ingest: LocalEndpoint, group: str, **options: Any) -> CloudWatchLogHandler:
    return CloudWatchLogHandler(**ingest_options(ingest, group, **options))


def test_text_and_dicts_arrive_as_json_objects_with_their_timestamps(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    handler = handler_for(ingest, group)
    logger.addHandler(handler)
    logger.info("plain text")
    logger.info({"user": "ada", "n": 1, "nested": {"deep": [1, 2]}})
    assert handler.flush(10)
    events = ingest_client.get_log_events(
        logGroupName=group, logStreamName="s", startFromHead=True
    )["events"]
    got = [json.loads(e["message"]) for e in events]
    assert got[0] == {"timestamp": events[0]["timestamp"], "message": "plain text"}
    assert got[1] == {
        "timestamp": events[1]["timestamp"],
        "user": "ada",
        "n": 1,
        "nested": {"deep": [1, 2]},
    }
    assert abs(events[0]["timestamp"] - time.time() * 1000) < 60_000
    assert handler.stats()["sent"] == 2


def test_request_bodies_are_gzip_that_the_endpoint_decodes(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    handler = handler_for(ingest, group)
    logger.addHandler(handler)
    for i in range(50):
        logger.info("line %d", i)
    assert handler.flush(10)
    answered = ingest.ingest.requests
    assert answered and all(status == 200 and enc == "gzip" for status, enc, _, _ in answered)
    assert sum(lines for _, _, lines, _ in answered) == 50
    assert [o["message"] for o in objects(ingest_client, group)] == [f"line {i}" for i in range(50)]


def test_a_wrong_token_is_reported_once_and_close_gives_up_at_once(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    handler = handler_for(ingest, group, bearer_token=WRONG_TOKEN)
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning) as caught:
        for i in range(3):
            logger.info("refused %d", i)
            wait_for(lambda: handler.stats()["batches_failed"] >= 1)
        start = time.monotonic()
        assert handler.close() is False
        took = time.monotonic() - start
    assert took < 5
    texts = [str(w.message) for w in caught]
    refusals = [t for t in texts if t.startswith("CloudWatch Logs refused")]
    assert len(refusals) == 1 and "refused the bearer token" in refusals[0], texts
    assert all(without(t, WRONG_TOKEN) for t in texts)
    stats = handler.stats()
    assert stats["batches_failed"] >= 1 and stats["sent"] == 0
    assert sum(stats["dropped"].values()) == 3
    assert all(status == 401 for status, _, _, _ in ingest.ingest.requests)
    assert objects(ingest_client, group) == []


def test_a_missing_stream_is_named_once_and_not_retried_in_a_loop(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    ingest_client.create_log_group(logGroupName=group)  # the group, not the stream
    handler = handler_for(ingest, group, log_stream_name="absent")
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning) as caught:
        logger.info("nowhere to go")
        wait_for(lambda: handler.stats()["batches_failed"] >= 1)
        start = time.monotonic()
        assert handler.close() is False
        took = time.monotonic() - start
    assert took < 5
    texts = [str(w.message) for w in caught]
    named = [t for t in texts if t.startswith("CloudWatch Logs can't take events for 'absent'")]
    assert len(named) == 1, texts
    assert len(ingest.ingest.requests) <= 2  # backoff, not a loop
    assert handler.stats()["dropped"] == {"close_timeout": 1}


def test_a_missing_group_is_named_too(
    ingest: LocalEndpoint, group: str, logger: logging.Logger
) -> None:
    handler = handler_for(ingest, group)
    logger.addHandler(handler)
    with pytest.warns(WatchtowerWarning, match="log group does not exist"):
        logger.info("nowhere")
        assert handler.close() is False


def test_429_waits_the_retry_after_it_gives(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    ingest.ingest.throttle(1, retry_after=1.5)
    handler = handler_for(ingest, group)
    logger.addHandler(handler)
    logger.info("after a while")
    assert handler.flush(15)
    (first, _, _, refused_at), (ok, _, _, sent_at) = ingest.ingest.requests
    assert (first, ok) == (429, 200)
    assert sent_at - refused_at >= 1.5
    assert [o["message"] for o in objects(ingest_client, group)] == ["after a while"]
    assert handler.stats()["retried"] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried_until_it_goes(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger, status: int
) -> None:
    make_stream(ingest_client, group)
    ingest.ingest.fail(2, status)
    handler = handler_for(ingest, group)
    logger.addHandler(handler)
    logger.info("eventually")
    assert handler.flush(20)
    assert [s for s, _, _, _ in ingest.ingest.requests] == [status, status, 200]
    assert [o["message"] for o in objects(ingest_client, group)] == ["eventually"]


def test_an_endpoint_that_is_down_is_reported_as_unreachable_and_retried(
    group: str, logger: logging.Logger
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.warns(WatchtowerWarning) as caught:
        handler = CloudWatchLogHandler(
            log_group_name=group,
            transport="http-ingest",
            bearer_token=TOKEN,
            endpoint_url=url,
            send_interval=0.05,
        )
        logger.addHandler(handler)
        logger.info("waiting")
        wait_for(lambda: handler.stats()["batches_failed"] >= 2)
        assert handler.stats()["sent"] == 0
        assert handler.close(0.5) is False
    assert any("can't be reached" in str(w.message) for w in caught)


def test_a_batch_over_the_request_limit_goes_in_several_requests(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    handler = handler_for(ingest, group, send_interval=60)
    logger.addHandler(handler)
    # Quotes take two bytes each as JSON: the engine's 1 MiB batch is about 2 MiB of NDJSON.
    quoted = '"' * 100_000
    for _ in range(10):
        logger.info(quoted)
    assert handler.flush(20)
    answered = ingest.ingest.requests
    assert len(answered) >= 2 and all(s == 200 for s, _, _, _ in answered)
    assert [o["message"] for o in objects(ingest_client, group)] == [quoted] * 10
    assert handler.stats()["batches_sent"] <= len(answered)


def test_request_bodies_stay_within_the_limit_uncompressed() -> None:
    from wt_adapters._ingest_lines import encode_lines, requests_of

    lines = encode_lines([(1, "x" * 300_000)] * 10)
    bodies = list(requests_of(lines))
    assert len(bodies) == 4 and all(len(b) <= MAX_REQUEST_BYTES for b in bodies)
    assert b"".join(bodies) == b"".join(lines)
    assert gzip.decompress(gzip.compress(bodies[0])) == bodies[0]


def test_names_headers_cant_carry_go_as_query_parameters(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group, "flux-☃")
    handler = handler_for(ingest, group, log_stream_name="flux-☃")
    logger.addHandler(handler)
    logger.info("snowman")
    assert handler.flush(10)
    assert [o["message"] for o in objects(ingest_client, group, "flux-☃")] == ["snowman"]


def test_connections_are_kept_alive_between_batches(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    # Werkzeug closes every connection; the fault proxy keeps them open, as AWS does.
    with FaultProxy("127.0.0.1", ingest.port, record=True) as proxy:
        handler = handler_for(ingest, group, endpoint_url=proxy.url, max_concurrency=1)
        logger.addHandler(handler)
        pool = handler._destination.engine.sender._pool  # type: ignore[union-attr]
        ports = set()
        for i in range(3):
            logger.info("batch %d", i)
            assert handler.flush(10)
            [conn] = pool._idle
            ports.add(conn.sock.getsockname()[1])
        assert len(ports) == 1
        assert len(proxy.received()) == 3
        assert TOKEN not in repr(handler._destination.engine.sender)  # type: ignore[union-attr]
        assert handler.close(10)


def test_close_closes_the_kept_alive_connections(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    with FaultProxy("127.0.0.1", ingest.port) as proxy:
        handler = handler_for(ingest, group, endpoint_url=proxy.url)
        logger.addHandler(handler)
        logger.info("one")
        assert handler.flush(10)
        assert proxy.open_connections() >= 1  # kept alive for the next batch
        assert handler.close(10)
        wait_for(lambda: proxy.open_connections() == 0, timeout=10)


def test_an_answer_lost_after_sending_is_resent_and_counted_as_a_possible_duplicate(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    make_stream(ingest_client, group)
    with FaultProxy("127.0.0.1", ingest.port) as proxy:
        proxy.add_fault("drop_after", count=1, target=None)
        handler = handler_for(ingest, group, endpoint_url=proxy.url)
        logger.addHandler(handler)
        logger.info("twice, maybe")
        assert handler.flush(15)
        assert handler.stats()["possible_duplicates"] == 1
        assert handler.close(10)
    assert [o["message"] for o in objects(ingest_client, group)] == ["twice, maybe"] * 2
