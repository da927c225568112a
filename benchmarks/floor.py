"""What a stdlib ``logger.info(dict)`` through ours costs, part by part, against a NullHandler.

``python -m benchmarks.floor`` runs the hot-path scenario (``hotpath``, dict
payload, as ``python -m benchmarks`` does) for a `NullHandler`, for handlers
that do only part of our handler's work (the JSON encoding, the engine's
submit, both: see `benchmarks.scenarios._floor`) and for
`CloudWatchLogHandler`, each in a fresh process, the rows taking turns
``--rounds`` times so that a busy machine weighs on all of them alike. It
prints each row's median caller-thread CPU per call, what it adds to the
NullHandler, and the ratio to it: "encode + submit" is the least any front end
on this engine and encoder can cost; the last row minus it is the front end's
own work (re-entry guard, filters, stream name, formatter dispatch). Exits 1
if an endpoint got a different number of events than were logged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

from benchmarks.child import REPO, STREAM, child_env, run_child
from benchmarks.sink import SinkProcess

#: The rows whose events reach the endpoint (the others send nothing).
DELIVERING = ("floor-submit", "floor-encode-submit", "ours-stdlib")

ROWS = (
    ("stdlib-null", "stdlib, NullHandler"),
    ("floor-encode", "a handler that only encodes the dict"),
    ("floor-encode-keep", "a handler that encodes and keeps the text in a deque"),
    ("floor-submit", "a handler that only submits a ready message to the engine"),
    ("floor-encode-submit", "a handler that encodes and submits: the floor"),
    ("ours-stdlib", "wt_adapters CloudWatchLogHandler"),
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="processes per row (5)")
    parser.add_argument("--calls", type=int, default=10_000, help="calls per repetition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per process")
    args = parser.parse_args(argv)
    sink = SinkProcess(child_env("http://127.0.0.1:9"), lifetime=3600.0, cwd=REPO)
    figures: Dict[str, List[float]] = {row: [] for row, _ in ROWS}
    run_id = time.strftime("%Y%m%d-%H%M%S")
    warmup = max(100, args.calls // 10)
    mismatches: List[str] = []
    try:
        for attempt in range(args.rounds):
            for row, _label in ROWS:
                spec = {
                    "section": "hotpath",
                    "impl": row,
                    "payload": "dict",
                    "calls": args.calls,
                    "repeat": args.repeat,
                    "warmup": warmup,
                    "timeout": 120.0,
                    "stream": STREAM,
                    "group": f"bench/{run_id}/floor-{row}-{attempt}",
                    "endpoint": sink.url,
                    "sink": sink.url,
                }
                result = run_child(spec, child_env(sink.url), 300.0)
                figures[row].append(statistics.median(result["ns_per_call"]))
                expected = warmup + args.calls * args.repeat if row in DELIVERING else 0
                if sink.delivered(spec["group"]) != expected:
                    mismatches.append(f"{row}: {sink.delivered(spec['group'])} != {expected}")
                print(f"[{attempt + 1}/{args.rounds}] {row}", file=sys.stderr, flush=True)
    finally:
        sink.stop()
    null = statistics.median(figures["stdlib-null"])
    print("| handler | ns/call | over NullHandler | / NullHandler | range |")
    print("|---|---|---|---|---|")
    for row, label in ROWS:
        values = figures[row]
        median = statistics.median(values)
        print(
            f"| {label} | {median:,.0f} | {median - null:+,.0f} | {median / null:.3f}"
            f" | {min(values):,.0f}-{max(values):,.0f} |"
        )
    for mismatch in mismatches:
        print(f"MISMATCH in events delivered, {mismatch}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
