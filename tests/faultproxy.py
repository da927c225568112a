"""A fault-injecting reverse HTTP proxy for tests (standard library only).

Put it between a boto3 client and a moto server on loopback::

    with FaultProxy("127.0.0.1", moto_port) as proxy:
        client = boto3.client("logs", endpoint_url=proxy.url, ...)
        proxy.add_fault("throttle", count=2)  # the next two PutLogEvents get throttled

Faults apply only to requests whose ``X-Amz-Target`` header equals the fault's
``target`` (by default ``Logs_20140328.PutLogEvents``; ``target=None`` matches every
request). The first active matching fault in the schedule is applied; a fault stays
active for its next ``count`` matching requests and/or ``duration`` seconds after it
was added (whichever ends first), or until removed when both are ``None``.

Fault kinds:

* ``throttle``, ``unavailable``, ``server_error``, ``invalid_parameter``,
  ``access_denied``: answer with the matching AWS JSON error, without forwarding.
* ``drop_before`` / ``down``: close the client connection without forwarding and
  without replying (nothing reaches the server).
* ``drop_after``: forward (so the server stores the request), then close the client
  connection without replying: the client loses the response.
* ``latency``: wait ``latency`` seconds, then forward normally.
* ``too_large``: answer HTTP 413 with an HTML page, as a proxy or load balancer
  refusing the body's size does, without forwarding.
* ``html_ok``: answer HTTP 200 with an HTML page, as a captive proxy does,
  without forwarding.

``set_down(True)`` makes the proxy close every connection and request (any target)
until ``set_down(False)``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Callable, Literal, TypedDict, cast, final, get_args

PUT_LOG_EVENTS = "Logs_20140328.PutLogEvents"
NO_TARGET = "-"
"""Key in ``stats()["requests"]`` for requests without an ``X-Amz-Target`` header."""

FaultKind = Literal[
    "throttle",
    "unavailable",
    "server_error",
    "drop_before",
    "drop_after",
    "latency",
    "down",
    "invalid_parameter",
    "access_denied",
    "rewrite",
    "too_large",
    "html_ok",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

# kind -> (HTTP status, AWS error code, message) for faults answered by the proxy itself.
ERROR_REPLIES: dict[str, tuple[int, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "unavailable": (503, "ServiceUnavailableException", "The service is unavailable."),
    "server_error": (500, "InternalFailure", "The request processing has failed."),
    "invalid_parameter": (400, "InvalidParameterException", "Injected invalid parameter."),
    "access_denied": (400, "AccessDeniedException", "User is not authorized"),
}

# kind -> (HTTP status, reason, body) for faults answered with a page not from CloudWatch.
PAGE_REPLIES: dict[str, tuple[int, str, bytes]] = {
    "too_large": (413, "Request Entity Too Large", b"<html><h1>413 Too Large</h1></html>"),
    "html_ok": (200, "OK", b"<html><body>Welcome to the network</body></html>"),
}

# Headers that describe one connection only and are never relayed.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",  # 100-continue is answered by BaseHTTPRequestHandler itself
        "content-length",  # recomputed from the fully read body
    }
)
_MAX_LINE = 65536

_Reply = tuple[int, str, list[tuple[str, str]], bytes]


@dataclass(eq=False)  # compared by identity, so remove_fault() removes exactly this one
class Fault:
    """One scheduled fault. Its fields are changed only by the proxy, under its lock."""

    kind: FaultKind
    target: str | None
    remaining: int | None  # matching requests left; None: no count limit
    expires_at: float | None  # time.monotonic() deadline; None: no time limit
    latency: float = 0.0
    injected: int = 0  # how many requests this fault has been applied to
    #: For "rewrite": the upstream reply's body goes through it (the server has the request).
    rewrite: Callable[[bytes], bytes] | None = None

    def matches(self, target: str | None) -> bool:
        return self.target is None or self.target == target

    def expired(self, now: float) -> bool:
        used_up = self.remaining is not None and self.remaining <= 0
        return used_up or (self.expires_at is not None and now >= self.expires_at)


class ProxyStats(TypedDict):
    requests: dict[str, int]  # requests seen per X-Amz-Target (NO_TARGET when absent)
    faults: dict[str, int]  # faults injected per kind
    forwarded: int  # requests forwarded upstream that got a response
    refused: int  # connections and requests closed because of set_down(True)
    upstream_errors: int  # requests whose forwarding failed (answered 502 or dropped)
    peak_in_flight: int  # most requests being handled at once


@dataclass(frozen=True)
class Received:
    """A request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "x-amz-target"), None)


