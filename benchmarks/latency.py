"""Delivery under real round-trip latency and account quotas, side by side with watchtower.

Part of ``python -m benchmarks`` (its "latency" section); also runs alone::

    python -m benchmarks.latency [--quick]

Every run starts a sink of its own (see benchmarks/sink.py) that answers each
request after ``--latency`` (50 ms, a CloudWatch round trip) or throttles
CreateLogStream and PutLogEvents past account-wide quotas, and one fresh
process per library, both configured at their defaults:

- ``streams``: N streams ({logger_name}) x M records logged as fast as possible;
  the seconds from the last log call until ``flush()`` returns, the records
  delivered, and the ratio to the floor ``ceil(requests / 10) x latency`` (10
  requests in flight, wt_adapters' default cap);
- ``many``: 250 streams x 4,000 records at normal speed: delivered / logged
  and the growth of peak RSS;
- ``quota``: 30 processes starting at once, a stream each, against
  CreateLogStream 5/s and PutLogEvents 50/s: API calls per stream created,
  against the minimum of two (CreateLogStream, PutLogEvents).
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.child import REPO, child_env, run_child
from benchmarks.scenarios import STR_PAYLOAD
from benchmarks.section import section_main
from benchmarks.sink import SinkProcess

RESULT_PREFIX = "LATENCY-RESULT "
IMPLS = ("watchtower", "ours")
LABELS = {"watchtower": "watchtower 3.4.0", "ours": "wt_adapters"}
LATENCY = 0.05
PARALLEL = 10
QUOTAS = ("CreateLogStream=5", "PutLogEvents=50")


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _handler(impl: str, group: str, stream: str) -> logging.Handler:
    if impl == "ours":
        from wt_adapters import CloudWatchLogHandler

        return CloudWatchLogHandler(log_group_name=group, log_stream_name=stream)
    import watchtower

    return watchtower.CloudWatchLogHandler(log_group_name=group, log_stream_name=stream)


def child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Log `records` records on each of `streams` loggers, then flush; measure."""
    warnings.simplefilter("ignore")
    impl, group = spec["impl"], spec["group"]
    handler = _handler(impl, group, spec.get("stream", "{logger_name}"))
    loggers = []
    for n in range(spec["streams"]):
        log = logging.getLogger(f"s{n:03d}")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        loggers.append(log)
    baseline = _rss_kib()
    started = time.perf_counter()
    for _ in range(spec["records"]):
        for log in loggers:
            log.info(STR_PAYLOAD)
    last_call = time.perf_counter()
    if impl == "ours":
        flushed = handler.flush(spec["timeout"])  # type: ignore[call-arg]
        stats = handler.stats()  # type: ignore[attr-defined]
        dropped = sum(stats["dropped"].values())
    else:
        handler.flush()
        flushed, dropped = True, 0
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    handler.close()
    return {
        "logged": spec["records"] * spec["streams"],
        "log_s": last_call - started,
        "drain_s": done - last_call,
        "flushed": flushed,
        "dropped": dropped,
        "baseline_rss_kib": baseline,
        "peak_rss_kib": peak,
    }


def _run_child(spec: Dict[str, Any], env: Dict[str, str], timeout: float) -> Dict[str, Any]:
    return run_child(
        spec, env, timeout, module=("benchmarks.latency", "child"), prefix=RESULT_PREFIX
    )


def _sink(extra: Sequence[str]) -> SinkProcess:
    return SinkProcess(child_env("http://127.0.0.1:1"), 3600, REPO, extra)


def _delivered(stats: Dict[str, Any], group: str) -> int:
    return sum(int(c["events"]) for c in stats["groups"].get(group, {}).values())


def measure_streams(
    streams: int, records: int, latency: float, timeout: float
) -> List[Dict[str, Any]]:
    """Each library: `streams` x `records`, against a sink answering after `latency` s."""
    rows = []
    for impl in IMPLS:
        sink = _sink(["--latency", str(latency)])
        try:
            group = f"latency/{impl}/{streams}x{records}"
            spec = {"impl": impl, "group": group, "streams": streams, "records": records}
            result = _run_child({**spec, "timeout": timeout}, child_env(sink.url), timeout + 120)
            stats = sink.stats()
        finally:
            sink.stop()
        puts = stats["calls"].get("PutLogEvents", 0)
        floor = math.ceil(puts / PARALLEL) * latency if latency else None
        rows.append(
            {
                "impl": impl,
                **result,
                "delivered": _delivered(stats, group),
                "refused": stats["invalid_requests"],
                "calls": stats["calls"],
                "puts": puts,
                "floor_s": floor,
            }
        )
    return rows


def measure_quota(processes: int, records: int, timeout: float) -> List[Dict[str, Any]]:
    """Each library: `processes` processes at once, a stream each, under account quotas."""
    rows = []
    for impl in IMPLS:
        sink = _sink([f"--quota={q}" for q in QUOTAS])
        group = f"quota/{impl}"
        try:
            import boto3

            boto3.client(
                "logs",
                endpoint_url=sink.url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            ).create_log_group(logGroupName=group)
            before = sink.stats()["calls"]
            env = child_env(sink.url)
            started = time.perf_counter()
            children = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.latency",
                        "child",
                        json.dumps(
                            {
                                "impl": impl,
                                "group": group,
                                "stream": f"p{n:02d}",
                                "streams": 1,
                                "records": records,
                                "timeout": timeout,
                            }
                        ),
                    ],
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for n in range(processes)
            ]
            for c in children:
                c.wait(timeout + 120)
            wall = time.perf_counter() - started
            stats = sink.stats()
        finally:
            sink.stop()
        calls = {k: v - before.get(k, 0) for k, v in stats["calls"].items()}
        calls = {k: v for k, v in calls.items() if v}
        total = sum(calls.values())
        rows.append(
            {
                "impl": impl,
                "processes": processes,
                "calls": calls,
                "throttled": stats["throttled"],
                "calls_per_stream": total / processes,
                "ratio_to_minimum": total / (2 * processes),
                "delivered": _delivered(stats, group),
                "logged": processes * records,
                "wall_s": wall,
            }
        )
    return rows


