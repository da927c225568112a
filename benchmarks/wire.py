"""Whole-process CPU per record, by transport, against a floor that only formats and encodes.

Part of ``python -m benchmarks`` (its "wire" section); also runs alone::

    python -m benchmarks.wire [--quick] [--json]

Each row logs `records` records (``log.info("record %d %s", i, "x" * 80)``)
in a fresh process to the benchmark's sink (in a process of its own, so its
CPU is not counted), then flushes. Measured from the first log call until
``flush()`` returns: the process's CPU (`time.process_time`: every thread,
delivery included) and the wall time. The rows take turns, `rounds` times,
and each figure is a median.

- the floor: a stdlib handler that formats the record and ``json.dumps`` the
  message, then discards it (what any handler that ships JSON must do);
- wt_adapters with the user's ``boto3.client("logs")``, with the client it
  makes itself, and with ``transport="boto3"`` (the user's client, every call
  through botocore);
- watchtower 3.4.0 (its own client).

A row is one line of `ROWS`: its id, its label, and the options it passes.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.child import REPO, STREAM, child_env, run_child
from benchmarks.section import Target, section_main
from benchmarks.sink import SinkProcess

RESULT_PREFIX = "WIRE-RESULT "
#: id, label, what the child sets up: "floor", "watchtower", or ours with these options
#: (``user_client``: pass ``boto3_client=boto3.client("logs")``).
ROWS: Tuple[Tuple[str, str, Dict[str, Any]], ...] = (
    ("floor", "floor: format + json.dumps, discarded", {"impl": "floor"}),
    ("ours-user-client", "wt_adapters, the user's boto3 client", {"user_client": True}),
    ("ours-own-client", "wt_adapters, its own client", {}),
    ("ours-boto3", "wt_adapters, transport='boto3' (user's client)",
     {"user_client": True, "options": {"transport": "boto3"}}),
    ("ours-http-ingest", "wt_adapters, transport='http-ingest' (bearer token)",
     {"options": {"transport": "http-ingest", "bearer_token": "ACWL-benchmark"}}),
    ("watchtower", "watchtower 3.4.0", {"impl": "watchtower"}),
)  # fmt: skip
#: The aims: ours / floor (CPU and delivery time), watchtower / ours (CPU).
CPU_AIM = 1.25
TIME_AIM = 1.25
WATCHTOWER_AIM = 2.5
#: The rows the aims speak of.
AIMED = ("ours-user-client", "ours-own-client")


# --------------------------------------------------------------------- child


class _Floor(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        json.dumps(self.format(record))


def child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Log `records` records through the row's handler and flush; CPU and wall time."""
    from benchmarks.scenarios import _precreate, check_loopback

    impl = spec.get("impl", "ours")
    spec = {**spec, "stream": STREAM}
    handler: logging.Handler
    if impl == "floor":
        handler = _Floor()
    elif impl == "watchtower":
        import watchtower

        _precreate(spec)
        handler = watchtower.CloudWatchLogHandler(
            log_group_name=spec["group"], log_stream_name=STREAM
        )
        check_loopback(handler.cwl_client.meta.endpoint_url)
        handler.FLUSH_TIMEOUT = spec["timeout"]  # type: ignore[attr-defined]
    else:
        import boto3

        from wt_adapters import CloudWatchLogHandler

        _precreate(spec)
        options: Dict[str, Any] = dict(spec.get("options") or {})
        if spec.get("user_client"):
            options["boto3_client"] = boto3.client("logs")
        handler = CloudWatchLogHandler(
            log_group_name=spec["group"], log_stream_name=STREAM, **options
        )
        client = handler.cwl_client  # type: ignore[attr-defined]
        if client is not None:  # (the ingestion transport has none: it reads the same env)
            check_loopback(client.meta.endpoint_url)
    log = logging.getLogger("bench-wire")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    pad = "x" * 80
    started_cpu, started = time.process_time(), time.perf_counter()
    for i in range(spec["records"]):
        log.info("record %d %s", i, pad)
    handler.flush()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    handler.close()
    return {"cpu_s": cpu, "wall_s": wall}


# --------------------------------------------------------------------- runner