@final
class FaultProxy:
    """Reverse HTTP proxy on 127.0.0.1 that forwards to ``upstream_host:upstream_port``."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        upstream_timeout: float = 30.0,
        client_timeout: float = 30.0,
        record: bool = False,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.upstream_timeout = upstream_timeout
        self.client_timeout = client_timeout
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._down = False
        self._stopping = threading.Event()
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._stats = _empty_stats()
        self._record = record
        self._in_flight = 0
        self._received: list[Received] = []

    def received(self) -> list[Received]:
        """Every request received so far (with ``record=True``), faulted or not, in order."""
        with self._lock:
            return list(self._received)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind a free loopback port and serve in a daemon thread."""
        with self._lock:
            if self._server is not None or self._stopping.is_set():
                raise RuntimeError("a FaultProxy can be started only once")
            self._server = server = _ProxyServer(self)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faultproxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, abort open connections and join the threads (idempotent)."""
        if self._stopping.is_set():
            return
        self._stopping.set()  # also interrupts latency waits
        server = self._server
        if server is None:
            return
        server.shutdown()  # returns once serve_forever() has left its loop
        server.server_close()
        threads = server.abort_connections()
        if self._thread is not None:
            threads.append(self._thread)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- fault schedule ------------------------------------------------------------

    def add_fault(
        self,
        kind: FaultKind,
        count: int | None = None,
        duration: float | None = None,
        target: str | None = PUT_LOG_EVENTS,
        latency: float = 0.0,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> Fault:
        """Append a fault to the schedule and return it (for ``remove_fault``)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None")
        if duration is not None and duration <= 0:
            raise ValueError("duration must be > 0 or None")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if (kind == "rewrite") != (rewrite is not None):
            raise ValueError("a rewrite fault, and only one, takes a rewrite function")
        expires_at = None if duration is None else time.monotonic() + duration
        fault = Fault(kind, target, count, expires_at, latency, rewrite=rewrite)
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> bool:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)
                return True
            return False

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def active_faults(self) -> list[Fault]:
        """The faults still scheduled (count left and not expired), in order."""
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if not f.expired(now)]
            return list(self._faults)

    def set_down(self, down: bool) -> None:
        """While down, every new connection and every request is closed unanswered."""
        with self._lock:
            self._down = down

    @property
    def is_down(self) -> bool:
        with self._lock:
            return self._down

    # -- counters ------------------------------------------------------------------

    def stats(self) -> ProxyStats:
        with self._lock:
            s = self._stats
            return ProxyStats(
                requests=dict(s["requests"]),
                faults=dict(s["faults"]),
                forwarded=s["forwarded"],
                refused=s["refused"],
                upstream_errors=s["upstream_errors"],
                peak_in_flight=s["peak_in_flight"],
            )

    def open_connections(self) -> int:
        """Client connections open now (each ends when the client closes it)."""
        server = self._server
        if server is None:
            return 0
        with server._registry_lock:
            return len(server._sockets)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = _empty_stats()

    # -- used by the handler threads -------------------------------------------------

    def _take_fault(self, target: str | None) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if not f.expired(now)]
            for fault in self._faults:
                if fault.matches(target):
                    fault.injected += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    faults = self._stats["faults"]
                    faults[fault.kind] = faults.get(fault.kind, 0) + 1
                    return fault
            return None

    def _note_request(self, target: str | None) -> None:
        key = NO_TARGET if target is None else target
        with self._lock:
            requests = self._stats["requests"]
            requests[key] = requests.get(key, 0) + 1

    def _count(self, name: Literal["forwarded", "refused", "upstream_errors"]) -> None:
        with self._lock:
            self._stats[name] += 1


