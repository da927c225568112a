"""What error-triggered buffering costs the caller: a held record against a shipped one.

Part of ``python -m benchmarks`` (its "buffer" section); also runs alone::

    python -m benchmarks.buffer [--quick] [--json]

Every figure is caller-thread CPU (`time.thread_time`) of stdlib
``logger.debug(line)`` (the 100-byte ``str`` payload of
benchmarks/scenarios.py) through our handler, in fresh processes against the
benchmark's sink, the rows taking turns so that a busy machine weighs on all
of them alike; each is the median over every repetition of every round:

- ``plain``: a handler without ``buffer_level`` (what every user has today);
- ``outside``: a handler with ``buffer_level="DEBUG"``, called outside any
  scope (the record ships): the cost of the option where no scope is open;
- ``held``: the same handler inside one `buffer_scope` (the record is held;
  ``buffer_max_bytes`` raised so that nothing is evicted);
- ``scope``: one discarded scope of 20 held records (``with buffer_scope():``
  and 20 calls), per scope; ``empty scope``: ``with buffer_scope(): pass``.

The held and scope rows must reach the sink with nothing (a discarded scope
costs no network): the section says so per row.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.child import REPO, STREAM, child_env, run_child
from benchmarks.scenarios import STR_PAYLOAD
from benchmarks.section import section_main
from benchmarks.sink import SinkProcess

RESULT_PREFIX = "BUFFER-RESULT "
#: (row, label, unit): each row's figure is CPU per `unit`.
ROWS: Tuple[Tuple[str, str, str], ...] = (
    ("plain", "logger.debug, no buffer_level", "call"),
    ("outside", "logger.debug, buffer_level='DEBUG', outside a scope (ships)", "call"),
    ("held", "logger.debug, buffer_level='DEBUG', inside a scope (held)", "call"),
    ("scope", "a discarded scope of 20 held records", "scope"),
    ("empty", "an empty scope: with buffer_scope(): pass", "scope"),
)
#: Rows whose records reach the sink; the others must send nothing.
SHIPPING = ("plain", "outside")
RECORDS_PER_SCOPE = 20
#: The aims: a held record costs no more than a shipped one; outside a scope, the
#: option costs nothing measurable (within the noise of a shared machine).
HELD_AIM = 1.0
OUTSIDE_AIM = 1.05


# --------------------------------------------------------------------- child


def child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Time one row in this process: {"ns": [per repetition], "logged": records shipped}."""
    warnings.simplefilter("ignore")
    from wt_adapters import CloudWatchLogHandler, buffer_scope

    row, calls, repeat = spec["row"], spec["calls"], spec["repeat"]
    options: Dict[str, Any] = {} if row == "plain" else {"buffer_level": "DEBUG"}
    handler = CloudWatchLogHandler(
        log_group_name=spec["group"], log_stream_name=STREAM, buffer_max_bytes=1 << 40, **options
    )
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    debug, line, clock = log.debug, STR_PAYLOAD, time.thread_time_ns
    per_scope = range(RECORDS_PER_SCOPE)

    def once(n: int) -> int:
        """Do the row's work `n` times; return the CPU it took (ns)."""
        started = clock()
        if row in SHIPPING:
            for _ in range(n):
                debug(line)
        elif row == "held":
            with buffer_scope():
                started = clock()
                for _ in range(n):
                    debug(line)
                spent = clock() - started
            return spent
        elif row == "scope":
            for _ in range(n):
                with buffer_scope():
                    for _ in per_scope:
                        debug(line)
        else:
            for _ in range(n):
                with buffer_scope():
                    pass
        return clock() - started

    once(max(100, calls // 10))  # warm-up
    samples = [once(calls) / calls for _ in range(repeat)]
    shipped = (max(100, calls // 10) + calls * repeat) if row in SHIPPING else 0
    handler.flush(spec["timeout"])
    figures = handler.stats()
    handler.close(spec["timeout"])
    return {"ns": samples, "logged": shipped, "buffered": figures.get("buffered")}


# -------------------------------------------------------------------- parent


def run(quick: bool = False) -> Dict[str, Any]:
    """Measure every row, rows taking turns; return the figures."""
    rounds, calls, repeat = (1, 1_000, 2) if quick else (5, 10_000, 5)
    timeout = 120.0
    sink = SinkProcess(child_env("http://127.0.0.1:1"), 3600, REPO)
    samples: Dict[str, List[float]] = {row: [] for row, *_ in ROWS}
    delivered_ok: Dict[str, List[bool]] = {row: [] for row, *_ in ROWS}
    run_id = time.strftime("%Y%m%d-%H%M%S")
    try:
        for r in range(rounds):
            for row, *_ in ROWS:
                group = f"buffer-bench/{run_id}/{row}/{r}"
                spec = {"row": row, "calls": calls if row != "scope" else calls // 10,
                        "repeat": repeat, "group": group, "timeout": timeout}  # fmt: skip
                result = run_child(spec, child_env(sink.url), timeout + 60,
                                   module=("benchmarks.buffer", "child"),
                                   prefix=RESULT_PREFIX)  # fmt: skip
                samples[row] += result["ns"]
                delivered_ok[row].append(sink.delivered(group) == result["logged"])
                print(f"buffer [{r + 1}/{rounds}] {row}", file=sys.stderr, flush=True)
    finally:
        sink.stop()
    rows = [
        {
            "row": row,
            "label": label,
            "unit": unit,
            "ns": statistics.median(samples[row]),
            "min_ns": min(samples[row]),
            "max_ns": max(samples[row]),
            "network_as_expected": all(delivered_ok[row]),
        }
        for row, label, unit in ROWS
    ]
    return {"quick": quick, "rounds": rounds, "calls": calls, "repeat": repeat, "rows": rows}


# -------------------------------------------------------------------- report


def _ns(figures: Dict[str, Any], row: str) -> float:
    found: float = next(r["ns"] for r in figures["rows"] if r["row"] == row)
    return found


def report(figures: Dict[str, Any]) -> str:
    """The buffer table, as markdown."""
    shipped = _ns(figures, "outside")
    lines = [
        f"### Caller CPU, fresh processes (median of {figures['rounds']} x"
        f" {figures['repeat']} repetitions)",
        "",
        "| what | ns | per | range | / shipped record | network |",
        "|---|---|---|---|---|---|",
    ]
    for r in figures["rows"]:
        network = "ships" if r["row"] in SHIPPING else "none"
        ok = "" if r["network_as_expected"] else " (NOT AS EXPECTED)"
        lines.append(
            f"| {r['label']} | {r['ns']:,.0f} | {r['unit']} | {r['min_ns']:,.0f}-"
            f"{r['max_ns']:,.0f} | {r['ns'] / shipped:.2f} | {network}{ok} |"
        )
    return "\n".join([*lines, ""])


def targets(figures: Dict[str, Any]) -> List[Tuple[str, float, str, bool]]:
    """The buffer aims: (aim, measured, aim, met)."""
    held = _ns(figures, "held") / _ns(figures, "outside")
    outside = _ns(figures, "outside") / _ns(figures, "plain")
    quiet = all(r["network_as_expected"] for r in figures["rows"])
    return [
        ("buffer: held record / shipped record, caller CPU", held, f"<= {HELD_AIM:.2f}",
         held <= HELD_AIM),
        ("buffer: buffer_level outside a scope / no buffer_level, caller CPU", outside,
         f"<= {OUTSIDE_AIM:.2f}", outside <= OUTSIDE_AIM),
        ("buffer: events sent for held and discarded records", 0.0 if quiet else 1.0,
         "0", quiet),
    ]  # fmt: skip


def main(argv: Optional[Sequence[str]] = None) -> int:
    return section_main(
        argv, prog="python -m benchmarks.buffer", description=__doc__, child=child,
        result_prefix=RESULT_PREFIX, run=run, report=report, targets=targets,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
