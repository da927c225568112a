"""The command line every benchmark section shares (`python -m benchmarks.latency`, ...)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: One aim: what is measured, the figure, the aim as text, whether it is met.
Target = Tuple[str, float, str, bool]


def section_main(
    argv: Optional[Sequence[str]],
    *,
    prog: str,
    description: Optional[str],
    child: Callable[[Dict[str, Any]], Dict[str, Any]],
    result_prefix: str,
    run: Callable[[bool], Dict[str, Any]],
    report: Callable[[Dict[str, Any]], str],
    targets: Callable[[Dict[str, Any]], List[Target]],
) -> int:
    """Run a section alone (``--quick``, ``--json``), or one of its children (``child SPEC``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["child"]:
        result = child(json.loads(args[1]))
        print(result_prefix + json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="small N (no timings kept)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parsed = parser.parse_args(args)
    figures = run(parsed.quick)
    if parsed.json:
        print(json.dumps(figures, indent=2))
    else:
        print(report(figures))
        for aim, measured, want, met in targets(figures):
            print(f"- {aim}: {measured:,.3g} (aim {want}): {'met' if met else 'NOT MET'}")
    return 0
