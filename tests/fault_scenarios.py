"""Faults between boto3 and a CloudWatch endpoint, and what the handler delivers through them.

Used by tests/test_faults.py; run it directly for the table of every scenario:

    .venv/bin/python tests/fault_scenarios.py [--records 30000]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faultproxy import PUT_LOG_EVENTS, FaultProxy
from helpers import host_and_port, make_client, read_events, reset_endpoint

from wt_adapters import CloudWatchLogHandler


@dataclass
class Outcome:
    name: str
    logged: int
    delivered: int
    duplicates: int
    dropped: int
    in_order: bool
    close_seconds: float
    closed_ok: bool
    stats: Dict[str, Any]

    def row(self) -> str:
        return (
            f"| {self.name} | {self.logged} | {self.delivered} | {self.duplicates} "
            f"| {self.dropped} | {self.close_seconds:.2f} |"
        )


#: name -> what to do to the proxy before logging.
SCENARIOS: Dict[str, Callable[[FaultProxy], Any]] = {
    "none": lambda p: None,
    "throttling (6 requests)": lambda p: p.add_fault("throttle", count=6),
    "503 unavailable (6 requests)": lambda p: p.add_fault("unavailable", count=6),
    "500 internal error (4 requests)": lambda p: p.add_fault("server_error", count=4),
    "connection dropped before forwarding (5)": lambda p: p.add_fault("drop_before", count=5),
    "response lost after storing (3)": lambda p: p.add_fault("drop_after", count=3),
    "latency 0.3 s (every request, 3 s)": lambda p: p.add_fault("latency", duration=3, latency=0.3),
    "read timeout (latency 3 s > 1 s timeout, 2)": lambda p: p.add_fault(
        "latency", count=2, latency=3
    ),
    "endpoint down for 3 s": lambda p: p.add_fault("down", duration=3, target=None),
    "access denied (3 requests)": lambda p: p.add_fault("access_denied", count=3),
    "invalid parameter (1 request)": lambda p: p.add_fault("invalid_parameter", count=1),
}


def run(
    endpoint: str,
    group: str,
    setup: Callable[[FaultProxy], Any],
    *,
    name: str = "",
    records: int = 30_000,
    streams: int = 2,
    precreate: bool = True,
    **options: Any,
) -> Outcome:
    """Log `records` records through a proxy with faults set by `setup`, close, read back.

    With `precreate`, the group and streams exist beforehand, so that the
    faults hit PutLogEvents requests carrying the records.
    """
    reader = make_client(endpoint)
    if precreate:
        reader.create_log_group(logGroupName=group)
        for n in range(streams):
            reader.create_log_stream(logGroupName=group, logStreamName=f"fault.{n}")
    with FaultProxy(*host_and_port(endpoint), record=True) as proxy:
        # A read timeout of 1 s only where the scenario is about one: elsewhere a loaded
        # machine's moto may take longer than that to store a batch, and the resend a
        # timeout makes is a duplicate the scenario did not ask for.
        read_timeout = 1 if "read timeout" in name else 10
        client = make_client(
            proxy.url,
            retries={"total_max_attempts": 1},
            read_timeout=read_timeout,
            connect_timeout=1,
        )
        options.setdefault("send_interval", 0.1)
        options.setdefault("max_batch_count", 1000)
        handler = CloudWatchLogHandler(
            log_group_name=group, log_stream_name="{logger_name}", boto3_client=client, **options
        )
        loggers = []
        for n in range(streams):
            log = logging.getLogger(f"fault.{n}")
            log.propagate = False
            log.setLevel(logging.INFO)
            log.addHandler(handler)
            loggers.append(log)
        setup(proxy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(records):
                loggers[i % streams].info("%d", i)
            started = time.monotonic()
            closed_ok = handler.close(timeout=60)
            close_seconds = time.monotonic() - started
        for log in loggers:
            log.removeHandler(handler)
        stats = handler.stats()
        requests = [r for r in proxy.received() if r.target == PUT_LOG_EVENTS]
    events = read_events(reader, group)
    counts = Counter(int(e["message"]) for e in events)
    # Several requests may be in flight, so each request, not the stream, is in order.
    in_order = bool(requests)
    for request in requests:
        sent = json.loads(request.body)["logEvents"]
        numbers = [int(e["message"]) for e in sent]
        stamps = [e["timestamp"] for e in sent]
        in_order = in_order and numbers == sorted(numbers) and stamps == sorted(stamps)
    return Outcome(
        name=name,
        logged=records,
        delivered=len(counts),
        duplicates=sum(c - 1 for c in counts.values()),
        dropped=sum(stats["dropped"].values()),
        in_order=in_order,
        close_seconds=close_seconds,
        closed_ok=closed_ok,
        stats=stats,
    )


def main(argv: Optional[list[str]] = None) -> None:
    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=30_000)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    print("| fault | records logged | delivered | duplicates | dropped | time to close (s) |")
    print("|---|---|---|---|---|---|")
    try:
        for i, (name, setup) in enumerate(SCENARIOS.items()):
            reset_endpoint(endpoint)
            outcome = run(
                endpoint,
                f"faults-{i}",
                setup,
                name=name,
                records=args.records,
                precreate="down" not in name,
            )
            print(outcome.row(), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
