"""``python -m benchmarks --plot``: the delivery-rate and memory comparisons as one figure.

The runner calls `draw` after a run that had the delivery and memory sections
(``python -m benchmarks --only delivery,memory --plot`` is the shortest); the
figure says which command, commit and machine its figures come from.
matplotlib (in benchmarks/requirements.txt) is needed for this alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Where ``--plot`` writes unless told otherwise; docs/benchmarks.md shows it.
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.svg"
#: The sections the figure is drawn from.
SECTIONS = ("delivery", "memory")
WATCHTOWER = "#9e9e9e"
OURS = "#1f6fb2"

#: Shorter names for the rows whose labels are long.
SHORT = {
    "wt_adapters, boto3_client=boto3.client('logs')": "wt_adapters, a boto3 client of yours",
    "watchtower 3.4.0 (unbounded queue)": "watchtower 3.4.0, unbounded",
    "wt_adapters, default limits (100,000 events / 64 MiB)": "wt_adapters, default limits",
    "wt_adapters, limits raised to hold every record": "wt_adapters, limits raised",
}

#: One bar: its label, its value, and the watchtower row it is compared with.
Bar = Tuple[str, float, Optional[float]]


def bars(summaries: Sequence[Dict[str, Any]], section: str, figure: str) -> List[Bar]:
    """The bars of one panel, from the runner's summaries of `section` (watchtower first)."""
    rows = [s for s in summaries if s["section"] == section and figure in s["summary"]]
    baseline = {s["payload"]: s["summary"][figure] for s in rows if s["row"] == "watchtower"}
    found: List[Bar] = []
    for s in sorted(rows, key=lambda s: s["row"] != "watchtower"):
        label = SHORT.get(s["label"], s["label"])
        if section != "memory":
            label += f", {s['payload']}"
        base = baseline.get(s["payload"]) if s["row"] != "watchtower" else None
        found.append((label, float(s["summary"][figure]), base))
    return found


def draw(summaries: Sequence[Dict[str, Any]], info: Dict[str, Any], command: str,
         path: Path) -> None:  # fmt: skip
    """Draw the delivery rate and the memory growth side by side into `path` (SVG or PNG).

    `summaries` are the runner's `Outcome.to_json()` documents; `info` its `machine()`.
    """
    import matplotlib
    from matplotlib.figure import Figure

    delivery = bars(summaries, "delivery", "records_per_s")
    memory = bars(summaries, "memory", "growth_mib")
    if not delivery or not memory:
        raise ValueError("the figure needs the delivery and memory sections' results")
    records = {s["section"]: _records(s) for s in summaries if s["section"] in SECTIONS}
    style = {"svg.fonttype": "none", "svg.hashsalt": "wt-adapters", "font.size": 9}
    with matplotlib.rc_context(style):
        figure = Figure(figsize=(10, 6), layout="constrained")
        top, bottom = figure.subplots(2, 1, height_ratios=(len(delivery), len(memory)))
        _panel(top, delivery, "{:,.0f}", higher=True)
        top.set_title(
            f"Delivery of {records['delivery']:,} records until flush() returns,"
            " records/s (more is better)",
            loc="left",
        )
        _panel(bottom, memory, "{:,.1f}", higher=False)
        bottom.set_title(
            f"Peak RSS growth, {records['memory']:,} records against a stalled endpoint,"
            " MiB (less is better)",
            loc="left",
        )
        figure.suptitle(
            f"{command}\nat {info.get('commit')}: {info.get('cpu')}, {info.get('cores')} cores,"
            f" {info.get('python')}",
            fontsize=8,
        )
        figure.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)


def _records(summary: Dict[str, Any]) -> int:
    results = summary["results"]
    return int(results[0]["logged"]) if results else 0


def _panel(axes: Any, found: Sequence[Bar], number: str, higher: bool) -> None:
    from matplotlib.ticker import FuncFormatter

    labels = [label for label, _value, _base in found]
    values = [value for _label, value, _base in found]
    colours = [OURS if label.startswith("wt_adapters") else WATCHTOWER for label in labels]
    positions = list(range(len(found)))[::-1]
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, labels)
    axes.set_xlim(0, max(values) * 1.6)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _position: f"{x:,.0f}"))
    for y, (_label, value, base) in zip(positions, found):
        text = number.format(value)
        if base:
            ratio = f"this / watchtower {value / base:.2f}" if higher else (
                f"watchtower / this {base / value:.2f}")  # fmt: skip
            text += f"  ({ratio})"
        axes.annotate(text, (value, y), xytext=(4, 0), textcoords="offset points", va="center")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
