"""Each package's `__all__` names exactly its public members, and optional ones load lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

PACKAGES = [
    "wt_adapters",
    "wt_adapters.stdlib",
    "wt_adapters.structlog",
    "wt_adapters.loguru",
    "wt_adapters.testing",
]


def isort_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_member_sorted(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) != "typing"  # annotations' helpers
    }
    assert set(module.__all__) - {"__version__"} == public
    assert module.__all__ == sorted(module.__all__, key=isort_order)


def test_importing_the_package_loads_neither_structlog_nor_loguru() -> None:
    code = "import sys, wt_adapters; print('structlog' in sys.modules, 'loguru' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_the_engine_imports_no_front_end() -> None:
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("wt_adapters").__file__).parent  # type: ignore[arg-type]
    for path in root.glob("_*.py"):
        if path.name == "__init__.py" or path.name == "__main__.py":
            continue  # the package facade re-exports the stdlib front end by design
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.lstrip(".").startswith(("stdlib", "structlog", "loguru")), (
                    f"{path.name} imports {node.module}"
                )
