"""Every engine of the process: sharing between front ends, flushing them all, exit and fork.

Front ends with the same client, log group and options share one engine
(`shared_engine`). At interpreter exit every engine delivers what it holds
within one deadline; in a forked child every engine starts afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

if TYPE_CHECKING:
    from ._engine import Engine

#: How long exit, and a front end's `close`, wait for delivery by default (seconds).
FLUSH_TIMEOUT = 30.0

_registry_lock = threading.Lock()
_registry: Dict[Any, Engine] = {}
_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def register(engine: Engine) -> None:
    """Count `engine` among the process's engines (for `flush_all`, exit and fork)."""
    _live_engines.add(engine)


def shared_engine(key: Any, settings: Any, make_engine: Callable[[], Engine]) -> Engine:
    """Return the open engine for (`key`, `settings`), making it with `make_engine()` if none."""
    with _registry_lock:
        engine = _registry.get((key, settings))
        if engine is None or engine.closed:
            engine = make_engine()
            _registry[(key, settings)] = engine
        return engine.acquire()


def forget(engine: Engine) -> None:
    """Stop handing `engine` out to new front ends (it is closing)."""
    with _registry_lock:
        for k, v in list(_registry.items()):
            if v is engine:
                del _registry[k]


def engines() -> List[Engine]:
    """Return every engine of this process that is not closed."""
    return [e for e in list(_live_engines) if not e.closed and e.owned_by_this_process]


def flush_all(timeout: Optional[float] = None) -> bool:
    """Flush every engine in the process within one shared deadline."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    for engine in engines():
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = engine.flush(left) and ok
    return ok


def _flush_all_at_exit() -> None:
    """Deliver what every engine holds, within `FLUSH_TIMEOUT` for all of them.

    Engines stay open: logging's own exit hook (and loguru's) run after this one
    and close their handlers and sinks, sending what was logged in between. An
    engine that could not deliver in time is closed now, which reports the loss.
    """
    deadline = time.monotonic() + FLUSH_TIMEOUT
    for engine in engines():
        with contextlib.suppress(Exception):  # never fail interpreter exit
            if not engine.flush(max(0.0, deadline - time.monotonic())):
                engine.close(0)


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for engine in list(_live_engines):
        engine._after_fork_in_child()


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
