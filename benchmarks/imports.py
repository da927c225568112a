"""Import time: what ``import wt_adapters`` costs a process, against ``import watchtower``.

Part of ``python -m benchmarks`` (its "imports" section); also runs alone::

    python -m benchmarks.imports [--quick] [--json]

Each figure is the wall time of one import statement in a fresh interpreter
(``python -c``, the statement timed with `time.perf_counter` and nothing but
`sys` and `time` imported before it), the rows taking turns, the median of
``rounds`` processes (21; quick: 3). Rows:

- ``import watchtower``: watchtower 3.4.0, which loads boto3 with its handler;
- ``import wt_adapters``: the package alone, as ``import wt_adapters.structlog``
  and the pytest plugin load it (its names load on first use);
- ``from wt_adapters import CloudWatchLogHandler``: what a stdlib user pays
  before the first record (the engine; boto3 loads with the first client);
- the pytest plugin (``wt_adapters.testing._pytest_plugin``) after ``import
  pytest``: what every pytest run of a project that installs the package pays.

Each row also says whether boto3 and asyncio were loaded by then.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.child import REPO, child_env
from benchmarks.section import section_main

RESULT_PREFIX = "IMPORTS-RESULT "
#: Rows: (id, label, set-up not timed, statement timed).
ROWS: Tuple[Tuple[str, str, str, str], ...] = (
    ("watchtower", "import watchtower (3.4.0)", "", "import watchtower"),
    ("ours", "import wt_adapters", "", "import wt_adapters"),
    (
        "ours-handler",
        "from wt_adapters import CloudWatchLogHandler",
        "",
        "from wt_adapters import CloudWatchLogHandler",
    ),
    (
        "ours-plugin",
        "the pytest plugin, after import pytest",
        "import pytest",
        "import wt_adapters.testing._pytest_plugin",
    ),
)
#: The modules whose presence each row reports.
WATCHED = ("boto3", "asyncio")
#: The aims (issue 23): the package alone, and with its handler, against watchtower.
PACKAGE_AIM = 0.25
HANDLER_AIM = 1.0

_CODE = """\
import sys, time
{setup}
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
import json
print({prefix!r} + json.dumps({{"ms": elapsed * 1000,
    "loaded": [m for m in {watched!r} if m in sys.modules]}}))
"""


def child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Time one row's statement in a fresh interpreter: {"ms": ..., "loaded": [...]}."""
    code = _CODE.format(
        setup=spec["setup"], statement=spec["statement"], prefix=RESULT_PREFIX, watched=WATCHED
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=child_env("http://127.0.0.1:1"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: Dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-3:]
    raise RuntimeError(f"{spec['statement']!r}: exit status {done.returncode}: {' | '.join(tail)}")


def run(quick: bool = False) -> Dict[str, Any]:
    """Time every row, the rows taking turns; return the figures."""
    rounds = 3 if quick else 21
    samples: Dict[str, List[float]] = {row: [] for row, *_ in ROWS}
    loaded: Dict[str, List[str]] = {}
    for _ in range(rounds):
        for row, _label, setup, statement in ROWS:
            result = child({"setup": setup, "statement": statement})
            samples[row].append(result["ms"])
            loaded[row] = result["loaded"]
    rows = [
        {
            "row": row,
            "label": label,
            "statement": statement,
            "ms": statistics.median(samples[row]),
            "min_ms": min(samples[row]),
            "max_ms": max(samples[row]),
            "loaded": loaded[row],
        }
        for row, label, _setup, statement in ROWS
    ]
    return {"quick": quick, "rounds": rounds, "rows": rows}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _ms(figures: Dict[str, Any], row: str) -> float:
    found: float = next(r["ms"] for r in figures["rows"] if r["row"] == row)
    return found


def report(figures: Dict[str, Any]) -> str:
    """The import-time table, as markdown."""
    watchtower = _ms(figures, "watchtower")
    rows = [
        [
            r["label"],
            f"{r['ms']:,.1f}",
            f"{r['min_ms']:,.1f}-{r['max_ms']:,.1f}",
            f"{r['ms'] / watchtower:.2f}",
            *("yes" if m in r["loaded"] else "no" for m in WATCHED),
        ]
        for r in figures["rows"]
    ]
    return "\n".join(
        [
            f"### Import time, fresh processes (median of {figures['rounds']})",
            "",
            *_table(
                ["statement", "ms", "range", "this / watchtower", *(f"loads {m}" for m in WATCHED)],
                rows,
            ),
            "",
        ]
    )


def targets(figures: Dict[str, Any]) -> List[Tuple[str, float, str, bool]]:
    """The import-time aims: (aim, measured, aim, met)."""
    watchtower = _ms(figures, "watchtower")
    package = _ms(figures, "ours") / watchtower
    handler = _ms(figures, "ours-handler") / watchtower
    return [
        ("import time: import wt_adapters / import watchtower", package,
         f"<= {PACKAGE_AIM:.2f}", package <= PACKAGE_AIM),
        ("import time: wt_adapters with its handler / import watchtower", handler,
         f"<= {HANDLER_AIM:.2f}", handler <= HANDLER_AIM),
    ]  # fmt: skip


def main(argv: Optional[Sequence[str]] = None) -> int:
    return section_main(
        argv, prog="python -m benchmarks.imports", description=__doc__, child=child,
        result_prefix=RESULT_PREFIX, run=run, report=report, targets=targets,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
