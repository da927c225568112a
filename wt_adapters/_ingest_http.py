"""HTTP/1.1 POSTs over kept-alive connections, with the standard library alone.

The ingestion transport must not need botocore (so neither boto3's nor
botocore's copy of urllib3, which the package does not declare): this is
`http.client` with a small pool. A connection is put back after a complete
response the server did not close, and checked before reuse: one the server
closed while idle (readable, at EOF) is dropped, and a request whose sending
fails on a reused connection goes once more on a new one (nothing of it was
taken in).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.parse
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, cast

#: Seconds to wait for a connection, and for each read of the answer (botocore's defaults
#: in the boto3 transport: 10 and 30 there too).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
#: Idle connections kept for reuse (the engine sends at most `max_concurrency` at once).
MAX_IDLE = 16

#: Where a failed exchange stopped: nothing was sent, the request was being sent, or it was
#: sent and the answer did not come (the endpoint may have stored it).
CONNECT, SEND, ANSWER = "connect", "send", "answer"


class Answer(NamedTuple):
    """What the endpoint answered."""

    status: int
    #: The headers, by lower-case name.
    headers: Mapping[str, str]
    body: bytes


class TransferError(Exception):
    """The exchange failed at `stage` (`CONNECT`, `SEND` or `ANSWER`) with `cause`."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__} while {_DOING[stage]}: {cause}")
        self.stage = stage
        self.cause = cause


_DOING = {CONNECT: "connecting", SEND: "sending the request", ANSWER: "waiting for the answer"}


class ConnectionPool:
    """Connections to one origin (scheme, host, port) for POSTs to paths under `url`."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        #: The URL's own path, that request paths are put under.
        self.base_path = parts.path.rstrip("/")
        self._context: Optional[ssl.SSLContext] = (
            ssl.create_default_context() if self.scheme == "https" else None
        )
        self._lock = threading.Lock()
        self._idle: List[http.client.HTTPConnection] = []
        #: Set by `close`: a connection given back is closed, not kept.
        self._closed = False

    def _new(self) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=CONNECT_TIMEOUT, context=self._context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT)

    def _take(self) -> Tuple[http.client.HTTPConnection, bool]:
        """An idle connection still open (and True), else a new one (and False)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new(), False
            if _still_open(conn):
                return conn, True
            conn.close()

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; one in use is closed when it is given back."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for conn in idle:
            conn.close()

    def post(self, path: str, body: bytes, headers: Dict[str, str]) -> Answer:
        """POST `body` to `path` (under the URL's path); raise `TransferError` if no answer came."""
        target = self.base_path + path
        for first_try in (True, False):
            conn, reused = self._take()
            stage = CONNECT
            try:
                if conn.sock is None:
                    conn.connect()
                    sock = cast(socket.socket, conn.sock)  # set by connect()
                    sock.settimeout(READ_TIMEOUT)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                stage = SEND
                conn.request("POST", target, body=body, headers=headers)
                stage = ANSWER
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if first_try and reused and stage == SEND:
                    continue  # closed by the server as we reused it: none of it was read
                raise TransferError(stage, e) from e
            if response.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def clear(self) -> None:
        """Forget every idle connection (a forked child: the parent keeps using them)."""
        self._lock = threading.Lock()
        self._idle = []


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can take a request: a readable one was closed by the server."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # any descriptor number, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