def _empty_stats() -> ProxyStats:
    return ProxyStats(
        requests={}, faults={}, forwarded=0, refused=0, upstream_errors=0, peak_in_flight=0
    )


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._registry_lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._handler_threads: list[threading.Thread] = []
        self._aborted = False
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), which may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def track(self, sock: socket.socket) -> bool:
        """Register a socket to abort on stop; False (not registered) once stopping."""
        with self._registry_lock:
            if self._aborted:
                return False
            self._sockets.add(sock)
            return True

    def untrack(self, sock: socket.socket) -> None:
        with self._registry_lock:
            self._sockets.discard(sock)

    def abort_connections(self) -> list[threading.Thread]:
        """Shut down every tracked socket; return the handler threads still alive."""
        with self._registry_lock:
            self._aborted = True
            sockets = list(self._sockets)
            threads = [t for t in self._handler_threads if t.is_alive()]
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)
        return threads

    def verify_request(self, request: object, client_address: object) -> bool:
        if self.proxy.is_down:
            self.proxy._count("refused")
            return False  # socketserver then closes the connection unanswered
        return True

    def process_request(self, request: object, client_address: object) -> None:
        sock = cast(socket.socket, request)
        if not self.track(sock):
            self.shutdown_request(sock)
            return
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(sock, client_address),
            name=f"faultproxy-{self.server_port}-conn",
            daemon=True,
        )
        with self._registry_lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()]
            self._handler_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: object) -> None:
        self.untrack(cast(socket.socket, request))
        super().shutdown_request(cast(socket.socket, request))


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.proxy.client_timeout)
        self._upstream: http.client.HTTPConnection | None = None
        self._upstream_sock: socket.socket | None = None

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True  # client went away, or the proxy is stopping

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._close_upstream()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    # -- one request ---------------------------------------------------------------

    def _relay(self) -> None:
        proxy = self.server.proxy
        with proxy._lock:
            proxy._in_flight += 1
            stats = proxy._stats
            stats["peak_in_flight"] = max(stats["peak_in_flight"], proxy._in_flight)
        try:
            self._relay_one(proxy)
        finally:
            with proxy._lock:
                proxy._in_flight -= 1

    def _relay_one(self, proxy: FaultProxy) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        target = self.headers.get("X-Amz-Target")
        proxy._note_request(target)
        if proxy._record:
            with proxy._lock:
                proxy._received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
        if proxy.is_down:
            proxy._count("refused")
            self.close_connection = True
            return
        fault = proxy._take_fault(target)
        kind = None if fault is None else fault.kind
        if kind is not None and kind in ERROR_REPLIES:
            self._send_error_reply(*ERROR_REPLIES[kind])
            return
        if kind is not None and kind in PAGE_REPLIES:
            status, reason, page = PAGE_REPLIES[kind]
            self._send_reply(status, reason, [("Content-Type", "text/html")], page)
            return
        if kind in ("drop_before", "down") or proxy._stopping.is_set():
            self.close_connection = True
            return
        if fault is not None and kind == "latency" and proxy._stopping.wait(fault.latency):
            self.close_connection = True  # stopped while waiting
            return
        reply = self._forward(body)
        if reply is None:
            proxy._count("upstream_errors")
        if kind == "drop_after":
            self.close_connection = True  # the server has the request; the client loses the reply
            return
        if reply is None:
            self._send_error_reply(502, "BadGateway", "FaultProxy could not reach the upstream.")
            return
        if fault is not None and fault.rewrite is not None:
            status, reason, headers, data = reply
            reply = (status, reason, headers, fault.rewrite(data))
        self._send_reply(*reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _relay

    def _read_body(self) -> bytes | None:
        """The whole request body, or None when the client sent a broken one."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        body = self.rfile.read(length) if length > 0 else b""
        return body if len(body) == length else None

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return None  # EOF or a malformed chunk header
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                return None
            chunks.append(chunk)
            self.rfile.readline(_MAX_LINE)  # the CRLF after the chunk

    def _forward(self, body: bytes) -> _Reply | None:
        """Send the request upstream; the reply, or None if that failed."""
        for _attempt in range(2):
            conn, reused = self._upstream_connection()
            if conn is None:
                return None
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                if body or "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError) as exc:
                self._close_upstream()
                stopping = self.server.proxy._stopping.is_set()
                if reused and isinstance(exc, ConnectionError) and not stopping:
                    continue  # a stale keep-alive connection: retry once on a fresh one
                return None
            if response.will_close:
                self._close_upstream()
            self.server.proxy._count("forwarded")
            return response.status, response.reason, response.getheaders(), data
        return None

    def _upstream_connection(self) -> tuple[http.client.HTTPConnection | None, bool]:
        """(connection, reused): the thread's live upstream connection or a new one."""
        if self._upstream is not None and self._upstream.sock is not None:
            return self._upstream, True
        self._close_upstream()
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout
        )
        try:
            conn.connect()
        except OSError:
            conn.close()
            return None, False
        sock = cast(socket.socket, conn.sock)
        if not self.server.track(sock):  # the proxy is stopping
            conn.close()
            return None, False
        self._upstream, self._upstream_sock = conn, sock
        return conn, False

    def _close_upstream(self) -> None:
        if self._upstream_sock is not None:
            self.server.untrack(self._upstream_sock)
        if self._upstream is not None:
            self._upstream.close()
        self._upstream, self._upstream_sock = None, None

    # -- replies -------------------------------------------------------------------

    def _send_reply(
        self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes
    ) -> None:
        self.send_response_only(status, reason)
        content_length = str(len(data))
        for name, value in headers:
            if name.lower() == "content-length" and self.command == "HEAD":
                content_length = value  # a HEAD reply describes the body it does not send
            elif name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", content_length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error_reply(self, status: int, error_type: str, message: str) -> None:
        payload = json.dumps({"__type": error_type, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
