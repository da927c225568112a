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


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_member(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "wt_adapters").startswith("wt_adapters")
        and not (attr.isupper() is False and isinstance(value, (str, int, frozenset)))
    }
    assert public <= exported, f"missing from __all__: {sorted(public - exported)}"
    assert all(hasattr(module, attr) for attr in exported)


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
