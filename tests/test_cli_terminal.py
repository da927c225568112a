"""The command line as a user meets it: terminals, pipes, long inputs, the local endpoint."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from helpers import (
    ROOT,
    free_port,
    host_and_port,
    make_client,
    on_terminal,
    reset_endpoint,
    stop,
    subprocess_env,
)

from wt_adapters._cli._output import escape
from wt_adapters._cli._tail_time import format_time, parse_time
from wt_adapters._local import LocalEndpoint

TIMEOUT = 120
INJECTION = "\x1b]0;pwned\x07 title, \x1b[2J clear, over\rwrite, back\bspace, \x9b31m C1"


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    with LocalEndpoint() as endpoint:
        yield endpoint.url


@pytest.fixture
def logs(local: str) -> Any:
    """A client of the module's endpoint, its state reset for this test: a test repeated
    (pytest-repeat's --count) finds the groups it names new again."""
    reset_endpoint(local)
    return make_client(local)


def env_for(tmp_path: Path, endpoint: Optional[str], **extra: str) -> Dict[str, str]:
    return subprocess_env(endpoint, home=tmp_path, **extra)


def command(*args: str) -> List[str]:
    return [sys.executable, "-m", "wt_adapters", *args]


def run(*args: str, env: Dict[str, str], input: Optional[str] = None) -> Any:
    return subprocess.run(command(*args), input=input, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=TIMEOUT)  # fmt: skip


def put(
    client: Any, group: str, stream: str, messages: List[str], start: Optional[int] = None
) -> None:
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000) if start is None else start
    for first in range(0, len(messages), 10_000):
        chunk = messages[first : first + 10_000]
        client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": now + first + i, "message": m} for i, m in enumerate(chunk)])  # fmt: skip


# ------------------------------------------------------------------------ tail output


