"""The transports benchmark section runs: its quick mode prints every row, all delivered.

No timing is asserted (the figures of a quick run are noise).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from helpers import ROOT

from benchmarks.wire import ROWS

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("watchtower") is None,
    reason="the benchmarks compare with watchtower: pip install -r benchmarks/requirements.txt",
)


def test_the_wire_section_measures_every_row_and_delivers_every_record() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.wire", "--quick", "--json"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    rows = {r["row"]: r for r in figures["rows"]}
    assert list(rows) == [row for row, _label, _setup in ROWS]
    assert {"floor", "ours-user-client", "ours-own-client", "ours-boto3", "watchtower"} <= set(rows)
    assert all(r["delivered"] for r in rows.values())
    assert all(r["us_per_record"] > 0 and r["wall_s"] > 0 for r in rows.values())
