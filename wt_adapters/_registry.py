"""Every engine of the process: sharing between front ends, and flushing them all.

Front ends with the same client, log group and options share one engine
(`shared_engine`). `flush_before_exit` has every engine deliver what it holds
within one deadline; the process's hooks (`_lifecycle`: exit, fork,
multiprocessing) and SIGTERM (`_signals`) call it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, TypeVar

from . import _spool
from ._ports import ManagedEngine

#: How long exit, and a front end's `close`, wait for delivery by default (seconds).
FLUSH_TIMEOUT = 30.0
#: How long exit, `flush_after` and a front end's `flush()` and `close()` (given no
#: timeout) wait once delivery has proved impossible (credentials refused, no endpoint
#: to connect to), counted from the first failure of any engine sending to the same
#: endpoint, out of their deadline. 3 s: long enough for several attempts with the
#: retry policy's backoff (0.2, 0.4, 0.8, 1.6 s) to fail one after the other, short
#: enough to leave most of `docker stop`'s 10 s to the program.
EXIT_GRACE = 3.0
#: The stall window of a front end's `flush()` and `close()` given no timeout.
STALL_WINDOW = EXIT_GRACE


class _DefaultTimeout(float):
    """`FLUSH_TIMEOUT`, as the default of a front end's `flush` and `close`: given no
    timeout, they also stop once delivery has stalled for `STALL_WINDOW`."""

    __slots__ = ()


#: The default timeout of the front ends' `flush` and `close` (equal to `FLUSH_TIMEOUT`).
FLUSH_DEFAULT: float = _DefaultTimeout(FLUSH_TIMEOUT)


def wait_for(timeout: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    """The (timeout, grace) a front end's `flush(timeout)` or `close(timeout)` waits with."""
    if isinstance(timeout, _DefaultTimeout):
        return float(timeout), STALL_WINDOW
    return timeout, None

_registry_lock = threading.Lock()
_registry: Dict[Any, ManagedEngine] = {}
_live_engines: weakref.WeakSet[ManagedEngine] = weakref.WeakSet()

E = TypeVar("E", bound=ManagedEngine)


def register(engine: ManagedEngine) -> None:
    """Count `engine` among the process's engines (for `flush_all`, exit and fork)."""
    _live_engines.add(engine)


def shared_engine(key: Any, settings: Any, make_engine: Callable[[], E]) -> E:
    """Return the open engine for (`key`, `settings`), making it with `make_engine()` if none."""
    with _registry_lock:
        engine = _registry.get((key, settings))
        if engine is None or engine.closed:
            engine = make_engine()
            _registry[(key, settings)] = engine
        engine.acquire()
        return engine  # type: ignore[return-value]  # what make_engine made for this key


def forget(engine: ManagedEngine) -> None:
    """Stop handing `engine` out to new front ends (it is closing)."""
    with _registry_lock:
        for k, v in list(_registry.items()):
            if v is engine:
                del _registry[k]


def engines() -> List[ManagedEngine]:
    """Return every engine of this process that is not closed."""
    return [e for e in list(_live_engines) if not e.closed and e.owned_by_this_process]


def flush_all(timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool:
    """Flush every engine in the process within one shared deadline (see `Engine.flush`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    for engine in engines():
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = engine.flush(left, grace=grace) and ok
    return ok


def flush_before_exit(timeout: float) -> bool:
    """Deliver what every engine holds within `timeout` seconds for all; never raises.

    Engines stay open, for records logged after this (by logging's and
    loguru's exit hooks, which close handlers and sinks). An engine that could
    not deliver in time is closed now, which counts and reports the loss (or,
    with a disk spool, how many events wait on disk for the next start).
    Returns whether everything was delivered.
    """
    deadline = time.monotonic() + timeout
    ok = True
    with contextlib.suppress(Exception):  # what a gone process left in a spool is sent now too
        _spool.adopt_before_exit(min(timeout, EXIT_GRACE))
    for engine in engines():
        with contextlib.suppress(Exception):  # never fail interpreter exit
            if not engine.flush(max(0.0, deadline - time.monotonic()), grace=EXIT_GRACE):
                ok = False
                engine.close(0)
            else:  # with metrics_interval, the counts since the last metrics event
                engine.deliver_last_metrics(max(0.0, deadline - time.monotonic()), grace=EXIT_GRACE)
    with contextlib.suppress(Exception):  # settled events are off the disk now, even if
        _spool.sync_all()  # SIGTERM ends us next
    return ok


def after_fork_in_child() -> None:
    """In a forked child: every engine starts afresh (from the process's one at-fork hook)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    for engine in list(_live_engines):
        engine.after_fork_in_child()
