"""Keep the options tables in docs/options.md and README.md the ones `OPTIONS` makes.

docs/options.md holds every option; README.md the few a user changes most
(`COMMON`). Each table sits between two marker comments in its page; the rest
of the page is written by hand. From the repository root::

    python -m wt_adapters._options_doc            # print the full table
    python -m wt_adapters._options_doc --write    # rewrite both tables in their pages
    python -m wt_adapters._options_doc --check    # exit 1 if a page's table is stale

tests/test_options_doc.py fails when a page and `OPTIONS` disagree.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

from ._options import OPTIONS, markdown_table

#: The repository root, in a checkout (the package's parent directory).
ROOT = Path(__file__).resolve().parent.parent

#: The options README.md shows, in `OPTIONS`' order there.
COMMON = (
    "log_group_name",
    "log_stream_name",
    "send_interval",
    "boto3_client",
    "boto3_profile_name",
    "log_group_retention_days",
    "endpoint_url",
    "max_queue_events",
    "queue_overflow",
    "flush_on_sigterm",
    "metrics_interval",
    "spool_dir",
)


def table(names: Optional[Sequence[str]] = None) -> str:
    """Return the options table: every option, or only those in `names` (in `OPTIONS`' order)."""
    header, rule, *rows = markdown_table().splitlines()
    if names is not None:
        unknown = sorted(set(names) - set(OPTIONS))
        if unknown:
            raise ValueError(f"no option {unknown[0]!r}")
        rows = [row for row, name in zip(rows, OPTIONS) if name in names]
    return "\n".join([header, rule, *rows])


@dataclass(frozen=True)
class Page:
    """A page that holds an options table between two marker lines."""

    path: Path
    #: The options the table shows; None: every one.
    names: Optional[Tuple[str, ...]]
    what: str

    @property
    def begin(self) -> str:
        return (
            f"<!-- {self.what}: made from OPTIONS in wt_adapters/_options.py by"
            " `python -m wt_adapters._options_doc --write`; edit OPTIONS, not this table -->"
        )

    @property
    def end(self) -> str:
        return f"<!-- end of {self.what} -->"

    def _bounds(self, text: str) -> Tuple[int, int]:
        start, end = text.find(self.begin), text.find(self.end)
        if start < 0 or end < start:
            raise ValueError(f"no {self.begin!r} line followed by an {self.end!r} line")
        return start + len(self.begin), end

    def table_in(self, text: str) -> str:
        """Return the table between the markers of `text`, the page's content."""
        start, end = self._bounds(text)
        return text[start:end].strip("\n")

    def with_table(self, text: str) -> str:
        """Return `text` with what is between its markers replaced by the current table."""
        start, end = self._bounds(text)
        return f"{text[:start]}\n{table(self.names)}\n{text[end:]}"


OPTIONS_PAGE = Page(ROOT / "docs" / "options.md", None, "options table")
README = Page(ROOT / "README.md", COMMON, "common options table")
PAGES = (OPTIONS_PAGE, README)


def main(argv: Optional[Sequence[str]] = None, pages: Sequence[Page] = PAGES) -> int:
    """Print the full table, or write the tables into `pages`, or check them; the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m wt_adapters._options_doc",
        description="Keep the options tables in docs/options.md and README.md the ones"
        " OPTIONS makes.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite each page's table")
    action.add_argument("--check", action="store_true", help="exit 1 if a page's table is stale")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        print(table())
        return 0
    stale = []
    for page in pages:
        try:
            text = page.path.read_text(encoding="utf-8")
            current = page.with_table(text)
        except (OSError, ValueError) as e:
            print(f"{parser.prog}: {page.path}: {e}", file=sys.stderr)
            return 2
        if current == text:
            continue
        if args.check:
            stale.append(page.path)
        else:
            page.path.write_text(current, encoding="utf-8")
            print(f"{page.path}: {page.what} rewritten from OPTIONS")
    for path in stale:
        print(f"{path} is stale: run {parser.prog} --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
