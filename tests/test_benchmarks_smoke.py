"""The benchmark runner works: its quick mode runs every scenario and prints its tables.

No timing is asserted; CI runs this only to prove the runner still works.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("watchtower") is None,
    reason="the benchmarks compare with watchtower: pip install -r benchmarks/requirements.txt",
)


def run_benchmarks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
    )


#: Every section of the full run, and what its tables must show. Each runs in a test of its
#: own, so that the parallel suite spreads them over its workers.
SECTIONS = {
    "hotpath,delivery,memory,close": (
        "## Machine",
        "## Caller-thread CPU per logging call",
        "## Delivery of",
        "## Peak RSS",
        "## close() delivering",
        "| watchtower 3.4.0 handler | dict |",
        "| wt_adapters CloudWatchLogHandler | dict |",
    ),
    "latency": ("## Under real round-trip latency and account quotas",),
    "spool": ("## The disk spool",),
    "imports,buffer,wire": (
        "## Import time",
        "| import wt_adapters |",
        "## Error-triggered buffering",
        "## Whole-process CPU per record, by transport",
    ),
}


def test_the_sections_cover_every_section_of_a_full_run() -> None:
    done = run_benchmarks("--list")

    assert done.returncode == 0, done.stderr[-3000:]
    sections = {name.split("/")[0] for name in done.stdout.split()}
    assert sections == {part for key in SECTIONS for part in key.split(",")}


@pytest.mark.slow
@pytest.mark.parametrize("only", list(SECTIONS))
def test_a_quick_run_of_each_section_exits_0_and_prints_its_tables(only: str) -> None:
    done = run_benchmarks("--quick", "--repeat", "1", "--only", only)  # every scenario, once

    assert done.returncode == 0, done.stderr[-3000:]
    for text in SECTIONS[only]:
        assert text in done.stdout
    assert "MISMATCH" not in done.stdout


def test_json_output_has_a_result_per_selected_scenario() -> None:
    done = run_benchmarks("--quick", "--json", "--only", "hotpath/stdlib-null,delivery/ours/str")

    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)
    names = [s["name"] for s in document["scenarios"]]
    assert names == ["hotpath/stdlib-null/str", "hotpath/stdlib-null/dict", "delivery/ours/str"]
    assert all(s["results"] and not s["error"] for s in document["scenarios"])
    assert document["scenarios"][2]["delivery_ok"] is True
    assert document["machine"]["cores"]


def test_the_floor_breakdown_prints_every_row_and_delivers_every_event() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.floor",
            "--rounds",
            "1",
            "--calls",
            "500",
            "--repeat",
            "1",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    for label in ("stdlib, NullHandler", "encodes and submits: the floor", "CloudWatchLogHandler"):
        assert label in done.stdout
    assert "MISMATCH" not in done.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="--plot needs matplotlib"
)
@pytest.mark.slow
def test_plot_draws_the_delivery_and_memory_rows_into_the_file_named(tmp_path: Path) -> None:
    figure = tmp_path / "benchmarks.svg"
    done = run_benchmarks(
        "--quick", "--only", "delivery/ours/str,memory/ours", "--plot", str(figure)
    )

    assert done.returncode == 0, done.stderr[-3000:]
    text = figure.read_text(encoding="utf-8")
    assert "wt_adapters, str" in text and "wt_adapters, default limits" in text


def test_plot_without_the_memory_section_is_a_usage_error() -> None:
    done = run_benchmarks("--quick", "--only", "delivery/ours/str", "--plot", os.devnull)

    assert done.returncode == 2
    assert "--plot needs the memory section" in done.stderr
