"""What closing costs when CloudWatch can't be reached, and what is told of the loss.

Two handlers log 100 records each to an endpoint on loopback that refuses
connections (nothing listens on the port), then close one after the other:

    python examples/endpoint_down.py

It prints how long each close took and what it returned, and what `stats()`
counts; the loss summary each close gives is printed on stderr.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import warnings

from wt_adapters import CloudWatchLogHandler


def refused_url() -> str:
    """An endpoint on loopback where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "example")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "example")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    url = refused_url()
    log = logging.getLogger("endpoint-down")
    log.propagate = False
    handlers = [
        CloudWatchLogHandler(log_group_name=f"example-{name}", endpoint_url=url)
        for name in ("orders", "audit")
    ]
    for handler in handlers:
        log.addHandler(handler)
    for i in range(100):
        log.warning("record %d", i)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n, handler in enumerate(handlers, 1):
            started = time.monotonic()
            done = handler.close()
            took = time.monotonic() - started
            print(f"handler {n}: close() returned {done} after {took:.1f} s;"
                  f" dropped {handler.stats()['dropped']}")  # fmt: skip
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)


if __name__ == "__main__":
    main()