def run(quick: bool = False) -> Dict[str, Any]:
    """Run every row `rounds` times, taking turns; return the figures."""
    records, rounds = (5_000, 1) if quick else (100_000, 3)
    timeout = 120.0 if quick else 600.0
    sink = SinkProcess(child_env("http://127.0.0.1:9"), lifetime=timeout * 20, cwd=REPO)
    samples: Dict[str, List[Dict[str, float]]] = {row: [] for row, _, _ in ROWS}
    delivered: Dict[str, bool] = {row: True for row, _, _ in ROWS}
    run_id = time.strftime("%Y%m%d-%H%M%S")
    try:
        for r in range(rounds):
            for row, _label, setup in ROWS:
                group = f"bench/{run_id}/wire-{row}-{r}"
                spec = {**setup, "records": records, "timeout": timeout, "group": group,
                        "endpoint": sink.url}  # fmt: skip
                result = run_child(
                    spec, child_env(sink.url), timeout,
                    module=("benchmarks.wire", "child"), prefix=RESULT_PREFIX,
                )  # fmt: skip
                samples[row].append(result)
                if setup.get("impl") != "floor" and sink.delivered(group) != records:
                    delivered[row] = False
                print(f"wire [{r + 1}/{rounds}] {row}", file=sys.stderr, flush=True)
    finally:
        sink.stop()
    rows = []
    for row, label, _setup in ROWS:
        cpu = statistics.median(s["cpu_s"] for s in samples[row])
        wall = statistics.median(s["wall_s"] for s in samples[row])
        rows.append({"row": row, "label": label, "us_per_record": cpu / records * 1e6,
                     "wall_s": wall, "delivered": delivered[row]})  # fmt: skip
    return {"quick": quick, "records": records, "rounds": rounds, "rows": rows}



def _row(figures: Dict[str, Any], row: str) -> Dict[str, Any]:
    found: Dict[str, Any] = next(r for r in figures["rows"] if r["row"] == row)
    return found


def report(figures: Dict[str, Any]) -> str:
    """The section's table, as markdown."""
    floor = _row(figures, "floor")
    lines = [
        f"Whole-process CPU per record, {figures['records']:,}"
        ' `log.info("record %d %s", i, "x"*80)`, endpoint in another process'
        f" (median of {figures['rounds']}):",
        "",
        "| handler | CPU us/record | / floor | logged and flushed, s | / floor's time"
        " | delivered |",
        "|---|---|---|---|---|---|",
    ]
    for r in figures["rows"]:
        delivered = "-" if r["row"] == "floor" else ("all" if r["delivered"] else "MISMATCH")
        cpu, wall = r["us_per_record"], r["wall_s"]
        lines.append(
            f"| {r['label']} | {cpu:.1f} | {cpu / floor['us_per_record']:.2f}"
            f" | {wall:.2f} | {wall / floor['wall_s']:.2f} | {delivered} |"
        )
    lines.append("")
    return "\n".join(lines)


def targets(figures: Dict[str, Any]) -> List[Target]:
    """The section's aims: (aim, measured, aim, met)."""
    floor, wt = _row(figures, "floor"), _row(figures, "watchtower")
    records = f"{figures['records']:,}"
    checks: List[Target] = []
    for row in AIMED:
        ours = _row(figures, row)
        cpu = ours["us_per_record"] / floor["us_per_record"]
        wall = ours["wall_s"] / floor["wall_s"]
        less = wt["us_per_record"] / ours["us_per_record"]
        checks += [
            (f"process CPU per record, {ours['label']} / floor", cpu, f"<= {CPU_AIM:.2f}",
             cpu <= CPU_AIM),
            (f"{records} logged and flushed, {ours['label']} / floor's time", wall,
             f"<= {TIME_AIM:.2f}", wall <= TIME_AIM),
            (f"process CPU per record, watchtower / {ours['label']}", less,
             f">= {WATCHTOWER_AIM:.2f}", less >= WATCHTOWER_AIM),
        ]  # fmt: skip
    return checks


def main(argv: Optional[Sequence[str]] = None) -> int:
    return section_main(
        argv, prog="python -m benchmarks.wire", description=__doc__, child=child,
        result_prefix=RESULT_PREFIX, run=run, report=report, targets=targets,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
