"""Keep the options table in docs/options.md the one `OPTIONS` makes.

The table sits between two marker comments in the page; everything else on the
page is written by hand. From the repository root::

    python -m wt_adapters._options_doc            # print the table
    python -m wt_adapters._options_doc --write    # put it in docs/options.md
    python -m wt_adapters._options_doc --check    # exit 1 if docs/options.md is stale

tests/test_options_doc.py fails when the page and `OPTIONS` disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence, Tuple

from ._options import markdown_table

BEGIN = (
    "<!-- options table: made from OPTIONS in wt_adapters/_options.py by"
    " `python -m wt_adapters._options_doc --write`; edit OPTIONS, not this table -->"
)
END = "<!-- end of options table -->"
#: The page in a checkout of the repository (the package's parent directory).
PAGE = Path(__file__).resolve().parent.parent / "docs" / "options.md"


def _bounds(page: str) -> Tuple[int, int]:
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {BEGIN!r} line followed by an {END!r} line")
    return start + len(BEGIN), end


def table_in(page: str) -> str:
    """Return the table between the markers of `page` (the text of docs/options.md)."""
    start, end = _bounds(page)
    return page[start:end].strip("\n")


def with_table(page: str) -> str:
    """Return `page` with the text between its markers replaced by the current table."""
    start, end = _bounds(page)
    return f"{page[:start]}\n{markdown_table()}\n{page[end:]}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the table, or write it into the page, or check the page; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m wt_adapters._options_doc",
        description="Keep the options table in docs/options.md the one OPTIONS makes.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the table in the page")
    action.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument("--page", type=Path, default=PAGE, help=f"the page (default: {PAGE})")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        print(markdown_table())
        return 0
    try:
        page = args.page.read_text(encoding="utf-8")
        current = with_table(page)
    except (OSError, ValueError) as e:
        print(f"{parser.prog}: {args.page}: {e}", file=sys.stderr)
        return 2
    if args.check:
        if current != page:
            print(f"{args.page} is stale: run {parser.prog} --write", file=sys.stderr)
            return 1
        return 0
    if current != page:
        args.page.write_text(current, encoding="utf-8")
        print(f"{args.page}: table rewritten from OPTIONS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
