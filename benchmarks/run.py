"""Benchmark wt_adapters against watchtower 3.4.0 and plain logging, side by side.

Run from the repository root::

    pip install -r benchmarks/requirements.txt
    python -m benchmarks            # or: python benchmarks/run.py
    python -m benchmarks --quick    # small N, for CI (well under a minute)

Every scenario runs in a fresh Python process, one after another, against a
local endpoint in a process of its own (the benchmark's PutLogEvents sink on
127.0.0.1, or moto's server with ``--endpoint moto``), so that the endpoint's
CPU is not counted. CPU is measured with `time.thread_time` (the logging
thread only) and `time.process_time` (the whole process), not wall time, and
every figure is a median. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import buffer as buffer_section
from benchmarks import imports as imports_section
from benchmarks import latency, plot
from benchmarks import spool as spool_section
from benchmarks import wire as wire_section
from benchmarks.child import REPO, STREAM, child_env, free_port, run_child
from benchmarks.scenarios import PAYLOADS
from benchmarks.sink import SinkProcess

WATCHTOWER_VERSION = "3.4.0"
INSTALL_HINT = "pip install -r benchmarks/requirements.txt"

#: Hot-path rows: (id, label, baseline id for the "own baseline" ratio).
HOTPATH_ROWS: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ("stdlib-null", "stdlib, NullHandler", None),
    ("stdlib-json", "stdlib, JSON formatter to /dev/null", None),
    ("watchtower", f"watchtower {WATCHTOWER_VERSION} handler", None),
    ("ours-stdlib", "wt_adapters CloudWatchLogHandler", "stdlib-json"),
    ("ours-stdlib-json", "wt_adapters CloudWatchLogHandler, json_library='json'", "stdlib-json"),
    ("structlog-return", "structlog, JSONRenderer + ReturnLogger", None),
    ("ours-structlog", "wt_adapters structlog CloudWatchRenderer", "structlog-return"),
    (
        "ours-structlog-json",
        "wt_adapters structlog CloudWatchRenderer, json_library='json'",
        "structlog-return",
    ),
    ("loguru-noop", "loguru, no-op sink", None),
    ("loguru-serialize", "loguru, serialize=True into a no-op sink", None),
    ("ours-loguru", "wt_adapters loguru cloudwatch_sink", "loguru-serialize"),
    (
        "ours-loguru-json",
        "wt_adapters loguru cloudwatch_sink, json_library='json'",
        "loguru-serialize",
    ),
    # trace_id=True, against the same front end without it
    (
        "ours-stdlib-trace",
        "wt_adapters CloudWatchLogHandler, trace_id=True, no trace",
        "ours-stdlib",
    ),
    (
        "ours-stdlib-trace-otel",
        "wt_adapters CloudWatchLogHandler, trace_id=True, OpenTelemetry span",
        "ours-stdlib",
    ),
    (
        "ours-stdlib-trace-lambda",
        "wt_adapters CloudWatchLogHandler, trace_id=True, _X_AMZN_TRACE_ID",
        "ours-stdlib",
    ),
    (
        "ours-structlog-trace",
        "wt_adapters structlog CloudWatchRenderer, trace_id=True, no trace",
        "ours-structlog",
    ),
    (
        "ours-structlog-trace-otel",
        "wt_adapters structlog CloudWatchRenderer, trace_id=True, OpenTelemetry span",
        "ours-structlog",
    ),
    (
        "ours-loguru-trace",
        "wt_adapters loguru cloudwatch_sink, trace_id=True, no trace",
        "ours-loguru",
    ),
    (
        "ours-loguru-trace-otel",
        "wt_adapters loguru cloudwatch_sink, trace_id=True, OpenTelemetry span",
        "ours-loguru",
    ),
)
#: Delivery rows: (id, front end, extra spec, label, payloads).
DELIVERY_ROWS: Tuple[Tuple[str, str, Dict[str, Any], str, Tuple[str, ...]], ...] = (
    ("watchtower", "watchtower", {}, f"watchtower {WATCHTOWER_VERSION}", ("str", "dict")),
    ("ours", "ours-stdlib", {}, "wt_adapters", ("str", "dict")),
    (
        "ours-userclient",
        "ours-stdlib",
        {"user_client": True},
        "wt_adapters, boto3_client=boto3.client('logs')",
        ("str",),
    ),
)
#: Memory rows: (id, front end, label, whether the queue limits are raised to hold them all).
MEMORY_ROWS: Tuple[Tuple[str, str, str, bool], ...] = (
    ("watchtower", "watchtower", f"watchtower {WATCHTOWER_VERSION} (unbounded queue)", False),
    ("ours", "ours-stdlib", "wt_adapters, default limits (100,000 events / 64 MiB)", False),
    ("ours-holdall", "ours-stdlib", "wt_adapters, limits raised to hold every record", True),
)
CLOSE_ROWS: Tuple[Tuple[str, str, str], ...] = (
    ("watchtower", "watchtower", f"watchtower {WATCHTOWER_VERSION}"),
    ("ours", "ours-stdlib", "wt_adapters"),
)


@dataclass
class Config:
    """How much to measure."""

    calls: int
    repeat: int
    warmup: int
    records: int
    memory_records: int
    close_records: int
    timeout: float
    only: List[str]
    endpoint: str


@dataclass
class Scenario:
    """One measurement, run in a fresh process."""

    section: str
    row: str
    impl: str
    payload: str
    label: str
    spec: Dict[str, Any]
    #: Whether the sink holds PutLogEvents while it runs.
    stalled: bool = False
    #: Events the endpoint should have received when it is over (None: don't check).
    expect_delivered: Optional[int] = None

    @property
    def name(self) -> str:
        return f"{self.section}/{self.row}/{self.payload}"


@dataclass
class Outcome:
    """What a scenario gave: one result per run (several runs for delivery and close)."""

    scenario: Scenario
    results: List[Dict[str, Any]] = field(default_factory=list)
    delivered: List[Optional[int]] = field(default_factory=list)
    error: Optional[str] = None
    skipped: Optional[str] = None

    @property
    def delivery_ok(self) -> Optional[bool]:
        expected = self.scenario.expect_delivered
        if expected is None or not self.delivered:
            return None
        return all(d == expected for d in self.delivered)

    def to_json(self) -> Dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "section": s.section,
            "row": s.row,
            "label": s.label,
            "payload": s.payload,
            "error": self.error,
            "skipped": self.skipped,
            "expected_delivered": s.expect_delivered,
            "delivered": self.delivered,
            "delivery_ok": self.delivery_ok,
            "results": self.results,
            "summary": summarize(self),
        }


class Endpoint(Protocol):
    url: str

    def delivered(self, group: str) -> int: ...

    def stop(self) -> None: ...


class MotoEndpoint:
    """moto's server in a subprocess of its own (slower than the sink; it stores every event)."""

    def __init__(self, env: Dict[str, str]) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        import boto3

        self.client = boto3.client(
            "logs",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def delivered(self, group: str) -> int:
        total = 0
        streams = self.client.describe_log_streams(logGroupName=group)["logStreams"]
        for stream in streams:
            kwargs: Dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream["logStreamName"],
                "startFromHead": True,
            }
            for _ in range(100_000):  # bounded: at most 10,000 events a page
                page = self.client.get_log_events(**kwargs)
                total += len(page["events"])
                token = page.get("nextForwardToken")
                if not page["events"] or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# --------------------------------------------------------------------- plan


