"""Each package's `__all__` names exactly its public members, and optional ones load lazily."""

from __future__ import annotations

import importlib
import json
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
    for attr in module.__all__:
        getattr(module, attr)  # a name loaded on first use is in vars() from then on
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) != "typing"  # annotations' helpers
    }
    assert set(module.__all__) - {"__version__"} == public
    assert module.__all__ == sorted(module.__all__, key=isort_order)


def public_names_in_a_fresh_process(code: str) -> list[str]:
    """What `code` prints: a JSON list, from a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names: list[str] = json.loads(out.stdout)
    return names


@pytest.mark.parametrize("name", ["wt_adapters", "wt_adapters.testing"])
def test_dir_lists_every_lazy_name_before_it_is_used(name: str) -> None:
    code = (
        f"import json, types, {name} as m\n"
        "print(json.dumps([n for n in dir(m) if not n.startswith('_')"
        " and not isinstance(getattr(m, n), types.ModuleType)]))"
    )
    module = importlib.import_module(name)
    assert public_names_in_a_fresh_process(code) == sorted(set(module.__all__) - {"__version__"})


@pytest.mark.parametrize("name", ["wt_adapters", "wt_adapters.testing"])
def test_import_star_gives_every_name_in_all(name: str) -> None:
    code = (
        f"import json\nfrom {name} import *\n"
        "print(json.dumps(sorted(n for n in dir() if not n.startswith('_') and n != 'json')))"
    )
    module = importlib.import_module(name)
    assert public_names_in_a_fresh_process(code) == sorted(set(module.__all__) - {"__version__"})


def test_an_unknown_name_is_an_attribute_error() -> None:
    import wt_adapters

    with pytest.raises(AttributeError, match="has no attribute 'CloudWatchHandler'"):
        wt_adapters.CloudWatchHandler  # noqa: B018


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
