"""Names a package loads on first use (PEP 562), so that importing it stays cheap."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Mapping, Tuple


def lazy_names(
    namespace: Dict[str, Any], lazy: Mapping[str, Tuple[str, str]]
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` for the names of `lazy`.

    `lazy` maps each name to (module, relative to the package, and the name
    in it); `namespace` is the package's ``globals()``, where a name is kept
    once loaded.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        """Load `name` from its module on first use, and keep it."""
        try:
            module, attribute = lazy[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), attribute)
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted({*namespace, *lazy})

    return __getattr__, __dir__
