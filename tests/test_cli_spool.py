"""`wt-adapters spool DIR`: a spool left by a writer killed during an outage, shown and sent.

Every test runs real processes: a writer that logs with ``spool_dir`` while the
endpoint is down and is then killed with SIGKILL, and the command, against
moto's server over HTTP (through the fault proxy where a fault is needed).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest
from faultproxy import FaultProxy
from helpers import ROOT, free_port, host_and_port, read_events, subprocess_env

from wt_adapters._cli._spool_cmd import age

TIMEOUT = 120
GROUP = "spooled/app"
EVENTS = 2_000

WRITER = textwrap.dedent(
    """
    import logging, sys, time
    import wt_adapters

    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=sys.argv[2], log_stream_name="web/{process_id}", spool_dir=sys.argv[1],
    )
    log = logging.getLogger("app")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range(int(sys.argv[3])):
        log.info("order %d placed", i)
    print("logged", flush=True)
    time.sleep(60)  # until killed (bounded: the test kills it within seconds)
    """
)


def env_for(tmp_path: Path, endpoint: Optional[str]) -> Dict[str, str]:
    return subprocess_env(endpoint, home=tmp_path)


def run(*args: str, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "error", "-m", "wt_adapters", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=TIMEOUT)  # fmt: skip


def shown(spool: Path, env: Dict[str, str]) -> Dict[str, Any]:
    result = run("spool", str(spool), "--json", env=env)
    assert result.returncode == 0, result.stderr
    document: Dict[str, Any] = json.loads(result.stdout)
    return document


@contextlib.contextmanager
def writer(tmp_path: Path) -> Iterator[Tuple[Path, subprocess.Popen[str]]]:
    """A process that logged `EVENTS` with a spool during an outage, all of them on disk."""
    spool = tmp_path / "spool"
    spool.mkdir()
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the outage
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(spool), GROUP, str(EVENTS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env_for(tmp_path, down), cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "logged\n", proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 30
        while True:  # until the writer's spool thread has written every event
            document = shown(spool, env_for(tmp_path, down))
            if document["events"] == EVENTS:
                break
            assert time.monotonic() < deadline, document
            time.sleep(0.1)
        assert (document["writers_live"], document["writers_gone"]) == (1, 0)
        yield spool, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def killed_writer(tmp_path: Path) -> Iterator[Path]:
    """A spool directory whose writer logged `EVENTS` during an outage, then was SIGKILLed."""
    with writer(tmp_path) as (spool, proc):
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        yield spool


def test_spool_shows_what_a_killed_writer_left(killed_writer: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path, None)
    document = shown(killed_writer, env)
    assert (document["writers_live"], document["writers_gone"]) == (0, 1)
    assert document["events"] == EVENTS and document["dead_letters"] == 0
    (stream,) = document["streams"]
    assert stream["group"] == GROUP and stream["stream"].startswith("web/")
    assert stream["events"] == EVENTS
    assert stream["bytes"] == sum(len(f"order {i} placed") + 26 for i in range(EVENTS))
    assert 0 <= stream["oldest_age_s"] < 60

    table = run("spool", str(killed_writer), env=env)
    assert table.returncode == 0, table.stderr
    head, blank, columns, row = table.stdout.splitlines()
    assert head.startswith(f"{killed_writer}: 2,000 events ({stream['bytes']:,} bytes) waiting")
    assert head.endswith("0 dead letters; writers: 0 live, 1 gone")
    assert blank == "" and columns.split() == ["GROUP", "STREAM", "EVENTS", "BYTES", "OLDEST"]
    assert row.split()[:4] == [GROUP, stream["stream"], "2,000", f"{stream['bytes']:,}"]
    assert row.endswith(" ago")


def test_spool_send_delivers_it_all_and_exits_0(
    killed_writer: Path, tmp_path: Path, endpoint: str, client: Any
) -> None:
    result = run("spool", str(killed_writer), "--send", env=env_for(tmp_path, endpoint))
    assert result.returncode == 0, result.stderr
    assert "sent 2,000 events" in result.stderr and "adopted 2,000" in result.stderr
    messages = [e["message"] for e in read_events(client, GROUP)]
    assert sorted(messages) == sorted(f"order {i} placed" for i in range(EVENTS))
    after = shown(killed_writer, env_for(tmp_path, endpoint))
    assert (after["events"], after["writers_gone"]) == (0, 0)
    again = run("spool", str(killed_writer), "--send", env=env_for(tmp_path, endpoint))
    assert again.returncode == 0 and "nothing to send" in again.stderr


def test_spool_send_json_gives_the_counts(
    killed_writer: Path, tmp_path: Path, endpoint: str
) -> None:
    result = run("spool", str(killed_writer), "--send", "--json", env=env_for(tmp_path, endpoint))
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["sent"] == EVENTS and counts["delivered"] is True
    assert counts["left"] == 0 and counts["waiting_after"] == 0


def test_spool_send_to_an_unreachable_endpoint_fails_at_once_and_keeps_everything(
    killed_writer: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    down = f"http://127.0.0.1:{free_port()}"
    result = run("spool", str(killed_writer), "--send", env=env_for(tmp_path, down))
    assert result.returncode == 3
    assert result.stderr.startswith(f"wt-adapters: error: cannot reach {down}")
    assert time.monotonic() - started < 30
    assert shown(killed_writer, env_for(tmp_path, None))["events"] == EVENTS


@pytest.mark.slow
def test_spool_send_waits_out_an_endpoint_slower_than_the_exit_grace(
    killed_writer: Path, tmp_path: Path, endpoint: str, client: Any
) -> None:
    # The first answer takes 5 s: longer than the 3 s an exit gives a stalled endpoint once
    # every event is on disk, as a loaded machine or a slow network can make it.
    with FaultProxy(*host_and_port(endpoint)) as proxy:
        proxy.add_fault("latency", count=1, latency=5.0)
        result = run("spool", str(killed_writer), "--send", "--timeout", "60",
                     env=env_for(tmp_path, proxy.url))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sent 2,000 events" in result.stderr
    assert len(read_events(client, GROUP)) == EVENTS
    assert shown(killed_writer, env_for(tmp_path, None))["events"] == 0


@pytest.mark.slow
def test_spool_send_that_cannot_deliver_exits_1_saying_what_stays(
    killed_writer: Path, tmp_path: Path, endpoint: str
) -> None:
    with FaultProxy(*host_and_port(endpoint)) as proxy:
        proxy.add_fault("unavailable")  # every PutLogEvents, until the proxy stops
        result = run("spool", str(killed_writer), "--send", "--timeout", "3",
                     env=env_for(tmp_path, proxy.url))  # fmt: skip
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("wt-adapters: error: 2,000 events were not delivered to")
    assert f"stay in {killed_writer}" in last
    assert shown(killed_writer, env_for(tmp_path, None))["events"] == EVENTS


@pytest.mark.slow
def test_pipe_with_a_spool_dir_keeps_what_an_outage_held_back_for_spool_send(
    tmp_path: Path, endpoint: str, client: Any
) -> None:
    spool = tmp_path / "pipe-spool"
    spool.mkdir()
    lines = [f"line {i}" for i in range(500)]
    with FaultProxy(*host_and_port(endpoint)) as proxy:
        proxy.add_fault("unavailable")  # PutLogEvents fails; DescribeLogGroups goes through
        piped = subprocess.run(
            [sys.executable, "-W", "error", "-m", "wt_adapters", "pipe", "-g", GROUP,
             "-s", "s", "--spool-dir", str(spool), "--flush-timeout", "2"],
            input="\n".join(lines) + "\n", capture_output=True, text=True,
            env=env_for(tmp_path, proxy.url), cwd=ROOT, timeout=TIMEOUT,
        )  # fmt: skip
    assert piped.returncode == 1, piped.stderr
    last = piped.stderr.strip().splitlines()[-1]
    assert f"500 events wait in {str(spool)!r} for the next start" in last
    assert f"wt-adapters spool {spool} --send" in last
    sent = run("spool", str(spool), "--send", env=env_for(tmp_path, endpoint))
    assert sent.returncode == 0, sent.stderr
    assert sorted(e["message"] for e in read_events(client, GROUP, "s")) == sorted(lines)


def test_spool_send_leaves_a_live_writers_events_to_it(tmp_path: Path, endpoint: str) -> None:
    with writer(tmp_path) as (spool, _):
        result = run("spool", str(spool), "--send", env=env_for(tmp_path, endpoint))
        assert result.returncode == 0, result.stderr
        assert "nothing to send" in result.stderr and "1 live" in result.stderr
        assert shown(spool, env_for(tmp_path, None))["events"] == EVENTS


def test_a_torn_segment_is_shown_and_send_goes_on(
    killed_writer: Path, tmp_path: Path, endpoint: str
) -> None:
    (segment,) = killed_writer.glob("*.seg")
    with segment.open("r+b") as f:  # a kill mid-write: the last record cut short
        f.truncate(segment.stat().st_size - 7)
    table = run("spool", str(killed_writer), env=env_for(tmp_path, None))
    assert table.returncode == 0, table.stderr
    assert "1 segment file ends in a torn record (skipped, counted)" in table.stdout
    sent = run("spool", str(killed_writer), "--send", env=env_for(tmp_path, endpoint))
    assert sent.returncode == 0, sent.stderr
    assert "torn 1" in sent.stderr and "Traceback" not in sent.stderr


def test_spool_of_a_directory_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    result = run("spool", str(tmp_path / "nowhere"), env=env_for(tmp_path, None))
    assert result.returncode == 2
    assert f"'{tmp_path / 'nowhere'}' is not a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_empty_spool_shows_nothing_waiting(tmp_path: Path) -> None:
    result = run("spool", str(tmp_path), env=env_for(tmp_path, None))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{tmp_path}: 0 events (0 bytes) waiting; 0 dead letters; writers: 0 live, 0 gone\n"
    )


@pytest.mark.parametrize(
    ("seconds", "shown_as"),
    [(0, "0s"), (59.9, "59s"), (60, "1m 00s"), (3599, "59m 59s"), (3600, "1h 00m"),
     (90061, "1d 01h"), (-3, "0s")],
)  # fmt: skip
def test_ages_read_as_a_person_says_them(seconds: float, shown_as: str) -> None:
    assert age(seconds) == shown_as
