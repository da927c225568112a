"""A minimal local CloudWatch Logs endpoint: counts what it receives and can stall.

It answers the JSON 1.1 protocol (``X-Amz-Target: Logs_20140328.<Operation>``)
for the calls watchtower and wt_adapters make: CreateLogGroup, CreateLogStream,
DescribeLogGroups, DescribeLogStreams, PutLogEvents, PutRetentionPolicy and
TagResource. PutLogEvents is checked against CloudWatch's batch rules and only
counted; nothing is stored. It listens on 127.0.0.1 only.

Control calls for the benchmark runner (POST or GET, answered with JSON):

- ``/_bench/stats``: events, bytes and requests received per group and stream;
- ``/_bench/stall``: hold every PutLogEvents request from now on (each for at
  most ``--max-hold`` seconds), to let queues fill up in the client;
- ``/_bench/release``: answer the held requests and stop holding new ones.

``--latency SECONDS`` delays every answer by that much (a CloudWatch round trip
is 20-80 ms; loopback is ~0). ``--quota OPERATION=RATE`` (repeatable) throttles
an operation to RATE calls a second across all clients, as CloudWatch's
account-wide quotas do, answering ThrottlingException past it. Stats count the
calls made to each operation, throttled or not.

Run it with ``python -m benchmarks.sink``; it prints ``SINK-URL <url>`` on its
first line, and exits when its standard input closes or after ``--lifetime``
seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HOST = "127.0.0.1"
TARGET_PREFIX = "Logs_20140328."
URL_LINE = "SINK-URL "

#: CloudWatch's PutLogEvents limits (see wt_adapters/_rules.py for the sources).
EVENT_OVERHEAD = 26
MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_COUNT = 10_000
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000

Reply = Tuple[int, Dict[str, Any]]


class ApiError(Exception):
    """An error answer: HTTP 400 with CloudWatch's ``__type`` and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StreamCounts:
    """What one log stream has received."""

    events: int = 0
    bytes: int = 0
    requests: int = 0


