"""Reporting problems as `WatchtowerWarning`s without ever raising into a log call.

`warnings.warn` raises under ``-W error`` (or pytest's ``filterwarnings =
error``), and a warning filter or `showwarning` hook may fail: then the
report goes to stderr instead. A report points at the user's code: the first
frame outside this package and the logging frameworks, or, on the delivery
thread (where there is none), the place the destination was configured.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
import weakref
from types import FrameType
from typing import Any, Optional, Tuple

from ._errors import WatchtowerWarning

#: Modules whose frames are not the user's code.
_INTERNAL = frozenset(
    ("wt_adapters", "logging", "threading", "warnings", "structlog", "loguru", "concurrent")
)

#: Where each engine was configured: (filename, line), keyed by the engine.
_origins: weakref.WeakKeyDictionary[Any, Tuple[str, int]] = weakref.WeakKeyDictionary()


def _is_internal(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__")
    return not isinstance(name, str) or name.partition(".")[0] in _INTERNAL


def user_frame() -> Optional[FrameType]:
    """Return the innermost frame of the caller's own code, if there is one."""
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and _is_internal(frame):
        frame = frame.f_back
    return frame


def remember_origin(owner: Any) -> None:
    """Note where `owner` (an engine) was first configured, for reports from its thread."""
    if owner in _origins:
        return
    frame = user_frame()
    if frame is not None:
        _origins[owner] = (frame.f_code.co_filename, frame.f_lineno)


def report(message: str, category: type = WatchtowerWarning, origin: Any = None) -> None:
    """Warn of `message` at the user's code; never raises, whatever the warning filters."""
    try:
        frame = user_frame()
        if frame is not None:
            filename, lineno = frame.f_code.co_filename, frame.f_lineno
            module = str(frame.f_globals.get("__name__"))
            registry = frame.f_globals.setdefault("__warningregistry__", {})
        else:
            where = _origins.get(origin) if origin is not None else None  # None: no weakref
            filename, lineno = where or ("<wt_adapters delivery thread>", 0)
            module, registry = "wt_adapters", None
        warnings.warn_explicit(message, category, filename, lineno, module, registry)
    except Exception:
        with contextlib.suppress(Exception):  # no stderr either: nothing is left to tell
            sys.stderr.write(f"wt_adapters: {category.__name__}: {message}\n")
