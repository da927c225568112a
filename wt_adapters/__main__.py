"""`python -m wt_adapters` and the `wt-adapters` console script."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from typing import List, Optional

CLI_HINT = "pip install 'wt-adapters[cli]'"

#: What the ``cli`` extra brings: (module, distribution) for each.
CLI_NEEDS = (("click", "click"), ("dateutil", "python-dateutil"))


def main(argv: Optional[List[str]] = None) -> int:
    """Run the `wt-adapters` command line and exit with its code.

    Without what the ``cli`` extra installs, says so in one line naming the
    extra, whatever the command, and exits with 1.
    """
    missing = [dist for module, dist in CLI_NEEDS if find_spec(module) is None]
    if missing:
        needs = " and ".join(missing)
        sys.stderr.write(f"wt-adapters: the command line needs {needs}: {CLI_HINT}\n")
        sys.exit(1)
    from ._cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
