"""docs/options.md holds the table that `OPTIONS` makes, and the script that writes it works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from wt_adapters import _options_doc
from wt_adapters._options import OPTIONS, markdown_table

PAGE = ROOT / "docs" / "options.md"
STALE = (
    f"# Options\n\nBy hand.\n\n{_options_doc.BEGIN}\n| old | table |\n{_options_doc.END}"
    "\n\nAfter.\n"
)


def test_docs_options_md_holds_the_table_made_from_options() -> None:
    assert _options_doc.table_in(PAGE.read_text(encoding="utf-8")) == markdown_table(), (
        "docs/options.md and OPTIONS disagree: run python -m wt_adapters._options_doc --write"
    )


def test_every_option_has_a_row_in_docs_options_md() -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [name for name in OPTIONS if f"\n| `{name}` |" not in page]
    assert not missing


def test_write_replaces_only_the_table(tmp_path: Path) -> None:
    page = tmp_path / "options.md"
    page.write_text(STALE, encoding="utf-8")

    assert _options_doc.main(["--write", "--page", str(page)]) == 0

    text = page.read_text(encoding="utf-8")
    assert _options_doc.table_in(text) == markdown_table()
    assert text.startswith("# Options\n\nBy hand.\n\n") and text.endswith("\n\nAfter.\n")
    assert "| old | table |" not in text


def test_check_exits_1_on_a_stale_page_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    page = tmp_path / "options.md"
    page.write_text(STALE, encoding="utf-8")

    assert _options_doc.main(["--check", "--page", str(page)]) == 1
    assert page.read_text(encoding="utf-8") == STALE


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "options.md"
    page.write_text("# Options\n", encoding="utf-8")

    assert _options_doc.main(["--write", "--page", str(page)]) == 2
    with pytest.raises(ValueError, match="options table"):
        _options_doc.table_in("# Options\n")


def test_the_check_command_passes_on_the_committed_page() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wt_adapters._options_doc", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
