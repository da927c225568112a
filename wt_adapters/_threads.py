"""Per-thread state shared by the engine and every front end."""

from __future__ import annotations

import signal
import threading


class _ThreadState(threading.local):
    """Per-thread flags, read on every log call (class defaults keep the reads cheap)."""

    #: True on the engine's worker thread and during a synchronous send.
    in_engine = False
    #: How many front-end calls are under way on this thread (a record logged while
    #: formatting another, say by a custom serializer, nests).
    depth = 0


thread_state = _ThreadState()

#: How deep log calls made while a front end handles another (say, by a custom
#: serializer that logs) may nest on one thread before they are dropped.
MAX_NESTING = 2


def in_engine_call() -> bool:
    """Tell whether this thread is inside the engine (its worker, or a synchronous send).

    Front ends drop log records made there (botocore's, urllib3's, a custom
    serializer's) so that delivering logs never logs into itself.
    """
    return thread_state.in_engine


#: Signals the package's own threads never take. The kernel hands a signal sent to the
#: process to any thread that does not block it, and Python runs the handler only on
#: the main thread, when it next runs Python code: taken by a thread of ours while the
#: main thread sleeps in a system call (`time.sleep(60)`, a socket read), a SIGTERM's
#: handler would wait for that call to end. Blocked here, the kernel picks another.
SHUTDOWN_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def start_thread(thread: threading.Thread) -> None:
    """Start one of the package's threads with `SHUTDOWN_SIGNALS` blocked in it.

    The mask is set on the calling thread around the start (a new thread
    inherits it), so the new thread never runs a moment unblocked; a signal
    arriving meanwhile waits, pending, until the caller's mask is restored.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # pragma: no cover - platforms without POSIX signal masks
        thread.start()
        return
    previous = mask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    try:
        thread.start()
    finally:
        mask(signal.SIG_SETMASK, previous)
