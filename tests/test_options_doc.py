"""The options tables in docs/options.md and README.md are the ones `OPTIONS` makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from wt_adapters import _options_doc
from wt_adapters._options import OPTIONS, markdown_table
from wt_adapters._options_doc import COMMON, OPTIONS_PAGE, README, Page

STALE = "# Options\n\nBy hand.\n\n{begin}\n| old | table |\n{end}\n\nAfter.\n"


def stale_page(tmp_path: Path) -> Page:
    page = Page(tmp_path / "options.md", None, "options table")
    page.path.write_text(STALE.format(begin=page.begin, end=page.end), encoding="utf-8")
    return page


def test_the_pages_are_docs_options_md_and_the_readme() -> None:
    assert OPTIONS_PAGE.path == ROOT / "docs" / "options.md"
    assert README.path == ROOT / "README.md"


def test_docs_options_md_holds_the_table_made_from_options() -> None:
    text = OPTIONS_PAGE.path.read_text(encoding="utf-8")
    assert OPTIONS_PAGE.table_in(text) == markdown_table(), (
        "docs/options.md and OPTIONS disagree: run python -m wt_adapters._options_doc --write"
    )


def test_docs_options_md_has_a_row_for_every_option() -> None:
    text = OPTIONS_PAGE.path.read_text(encoding="utf-8")
    assert [name for name in OPTIONS if f"\n| `{name}` |" not in text] == []


def test_the_readme_holds_the_common_options_rows_made_from_options() -> None:
    text = README.path.read_text(encoding="utf-8")
    assert README.table_in(text) == _options_doc.table(COMMON), (
        "README.md and OPTIONS disagree: run python -m wt_adapters._options_doc --write"
    )


def test_a_table_of_some_options_keeps_their_rows_as_the_full_table_has_them() -> None:
    header, rule, *rows = markdown_table().splitlines()
    some = _options_doc.table(["send_interval", "log_group_name"]).splitlines()

    assert some[:2] == [header, rule]
    assert some[2:] == [rows[0], rows[list(OPTIONS).index("send_interval")]]


def test_a_table_of_an_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError, match="no option 'send_intervals'"):
        _options_doc.table(["send_intervals"])


def test_write_replaces_only_the_table(tmp_path: Path) -> None:
    page = stale_page(tmp_path)

    assert _options_doc.main(["--write"], pages=[page]) == 0

    text = page.path.read_text(encoding="utf-8")
    assert page.table_in(text) == markdown_table()
    assert text.startswith("# Options\n\nBy hand.\n\n") and text.endswith("\n\nAfter.\n")
    assert "| old | table |" not in text


def test_check_exits_1_on_a_stale_page_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    page = stale_page(tmp_path)
    before = page.path.read_text(encoding="utf-8")

    assert _options_doc.main(["--check"], pages=[page]) == 1
    assert page.path.read_text(encoding="utf-8") == before


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    page = Page(tmp_path / "options.md", None, "options table")
    page.path.write_text("# Options\n", encoding="utf-8")

    assert _options_doc.main(["--write"], pages=[page]) == 2
    assert page.path.read_text(encoding="utf-8") == "# Options\n"


def test_the_check_command_passes_on_the_committed_pages() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wt_adapters._options_doc", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