@dataclass
class SinkState:
    """The sink's log groups and streams (names and counts only) and its stall switch."""

    max_hold: float
    latency: float = 0.0
    #: operation -> calls allowed a second (a token bucket holding one second's worth).
    quotas: Dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Dict[str, int] = field(default_factory=dict)
    throttled: Dict[str, int] = field(default_factory=dict)
    _tokens: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    groups: Dict[str, Dict[str, StreamCounts]] = field(default_factory=dict)
    stalled: bool = False
    held: int = 0
    requests: int = 0
    invalid_requests: int = 0
    problems: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.released = threading.Condition(self.lock)

    # ---------------------------------------------------------------- control

    def stats(self) -> Dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "held": self.held,
                "stalled": self.stalled,
                "invalid_requests": self.invalid_requests,
                "calls": dict(self.calls),
                "throttled": dict(self.throttled),
                "problems": self.problems[-20:],
                "groups": {
                    g: {s: vars(c).copy() for s, c in streams.items()}
                    for g, streams in self.groups.items()
                },
            }

    def stall(self) -> Dict[str, Any]:
        with self.lock:
            self.stalled = True
        return {"stalled": True}

    def release(self) -> Dict[str, Any]:
        with self.lock:
            self.stalled = False
            self.released.notify_all()
        return {"stalled": False}

    def _hold(self) -> None:
        """Wait (lock held) while stalled, at most `max_hold` seconds."""
        deadline = time.monotonic() + self.max_hold
        self.held += 1
        try:
            while self.stalled:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.released.wait(min(left, 1.0))
        finally:
            self.held -= 1

    def admit(self, operation: str) -> bool:
        """Count a call to `operation`; False if its quota has no token left (throttle it)."""
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            rate = self.quotas.get(operation)
            if rate is None:
                return True
            now = time.monotonic()
            tokens, at = self._tokens.get(operation, (rate, now))
            tokens = min(rate, tokens + (now - at) * rate)
            if tokens < 1.0:
                self._tokens[operation] = (tokens, now)
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
                return False
            self._tokens[operation] = (tokens - 1.0, now)
            return True

    # ------------------------------------------------------------- operations

    def _stream(self, params: Dict[str, Any]) -> StreamCounts:
        group = self.groups.get(params.get("logGroupName", ""))
        if group is None:
            raise ApiError("ResourceNotFoundException", "The specified log group does not exist.")
        counts = group.get(params.get("logStreamName", ""))
        if counts is None:
            raise ApiError("ResourceNotFoundException", "The specified log stream does not exist.")
        return counts

    def create_log_group(self, params: Dict[str, Any]) -> Dict[str, Any]:
        name = params.get("logGroupName", "")
        with self.lock:
            if name in self.groups:
                raise ApiError(
                    "ResourceAlreadyExistsException", "The specified log group already exists"
                )
            self.groups[name] = {}
        return {}

    def create_log_stream(self, params: Dict[str, Any]) -> Dict[str, Any]:
        name = params.get("logStreamName", "")
        with self.lock:
            group = self.groups.get(params.get("logGroupName", ""))
            if group is None:
                raise ApiError(
                    "ResourceNotFoundException", "The specified log group does not exist."
                )
            if name in group:
                raise ApiError(
                    "ResourceAlreadyExistsException", "The specified log stream already exists"
                )
            group[name] = StreamCounts()
        return {}

    def describe_log_groups(self, params: Dict[str, Any]) -> Dict[str, Any]:
        prefix = params.get("logGroupNamePrefix", "")
        with self.lock:
            names = sorted(g for g in self.groups if g.startswith(prefix))
        return {
            "logGroups": [
                {
                    "logGroupName": name,
                    "creationTime": 0,
                    "storedBytes": 0,
                    "arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{name}:*",
                }
                for name in names
            ]
        }

    def describe_log_streams(self, params: Dict[str, Any]) -> Dict[str, Any]:
        prefix = params.get("logStreamNamePrefix", "")
        with self.lock:
            group = self.groups.get(params.get("logGroupName", ""))
            if group is None:
                raise ApiError(
                    "ResourceNotFoundException", "The specified log group does not exist."
                )
            found = sorted((s, c.bytes) for s, c in group.items() if s.startswith(prefix))
        return {
            "logStreams": [
                {"logStreamName": s, "creationTime": 0, "storedBytes": b} for s, b in found
            ]
        }

    def put_log_events(self, params: Dict[str, Any]) -> Dict[str, Any]:
        events = params.get("logEvents") or []
        problem = batch_problem(events)
        with self.lock:
            if self.stalled:
                self._hold()
            counts = self._stream(params)
            if problem:
                self.invalid_requests += 1
                self.problems.append(problem)
                raise ApiError("InvalidParameterException", problem)
            counts.events += len(events)
            counts.bytes += sum(len(e["message"]) for e in events)
            counts.requests += 1
        return {}

    def ingest_bulk(self, group: str, stream: str, body: bytes) -> None:
        """Count an HTTP ingestion request's NDJSON lines (``POST /ingest/bulk``)."""
        lines = [line for line in body.split(b"\n") if line.strip()]
        with self.lock:
            if self.stalled:
                self._hold()
            counts = self._stream({"logGroupName": group, "logStreamName": stream})
            counts.events += len(lines)
            counts.bytes += sum(len(line) for line in lines)
            counts.requests += 1

    def accept(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """Answer a call the benchmarks make but the sink needn't act on."""
        return {}

    def operations(self) -> Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]]:
        return {
            "CreateLogGroup": self.create_log_group,
            "CreateLogStream": self.create_log_stream,
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "PutLogEvents": self.put_log_events,
            "PutRetentionPolicy": self.accept,
            "TagResource": self.accept,
            "TagLogGroup": self.accept,
        }


def batch_problem(events: List[Dict[str, Any]]) -> Optional[str]:
    """Say which PutLogEvents rule `events` break, or return None."""
    if not events:
        return "no events"
    if len(events) > MAX_BATCH_COUNT:
        return f"{len(events)} events in one request (at most {MAX_BATCH_COUNT})"
    size = 0
    last = None
    for e in events:
        message = e.get("message")
        stamp = e.get("timestamp")
        if not isinstance(message, str) or not message:
            return "an empty or missing message"
        if not isinstance(stamp, int):
            return "a missing timestamp"
        if last is not None and stamp < last:
            return "events not in chronological order"
        last = stamp
        size += len(message) if message.isascii() else len(message.encode("utf-8"))
        size += EVENT_OVERHEAD
    if size > MAX_BATCH_BYTES:
        return f"{size} bytes in one request (at most {MAX_BATCH_BYTES})"
    if events[-1]["timestamp"] - events[0]["timestamp"] >= MAX_BATCH_SPAN_MS:
        return "the batch spans 24 hours or more"
    return None


class Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests; the state is the server's."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SinkServer

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing per request."""

    def _send(self, status: int, payload: Dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def _control(self, name: str) -> None:
        state = self.server.state
        actions: Dict[str, Callable[[], Dict[str, Any]]] = {
            "stats": state.stats,
            "stall": state.stall,
            "release": state.release,
        }
        action = actions.get(name)
        if action is None:
            self._send(404, {"message": f"no control call {name!r}"})
        else:
            self._send(200, action())

    def do_GET(self) -> None:
        if self.path.startswith("/_bench/"):
            self._control(self.path[len("/_bench/") :])
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_bench/"):
            self._control(self.path[len("/_bench/") :])
            return
        state = self.server.state
        if self.path.startswith("/ingest/bulk"):  # the HTTP ingestion endpoint
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            group = self.headers.get("x-aws-log-group", "")
            try:
                state.ingest_bulk(group, self.headers.get("x-aws-log-stream", ""), body)
            except ApiError as e:
                self._send(400, {"__type": e.code, "message": e.message})
            else:
                self._send(200, {})
            return
        target = self.headers.get("X-Amz-Target", "")
        operation = state.operations().get(target[len(TARGET_PREFIX) :])
        with state.lock:
            state.requests += 1
        if state.latency:
            time.sleep(state.latency)  # outside the lock: requests wait side by side
        name = target[len(TARGET_PREFIX) :]
        if operation is not None and not state.admit(name):
            self._send(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            return
        if not target.startswith(TARGET_PREFIX) or operation is None:
            self._send(400, {"__type": "UnknownOperationException", "message": target})
            return
        try:
            params = json.loads(body or b"{}")
            reply = operation(params)
        except ApiError as e:
            self._send(400, {"__type": e.code, "message": e.message})
        except ValueError as e:
            self._send(400, {"__type": "SerializationException", "message": str(e)})
        else:
            self._send(200, reply)


class SinkServer(ThreadingHTTPServer):
    """A threading HTTP server on loopback holding the sink's state."""

    daemon_threads = True

    def __init__(
        self,
        port: int,
        max_hold: float,
        latency: float = 0.0,
        quotas: Optional[Dict[str, float]] = None,
    ) -> None:
        self.state = SinkState(max_hold=max_hold, latency=latency, quotas=dict(quotas or {}))
        super().__init__((HOST, port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (a benchmark process that exited mid-request)."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _exit_when_parent_goes(lifetime: float) -> None:
    """Exit when stdin closes (the runner is gone) or after `lifetime` seconds."""

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    def watch_clock() -> None:
        time.sleep(lifetime)
        sys.stderr.write(f"sink: lifetime of {lifetime:g} s is over, exiting\n")
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=watch_clock, daemon=True).start()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the sink until stdin closes or its lifetime ends."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sink", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this (s)")
    parser.add_argument("--max-hold", type=float, default=300.0, help="longest stall (s)")
    parser.add_argument("--latency", type=float, default=0.0, help="delay every answer (s)")
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="OPERATION=RATE",
        help="throttle OPERATION past RATE calls a second, e.g. CreateLogStream=5",
    )
    args = parser.parse_args(argv)
    quotas = {}
    for item in args.quota:
        operation, _, rate = item.partition("=")
        quotas[operation] = float(rate)
    server = SinkServer(args.port, args.max_hold, args.latency, quotas)
    _exit_when_parent_goes(args.lifetime)
    print(f"{URL_LINE}http://{HOST}:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


# ------------------------------------------------------------------ client side


def control(url: str, name: str, timeout: float = 10.0) -> Dict[str, Any]:
    """Make a control call (`stats`, `stall`, `release`) on the sink at `url`."""
    request = urllib.request.Request(f"{url}/_bench/{name}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        result: Dict[str, Any] = json.loads(response.read())
    return result


class SinkProcess:
    """The sink in a subprocess of its own: start it, ask it things, stop it."""

    def __init__(
        self, env: Dict[str, str], lifetime: float, cwd: Path, extra: Sequence[str] = ()
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink", "--lifetime", str(lifetime), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
        )
        assert self.process.stdout is not None
        line = _readline_within(self.process, 30.0)
        if not line.startswith(URL_LINE):
            self.stop()
            raise RuntimeError(f"the sink did not start (it said {line!r})")
        self.url = line[len(URL_LINE) :].strip()

    def delivered(self, group: str) -> int:
        """Events received for `group`, all streams together."""
        streams = control(self.url, "stats")["groups"].get(group, {})
        return sum(int(c["events"]) for c in streams.values())

    def stats(self) -> Dict[str, Any]:
        return control(self.url, "stats")

    def stall(self) -> None:
        control(self.url, "stall")

    def release(self) -> None:
        control(self.url, "release")

    def stop(self) -> None:
        """Stop the sink: close its stdin, then terminate, then kill (bounded)."""
        process = self.process
        if process.poll() is not None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def _readline_within(process: subprocess.Popen[str], timeout: float) -> str:
    """Read one line of `process`'s stdout, giving up after `timeout` seconds."""
    lines: List[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


if __name__ == "__main__":
    raise SystemExit(main())
