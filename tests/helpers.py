"""The tests' scaffolding, written once: clients, reading back, waiting, ports, environments.

Fixtures built on these live in `conftest.py`.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import boto3

ROOT = Path(__file__).resolve().parent.parent
DUMMY = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"
PAGE = 10_000  # the most events GetLogEvents returns at once

# A payload that exercises JSON round trips: non-ASCII and control characters, integers
# beyond 64 bits, floats at the edges, nesting and empty containers.
PAYLOAD: Dict[str, Any] = {
    "text": 'héllo ☃ 日本語 🚀\nsecond line\ttab "quoted" \\ back\u2028slash',
    "big": 2**64 + 1,
    "negative_big": -(2**70),
    "float": 0.1,
    "huge_float": 1e300,
    "none": None,
    "yes": True,
    "no": False,
    "items": [{"a": 1, "b": [1, 2, {"c": None}]}, {"d": "e\n"}, []],
    "nested": {"deep": {"deeper": {"flags": [True, False, None]}}, "empty": {}},
}


# ------------------------------------------------------------------ the local endpoint


def make_client(url: str, **config: Any) -> Any:
    """A boto3 logs client for `url` with dummy credentials; `config` goes to botocore's Config."""
    from botocore.config import Config

    return boto3.client(
        "logs",
        endpoint_url=url,
        region_name=REGION,
        config=Config(**config) if config else None,
        **DUMMY,
    )


def host_and_port(url: str) -> Tuple[str, int]:
    """The host and port of an `http://host:port` URL."""
    host, port = url.rsplit("//", 1)[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------ reading back


def read_events(client: Any, group: str, stream: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every event stored in `group` (or one stream), stream by stream, in stored order."""
    if stream is None:
        names = sorted(
            s["logStreamName"]
            for page in client.get_paginator("describe_log_streams").paginate(logGroupName=group)
            for s in page["logStreams"]
        )
    else:
        names = [stream]
    events: List[Dict[str, Any]] = []
    for name in names:
        kwargs: Dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": name,
            "startFromHead": True,
            "limit": PAGE,
        }
        while True:
            page = client.get_log_events(**kwargs)
            for event in page["events"]:
                event["logStreamName"] = name
            events.extend(page["events"])
            # moto fills every page up to the limit, so a short page is the last one.
            last = len(page["events"]) < PAGE
            if last or page.get("nextForwardToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextForwardToken"]
    return events


def messages(where: Any, group: str, stream: Optional[str] = None) -> List[str]:
    """The messages stored in `group` (or one stream), in stored order.

    `where` is a boto3 client (read back over HTTP) or what `capture_events()` gives
    (read from memory as it is now, without flushing first).
    """
    sender = getattr(where, "sender", None)
    if sender is not None:
        return [m for _, _, m in sender.events(group, stream)]
    return [e["message"] for e in read_events(where, group, stream)]


def stored(where: Any, group: str, stream: Optional[str] = None) -> List[Any]:
    """`messages()`, with each message that is a JSON object decoded."""
    return [json.loads(m) if m.startswith("{") else m for m in messages(where, group, stream)]


# ----------------------------------------------------------------------------- waiting


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something true and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def warned(caught: Any, *fragments: str) -> bool:
    """Whether each of `fragments` is in the text of some warning `caught` so far."""
    texts = [str(w.message) for w in list(caught)]
    return all(any(f in t for t in texts) for f in fragments)


# ------------------------------------------------------------------------ subprocesses


def subprocess_env(
    endpoint: Optional[str] = None,
    *,
    credentials: bool = True,
    home: Optional[Path] = None,
    **extra: str,
) -> Dict[str, str]:
    """An environment for a child process with no trace of the developer's AWS set-up.

    Dummy credentials and the test region unless `credentials` is false, the local endpoint
    if given, the project on PYTHONPATH, and no PYTHONUNBUFFERED (CI sets it; the world
    does not): pass it in `extra` where a test needs it.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONUNBUFFERED"
    }
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    if home is not None:
        env["HOME"] = str(home)
    if credentials:
        env.update(
            AWS_ACCESS_KEY_ID=DUMMY["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=DUMMY["aws_secret_access_key"],
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
        )
    if endpoint:
        env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = endpoint
    env.update(extra)
    return env


def run_python(
    script: str, timeout: float = 60, *, args: Sequence[str] = (), **env: Any
) -> subprocess.CompletedProcess[str]:
    """Run `script` (with `args`) in a fresh interpreter with `subprocess_env(**env)`; capture
    its output."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(**env),
    )


#: Run as ``python -c``: gives SIGINT Python's default handler, then runs a module as
#: ``python -m`` would. A shell starts a background job (``cmd &`` without job control:
#: ``nohup``, a script) with SIGINT ignored, every child inherits that, and Python then
#: leaves it ignored; a command typed at a terminal never has it so.
_AT_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    " runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def python_module_at_a_terminal(module: str, *args: str) -> List[str]:
    """The command line of ``python -m module args`` as typed at a terminal (SIGINT
    not ignored, whatever started the test run): for a child a test sends SIGINT."""
    return [sys.executable, "-c", _AT_A_TERMINAL, module, *args]


def reset_endpoint(url: str) -> None:
    """Have the moto (or local) endpoint at `url` forget every group, stream and event."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def stop(proc: subprocess.Popen[Any]) -> None:
    """End `proc` if it still runs (killed), reap it, and close the test's pipes to it, so
    that none is left to the garbage collector (a ResourceWarning, an error under -W error)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def start_python(script: str, *args: str, **env: Any) -> subprocess.Popen[str]:
    """Start `script` (with `args`) under ``-W error`` with `subprocess_env(**env)`, its
    standard streams piped (text): a child the test talks to while it runs."""
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(**env),
    )


# --------------------------------------------------------------------- shared objects


class Opaque:
    """A value JSON can't encode, with a fixed repr."""

    def __repr__(self) -> str:
        return "<Opaque>"


class LoggingClient:
    """A CloudWatch Logs client that calls `log` (and keeps what it returns) on each send."""

    def __init__(self, client: Any, log: Callable[[], Any]) -> None:
        self._client = client
        self._log = log
        self.logged: List[Any] = []

    @property
    def sends(self) -> int:
        return len(self.logged)

    def put_log_events(self, **kwargs: Any) -> Any:
        self.logged.append(self._log())
        return self._client.put_log_events(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class LambdaContext:
    """What AWS Lambda passes a handler as `context`, as far as the package looks."""

    def __init__(self, remaining_ms: int = 5_000, function_name: str = "fn") -> None:
        self.remaining_ms = remaining_ms
        self.function_name = function_name

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def on_terminal(
    args: List[str], env: Dict[str, str], until: bytes = b"", timeout: float = 60,
    stdin: Any = subprocess.DEVNULL, size: Optional[Tuple[int, int]] = None,
) -> Tuple[bytes, subprocess.Popen[bytes]]:  # fmt: skip
    """Run a command with stdout and stderr on a pseudo-terminal; return what it showed.

    Reads until the command ends, `until` was shown, or `timeout` seconds;
    `size` is the terminal's (rows, columns).
    """
    main, secondary = pty.openpty()
    if size is not None:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen(args, stdin=stdin, stdout=secondary, stderr=secondary, env=env,
                            cwd=ROOT)  # fmt: skip
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:
                    break
                if not data:
                    break
                shown += data
                if until and until in shown:
                    break
            elif proc.poll() is not None:
                break
    finally:
        os.close(main)
    return shown, proc