def run(quick: bool = False) -> Dict[str, Any]:
    """Measure every latency scenario; return the figures."""
    timeout = 120.0 if quick else 600.0
    scale = 10 if quick else 1
    return {
        "streams": measure_streams(20, 5_000 // scale, LATENCY, timeout),
        "burst": measure_streams(1, 300_000 // scale, LATENCY, timeout),
        "many": measure_streams(250 // scale, 4_000 // scale, 0.0, timeout),
        "quota": measure_quota(3 if quick else 30, 100, timeout),
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _drain_rows(rows: List[Dict[str, Any]]) -> List[List[str]]:
    theirs = next((r for r in rows if r["impl"] == "watchtower"), None)
    out = []
    for r in rows:
        floor = r["floor_s"]
        vs = (
            f"{theirs['drain_s'] / r['drain_s']:.2f}"
            if theirs and r["drain_s"] > 0 and r is not theirs
            else ""
        )
        out.append(
            [
                LABELS[r["impl"]],
                f"{r['logged']:,}",
                f"{r['delivered']:,}",
                f"{r['refused']}",
                f"{r['puts']}",
                f"{r['drain_s']:.2f}",
                f"{floor:.2f}" if floor else "",
                f"{r['drain_s'] / floor:.1f}" if floor else "",
                vs,
            ]
        )
    return out


def report(figures: Dict[str, Any], latency: float = LATENCY) -> str:
    """The latency section of the benchmark report, as markdown."""
    ms = f"{latency * 1000:.0f} ms"
    lines: List[str] = []
    header = [
        "sender",
        "records logged",
        "delivered",
        "requests refused as invalid",
        "PutLogEvents requests",
        "s from last call to stored",
        f"floor s (requests / {PARALLEL} x {ms})",
        "this / floor",
        "watchtower / this",
    ]
    for key in ("streams", "burst"):
        rows = figures[key]
        first = rows[0]
        streams = "1 stream" if key == "burst" else "20 streams"
        per = first["logged"] // (1 if key == "burst" else 20)
        lines += [
            f"### {streams} x {per:,} records, {ms} per request, default options",
            "",
            *_table(header, _drain_rows(rows)),
            "",
        ]
    many = figures["many"]
    lines += [
        f"### {many[0]['logged']:,} records over many streams, endpoint at normal speed",
        "",
        *_table(
            ["sender", "records logged", "delivered / logged", "dropped", "peak RSS growth MiB"],
            [
                [
                    LABELS[r["impl"]],
                    f"{r['logged']:,}",
                    f"{r['delivered'] / r['logged']:.4f}",
                    f"{r['dropped']:,}",
                    f"{(r['peak_rss_kib'] - r['baseline_rss_kib']) / 1024:.1f}",
                ]
                for r in many
            ],
        ),
        "",
    ]
    quota = figures["quota"]
    lines += [
        f"### {quota[0]['processes']} processes at once under quotas"
        " (CreateLogStream 5/s, PutLogEvents 50/s)",
        "",
        *_table(
            ["sender", "API calls", "calls per stream", "ratio to minimum (2)", "delivered", "s"],
            [
                [
                    LABELS[r["impl"]],
                    ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items())),
                    f"{r['calls_per_stream']:.2f}",
                    f"{r['ratio_to_minimum']:.2f}",
                    f"{r['delivered']:,} / {r['logged']:,}",
                    f"{r['wall_s']:.1f}",
                ]
                for r in quota
            ],
        ),
        "",
    ]
    return "\n".join(lines)


def targets(figures: Dict[str, Any]) -> List[Tuple[str, float, str, bool]]:
    """The issue's aims for this section: (aim, measured, wanted, met)."""
    checks: List[Tuple[str, float, str, bool]] = []
    for key, name in (("streams", "20 streams"), ("burst", "1 stream burst")):
        rows = {r["impl"]: r for r in figures[key]}
        ours, theirs = rows["ours"], rows["watchtower"]
        lost = float(ours["logged"] - ours["delivered"])
        checks.append((f"{name}: records not delivered", lost, "0", lost == 0))
        if ours["floor_s"]:
            ratio = ours["drain_s"] / ours["floor_s"]
            checks.append((f"{name}: drain / floor", ratio, "<= 5", ratio <= 5))
        checks.append(
            (
                f"{name}: drain, watchtower / ours",
                theirs["drain_s"] / max(ours["drain_s"], 1e-9),
                "> 1",
                theirs["drain_s"] > ours["drain_s"],
            )
        )
    ours = next(r for r in figures["many"] if r["impl"] == "ours")
    share = ours["delivered"] / ours["logged"]
    checks.append(("many streams: delivered / logged", share, "1", share == 1))
    growth = (ours["peak_rss_kib"] - ours["baseline_rss_kib"]) / 1024
    checks.append(("many streams: peak RSS growth MiB", growth, "< 64", growth < 64))
    ours = next(r for r in figures["quota"] if r["impl"] == "ours")
    ratio = ours["ratio_to_minimum"]
    checks.append(("quota: API calls / minimum", ratio, "<= 2", ratio <= 2))
    return checks


def main(argv: Optional[Sequence[str]] = None) -> int:
    return section_main(
        argv, prog="python -m benchmarks.latency", description=__doc__, child=child,
        result_prefix=RESULT_PREFIX, run=run, report=report, targets=targets,
    )  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