def plan(config: Config, run_id: str) -> List[Scenario]:
    """Every scenario to run, in order, filtered by --only."""
    scenarios: List[Scenario] = []
    common = {"timeout": config.timeout, "stream": STREAM}
    for payload in PAYLOADS:
        for row, label, _baseline in HOTPATH_ROWS:
            spec = {
                "section": "hotpath",
                "impl": row,
                "payload": payload,
                "calls": config.calls,
                "repeat": config.repeat,
                "warmup": config.warmup,
            }
            network = row == "watchtower" or row.startswith("ours-")
            scenarios.append(
                Scenario(
                    "hotpath",
                    row,
                    row,
                    payload,
                    label,
                    {**common, **spec},
                    expect_delivered=config.warmup + config.calls * config.repeat
                    if network
                    else None,
                )
            )
    for row, impl, extra, label, payloads in DELIVERY_ROWS:
        for payload in payloads:
            spec = {"section": "delivery", "impl": impl, "payload": payload, **extra}
            spec["records"] = config.records
            scenarios.append(
                Scenario(
                    "delivery",
                    row,
                    impl,
                    payload,
                    label,
                    {**common, **spec},
                    expect_delivered=config.records,
                )
            )
    for row, impl, label, hold_all in MEMORY_ROWS:
        spec = {"section": "memory", "impl": impl, "payload": "str"}
        spec["records"] = config.memory_records
        if hold_all:
            per_event = len(PAYLOADS["str"]) + 26
            spec["options"] = {
                "max_queue_events": config.memory_records,
                "max_queue_bytes": max(64 << 20, 2 * per_event * config.memory_records),
            }
        scenarios.append(
            Scenario("memory", row, impl, "str", label, {**common, **spec}, stalled=True)
        )
    for row, impl, label in CLOSE_ROWS:
        spec = {"section": "close", "impl": impl, "payload": "str"}
        spec["records"] = config.close_records
        scenarios.append(
            Scenario(
                "close",
                row,
                impl,
                "str",
                label,
                {**common, **spec},
                stalled=True,
                expect_delivered=config.close_records,
            )
        )
    if config.only:
        scenarios = [s for s in scenarios if any(_matches(s.name, p) for p in config.only)]
    for number, s in enumerate(scenarios):
        s.spec["group"] = f"bench/{run_id}/{number:03d}-{s.section}-{s.row}-{s.payload}"
    return scenarios


