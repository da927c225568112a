"""Every engine of the process: sharing between front ends, flushing them all, exit and fork.

Front ends with the same client, log group and options share one engine
(`shared_engine`). At interpreter exit every engine delivers what it holds
within one deadline, before logging's and loguru's own exit hooks run,
whatever the import order; so does a `multiprocessing` child when its target
returns. In a forked child every engine starts afresh.
"""

from __future__ import annotations

import atexit
import contextlib

# Imported before our exit hook is registered, so that logging's own hook
# (`logging.shutdown`, registered when logging is first imported) runs after
# ours: atexit runs hooks last-registered first.
import logging  # noqa: F401
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

if TYPE_CHECKING:
    from ._engine import Engine

#: How long exit, and a front end's `close`, wait for delivery by default (seconds).
FLUSH_TIMEOUT = 30.0
#: How long exit and `flush_after` wait once delivery has proved impossible (no
#: credentials, access denied, no endpoint to connect to), out of their deadline.
EXIT_GRACE = 3.0

_registry_lock = threading.Lock()
_registry: Dict[Any, Engine] = {}
_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def register(engine: Engine) -> None:
    """Count `engine` among the process's engines (for `flush_all`, exit and fork)."""
    _live_engines.add(engine)
    _keep_exit_hook_first()
    _hook_multiprocessing()


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
    spool = sys.modules.get(f"{__package__}._spool")
    if spool is not None:  # what a gone process left in a spool is sent now too
        with contextlib.suppress(Exception):
            spool.adopt_before_exit(min(timeout, EXIT_GRACE))
    for engine in engines():
        with contextlib.suppress(Exception):  # never fail interpreter exit
            if not engine.flush(max(0.0, deadline - time.monotonic()), grace=EXIT_GRACE):
                ok = False
                engine.close(0)
            else:  # with metrics_interval, the counts since the last metrics event
                engine.deliver_last_metrics(max(0.0, deadline - time.monotonic()), grace=EXIT_GRACE)
    if spool is not None:  # settled events are off the disk now, even if SIGTERM ends us next
        with contextlib.suppress(Exception):
            spool.sync_all()
    return ok


def _flush_all_at_exit() -> None:
    """The exit hook: deliver what every engine holds within `FLUSH_TIMEOUT` for all.

    Then every disk spool writes what it was handed and tidies up: what was
    not delivered waits there for the next start, and was reported as such.
    """
    flush_before_exit(FLUSH_TIMEOUT)
    spool = sys.modules.get(f"{__package__}._spool")
    if spool is not None:
        with contextlib.suppress(Exception):  # never fail interpreter exit
            spool.close_all()


def _keep_exit_hook_first() -> None:
    """Register the exit hook again, so that it runs before every hook registered so far.

    Called whenever an engine is made: a framework imported after
    wt_adapters (loguru registers ``logger.remove`` at import) would
    otherwise close its sinks first, each with a deadline of its own.
    """
    atexit.unregister(_flush_all_at_exit)
    atexit.register(_flush_all_at_exit)


class _Token:
    """A weakly referenced object that multiprocessing's after-fork registry is keyed on."""


_MP_TOKEN = _Token()
_mp_hooked = False


def _hook_multiprocessing() -> None:
    """Have every `multiprocessing` child flush when its target returns.

    Such a child ends with ``os._exit()``, which skips atexit, after running
    multiprocessing's own finalizers. `multiprocessing.util.register_after_fork`
    runs `_flush_in_child` as every child starts (fork, forkserver or spawn),
    and that registers the flush as a finalizer there. Nothing is done until
    multiprocessing is imported: this is called again from every new engine
    and from the fork hook (a fork child of a process that uses
    multiprocessing), and a spawned child imports multiprocessing first.
    """
    global _mp_hooked
    util = sys.modules.get("multiprocessing.util")
    if _mp_hooked or util is None:
        return
    _mp_hooked = True
    util.register_after_fork(_MP_TOKEN, _flush_in_child)


def _flush_in_child(_token: _Token) -> None:
    from multiprocessing.util import Finalize

    # Priority 100: ahead of multiprocessing's own finalizers (queues' feeder
    # threads at 10 and -5), while the child still works as it did.
    Finalize(None, _flush_all_at_exit, exitpriority=100)
    signals = sys.modules.get(f"{__package__}._signals")
    if signals is not None:
        signals.leave_sigterm_to_multiprocessing()


#: Longest a fork waits for sender threads to finish the request they are making (seconds).
FORK_PAUSE = 0.5
_paused: List[Engine] = []


def _before_fork() -> None:
    """Quiet every engine's sender threads, so that the child inherits no lock held mid-way."""
    deadline = time.monotonic() + FORK_PAUSE
    for engine in list(_live_engines):
        if engine.owned_by_this_process and not engine.closed:
            engine._pause_for_fork(deadline)
            _paused.append(engine)


def _after_fork_in_parent() -> None:
    while _paused:
        _paused.pop()._resume_after_fork()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    _paused.clear()
    for engine in list(_live_engines):
        engine._after_fork_in_child()
    _hook_multiprocessing()


atexit.register(_flush_all_at_exit)
_hook_multiprocessing()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
