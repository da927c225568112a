"""A front end or the command line without its extra installed says what to install, once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def run_without(modules: list[str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` (given `args`) in a Python where `modules` cannot be imported.

    They are marked missing in ``sys.modules`` before anything else is imported:
    an import of one fails as it does for a package that is not installed.
    """
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules.update(dict.fromkeys({modules!r}))\n"
         + code, *args],
        capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip


@pytest.mark.parametrize("framework", ["structlog", "loguru"])
def test_a_front_end_without_its_framework_is_an_import_error_naming_the_extra(
    framework: str,
) -> None:
    code = textwrap.dedent(
        f"""
        try:
            import wt_adapters.{framework}
        except ImportError as e:
            print(type(e).__name__, e.name, e, sep="|")
        """
    )
    result = run_without([framework], code)
    assert result.returncode == 0, result.stderr
    kind, name, message = result.stdout.strip().split("|")
    assert (kind, name) == ("ImportError", framework)
    assert message == (
        f'wt_adapters.{framework} needs {framework}: pip install "wt-adapters[{framework}]"'
    )


@pytest.mark.parametrize("framework", ["structlog", "loguru"])
def test_the_package_itself_imports_without_either_framework(framework: str) -> None:
    result = run_without([framework], "import wt_adapters; print(wt_adapters.__version__)")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("missing", "named"), [("click", "click"), ("dateutil", "python-dateutil")]
)
def test_the_command_line_without_its_extra_says_so_in_one_line(missing: str, named: str) -> None:
    result = run_without(
        [missing],
        "import runpy; runpy.run_module('wt_adapters', run_name='__main__', alter_sys=True)",
        "tail", "some-group", "--since", "2024-01-01",
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"wt-adapters: the command line needs {named}: pip install 'wt-adapters[cli]'\n"
    )
