"""The suite's own rule: a test fails on a `WatchtowerWarning` it does not expect.

Runs pytest in a subprocess with this suite's conftest as a plugin, on tests
written for the purpose.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import ROOT, subprocess_env

TESTS = """
import threading, warnings
import pytest
from wt_adapters import WatchtowerWarning
from wt_adapters._report import report

def test_unexpected_on_the_callers_thread():
    report("surprise on the caller's thread")

def test_unexpected_on_another_thread():
    thread = threading.Thread(target=report, args=("surprise on a delivery thread",))
    thread.start()
    thread.join()

def test_expected():
    with pytest.warns(WatchtowerWarning, match="expected"):
        report("expected")

def test_expected_one_but_caused_two():
    with pytest.warns(WatchtowerWarning, match="first"):
        report("first")
        report("second, not expected")

def test_another_category_goes_to_the_summary():
    warnings.warn("a user warning", UserWarning)
"""


def test_only_the_tests_that_did_not_expect_a_warning_fail(tmp_path: Path) -> None:
    (tmp_path / "test_policy.py").write_text(textwrap.dedent(TESTS))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-rE",
         str(tmp_path / "test_policy.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env=subprocess_env(PYTHONPATH=str(ROOT / "tests")),
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "5 passed, 1 warning, 3 errors" in out, out  # each error is at teardown
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    assert [line.split()[1].split("::")[1] for line in errors] == [
        "test_unexpected_on_the_callers_thread",
        "test_unexpected_on_another_thread",
        "test_expected_one_but_caused_two",
    ]
    assert "second, not expected" in out and "a user warning" in out
