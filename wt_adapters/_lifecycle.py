"""The process's hooks: interpreter exit, `multiprocessing` children, and fork.

At interpreter exit every engine delivers what it holds within one deadline,
before logging's and loguru's own exit hooks run, whatever the import order;
so does a `multiprocessing` child when its target returns. A fork runs the
package's one hook (`_forks`), its steps in a fixed order: before it, the
engines' sender threads are quieted; in the child, the engines, then the
spools, then the stream-name caches start afresh (taking no lock).
"""

from __future__ import annotations

import atexit
import contextlib

# Imported before our exit hook is registered, so that logging's own hook
# (`logging.shutdown`, registered when logging is first imported) runs after
# ours: atexit runs hooks last-registered first.
import logging  # noqa: F401
import sys
import time
from typing import List

from . import _registry, _signals, _spool
from ._forks import ENGINES, SPOOLS, on_fork
from ._ports import ManagedEngine
from ._registry import FLUSH_TIMEOUT


def register(engine: ManagedEngine) -> None:
    """Count `engine` among the process's engines, and keep the exit hook first."""
    _registry.register(engine)
    _keep_exit_hook_first()
    _hook_multiprocessing()


def _flush_all_at_exit() -> None:
    """The exit hook: deliver what every engine holds within `FLUSH_TIMEOUT` for all.

    Then every disk spool writes what it was handed and tidies up: what was
    not delivered waits there for the next start, and was reported as such.
    """
    _registry.flush_before_exit(FLUSH_TIMEOUT)
    with contextlib.suppress(Exception):  # never fail interpreter exit
        _spool.close_all()


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
    _signals.leave_sigterm_to_multiprocessing()


#: Longest a fork waits for sender threads to finish the request they are making (seconds).
FORK_PAUSE = 0.5
_paused: List[ManagedEngine] = []


def _before_fork() -> None:
    """Quiet every engine's sender threads, so that the child inherits no lock held mid-way."""
    deadline = time.monotonic() + FORK_PAUSE
    for engine in _registry.engines():
        engine.pause_for_fork(deadline)
        _paused.append(engine)


def _after_fork_in_parent() -> None:
    while _paused:
        _paused.pop().resume_after_fork()


def _after_fork_in_child() -> None:
    """The engines start afresh in the child, taking no lock: it replaces them."""
    _paused.clear()
    _registry.after_fork_in_child()
    _hook_multiprocessing()


atexit.register(_flush_all_at_exit)
_hook_multiprocessing()
on_fork(
    ENGINES,
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
on_fork(SPOOLS, after_in_child=_spool.after_fork_in_child)
