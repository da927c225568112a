"""The disk spool's cost and what it saves, side by side in one run.

Part of ``python -m benchmarks`` (its "spool" section); also runs alone::

    python -m benchmarks.spool [--quick] [--json]

Every figure comes from fresh processes, the spool off and on taking turns
(off, on, off, on, ...) so that both meet the same machine:

- ``hotpath``: caller-thread CPU per ``logger.info(payload)`` through our
  stdlib handler (the scenario ``hotpath/ours-stdlib`` of
  benchmarks/scenarios.py), without and with ``spool_dir`` (a fresh directory
  per run), against the benchmark's sink;
- ``delivery``: records/s from the first call until ``flush()`` returns (the
  scenario ``delivery/ours``), without and with the spool;
- ``exit``: a script logs 1,000 records while the endpoint is down, then
  ends normally; the seconds from its last log call until the process is
  gone, and how many records are still on disk for the next start: ours
  without and with the spool, and watchtower 3.4.0 (``create_log_group=False``:
  with the endpoint down its constructor raises otherwise). Down two ways:
  ``refused`` (nothing listens on the port) and ``no answer`` (a socket that
  listens and never accepts, as a black-holed address behaves; full run only,
  once: each run waits out the senders' deadlines).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.child import REPO, STREAM, child_env, free_port, run_child
from benchmarks.scenarios import RESULT_PREFIX as SCENARIO_PREFIX
from benchmarks.scenarios import STR_PAYLOAD
from benchmarks.section import section_main
from benchmarks.sink import SinkProcess

RESULT_PREFIX = "SPOOL-RESULT "
EXIT_IMPLS: Tuple[Tuple[str, str], ...] = (
    ("ours", "wt_adapters"),
    ("ours-spool", "wt_adapters, spool_dir="),
    ("watchtower", "watchtower 3.4.0"),
)
#: The aims (issue "Durable delivery"): spool on / off.
CPU_AIM = 1.15
RATE_AIM = 0.8
#: Exit with the endpoint down: "a short grace (a few seconds)".
EXIT_AIM_S = 5.0


# --------------------------------------------------------------------- child


def exit_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Log `records` records to an endpoint that is down, report the time, and end normally."""
    warnings.simplefilter("ignore")
    impl = spec["impl"]
    handler: logging.Handler
    if impl == "watchtower":
        import watchtower

        handler = watchtower.CloudWatchLogHandler(
            log_group_name=spec["group"], log_stream_name=STREAM, create_log_group=False
        )
    else:
        from wt_adapters import CloudWatchLogHandler

        options = {"spool_dir": spec["spool_dir"]} if impl == "ours-spool" else {}
        handler = CloudWatchLogHandler(
            log_group_name=spec["group"], log_stream_name=STREAM, **options
        )
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    for _ in range(spec["records"]):
        log.info(STR_PAYLOAD)
    # Then the interpreter ends as a script's does: atexit, logging.shutdown().
    return {"logged": spec["records"], "last_call_at": time.time()}


# -------------------------------------------------------------------- parent


def _turn(
    sink: SinkProcess, dirs: _Dirs, mode: str, spec: Dict[str, Any], timeout: float
) -> Dict[str, Any]:
    """Run one stdlib-handler scenario against `sink`; `mode` "on" gives it a fresh spool."""
    spec = {**spec, "impl": "ours-stdlib", "timeout": timeout, "stream": STREAM,
            "endpoint": sink.url, "sink": sink.url}  # fmt: skip
    if mode == "on":
        spec["options"] = {"spool_dir": dirs.new()}
    return run_child(spec, child_env(sink.url), timeout + 60, prefix=SCENARIO_PREFIX)


def _waiting_on_disk(directory: str) -> int:
    from wt_adapters._spool import summary

    events: int = summary(directory).events
    return events