def _matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern) or fnmatch.fnmatchcase(name, pattern)


# ---------------------------------------------------------------------- run


def run_all(
    scenarios: Sequence[Scenario],
    config: Config,
    sink: SinkProcess,
    endpoint: Endpoint,
    progress: Any,
) -> List[Outcome]:
    outcomes: List[Outcome] = []
    for number, scenario in enumerate(scenarios, 1):
        outcome = Outcome(scenario)
        outcomes.append(outcome)
        target = sink if scenario.stalled else endpoint
        runs = config.repeat if scenario.section in ("delivery", "close") else 1
        started = time.monotonic()
        for attempt in range(runs):
            spec = dict(scenario.spec, endpoint=target.url, sink=sink.url)
            spec["group"] = f"{spec['group']}-{attempt}"
            env = child_env(target.url)
            if scenario.stalled:
                sink.stall()
            try:
                result = run_child(spec, env, config.timeout + 60)
            except RuntimeError as e:
                outcome.error = str(e)
                break
            finally:
                if scenario.stalled:
                    sink.release()
            if "skipped" in result:
                outcome.skipped = result["skipped"]
                break
            outcome.results.append(result)
            if scenario.expect_delivered is not None:
                outcome.delivered.append(target.delivered(spec["group"]))
        status = outcome.error or outcome.skipped or _short(summarize(outcome))
        if outcome.delivery_ok is False:
            status += f" DELIVERED {outcome.delivered} != {scenario.expect_delivered}"
        print(
            f"[{number}/{len(scenarios)}] {scenario.name}: {status}"
            f" ({time.monotonic() - started:.1f} s)",
            file=progress,
            flush=True,
        )
    return outcomes


def _short(summary: Dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:,.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()
    )


# ---------------------------------------------------------------- summaries


def summarize(outcome: Outcome) -> Dict[str, Any]:
    """The medians a table row shows."""
    results = outcome.results
    if not results:
        return {}
    section = outcome.scenario.section
    if section == "hotpath":
        samples = results[0]["ns_per_call"]
        return {
            "ns_per_call": statistics.median(samples),
            "min_ns": min(samples),
            "max_ns": max(samples),
        }
    if section == "delivery":
        n = results[0]["logged"]
        return {
            "records_per_s": statistics.median(n / r["wall_s"] for r in results),
            "cpu_s_per_million": statistics.median(r["process_cpu_s"] / n * 1e6 for r in results),
            "caller_us_per_record": statistics.median(r["caller_cpu_s"] / n * 1e6 for r in results),
            "other_us_per_record": statistics.median(
                (r["process_cpu_s"] - r["caller_cpu_s"]) / n * 1e6 for r in results
            ),
            "wall_s": statistics.median(r["wall_s"] for r in results),
        }
    if section == "memory":
        r = results[0]
        dropped = (r.get("stats") or {}).get("dropped") or 0
        if isinstance(dropped, dict):
            dropped = sum(dropped.values())
        return {
            "peak_rss_mib": r["peak_rss_kib"] / 1024,
            "growth_mib": (r["peak_rss_kib"] - r["baseline_rss_kib"]) / 1024,
            # Nothing is delivered while the endpoint stalls: what isn't dropped is held.
            "held": r["logged"] - dropped,
            "dropped": dropped,
            "logging_wall_s": r["logging_wall_s"],
        }
    if section == "close":
        return {
            "close_s": statistics.median(r["close_wall_s"] for r in results),
            "close_cpu_s": statistics.median(r["close_cpu_s"] for r in results),
        }
    return {}


