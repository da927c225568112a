"""A burst of 50,000 records through CloudWatchLogHandler, beside logging.NullHandler.

Prints how long logging the burst took and how long until `flush()` returned
(every record delivered), and the caller-thread CPU of one `logger.info` call,
each beside the same figure for `logging.NullHandler`. The endpoint is moto's
server in a process of its own, on 127.0.0.1.

    python -m benchmarks.burst
"""

from __future__ import annotations

import logging
import socket
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any, Dict, List, Tuple

import boto3

import wt_adapters

RECORDS = 50_000
PAYLOAD = {"event": "request", "user": {"id": 42, "roles": ["a", "b"]}, "path": "/x",
           "status": 200, "ms": 12.5, "ok": True, "n": None}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers = [handler]
    return log


def burst(handler: logging.Handler, name: str) -> Tuple[float, float]:
    """Log the burst; return (seconds logging, seconds until flush returned)."""
    log = _logger(handler, name)
    started = time.perf_counter()
    for i in range(RECORDS):
        log.info("record %d", i)
    logged = time.perf_counter() - started
    if isinstance(handler, wt_adapters.CloudWatchLogHandler) and not handler.flush(120):
        raise SystemExit("flush timed out")
    return logged, time.perf_counter() - started


def caller_ns(handler: logging.Handler, name: str, message: Any) -> float:
    """Median caller-thread CPU (ns) of one logger.info call, over 7 x 20,000 calls."""
    log = _logger(handler, name)
    runs = []
    for _ in range(7):
        started = time.thread_time_ns()
        for _ in range(20_000):
            log.info(message)
        runs.append((time.thread_time_ns() - started) / 20_000)
        handler.flush()
    return statistics.median(runs)


def main() -> None:
    warnings.simplefilter("ignore")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = boto3.client(
            "logs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        for _ in range(100):
            try:
                client.describe_log_groups()
                break
            except Exception:
                time.sleep(0.1)
        results: Dict[str, List[Tuple[float, float]]] = {"NullHandler": [], "ours": []}
        for k in range(3):
            results["NullHandler"].append(burst(logging.NullHandler(), f"null{k}"))
            handler = wt_adapters.CloudWatchLogHandler(
                log_group_name=f"burst{k}", log_stream_name="s", boto3_client=client
            )
            results["ours"].append(burst(handler, f"ours{k}"))
            handler.close()
            stored = sum(
                len(page["events"])
                for page in client.get_paginator("filter_log_events").paginate(
                    logGroupName=f"burst{k}"
                )
            )
            assert stored == RECORDS, stored
        for name, label in (
            ("NullHandler", "logging.NullHandler"),
            ("ours", "CloudWatchLogHandler"),
        ):
            logged = statistics.median(r[0] for r in results[name])
            done = statistics.median(r[1] for r in results[name])
            print(
                f"{label}: {RECORDS:,} records logged in {logged:.3f} s,"
                f" delivered (flush returned) after {done:.3f} s (median of 3)"
            )
        handler = wt_adapters.CloudWatchLogHandler(
            log_group_name="cost", log_stream_name="s", boto3_client=client
        )
        for label, message in (("str", "a short message"), ("dict", PAYLOAD)):
            null = caller_ns(logging.NullHandler(), f"cnull{label}", message)
            ours = caller_ns(handler, f"cours{label}", message)
            print(
                f"logger.info({label}): logging.NullHandler {null:,.0f} ns,"
                f" CloudWatchLogHandler {ours:,.0f} ns (caller-thread CPU, median of 7 x 20,000)"
            )
        handler.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
