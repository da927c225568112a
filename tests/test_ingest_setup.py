"""transport="http-ingest" as set up: options, the token kept secret, no AWS credentials or
boto3, the three front ends, the spool, the command line and the testing helper."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import structlog
from faultproxy import FaultProxy
from helpers import ROOT, free_port, wait_for
from ingest_support import (  # noqa: F401  (fixtures)
    TOKEN,
    WRONG_TOKEN,
    bare_env,
    ingest,
    ingest_client,
    ingest_options,
    ingest_server,
    make_stream,
    objects,
    without,
)
from loguru import logger as loguru_logger

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters._destination import Destination
from wt_adapters._ingest_token import TOKEN_VARIABLE
from wt_adapters._local import LocalEndpoint
from wt_adapters._recovery import deliver
from wt_adapters.loguru import cloudwatch_sink
from wt_adapters.structlog import CloudWatchRenderer
from wt_adapters.testing import capture_events

TIMEOUT = 60


# ------------------------------------------------------------------ options


def test_http_ingest_without_a_token_is_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    with pytest.raises(WatchtowerError, match=f"needs a bearer token.*{TOKEN_VARIABLE}"):
        CloudWatchLogHandler(transport="http-ingest", endpoint_url="http://127.0.0.1:9")


def test_the_token_comes_from_the_environment_and_an_argument_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, WRONG_TOKEN)
    from_env = Destination(transport="http-ingest", endpoint_url="http://127.0.0.1:9")
    given = Destination(
        transport="http-ingest", endpoint_url="http://127.0.0.1:9", bearer_token=TOKEN
    )
    assert from_env.engine is not given.engine  # another identity: engines not shared
    assert given.engine.sender._auth == f"Bearer {TOKEN}"  # type: ignore[attr-defined]
    assert from_env.engine.sender._auth == f"Bearer {WRONG_TOKEN}"  # type: ignore[attr-defined]
    from_env.close(0)
    given.close(0)


@pytest.mark.parametrize("transport", ["auto", "boto3"])
def test_a_token_with_another_transport_is_refused(transport: str) -> None:
    with pytest.raises(WatchtowerError, match=f"bearer_token is given but transport='{transport}'"):
        CloudWatchLogHandler(transport=transport, bearer_token=TOKEN)


def test_no_region_and_no_endpoint_is_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(WatchtowerError, match="needs an endpoint: set AWS_REGION"):
        CloudWatchLogHandler(transport="http-ingest", bearer_token=TOKEN)


def test_the_endpoint_is_the_regions_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    destination = Destination(transport="http-ingest", bearer_token=TOKEN)
    assert destination.engine.sender.url == "https://logs.eu-west-3.amazonaws.com"  # type: ignore[attr-defined]
    destination.close(0)


@pytest.mark.parametrize(
    "option, value",
    [
        ("log_group_retention_days", 7),
        ("log_group_tags", {"team": "a"}),
        ("kms_key_id", "arn:aws:kms:us-east-1:123456789012:key/abc"),
        ("log_group_class", "INFREQUENT_ACCESS"),
        ("metrics_interval", 60),
    ],
)
def test_options_that_only_create_groups_are_refused(option: str, value: Any) -> None:
    with pytest.raises(WatchtowerError, match=f"{option}=.* does not apply with transport"):
        CloudWatchLogHandler(transport="http-ingest", bearer_token=TOKEN, **{option: value})


@pytest.mark.parametrize("bad", ["has space" + TOKEN, TOKEN + "\n\x00", "ünï" + TOKEN])
def test_a_malformed_token_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(WatchtowerError) as raised:
        CloudWatchLogHandler(transport="http-ingest", bearer_token=bad)
    assert "bearer_token must be" in str(raised.value) and without(str(raised.value))


# ------------------------------------------------------------------ the token is a secret


def test_the_token_shows_nowhere(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger, tmp_path: Path
) -> None:
    make_stream(ingest_client, group)
    spool = tmp_path / "spool"
    handler = CloudWatchLogHandler(**ingest_options(ingest, group, spool_dir=str(spool)))
    logger.addHandler(handler)
    logger.info("a line")
    assert handler.flush(10)
    destination = handler._destination
    assert destination is not None
    shown = [repr(handler), repr(destination.values), str(destination.values), str(handler.stats())]
    assert all(without(text) for text in shown), shown
    ingest.ingest.tokens = set()  # the same token is refused from now on
    with pytest.warns(WatchtowerWarning) as caught:
        logger.info("refused")
        wait_for(lambda: handler.stats()["batches_failed"] >= 1)
        handler.close(0.5)
    assert all(without(str(w.message)) for w in caught)
    assert without(str(handler.stats()))
    for path in spool.rglob("*"):
        assert without(path.name)
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()


# ------------------------------------------------------------------ no credentials, no boto3

CHILD = textwrap.dedent(
    """
    import json, logging, sys
    import wt_adapters

    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=sys.argv[1], log_stream_name="s", transport="http-ingest",
        endpoint_url=sys.argv[2], send_interval=0.05,
    )
    log = logging.getLogger("child")
    log.propagate = False
    log.addHandler(handler)
    log.warning("from a child without credentials")
    log.warning({"structured": True})
    flushed = handler.flush(20)
    closed = handler.close(20)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))
    print(json.dumps({"flushed": flushed, "closed": closed, "loaded": loaded}))
    """
)


def test_no_aws_credentials_and_no_boto3_are_needed(
    ingest: LocalEndpoint, ingest_client: Any, group: str, tmp_path: Path
) -> None:
    make_stream(ingest_client, group)
    home = tmp_path / "home"
    home.mkdir()
    env = bare_env(home, **{TOKEN_VARIABLE: TOKEN})
    assert not any(name.startswith("AWS_") for name in env)
    child = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHILD, group, ingest.url],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=TIMEOUT,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"flushed": True, "closed": True, "loaded": []}
    assert child.stderr == ""
    assert [o.get("message", o) for o in objects(ingest_client, group)][0] == (
        "from a child without credentials"
    )


# ------------------------------------------------------------------ the three front ends


def _without_timestamp(items: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "timestamp"} for item in items]


def test_dicts_from_each_front_end_arrive_as_the_json_objects_boto3_stores(
    ingest: LocalEndpoint, ingest_client: Any, group: str, logger: logging.Logger
) -> None:
    """The same record through boto3 (PutLogEvents) and through /ingest/bulk: the same object."""
    for stream in ("stdlib", "structlog", "loguru"):
        make_stream(ingest_client, group, f"{stream}-ingest")
    record = {"user": "ada", "n": 1, "nested": {"deep": [1, None, "☃"]}, "big": 2**70}
    both = [
        dict(boto3_client=ingest_client, log_group_name=group),
        ingest_options(ingest, group),
    ]

    def streams(name: str) -> List[Dict[str, Any]]:
        return [{**both[0], "log_stream_name": name}, {**both[1], "log_stream_name": f"{name}-ingest"}]

    handlers = [CloudWatchLogHandler(**options) for options in streams("stdlib")]
    for handler in handlers:
        logger.addHandler(handler)
    logger.info(record)

    renderers = [CloudWatchRenderer(**options) for options in streams("structlog")]

    def to_both(logger_: Any, method: str, event_dict: Dict[str, Any]) -> Any:
        renderers[1](logger_, method, dict(event_dict))
        return renderers[0](logger_, method, event_dict)

    structlog.configure(processors=[to_both], logger_factory=structlog.ReturnLoggerFactory())
    try:
        structlog.get_logger().info("structured", **record)
    finally:
        structlog.reset_defaults()

    sinks = [cloudwatch_sink(**options) for options in streams("loguru")]
    ids = [loguru_logger.add(sink) for sink in sinks]
    try:
        loguru_logger.bind(**record).info("from loguru")
    finally:
        for handler_id in ids:
            loguru_logger.remove(handler_id)

    for front in (*handlers, *renderers):
        assert front.close(10)
    for sink in sinks:
        assert sink.close(10)
    for name in ("stdlib", "structlog", "loguru"):
        through_boto3 = objects(ingest_client, group, name)
        through_ingest = objects(ingest_client, group, f"{name}-ingest")
        assert through_boto3 and _without_timestamp(through_ingest) == through_boto3, name
        assert all(isinstance(o["timestamp"], int) for o in through_ingest)
    assert objects(ingest_client, group, "stdlib")[0] == record


# ------------------------------------------------------------------ spool, CLI, testing

WRITER = textwrap.dedent(
    """
    import logging, sys, time
    import wt_adapters

    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=sys.argv[2], log_stream_name="s", spool_dir=sys.argv[1],
        transport="http-ingest", endpoint_url=sys.argv[3],
    )
    log = logging.getLogger("app")
    log.propagate = False
    log.addHandler(handler)
    for i in range(100):
        log.warning("order %d placed", i)
    print("logged", flush=True)
    time.sleep(60)  # until killed (the test kills it within seconds)
    """
)


def test_a_spool_left_during_an_outage_is_replayed_with_this_transport(
    ingest: LocalEndpoint, ingest_client: Any, group: str, tmp_path: Path
) -> None:
    make_stream(ingest_client, group)
    spool = tmp_path / "spool"
    down = f"http://127.0.0.1:{free_port()}"
    env = bare_env(tmp_path, **{TOKEN_VARIABLE: TOKEN})
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(spool), group, down],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "logged\n"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 4000 for p in spool.rglob("*") if p.is_file()):
            assert time.monotonic() < deadline, "the writer's spool stayed empty"
            time.sleep(0.1)
        time.sleep(0.5)  # a sync interval or two more: every event on disk
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    counts = deliver(
        spool, timeout=30, transport="http-ingest", bearer_token=TOKEN, endpoint_url=ingest.url
    )
    assert counts["delivered"] and counts["sent"] == 100, counts
    got = [o["message"] for o in objects(ingest_client, group)]
    assert sorted(got) == sorted(f"order {i} placed" for i in range(100))


def test_pipe_sends_with_the_token_from_the_environment_and_never_prints_it(
    ingest: LocalEndpoint, ingest_client: Any, group: str, tmp_path: Path
) -> None:
    make_stream(ingest_client, group)
    env = bare_env(tmp_path, **{TOKEN_VARIABLE: TOKEN})
    args = ["pipe", "--transport", "http-ingest", "--group", group, "--stream", "s",
            "--endpoint-url", ingest.url]  # fmt: skip
    shipped = subprocess.run(
        [sys.executable, "-W", "error", "-m", "wt_adapters", *args],
        input='one\n{"two": 2}\n', capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert shipped.returncode == 0, shipped.stderr
    assert without(shipped.stdout + shipped.stderr)
    assert [o.get("message", o.get("two")) for o in objects(ingest_client, group)] == ["one", 2]
    ingest.ingest.tokens = set()
    refused = subprocess.run(
        [sys.executable, "-m", "wt_adapters", *args],
        input="three\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip
    assert refused.returncode != 0 and "refused the bearer token" in refused.stderr
    assert without(refused.stdout + refused.stderr)
    no_flag = subprocess.run(
        [sys.executable, "-m", "wt_adapters", *args, "--bearer-token", TOKEN],
        input="", capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip
    assert no_flag.returncode == 2 and "--bearer-token" in no_flag.stderr
    assert without(no_flag.stdout + no_flag.stderr)


def test_capture_events_takes_in_what_an_http_ingest_handler_logs(logger: logging.Logger) -> None:
    with capture_events() as captured:
        handler = CloudWatchLogHandler(
            transport="http-ingest", bearer_token=TOKEN, endpoint_url="http://127.0.0.1:9"
        )
        logger.addHandler(handler)
        logger.info({"captured": True})
        assert captured.data() == [{"captured": True}]


FORKER = textwrap.dedent(
    """
    import logging, os, sys
    import wt_adapters

    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=sys.argv[1], log_stream_name="s", transport="http-ingest",
        endpoint_url=sys.argv[2], send_interval=0.05,
    )
    log = logging.getLogger("forker")
    log.propagate = False
    log.addHandler(handler)
    log.warning("parent before")
    assert handler.flush(20)  # a kept-alive connection in the pool, inherited by the child
    pid = os.fork()
    if pid == 0:
        log.warning("child")
        os._exit(0 if handler.close(20) else 1)
    log.warning("parent after")
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), handler.close(20))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_sends_on_connections_of_its_own(
    ingest: LocalEndpoint, ingest_client: Any, group: str, tmp_path: Path
) -> None:
    make_stream(ingest_client, group)
    with FaultProxy("127.0.0.1", ingest.port) as proxy:  # keeps connections alive
        child = subprocess.run(
            [sys.executable, "-c", FORKER, group, proxy.url],
            capture_output=True, text=True, env=bare_env(tmp_path, **{TOKEN_VARIABLE: TOKEN}),
            timeout=TIMEOUT,
        )  # fmt: skip
    assert child.returncode == 0 and child.stdout == "0 True\n", child.stderr
    got = sorted(o["message"] for o in objects(ingest_client, group))
    assert got == ["child", "parent after", "parent before"]


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("field_indexes", ["requestId"], "can't create or set up log groups"),
        ("entity", {"keyAttributes": {"Type": "Service", "Name": "a", "Environment": "b"}},
         "takes no entity"),
    ],
)  # fmt: skip
def test_putlogevents_only_options_are_refused_with_the_ingestion_transport(
    option: str, value: object, words: str
) -> None:
    with pytest.raises(WatchtowerError, match=f"{option}=.*{words}"):
        CloudWatchLogHandler(
            transport="http-ingest", bearer_token="ACWL-x", endpoint_url="http://127.0.0.1:1",
            **{option: value},
        )  # fmt: skip
