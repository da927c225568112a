"""The `wt-adapters` command line, end to end in subprocesses against a local endpoint."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from helpers import (
    REGION,
    ROOT,
    free_port,
    python_module_at_a_terminal,
    read_events,
    stop,
    subprocess_env,
)

from wt_adapters._cli._tail_follow import order
from wt_adapters._cli._tail_time import parse_time

TIMEOUT = 120


def cli_env(
    tmp_path: Path, endpoint: Optional[str] = None, credentials: bool = True
) -> Dict[str, str]:
    """An environment with no trace of the developer's AWS set-up; dummy credentials."""
    return subprocess_env(endpoint, credentials=credentials, home=tmp_path, PYTHONUNBUFFERED="1")


def run(
    *args: str, env: Dict[str, str], input: Optional[str] = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wt_adapters", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def start(
    *args: str, env: Dict[str, str], stdin: Any = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        python_module_at_a_terminal("wt_adapters", *args),  # these tests send it SIGINT
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


class Lines:
    """Lines of a subprocess's stream, read on a thread, awaited with a deadline."""

    def __init__(self, stream: Any) -> None:
        self._queue: queue.Queue[Optional[str]] = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        with contextlib.suppress(ValueError):  # closed by `stopper` once the process is gone
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate: Any, timeout: float = 30.0) -> List[str]:
        """Collect lines until `predicate(lines)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not seen within {timeout} s; got {self.seen[-5:]}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the stream ended; got {self.seen[-5:]}")
            self.seen.append(line)
        return self.seen


@pytest.fixture
def stopper() -> Iterator[List[subprocess.Popen[str]]]:
    """Kills whatever a test started and left running."""
    started: List[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        stop(proc)


def mixed_lines(n: int) -> List[str]:
    """`n` non-blank lines, every third a JSON object, some with unicode."""
    lines = []
    for i in range(n):
        if i % 3 == 0:
            lines.append(
                json.dumps({"i": i, "event": "tick", "tags": ["a", "b"], "ok": i % 2 == 0})
            )
        elif i % 7 == 0:
            lines.append(f"line {i}: naïve café ✓ {{not json")
        else:
            lines.append(f"line {i}: plain text with  two spaces")
    return lines


def expected(line: str) -> Any:
    return json.loads(line) if line.startswith("{") and line.endswith("}") else line


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


# --------------------------------------------------------------------- help and errors


@pytest.mark.parametrize("command", ["", "demo", "local", "pipe", "tail"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    result = run(*([command] if command else []), "--help", env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: wt-adapters {command}".rstrip())
    assert "--help" in result.stdout


def test_a_bad_option_is_a_one_line_error_with_exit_code_2(tmp_path: Path) -> None:
    result = run("pipe", "--group", "g", "--bogus", env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "--bogus" in one_line_error(result)


def test_a_bad_option_value_names_the_flag(tmp_path: Path) -> None:
    result = run("pipe", "--group", "g", "--max-batch-count", "0", env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "--max-batch-count=0" in one_line_error(result)


def test_a_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    result = run("tail", "--group", "g", "--since", "yesterday-ish", env=cli_env(tmp_path))
    assert result.returncode == 2
    assert "--since" in one_line_error(result)


@pytest.mark.parametrize("command", [["pipe", "--group", "g"], ["tail", "--group", "g"], ["demo"]])
def test_an_unreachable_endpoint_is_a_one_line_error_with_exit_code_3(
    tmp_path: Path, command: List[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run(*command, env=cli_env(tmp_path, url), input="a line\n")
    assert result.returncode == 3, result.stderr
    assert "cannot reach" in one_line_error(result)


def test_missing_credentials_are_a_one_line_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "http://127.0.0.1:9", credentials=False)
    env["AWS_REGION"] = REGION
    result = run("tail", "--group", "g", env=env)
    assert result.returncode == 3
    assert "no AWS credentials" in one_line_error(result)


def test_a_missing_group_is_a_one_line_error(tmp_path: Path, endpoint: str) -> None:
    result = run("tail", "--group", "no-such-group", env=cli_env(tmp_path, endpoint))
    assert result.returncode == 3
    assert "does not exist" in one_line_error(result)


def test_without_click_the_command_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['click'] = None; from wt_adapters.__main__ import main; main([])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT
    )
    assert result.returncode == 1
    assert "pip install 'wt-adapters[cli]'" in one_line_error(result)


# ------------------------------------------------------------------------------ demo


def test_demo_starts_its_own_endpoint_and_prints_events_of_all_three_front_ends(
    tmp_path: Path,
) -> None:
    result = run("demo", env=cli_env(tmp_path, credentials=False))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert "local CloudWatch Logs endpoint" in shown["endpoint"]
    streams = shown["streams"]
    by_front_end = {name.rsplit("/", 1)[1]: events for name, events in streams.items()}
    assert sorted(by_front_end) == ["loguru", "stdlib", "structlog"]
    for events in by_front_end.values():
        assert len(events) == 3
        assert any(isinstance(e["message"], dict) for e in events)
    assert by_front_end["stdlib"][0]["message"] == {"event": "user signed in", "user": "ada",
                                                    "plan": "pro"}  # fmt: skip
    assert by_front_end["structlog"][0]["message"]["user"] == "grace"
    assert by_front_end["loguru"][0]["message"]["user"] == "linus"


def test_demo_uses_the_configured_endpoint(tmp_path: Path, endpoint: str, client: Any) -> None:
    result = run("demo", "--group", "demo/here", env=cli_env(tmp_path, endpoint))
    assert result.returncode == 0, result.stderr
    assert endpoint in json.loads(result.stdout)["endpoint"]
    assert len(read_events(client, "demo/here")) == 9


# ------------------------------------------------------------------------ pipe, tail


def test_pipe_then_tail_round_trips_10000_lines_in_order(tmp_path: Path, endpoint: str) -> None:
    env = cli_env(tmp_path, endpoint)
    lines = mixed_lines(10_000)
    shipped = run("pipe", "--group", "round/trip", input="\n".join(lines) + "\n", env=env)
    assert shipped.returncode == 0, shipped.stderr
    assert "read 10000 lines" in shipped.stderr and "sent 10000 events" in shipped.stderr
    tailed = run("tail", "--group", "round/trip", "--json", "--since", "1h", env=env)
    assert tailed.returncode == 0, tailed.stderr
    events = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert [e["message"] for e in events] == [expected(line) for line in lines]
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_pipe_skips_and_counts_blank_lines_and_tees(
    tmp_path: Path, endpoint: str, client: Any
) -> None:
    text = 'one\n\n   \n{"two": 2}\nthree'  # the last line has no newline
    result = run(
        "pipe", "-g", "tee", "-s", "s", "--tee", input=text, env=cli_env(tmp_path, endpoint)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "\n"
    assert "read 5 lines (2 blank, skipped), sent 3 events" in result.stderr
    assert [e["message"] for e in read_events(client, "tee", "s")] == ["one", '{"two":2}', "three"]


def test_pipe_reads_files_into_a_stream_per_file(
    tmp_path: Path, endpoint: str, client: Any
) -> None:
    (tmp_path / "a.log").write_text("a1\na2\n")
    (tmp_path / "b.log").write_text("b1\n")
    stream = "{logger_name}"
    files = [str(tmp_path / "a.log"), str(tmp_path / "b.log")]
    result = run("pipe", "-g", "files", "-s", stream, *files, env=cli_env(tmp_path, endpoint))
    assert result.returncode == 0, result.stderr
    assert [e["message"] for e in read_events(client, "files", "a.log")] == ["a1", "a2"]
    assert [e["message"] for e in read_events(client, "files", "b.log")] == ["b1"]


def test_pipe_sets_retention_and_tags_on_the_group_it_creates(
    tmp_path: Path, endpoint: str, client: Any
) -> None:
    result = run("pipe", "-g", "made", "--retention-days", "7", "--tag", "team=logs",
                 input="x\n", env=cli_env(tmp_path, endpoint))  # fmt: skip
    assert result.returncode == 0, result.stderr
    group = client.describe_log_groups(logGroupNamePrefix="made")["logGroups"][0]
    assert group["retentionInDays"] == 7
    assert client.list_tags_log_group(logGroupName="made")["tags"] == {"team": "logs"}


def test_pipe_without_create_group_fails_at_start_naming_the_flag(
    tmp_path: Path, endpoint: str
) -> None:
    started = time.monotonic()
    result = run("pipe", "-g", "absent", "--no-create-group", input="x\n",
                 env=cli_env(tmp_path, endpoint))  # fmt: skip
    assert result.returncode == 3
    error = one_line_error(result)
    assert "'absent' does not exist" in error and "--no-create-group" in error
    assert "create_log_group" not in error
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_stream_loses_nothing_already_read(
    tmp_path: Path, endpoint: str, client: Any, stopper: List[subprocess.Popen[str]], sig: int
) -> None:
    proc = start("pipe", "-g", "sig", "-s", "s", "--tee", env=cli_env(tmp_path, endpoint),
                 stdin=subprocess.PIPE)  # fmt: skip
    stopper.append(proc)
    assert proc.stdin is not None
    echoed = Lines(proc.stdout)
    sent = [f"line {i}" for i in range(2000)]
    proc.stdin.write("\n".join(sent) + "\n")
    proc.stdin.flush()
    echoed.until(lambda seen: len(seen) >= len(sent))  # the pipe has read them all
    proc.send_signal(sig)  # stdin stays open: the command must stop reading by itself
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"stopped on {signal.Signals(sig).name}" in err
    assert [e["message"] for e in read_events(client, "sig", "s")] == sent


def test_a_pipe_started_as_a_background_job_keeps_sigint_ignored(
    tmp_path: Path, endpoint: str, client: Any, stopper: List[subprocess.Popen[str]]
) -> None:
    """A shell starts ``cmd &`` (no job control) with SIGINT ignored: Ctrl-C at the
    terminal is for the foreground, and the job goes on; SIGTERM still stops it."""
    as_a_job = (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.SIG_IGN);"
        " runpy.run_module('wt_adapters', run_name='__main__', alter_sys=True)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", as_a_job, "pipe", "-g", "job", "-s", "s", "--tee"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(tmp_path, endpoint), cwd=ROOT,
    )  # fmt: skip
    stopper.append(proc)
    assert proc.stdin is not None
    echoed = Lines(proc.stdout)
    proc.stdin.write("before\n")
    proc.stdin.flush()
    echoed.until(lambda seen: seen == ["before"])
    proc.send_signal(signal.SIGINT)
    proc.stdin.write("after\n")
    proc.stdin.flush()
    echoed.until(lambda seen: seen == ["before", "after"])  # still reading
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped on SIGTERM" in err
    assert [e["message"] for e in read_events(client, "job", "s")] == ["before", "after"]


def test_tail_filters_and_prints_one_line_per_event(tmp_path: Path, endpoint: str) -> None:
    env = cli_env(tmp_path, endpoint)
    text = "INFO started\nERROR disk full\nINFO still here\nERROR disk still full\n"
    assert run("pipe", "-g", "flt", "-s", "app", input=text, env=env).returncode == 0
    result = run("tail", "-g", "flt", "--filter", "ERROR", env=env)
    assert result.returncode == 0, result.stderr
    shown = result.stdout.splitlines()
    assert [line.split(" ", 2)[1:] for line in shown] == [
        ["app", "ERROR disk full"],
        ["app", "ERROR disk still full"],
    ]
    assert all(line[:4].isdigit() and line[23] == "Z" for line in shown)


def test_tail_pretty_prints_json(tmp_path: Path, endpoint: str) -> None:
    env = cli_env(tmp_path, endpoint)
    assert run("pipe", "-g", "pretty", input='{"a": {"b": 1}}\n', env=env).returncode == 0
    result = run("tail", "-g", "pretty", "--json", "--pretty", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["message"] == {"a": {"b": 1}}
    assert '\n  "message": {\n' in result.stdout


def test_tail_follow_prints_new_events_until_ctrl_c(
    tmp_path: Path, endpoint: str, client: Any, stopper: List[subprocess.Popen[str]]
) -> None:
    env = cli_env(tmp_path, endpoint)
    client.create_log_group(logGroupName="follow")
    client.create_log_stream(logGroupName="follow", logStreamName="s")
    now = int(time.time() * 1000)
    client.put_log_events(logGroupName="follow", logStreamName="s",
                          logEvents=[{"timestamp": now, "message": "first"}])  # fmt: skip
    proc = start("tail", "-g", "follow", "--follow", "--interval", "0.2", env=env)
    stopper.append(proc)
    out = Lines(proc.stdout)
    out.until(lambda seen: len(seen) == 1)
    for i, message in enumerate(["second", "third"]):
        event = {"timestamp": now + 1 + i, "message": message}
        client.put_log_events(logGroupName="follow", logStreamName="s", logEvents=[event])
    seen = out.until(lambda seen: len(seen) == 3)
    assert [line.rsplit(" ", 1)[1] for line in seen] == ["first", "second", "third"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


# ----------------------------------------------------------------------------- local


@pytest.mark.slow
def test_local_serves_cloudwatch_and_prints_the_environment(
    tmp_path: Path, stopper: List[subprocess.Popen[str]]
) -> None:
    proc = start("local", env=cli_env(tmp_path, credentials=False))
    stopper.append(proc)
    out = Lines(proc.stdout)
    lines = out.until(lambda seen: any(s.startswith("export AWS_DEFAULT_REGION=") for s in seen))
    exported = dict(line[len("export "):].split("=", 1) for line in lines)  # fmt: skip
    url = exported["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"]
    assert url.startswith("http://127.0.0.1:")
    assert exported["AWS_ACCESS_KEY_ID"] and exported["AWS_REGION"]
    env = cli_env(tmp_path, credentials=False)
    env.update(exported)
    assert run("pipe", "-g", "loc", "-s", "s", input="hello\n", env=env).returncode == 0
    assert run("tail", "-g", "loc", env=env).stdout.rstrip().endswith(" s hello")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


def test_local_on_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("local", "--port", str(port), env=cli_env(tmp_path))
    assert result.returncode == 3
    assert "in use" in one_line_error(result)


# ----------------------------------------------------------------------------- units


def test_since_takes_durations_iso_times_and_all() -> None:
    now = 1_700_000_000.0
    assert parse_time("10m", now) == int((now - 600) * 1000)
    assert parse_time("2h", now) == int((now - 7200) * 1000)
    assert parse_time("1.5d", now) == int((now - 129600) * 1000)
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20") == 1_700_000_000_000
    assert parse_time("all") is None
    with pytest.raises(ValueError):
        parse_time("soon")


def test_tail_orders_by_timestamp_and_keeps_stored_order_for_equal_ones() -> None:
    events = [
        {"timestamp": 2, "ingestionTime": 10, "logStreamName": "a", "message": "a2"},
        {"timestamp": 1, "ingestionTime": 10, "logStreamName": "a", "message": "a1-first"},
        {"timestamp": 1, "ingestionTime": 10, "logStreamName": "a", "message": "a1-second"},
        {"timestamp": 1, "ingestionTime": 5, "logStreamName": "b", "message": "b1-earlier"},
        {"timestamp": 1, "ingestionTime": 10, "logStreamName": "b", "message": "b1"},
    ]
    assert [e["message"] for e in order(events)] == [
        "b1-earlier", "a1-first", "a1-second", "b1", "a2",
    ]  # fmt: skip
