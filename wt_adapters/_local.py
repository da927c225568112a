"""A local CloudWatch Logs endpoint on loopback (moto's server), for development and demos.

Needs the ``local`` extra (``pip install 'wt-adapters[local]'``). Nothing here
is imported by ``import wt_adapters``.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from types import TracebackType
from typing import Any, Dict, Optional, Type

from ._errors import WatchtowerError

#: Where the local endpoint listens: loopback only.
HOST = "127.0.0.1"

#: Credentials and region for the local endpoint; it accepts any.
DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}

INSTALL_HINT = "pip install 'wt-adapters[local]'"

#: How long to wait for the server thread to listen.
START_TIMEOUT = 30.0


def _check_port_free(port: int) -> None:
    """Raise a `WatchtowerError` if nothing can listen on `port` (0 is always fine)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))
    except OSError as e:
        why = "it is in use" if e.errno == errno.EADDRINUSE else e.strerror
        raise WatchtowerError(f"port={port}: cannot listen on {HOST}:{port}: {why}") from None
    finally:
        probe.close()


class LocalEndpoint:
    """A CloudWatch Logs endpoint (moto's server) listening on 127.0.0.1.

    Use it as a context manager, or call `start` and `stop`. `url` is what
    ``AWS_ENDPOINT_URL_LOGS`` (or ``endpoint_url=``) should be; `environment`
    adds dummy credentials and a region.
    """

    def __init__(self, port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise WatchtowerError(
                f"port={port!r} must be an integer from 0 (any free port) to 65535"
            )
        self.port = port
        self._server: Any = None

    @property
    def url(self) -> str:
        """The endpoint's URL (only once started)."""
        if self._server is None:
            raise WatchtowerError("the local endpoint is not running: call start() first")
        return f"http://{HOST}:{self.port}"

    @property
    def environment(self) -> Dict[str, str]:
        """The environment variables that point boto3 (and so this package) here."""
        return {
            "AWS_ENDPOINT_URL_LOGS": self.url,
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": self.url,  # boto3's own name for it
            **DUMMY_ENVIRONMENT,
        }

    def start(self) -> str:
        """Start listening; return the URL. Raises `WatchtowerError` if it can't."""
        if self._server is not None:
            return self.url
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as e:
            raise WatchtowerError(
                f"the local endpoint needs moto's server ({e}): {INSTALL_HINT}"
            ) from None
        _check_port_free(self.port)
        # Werkzeug logs every request at INFO; the endpoint should stay quiet.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        # ThreadedMotoServer.start waits without a timeout for a server that may fail
        # to bind in its own thread; wait for it here, with one.
        starter = threading.Thread(target=server.start, name="wt_adapters:local", daemon=True)
        starter.start()
        starter.join(START_TIMEOUT)
        inner = getattr(server, "_server", None)
        if starter.is_alive() or inner is None:
            raise WatchtowerError(
                f"the local endpoint did not start on {HOST}:{self.port} within {START_TIMEOUT:g} s"
            )
        self.port = int(server.get_host_and_port()[1])
        self._server = server
        return self.url

    def stop(self) -> None:
        """Stop listening and close the socket. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        inner = getattr(server, "_server", None)
        if inner is not None:
            inner.server_close()

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
