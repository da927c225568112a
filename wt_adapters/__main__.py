"""`python -m wt_adapters` and the `wt-adapters` console script."""

from __future__ import annotations

import sys
from typing import List, Optional

CLI_HINT = "pip install 'wt-adapters[cli]'"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the `wt-adapters` command line and exit with its code."""
    try:
        import click  # noqa: F401
    except ImportError:
        sys.stderr.write(f"wt-adapters: the command line needs click: {CLI_HINT}\n")
        sys.exit(1)
    from ._cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