class _Dirs:
    """Fresh spool directories, all removed at the end."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="wt-bench-spool-")
        self.count = 0

    def new(self) -> str:
        self.count += 1
        path = os.path.join(self.root, f"{self.count:03d}")
        os.mkdir(path)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def measure_hotpath(
    sink: SinkProcess,
    dirs: _Dirs,
    payload: str,
    rounds: int,
    calls: int,
    repeat: int,
    timeout: float,
) -> Dict[str, Any]:
    """Caller CPU per call, spool off and on in turns; every sample of every round kept."""
    samples: Dict[str, List[float]] = {"off": [], "on": []}
    delivered: Dict[str, List[bool]] = {"off": [], "on": []}
    warmup = max(100, calls // 10)
    for r in range(rounds):
        for mode in ("off", "on"):
            group = f"spool-bench/hotpath/{payload}/{mode}/{r}"
            spec = {"section": "hotpath", "payload": payload, "calls": calls,
                    "repeat": repeat, "warmup": warmup, "group": group}  # fmt: skip
            result = _turn(sink, dirs, mode, spec, timeout)
            samples[mode] += result["ns_per_call"]
            delivered[mode].append(sink.delivered(group) == result["logged"])
    off, on = statistics.median(samples["off"]), statistics.median(samples["on"])
    return {
        "payload": payload,
        "off_ns": off,
        "on_ns": on,
        "ratio": on / off,
        "samples": samples,
        "all_delivered": all(delivered["off"]) and all(delivered["on"]),
    }


def measure_delivery(
    sink: SinkProcess, dirs: _Dirs, records: int, rounds: int, timeout: float
) -> Dict[str, Any]:
    """Records/s until flush() returns, spool off and on in turns."""
    rates: Dict[str, List[float]] = {"off": [], "on": []}
    delivered: List[bool] = []
    for r in range(rounds):
        for mode in ("off", "on"):
            group = f"spool-bench/delivery/{mode}/{r}"
            spec = {"section": "delivery", "payload": "str", "records": records, "group": group}
            result = _turn(sink, dirs, mode, spec, timeout)
            rates[mode].append(result["logged"] / result["wall_s"])
            delivered.append(sink.delivered(group) == records)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {
        "records": records,
        "off_per_s": off,
        "on_per_s": on,
        "ratio": on / off,
        "rates": rates,
        "all_delivered": all(delivered),
    }


class _NoAnswer:
    """An endpoint that is there but never answers: a socket that listens and never accepts."""

    def __init__(self) -> None:
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(1)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def close(self) -> None:
        self.socket.close()


#: The ways an endpoint is down: nothing listens (connections refused), or no answer.
DOWN_KINDS = ("refused", "no answer")


def measure_exit(
    dirs: _Dirs, records: int, rounds: int, timeout: float, kind: str
) -> List[Dict[str, Any]]:
    """Exit time with the endpoint down in the way `kind` says, for each sender, in turns."""
    times: Dict[str, List[float]] = {impl: [] for impl, _ in EXIT_IMPLS}
    kept: Dict[str, List[int]] = {impl: [] for impl, _ in EXIT_IMPLS}
    for r in range(rounds):
        for impl, _label in EXIT_IMPLS:
            silent = _NoAnswer() if kind == "no answer" else None
            down = silent.url if silent else f"http://127.0.0.1:{free_port()}"
            spec: Dict[str, Any] = {
                "impl": impl,
                "records": records,
                "group": f"spool-bench/exit/{impl}/{r}",
            }
            if impl == "ours-spool":
                spec["spool_dir"] = dirs.new()
            try:
                result = run_child(
                    spec,
                    child_env(down),
                    timeout,
                    module=("benchmarks.spool", "child"),
                    prefix=RESULT_PREFIX,
                )
                times[impl].append(time.time() - result["last_call_at"])
            finally:
                if silent:
                    silent.close()
            kept[impl].append(_waiting_on_disk(spec["spool_dir"]) if "spool_dir" in spec else 0)
    return [
        {
            "impl": impl,
            "label": label,
            "down": kind,
            "records": records,
            "exit_s": statistics.median(times[impl]),
            "exit_s_all": times[impl],
            "kept_on_disk": min(kept[impl]),
        }
        for impl, label in EXIT_IMPLS
    ]


def run(quick: bool = False) -> Dict[str, Any]:
    """Measure every spool scenario; return the figures."""
    timeout = 120.0 if quick else 600.0
    rounds = 1 if quick else 5
    dirs = _Dirs()
    sink = SinkProcess(child_env("http://127.0.0.1:1"), 3600, REPO)
    try:
        hotpath = [
            measure_hotpath(
                sink, dirs, payload, rounds, 1_000 if quick else 10_000, 2 if quick else 5, timeout
            )
            for payload in ("dict", "str")
        ]
        delivery = measure_delivery(
            sink, dirs, 5_000 if quick else 200_000, rounds if quick else 3, timeout
        )
    finally:
        sink.stop()
    try:
        exits = measure_exit(dirs, 1_000, 1 if quick else 3, timeout, "refused")
        if not quick:  # each run waits out the senders' deadlines: a minute or more
            exits += measure_exit(dirs, 1_000, 1, timeout, "no answer")
    finally:
        dirs.remove()
    return {"quick": quick, "hotpath": hotpath, "delivery": delivery, "exit": exits}


# -------------------------------------------------------------------- report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def report(figures: Dict[str, Any]) -> str:
    """The spool's tables, as markdown."""
    rows = [
        [
            f"caller CPU per logger.info({h['payload']}), ns",
            f"{h['off_ns']:,.0f}",
            f"{h['on_ns']:,.0f}",
            f"{h['ratio']:.2f}",
            "all" if h["all_delivered"] else "NO",
        ]
        for h in figures["hotpath"]
    ]
    d = figures["delivery"]
    rows.append(
        [
            f"delivery of {d['records']:,} records (str), records/s",
            f"{d['off_per_s']:,.0f}",
            f"{d['on_per_s']:,.0f}",
            f"{d['ratio']:.2f}",
            "all" if d["all_delivered"] else "NO",
        ]
    )
    exits = [
        [e["label"], e["down"], f"{e['exit_s']:.2f}", f"{e['kept_on_disk']:,} of {e['records']:,}"]
        for e in figures["exit"]
    ]
    return "\n".join(
        [
            "### spool_dir off and on (medians, the runs taking turns)",
            "",
            *_table(["measure", "spool off", "spool on", "on / off", "delivered"], rows),
            "",
            "### Exit with the endpoint down, 1,000 records logged",
            "",
            *_table(
                [
                    "sender",
                    "endpoint",
                    "exit s (last call until the process is gone)",
                    "records on disk for the next start",
                ],
                exits,
            ),
            "",
        ]
    )


def targets(figures: Dict[str, Any]) -> List[Tuple[str, float, str, bool]]:
    """The spool's aims: (aim, measured, aim, met)."""
    checks: List[Tuple[str, float, str, bool]] = []
    for h in figures["hotpath"]:
        r = h["ratio"]
        checks.append(
            (
                f"spool: caller CPU per logger.info({h['payload']}), on / off",
                r,
                f"<= {CPU_AIM:.2f}",
                r <= CPU_AIM,
            )
        )
    r = figures["delivery"]["ratio"]
    checks.append(("spool: delivery rate (str), on / off", r, f">= {RATE_AIM:.2f}", r >= RATE_AIM))
    for e in figures["exit"]:
        if e["impl"].startswith("ours"):
            s = e["exit_s"]
            checks.append(
                (
                    f"exit, endpoint down ({e['down']}), {e['label']}, s",
                    s,
                    f"<= {EXIT_AIM_S:g}",
                    s <= EXIT_AIM_S,
                )
            )
    return checks


def main(argv: Optional[Sequence[str]] = None) -> int:
    return section_main(
        argv, prog="python -m benchmarks.spool", description=__doc__, child=exit_child,
        result_prefix=RESULT_PREFIX, run=run, report=report, targets=targets,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