def test_tail_escapes_control_characters_on_a_terminal(
    tmp_path: Path, local: str, logs: Any
) -> None:
    put(logs, "inject", "\x1b[2Jstream", [INJECTION, "two\nlines"])
    shown, proc = on_terminal(command("tail", "inject", "--color", "never"),
                              env_for(tmp_path, local))  # fmt: skip
    assert proc.wait(30) == 0
    text = shown.decode("utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\x08" not in text
    assert "\x9b" not in text and "\r" not in text.replace("\r\n", "\n")
    assert "\\e[2Jstream \\e]0;pwned\\a title, \\e[2J clear, over\\rwrite, back\\bspace," in text
    assert "\\x9b31m C1" in text
    assert "two\r\n    lines" in shown.decode()  # its own line break, indented


def test_tail_escapes_into_a_pipe_too_and_json_stays_valid(
    tmp_path: Path, local: str, logs: Any
) -> None:
    put(logs, "inject-pipe", "s", [INJECTION])
    plain = run("tail", "inject-pipe", env=env_for(tmp_path, local))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.rstrip("\n").endswith(escape(INJECTION))
    for flags in (["--json"], ["--json", "--pretty"]):
        shown = run("tail", "inject-pipe", *flags, env=env_for(tmp_path, local))
        assert not any(ch in shown.stdout for ch in "\x1b\x07\x08\r\x9b")
        assert json.loads(shown.stdout)["message"] == INJECTION


@pytest.mark.parametrize(
    ("flags", "extra", "colored"),
    [([], {}, True), ([], {"NO_COLOR": "1"}, False), (["--color", "never"], {}, False)],
)
def test_tail_colours_a_terminal_unless_told_not_to(
    tmp_path: Path, local: str, logs: Any, flags: List[str], extra: Dict[str, str], colored: bool
) -> None:
    put(logs, f"color-{len(flags)}-{len(extra)}", "s", ["hello"])
    shown, proc = on_terminal(command("tail", f"color-{len(flags)}-{len(extra)}", *flags),
                              env_for(tmp_path, local, **extra))  # fmt: skip
    assert proc.wait(30) == 0
    assert (b"\x1b[36ms\x1b[0m" in shown) is colored
    assert b"hello" in shown


def test_tail_colour_always_colours_a_pipe(tmp_path: Path, local: str, logs: Any) -> None:
    put(logs, "color-always", "s", ["hello"])
    result = run("tail", "color-always", "--color", "always", env=env_for(tmp_path, local))
    assert "\x1b[36ms\x1b[0m hello" in result.stdout


def test_tail_reads_exact_streams_hides_the_stream_and_shows_ingestion(
    tmp_path: Path, local: str, logs: Any
) -> None:
    for stream in ("web", "web-2", "worker"):
        put(logs, "picks", stream, [f"from {stream}"])
    env = env_for(tmp_path, local)
    exact = run("tail", "picks", "--stream", "web", "--stream", "worker", env=env)
    assert [line.split(" ", 1)[1] for line in exact.stdout.splitlines()] == [
        "web from web", "worker from worker"]  # fmt: skip
    prefix = run("tail", "picks", "--stream-prefix", "web", "--no-stream-column", env=env)
    assert [line.split(" ", 1)[1] for line in prefix.stdout.splitlines()] == [
        "from web", "from web-2"]  # fmt: skip
    ingested = run("tail", "picks", "-s", "web", "--ingestion-time", "--json", env=env)
    assert json.loads(ingested.stdout)["ingestion_time"].endswith("Z")
    both = run("tail", "picks", "-s", "web", "-p", "w", env=env)
    assert both.returncode == 2


def test_tail_filter_patterns_work_against_the_local_endpoint(
    tmp_path: Path, local: str, logs: Any
) -> None:
    put(logs, "patterns", "a", ['{"n": 500}', '{"n": 7}', "ERROR x", "WARN y", "INFO -term z"])
    env = env_for(tmp_path, local)

    def shown(pattern: str) -> List[str]:
        result = run("tail", "patterns", "--filter", pattern, "--no-stream-column", env=env)
        assert result.returncode == 0, result.stderr
        return [line.split(" ", 1)[1] for line in result.stdout.splitlines()]

    assert shown("{ $.n = 500 }") == ['{"n": 500}']
    assert shown("?ERROR ?WARN") == ["ERROR x", "WARN y"]
    assert shown('-"-term"') == ['{"n": 500}', '{"n": 7}', "ERROR x", "WARN y"]


def test_tail_prints_every_page_in_order(tmp_path: Path, local: str, logs: Any) -> None:
    messages = [f"event {i}" for i in range(25_000)]
    start = int(time.time() * 1000) - 3_600_000
    put(logs, "many", "a", messages[::2], start=start)
    put(logs, "many", "b", messages[1::2], start=start)
    result = run("tail", "many", "--since", "2h", "--no-stream-column",
                 env=env_for(tmp_path, local))  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = [line.split(" ", 1)[1] for line in result.stdout.splitlines()]
    assert sorted(shown) == sorted(messages)
    stamps = [line.split(" ", 1)[0] for line in result.stdout.splitlines()]
    assert stamps == sorted(stamps)


# ------------------------------------------------------------------------ tail follow


def test_tail_follow_exits_when_its_reader_goes_away(tmp_path: Path, local: str, logs: Any) -> None:
    put(logs, "follow-head", "s", ["first", "second"])
    proc = subprocess.Popen(command("tail", "follow-head", "-f", "--interval", "0.2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_for(tmp_path, local), cwd=ROOT)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().endswith(b"first\n")
        proc.stdout.close()  # what `| head -1` does
        assert proc.wait(15) == 0
    finally:
        stop(proc)


def test_tail_follow_waits_for_a_group_that_does_not_exist_yet(
    tmp_path: Path, local: str, logs: Any
) -> None:
    proc = subprocess.Popen(command("tail", "later", "-f", "--interval", "0.2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_for(tmp_path, local), cwd=ROOT)  # fmt: skip
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert b"does not exist yet" in proc.stderr.readline()
        put(logs, "later", "s", ["arrived"])
        assert proc.stdout.readline().endswith(b"arrived\n")
    finally:
        stop(proc)


# ------------------------------------------------------------------------ --since


def test_since_reads_the_iso_forms_every_python_version_gets() -> None:
    assert parse_time("2023-11-14T22:13:20.5Z") == 1_700_000_000_500
    assert parse_time("2023-11-14T23:13:20+0100") == 1_700_000_000_000
    assert parse_time("20231114T221320Z") == 1_700_000_000_000
    assert parse_time("2023-11-14") == 1_699_920_000_000
    assert parse_time("90 min", 1_700_000_000.0) == 1_700_000_000_000 - 5_400_000


@pytest.mark.parametrize("value", ["1M", "10 parsecs", "999999999w", "10000-01-01"])
def test_since_refuses_ambiguous_and_out_of_range_values(value: str) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_a_too_large_since_is_a_usage_error(tmp_path: Path) -> None:
    result = run("tail", "g", "--since", "999999999w", env=env_for(tmp_path, None))
    assert result.returncode == 2
    assert "--since" in result.stderr and "out of range" in result.stderr


# ------------------------------------------------------------------- groups, streams


def test_groups_and_streams_list_what_there_is(tmp_path: Path, local: str, logs: Any) -> None:
    now = int(time.time() * 1000)
    put(logs, "listed/one", "old", ["x"], start=now - 100_000)
    put(logs, "listed/one", "new", ["x"], start=now)
    put(logs, "listed/two", "s", ["x"])
    env = env_for(tmp_path, local)
    groups = run("groups", "listed/", env=env)
    assert groups.returncode == 0, groups.stderr
    assert [line.split(" ")[0] for line in groups.stdout.splitlines()] == [
        "listed/one", "listed/two"]  # fmt: skip
    streams = run("streams", "listed/one", env=env)
    assert [line.split(" ")[0] for line in streams.stdout.splitlines()] == ["new", "old"]
    as_json = run("streams", "listed/one", "--prefix", "o", "--json", env=env)
    assert json.loads(as_json.stdout) == {"name": "old", "last_event": format_time(now - 100_000)}
    missing = run("streams", "listed/none", env=env)
    assert missing.returncode == 3 and "does not exist" in missing.stderr


# ------------------------------------------------------------------------------ pipe


def test_pipe_tees_each_line_as_it_is_read(tmp_path: Path, local: str) -> None:
    env = env_for(tmp_path, local)  # no PYTHONUNBUFFERED, as outside CI
    assert "PYTHONUNBUFFERED" not in env
    proc = subprocess.Popen(command("pipe", "-g", "tee-live", "--tee"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT)  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        for i in range(3):
            proc.stdin.write(f"line {i}\n".encode())
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, f"line {i} was not teed while the input stayed open"
            assert proc.stdout.readline() == f"line {i}\n".encode()
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        stop(proc)


@pytest.mark.slow
def test_pipe_progress_never_runs_into_teed_lines(tmp_path: Path, local: str) -> None:
    script = "import sys, time\nfor i in range(8):\n    print(f'text line {i}', flush=True)\n" \
             "    time.sleep(0.4)\n"  # fmt: skip
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        shown, proc = on_terminal(command("pipe", "-g", "progress", "--tee", "--progress"),
                                  env_for(tmp_path, local), stdin=writer.stdout)  # fmt: skip
        assert proc.wait(60) == 0
    finally:
        writer.wait(30)
        stop(writer)
    text = shown.decode()
    assert "pipe: read" in text  # the progress line was drawn
    for i in range(8):
        # A teed line starts a line of its own: the progress line was erased first.
        assert f"\r\x1b[Ktext line {i}\r\n" in text or f"\ntext line {i}\r\n" in text or \
            text.startswith(f"text line {i}")  # fmt: skip


def test_pipe_splits_a_long_line_and_says_so(tmp_path: Path, local: str, logs: Any) -> None:
    line = "é" + "x" * (5 * 1024 * 1024)
    result = run("pipe", "-g", "long", "-s", "s", input=line + "\nshort\n",
                 env=env_for(tmp_path, local))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 line longer than --max-message-size was split into 21 events" in result.stderr
    stored = [e["message"] for e in logs.get_paginator("filter_log_events").paginate(
        logGroupName="long").build_full_result()["events"]]  # fmt: skip
    # Each piece has a millisecond of its own, so that read back in time order they
    # join into the line even when they went out in parallel requests.
    assert "".join(stored[:-1]) == line and stored[-1] == "short"
    assert max(len(m.encode()) for m in stored) <= 256 * 1024 - 26


def test_pipe_pieces_follow_max_message_size(tmp_path: Path, local: str, logs: Any) -> None:
    result = run("pipe", "-g", "pieces", "-s", "s", "--max-message-size", "1026",
                 input="y" * 2500 + "\n", env=env_for(tmp_path, local))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "split into 3 events" in result.stderr


def test_pipe_checks_its_files_before_any_aws_call(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = run("pipe", "-g", "g", str(tmp_path / "missing.log"),
                 env=env_for(tmp_path, unreachable))  # fmt: skip
    assert result.returncode == 2
    assert "missing.log" in result.stderr and "cannot reach" not in result.stderr


def test_errors_have_one_prefix_and_name_flags(tmp_path: Path) -> None:
    usage = run("pipe", "-g", "g", "--max-batch-count", "0", env=env_for(tmp_path, None))
    assert usage.stderr.startswith("wt-adapters: error: --max-batch-count=0")
    with __import__("socket").socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run("local", "--port", str(port), env=env_for(tmp_path, None))
    assert taken.stderr.startswith(f"wt-adapters: error: --port {port}: ")
    assert "port=" not in taken.stderr


def test_bare_command_prints_the_usage_once(tmp_path: Path) -> None:
    result = run(env=env_for(tmp_path, None))
    assert result.returncode == 2
    assert result.stderr.count("Usage: wt-adapters") == 1
    assert "error" not in result.stderr.splitlines()[0]


# ------------------------------------------------------------------------------ demo


@pytest.mark.slow
def test_demo_stays_local_with_aws_credentials_configured(tmp_path: Path) -> None:
    env = env_for(tmp_path, None)  # dummy credentials and a region, no endpoint
    assert env["AWS_ACCESS_KEY_ID"]
    result = run("demo", env=env)
    assert result.returncode == 0, result.stderr
    assert "local CloudWatch Logs endpoint" in json.loads(result.stdout)["endpoint"]


def test_pipe_warnings_name_the_flags_not_the_library_arguments() -> None:
    from wt_adapters._cli._pipe import _speak

    assert _speak("log group 'g' does not exist and create_log_group is False") == (
        "log group 'g' does not exist and --no-create-group was given"
    )
    assert _speak("stream 's' does not exist and create_log_stream is False").endswith(
        "--no-create-stream was given"
    )
    assert _speak("max_batch_count=0 must be >= 1") == "--max-batch-count=0 must be >= 1"


def test_tail_shows_what_stdouts_encoding_lacks_as_escapes(
    tmp_path: Path, local: str, logs: Any
) -> None:
    group = f"ascii-out-{tmp_path.name}"  # a group of this run's own: the endpoint is the module's
    put(logs, group, "s", ["café ✓"])
    result = subprocess.run(command("tail", group, "--no-stream-column"),
                            capture_output=True, env=env_for(tmp_path, local,
                            PYTHONIOENCODING="ascii"), cwd=ROOT, timeout=TIMEOUT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("ascii").rstrip().endswith("caf\\xe9 \\u2713")


@pytest.mark.slow
def test_tail_prints_the_first_page_before_it_reads_the_next(
    tmp_path: Path, local: str, logs: Any
) -> None:
    """Each FilterLogEvents page takes 1.5 s to come: the first line must not wait for the rest."""
    from faultproxy import FaultProxy

    start = int(time.time() * 1000) - 600_000
    paged = f"paged-{tmp_path.name}"  # a group of this run's own: the endpoint is the module's
    put(logs, paged, "s", [f"event {i}" for i in range(25_000)], start=start)
    with FaultProxy(*host_and_port(local)) as proxy:
        proxy.add_fault("latency", target="Logs_20140328.FilterLogEvents", latency=1.5)
        began = time.monotonic()
        proc = subprocess.Popen(command("tail", paged, "--since", "1h"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env_for(tmp_path, proxy.url), cwd=ROOT)  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().endswith(b"event 0\n")
            first = time.monotonic() - began
            rest = sum(1 for _ in proc.stdout)
            assert proc.wait(60) == 0
            total = time.monotonic() - began
        finally:
            stop(proc)
    assert rest == 24_999
    # Three pages, 1.5 s each: the first line comes two round trips before the end.
    assert total - first >= 2.5, (first, total)


def test_demo_goes_to_aws_only_when_asked(tmp_path: Path) -> None:
    no_credentials = subprocess_env(credentials=False, home=tmp_path, AWS_REGION="us-east-1")
    asked = run("demo", "--aws", env=no_credentials)
    assert asked.returncode == 3 and "no AWS credentials" in asked.stderr
    both = run("demo", "--aws", "--local", env=no_credentials)
    assert both.returncode == 2 and "--local and --aws" in both.stderr
