"""What building an /ingest/bulk request costs: NDJSON lines per event, gzip by level.

Run ``python -m benchmarks.ingest_body`` from the repository root (a few seconds).
Prints, for a batch of 10,000 text events and one of 10,000 JSON-object events
(as the front ends write them): the time to turn each event into its NDJSON
line, and for gzip levels 1, 6 and 9 the time per MiB and the compressed size.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Callable, List, Tuple

from wt_adapters._ingest_lines import encode_lines, requests_of

EVENTS = 10_000
ROUNDS = 5


def text_events() -> List[Tuple[int, str]]:
    now = int(time.time() * 1000)
    return [
        (now + i, f"GET /api/orders/{i * 7919 % 100_000} 200 {i % 97}ms user=u{i % 50} ok")
        for i in range(EVENTS)
    ]


def json_events() -> List[Tuple[int, str]]:
    now = int(time.time() * 1000)
    return [
        (
            now + i,
            json.dumps(
                {
                    "event": "order placed",
                    "level": "info",
                    "logger": "shop.orders",
                    "order_id": i * 7919 % 100_000,
                    "user": f"u{i % 50}",
                    "items": [{"sku": f"A{i % 13}", "qty": i % 4 + 1}],
                    "total": round(i * 0.37 % 500, 2),
                }
            ),
        )
        for i in range(EVENTS)
    ]


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    for name, events in (("text", text_events()), ("json objects", json_events())):
        per_event = best(lambda events=events: encode_lines(events)) / EVENTS * 1e9
        bodies = list(requests_of(encode_lines(events)))
        raw = sum(len(b) for b in bodies)
        print(
            f"{name}: {EVENTS} events, {raw / EVENTS:.0f} bytes a line,"
            f" lines {per_event:.0f} ns an event"
        )
        for level in (1, 6, 9):
            seconds = best(
                lambda level=level, bodies=bodies: [
                    gzip.compress(b, compresslevel=level, mtime=0) for b in bodies
                ]
            )
            size = sum(len(gzip.compress(b, compresslevel=level, mtime=0)) for b in bodies)
            mib = raw / (1024 * 1024)
            print(
                f"  gzip {level}: {seconds / mib * 1000:.1f} ms a MiB,"
                f" {size / raw:.1%} of the size, {seconds / EVENTS * 1e9:.0f} ns an event"
            )


if __name__ == "__main__":
    main()