def machine() -> Dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            memory_gib = round(int(info.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions: Dict[str, Optional[str]] = {}
    for name in (
        "boto3", "botocore", "watchtower", "structlog", "loguru", "moto", "orjson", "wt-adapters"
    ):  # fmt: skip
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions,
        "commit": _git_commit(),
    }


def _git_commit() -> Optional[str]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{' (modified)' if dirty else ''}" if head else None


# ------------------------------------------------------------------- tables


def _find(outcomes: Sequence[Outcome], section: str, row: str, payload: str) -> Dict[str, Any]:
    for o in outcomes:
        s = o.scenario
        if (s.section, s.row, s.payload) == (section, row, payload) and o.results:
            return summarize(o)
    return {}


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    if not a or not b:
        return ""
    return f"{a / b:.2f}"


def _num(value: Optional[float], digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def _delivered(o: Outcome) -> str:
    ok = o.delivery_ok
    if ok is None:
        return ""
    if ok:
        return "all"
    return "MISMATCH " + "/".join(str(d) for d in o.delivered)


def _status(o: Outcome) -> Optional[str]:
    if o.error:
        last = o.error.rsplit(" | ", 1)[-1]
        return "error: " + (last if len(last) <= 120 else last[:117] + "...")
    if o.skipped:
        return f"skipped: {o.skipped}"
    return None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def report(
    outcomes: Sequence[Outcome],
    config: Config,
    info: Dict[str, Any],
    more_targets: Sequence[Tuple[str, float, str, bool]] = (),
) -> str:
    """The markdown report: machine, one table per section, and the targets.

    `more_targets` are the aims of the sections run on their own (the spool's).
    """
    v = info["versions"]
    lines = [
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB",
        f"- {info['python']} on {info['os']}",
        f"- boto3 {v['boto3']}, botocore {v['botocore']}, watchtower {v['watchtower']},"
        f" structlog {v['structlog']}, loguru {v['loguru']}",
        f"- orjson {v.get('orjson') or 'not installed'}: the fast extra, which wt_adapters rows"
        " use when it is installed (rows marked json_library='json' don't)",
        f"- wt_adapters {v['wt-adapters']} at commit {info['commit']};"
        f" endpoint: {config.endpoint} (own process)",
        "",
    ]
    by_section: Dict[str, List[Outcome]] = {}
    for o in outcomes:
        by_section.setdefault(o.scenario.section, []).append(o)

    if "hotpath" in by_section:
        lines += [
            f"## Caller-thread CPU per logging call (ns, median of {config.repeat} x"
            f" {config.calls:,} calls)",
            "",
        ]
        rows = []
        labels = {row: (label, base) for row, label, base in HOTPATH_ROWS}
        for o in by_section["hotpath"]:
            s = o.scenario
            label, base = labels[s.row]
            status = _status(o)
            if status:
                rows.append([label, s.payload, status, "", "", "", "", ""])
                continue
            m = summarize(o)
            ns = m["ns_per_call"]
            json_ns = _find(outcomes, "hotpath", "stdlib-json", s.payload).get("ns_per_call")
            wt_ns = _find(outcomes, "hotpath", "watchtower", s.payload).get("ns_per_call")
            base_ns = (
                _find(outcomes, "hotpath", base, s.payload).get("ns_per_call") if base else None
            )
            rows.append(
                [
                    label,
                    s.payload,
                    _num(ns),
                    f"{_num(m['min_ns'])}-{_num(m['max_ns'])}",
                    _ratio(ns, json_ns),
                    _ratio(wt_ns, ns),
                    _ratio(ns, base_ns),
                    _delivered(o),
                ]
            )
        lines += _table(
            [
                "front end",
                "payload",
                "ns/call",
                "range",
                "this / stdlib JSON",
                "watchtower / this",
                "this / framework baseline",
                "delivered",
            ],
            rows,
        )
        lines.append("")

    if "delivery" in by_section:
        lines += [
            f"## Delivery of {config.records:,} records, first call until flush() returns"
            f" (median of {config.repeat} runs)",
            "",
        ]
        rows = []
        for o in by_section["delivery"]:
            s = o.scenario
            status = _status(o)
            if status:
                rows.append([s.label, s.payload, status, "", "", "", "", "", ""])
                continue
            m = summarize(o)
            wt = _find(outcomes, "delivery", "watchtower", s.payload)
            rows.append(
                [
                    s.label,
                    s.payload,
                    _num(m["records_per_s"]),
                    _num(m["cpu_s_per_million"], 2),
                    _num(m["caller_us_per_record"], 2),
                    _num(m["other_us_per_record"], 2),
                    _ratio(m["records_per_s"], wt.get("records_per_s")),
                    _ratio(wt.get("cpu_s_per_million"), m["cpu_s_per_million"]),
                    _delivered(o),
                ]
            )
        lines += _table(
            [
                "sender",
                "payload",
                "records/s",
                "process CPU s per 1M records",
                "caller CPU µs/record",
                "other threads' CPU µs/record",
                "rate: this / watchtower",
                "CPU: watchtower / this",
                "delivered",
            ],
            rows,
        )
        lines.append("")

    if "memory" in by_section:
        lines += [
            f"## Peak RSS with {config.memory_records:,} records logged against a stalled endpoint",
            "",
        ]
        rows = []
        for o in by_section["memory"]:
            s = o.scenario
            status = _status(o)
            if status:
                rows.append([s.label, status, "", "", "", "", ""])
                continue
            m = summarize(o)
            wt = _find(outcomes, "memory", "watchtower", "str")
            rows.append(
                [
                    s.label,
                    _num(m["peak_rss_mib"], 1),
                    _num(m["growth_mib"], 1),
                    _num(m["held"]),
                    _num(m["dropped"]),
                    _num(m["logging_wall_s"], 2),
                    _ratio(wt.get("growth_mib"), m["growth_mib"]),
                ]
            )
        lines += _table(
            [
                "sender",
                "peak RSS MiB",
                "growth MiB",
                "records held",
                "dropped",
                "logging s",
                "growth: watchtower / this",
            ],
            rows,
        )
        lines.append("")

    if "close" in by_section:
        lines += [
            f"## close() delivering a queue of {config.close_records:,} records"
            f" (median of {config.repeat} runs)",
            "",
        ]
        rows = []
        for o in by_section["close"]:
            s = o.scenario
            status = _status(o)
            if status:
                rows.append([s.label, status, "", "", ""])
                continue
            m = summarize(o)
            wt = _find(outcomes, "close", "watchtower", "str")
            rows.append(
                [
                    s.label,
                    _num(m["close_s"], 3),
                    _num(m["close_cpu_s"], 3),
                    _ratio(wt.get("close_s"), m["close_s"]),
                    _delivered(o),
                ]
            )
        lines += _table(
            [
                "sender",
                "close() s",
                "process CPU s",
                "watchtower / this",
                "delivered",
            ],
            rows,
        )
        lines.append("")

    targets = target_checks(outcomes) + list(more_targets)
    if targets:
        lines += ["## Against the targets", ""]
        lines += _table(
            ["aim", "measured", "aim", "met"],
            [
                [
                    name,
                    f"{value:,.3f}" if value < 1000 else f"{value:,.0f}",
                    want,
                    "yes" if ok else "no",
                ]
                for name, value, want, ok in targets
            ],
        )
        lines.append("")
    return "\n".join(lines)


def target_checks(outcomes: Sequence[Outcome]) -> List[Tuple[str, float, str, bool]]:
    """The performance targets that this run's figures speak to: (aim, value, aim, met)."""
    checks: List[Tuple[str, float, str, bool]] = []
    ours = _find(outcomes, "hotpath", "ours-stdlib", "dict").get("ns_per_call")
    json_ns = _find(outcomes, "hotpath", "stdlib-json", "dict").get("ns_per_call")
    wt = _find(outcomes, "hotpath", "watchtower", "dict").get("ns_per_call")
    if ours and json_ns:
        r = ours / json_ns
        checks.append(("caller CPU, logger.info(dict): ours / stdlib JSON", r, "<= 1.00", r <= 1))
    if ours and wt:
        r = wt / ours
        checks.append(("caller CPU, logger.info(dict): watchtower / ours", r, ">= 1.60", r >= 1.6))
    null_ns = _find(outcomes, "hotpath", "stdlib-null", "dict").get("ns_per_call")
    if ours and wt:
        r = wt / ours
        checks.append(
            ("caller CPU, logger.info(dict), fast extra: watchtower / ours", r, ">= 2.50", r >= 2.5)
        )
    if ours and null_ns:
        r = ours / null_ns
        checks.append(("caller CPU, logger.info(dict): ours / NullHandler", r, "<= 1.40", r <= 1.4))
    for row, base, what in (
        ("ours-structlog", "structlog-return", "structlog log.info(**dict): ours / JSONRenderer"),
        ("ours-loguru", "loguru-serialize", "loguru logger.info(**dict): ours / serialize=True"),
    ):
        mine = _find(outcomes, "hotpath", row, "dict").get("ns_per_call")
        theirs = _find(outcomes, "hotpath", base, "dict").get("ns_per_call")
        if mine and theirs:
            r = mine / theirs
            checks.append((f"caller CPU, {what}", r, "<= 1.40", r <= 1.4))
    d_ours = _find(outcomes, "delivery", "ours", "str")
    d_wt = _find(outcomes, "delivery", "watchtower", "str")
    if d_ours and d_wt:
        r = d_wt["cpu_s_per_million"] / d_ours["cpu_s_per_million"]
        checks.append(("process CPU per record (str): watchtower / ours", r, ">= 2.00", r >= 2))
        r = d_ours["records_per_s"] / d_wt["records_per_s"]
        checks.append(("delivery rate (str): ours / watchtower", r, ">= 2.00", r >= 2))
    if d_ours:
        rate = d_ours["records_per_s"]
        checks.append(("delivery rate (str): ours, records/s", rate, ">= 50,000", rate >= 50_000))
    return checks


# --------------------------------------------------------------------- main


def latency_report(figures: Dict[str, Any]) -> str:
    """The latency section and its targets, as markdown."""
    rows = [
        [aim, f"{measured:,.3g}", want, "yes" if met else "no"]
        for aim, measured, want, met in latency.targets(figures)
    ]
    return "\n".join(
        [
            "## Under real round-trip latency and account quotas",
            "",
            latency.report(figures),
            "### Against the latency targets",
            "",
            *_table(["aim", "measured", "aim", "met"], rows),
            "",
        ]
    )


def section_report(
    title: str, section: Any, figures: Dict[str, Any], with_targets: bool
) -> str:
    """A section (`section.report`, `section.targets`) as markdown under `title`; its aims
    too unless the main targets table has them."""
    lines = [f"## {title}", "", section.report(figures)]
    if with_targets:
        rows = [
            [aim, f"{measured:,.3g}", want, "yes" if met else "no"]
            for aim, measured, want, met in section.targets(figures)
        ]
        lines += ["### Against the targets", "", *_table(["aim", "measured", "aim", "met"], rows)]
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark wt_adapters against watchtower and plain logging, side by side.",
    )
    parser.add_argument("--quick", action="store_true", help="small N, for CI (no timings kept)")
    parser.add_argument("--records", type=int, help="records per delivery run (200,000)")
    parser.add_argument("--repeat", type=int, help="repetitions per figure (5; quick: 2)")
    parser.add_argument("--calls", type=int, help="calls per hot-path repetition (10,000)")
    parser.add_argument("--memory-records", type=int, help="records for the memory run (1M)")
    parser.add_argument("--close-records", type=int, help="records queued before close (100,000)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only scenarios whose name (section/row/payload, e.g. hotpath,"
        " delivery/ours, hotpath/*/dict) starts with or matches NAME; repeatable, or comma"
        " separated",
    )
    parser.add_argument(
        "--endpoint",
        choices=("sink", "moto"),
        default="sink",
        help="endpoint for the hot-path and delivery runs (the stalled runs always use the sink)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--plot",
        nargs="?",
        const=str(plot.DEFAULT_PATH),
        metavar="FILE",
        help="also draw the delivery-rate and memory comparisons (needs matplotlib and both"
        " sections: --only delivery,memory is the shortest run) into FILE, .svg or .png"
        " (docs/benchmarks.svg)",
    )
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    quick = args.quick
    repeat = args.repeat or (2 if quick else 5)
    calls = args.calls or (1_000 if quick else 10_000)
    config = Config(
        calls=calls,
        repeat=repeat,
        warmup=max(100, calls // 10),
        records=args.records or (5_000 if quick else 200_000),
        memory_records=args.memory_records or (20_000 if quick else 1_000_000),
        close_records=args.close_records or (5_000 if quick else 100_000),
        timeout=120.0 if quick else 600.0,
        only=[p for value in args.only for p in value.split(",") if p],
        endpoint=args.endpoint,
    )
    for name in ("calls", "repeat", "records", "memory_records", "close_records"):
        if getattr(config, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    return config


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmarks and print the report; 1 if a scenario failed or lost records."""
    args = parse_args(argv)
    config = make_config(args)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    scenarios = plan(config, run_id)
    # The latency section runs sinks of its own (benchmarks/latency.py): "--only latency".
    with_latency = not config.only or any(p.startswith("latency") for p in config.only)
    # So does the spool section (benchmarks/spool.py): "--only spool".
    with_spool = not config.only or any(p.startswith("spool") for p in config.only)
    # And import time (benchmarks/imports.py), in processes of its own: "--only imports".
    with_imports = not config.only or any(p.startswith("imports") for p in config.only)
    # And buffering (benchmarks/buffer.py), with a sink of its own: "--only buffer".
    with_buffer = not config.only or any(p.startswith("buffer") for p in config.only)
    # And CPU per record by transport (benchmarks/wire.py), in processes of its own: "--only wire".
    with_wire = not config.only or any(p.startswith("wire") for p in config.only)
    if args.list:
        for s in scenarios:
            print(s.name)
        if with_latency:
            print("latency")
        if with_spool:
            print("spool")
        if with_imports:
            print("imports")
        if with_buffer:
            print("buffer")
        if with_wire:
            print("wire")
        return 0
    if not (scenarios or with_latency or with_spool or with_imports or with_buffer or with_wire):
        print(f"no scenario matches --only {config.only}", file=sys.stderr)
        return 2
    if args.plot:
        missing = [x for x in plot.SECTIONS if not any(s.section == x for s in scenarios)]
        if missing:
            print(f"--plot needs the {' and '.join(missing)} section: add it to --only",
                  file=sys.stderr)  # fmt: skip
            return 2
        if importlib.util.find_spec("matplotlib") is None:
            print(f"--plot needs matplotlib: {INSTALL_HINT}", file=sys.stderr)
            return 2
    if any(s.impl == "watchtower" for s in scenarios):
        if importlib.util.find_spec("watchtower") is None:
            print(
                f"watchtower is not installed; the comparison needs it: {INSTALL_HINT}",
                file=sys.stderr,
            )
            return 2
        found = importlib.metadata.version("watchtower")
        if found != WATCHTOWER_VERSION:
            print(
                f"warning: watchtower {found} is installed, the figures are for"
                f" {WATCHTOWER_VERSION}: {INSTALL_HINT}",
                file=sys.stderr,
            )
    info = machine()  # before the run: others may change the working tree meanwhile
    lifetime = config.timeout * 4 + 3600
    started = time.monotonic()
    sink = SinkProcess(child_env("http://127.0.0.1:1"), lifetime, REPO)
    endpoint: Endpoint = sink
    moto: Optional[MotoEndpoint] = None
    try:
        if config.endpoint == "moto":
            moto = MotoEndpoint(child_env("http://127.0.0.1:1"))
            endpoint = moto
        outcomes = run_all(scenarios, config, sink, endpoint, sys.stderr)
        sink_stats = sink.stats()
    finally:
        if moto is not None:
            moto.stop()
        sink.stop()
    latency_figures: Optional[Dict[str, Any]] = None
    if with_latency:
        print("latency: 50 ms per request, quotas, many streams ...", file=sys.stderr, flush=True)
        latency_figures = latency.run(quick=args.quick)
    spool_figures: Optional[Dict[str, Any]] = None
    if with_spool:
        print("spool: the disk spool off and on, exit with the endpoint down ...",
              file=sys.stderr, flush=True)  # fmt: skip
        spool_figures = spool_section.run(quick=args.quick)
    spool_targets = spool_section.targets(spool_figures) if spool_figures else []
    imports_figures: Optional[Dict[str, Any]] = None
    if with_imports:
        print("imports: import time against watchtower's ...", file=sys.stderr, flush=True)
        imports_figures = imports_section.run(quick=args.quick)
    imports_targets = imports_section.targets(imports_figures) if imports_figures else []
    buffer_figures: Optional[Dict[str, Any]] = None
    if with_buffer:
        print("buffer: held against shipped records ...", file=sys.stderr, flush=True)
        buffer_figures = buffer_section.run(quick=args.quick)
    buffer_targets = buffer_section.targets(buffer_figures) if buffer_figures else []
    wire_figures: Optional[Dict[str, Any]] = None
    if with_wire:
        print("wire: CPU per record by transport, against the floor ...", file=sys.stderr,
              flush=True)  # fmt: skip
        wire_figures = wire_section.run(quick=args.quick)
    wire_targets = wire_section.targets(wire_figures) if wire_figures else []
    elapsed = time.monotonic() - started
    failed = [o for o in outcomes if o.error or o.delivery_ok is False]
    if sink_stats.get("invalid_requests"):
        print(
            f"the sink refused {sink_stats['invalid_requests']} requests:"
            f" {sink_stats.get('problems')}",
            file=sys.stderr,
        )
    script = Path(sys.argv[0]).name == "run.py"
    words = [
        "python",
        *(["benchmarks/run.py"] if script else ["-m", "benchmarks"]),
        *(sys.argv[1:] if argv is None else argv),
    ]
    command = " ".join(words)
    if args.json:
        document = {
            "machine": info,
            "config": vars(config),
            "elapsed_s": elapsed,
            "invalid_requests": sink_stats.get("invalid_requests", 0),
            "scenarios": [o.to_json() for o in outcomes],
            "targets": [
                {"aim": name, "measured": value, "want": want, "met": ok}
                for name, value, want, ok in target_checks(outcomes)
                + spool_targets
                + imports_targets
                + buffer_targets
                + wire_targets
            ],
            "latency": latency_figures,
            "spool": spool_figures,
            "imports": imports_figures,
            "buffer": buffer_figures,
            "wire": wire_figures,
        }
        print(json.dumps(document, indent=2))
    else:
        if outcomes:
            targets = spool_targets + imports_targets + buffer_targets + wire_targets
            print(report(outcomes, config, info, targets))
        if latency_figures is not None:
            print(latency_report(latency_figures))
        if spool_figures is not None:
            print(section_report("The disk spool", spool_section, spool_figures, not outcomes))
        if imports_figures is not None:
            print(section_report("Import time", imports_section, imports_figures, not outcomes))
        if buffer_figures is not None:
            title = "Error-triggered buffering"
            print(section_report(title, buffer_section, buffer_figures, not outcomes))
        if wire_figures is not None:
            title = "Whole-process CPU per record, by transport"
            print(section_report(title, wire_section, wire_figures, not outcomes))
        sections = spool_figures or imports_figures or buffer_figures or wire_figures
        parts = [f"{len(outcomes)} scenarios"] if outcomes or not sections else []
        parts += ["the latency section"] if latency_figures is not None else []
        parts += ["the spool section"] if spool_figures is not None else []
        parts += ["the imports section"] if imports_figures is not None else []
        parts += ["the buffer section"] if buffer_figures is not None else []
        parts += ["the wire section"] if wire_figures is not None else []
        what = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        print(f"_{command}: {what} in {elapsed:.0f} s._")
    if args.plot:
        plot.draw([o.to_json() for o in outcomes], info, command, Path(args.plot))
        print(f"plot: {args.plot}", file=sys.stderr)
    for o in failed:
        print(f"FAILED {o.scenario.name}: {o.error or 'records lost'}", file=sys.stderr)
    return 1 if failed or sink_stats.get("invalid_requests") else 0


if __name__ == "__main__":
    raise SystemExit(main())
