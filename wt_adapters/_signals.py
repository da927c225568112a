"""`flush_on_sigterm`: deliver what is queued when the process gets SIGTERM.

SIGTERM is what `docker stop`, ECS and Kubernetes send before SIGKILL.
Python's default action for it ends the process at once: no ``atexit`` hook,
no ``finally`` block, so every event still queued is lost. The handler
installed here flushes every engine within a deadline, then does what
SIGTERM would have done without it: calls the handler installed before, or
ends the process by the signal (exit status 143), or, if SIGTERM was
ignored, goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Optional, Union

from . import _registry
from ._errors import WatchtowerError
from ._options import seconds
from ._threads import start_thread

#: How long the flush on SIGTERM may take by default (seconds): less than
#: docker stop's grace period (10 s), leaving the program time of its own.
DEFAULT_TIMEOUT = 5.0

_Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]

#: How often, and how long, the flushing thread signals the main thread to finish (seconds).
_WAKE_INTERVAL = 0.1
_WAKE_PATIENCE = 10.0
#: A SIGTERM this soon after the last wake-up signal is taken for that signal (seconds).
_LATE_WAKE = 0.25

_install_lock = threading.Lock()


class _FlushOnSigterm:
    """The SIGTERM handler: flush every engine, then do what the handler before it did."""

    def __init__(self, previous: _Handler, timeout: float) -> None:
        self.previous = previous
        self.timeout = timeout
        self._busy = False  # between a SIGTERM and the end of its handling
        self._round = 0  # which SIGTERM is being handled
        self._returned = False  # the handler has returned to the main thread's code
        self._last_wake = float("-inf")  # when the flushing thread last signalled the main thread

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        if self._busy:
            # Called again while a SIGTERM is being handled: the flush is over
            # and the main thread woken, or a second SIGTERM came during the
            # flush and need not wait any longer. Either way, finish now.
            self._busy = False
            self._finish(signum, frame)
            return
        if time.monotonic() - self._last_wake < _LATE_WAKE:
            return  # a wake-up signal that crossed the end of the last SIGTERM's handling
        # Python runs signal handlers on the main thread, between two of its
        # bytecodes: maybe inside a log call, or a flush, holding an engine's
        # lock. Flushing here could wait on that lock for ever; so the flush
        # runs on a thread of its own while the main thread goes on, and that
        # thread signals the main thread again once done, to finish.
        self._busy = True
        self._round += 1
        self._returned = False
        start_thread(
            threading.Thread(
                target=self._flush_then_wake,
                args=(self._round,),
                name="wt_adapters:sigterm",
                daemon=True,
            )
        )
        self._returned = True

    def _flush(self) -> None:
        if self.previous == signal.SIG_DFL:
            # The process ends next: what can't be delivered is counted and reported now.
            _registry.flush_before_exit(self.timeout)
        else:
            with contextlib.suppress(Exception):  # never fail the signal's own handling
                _registry.flush_all(self.timeout)

    def _flush_then_wake(self, round_: int) -> None:
        try:
            self._flush()
        finally:
            self._wake_main_thread(round_)

    def _wake_main_thread(self, round_: int) -> None:
        """Signal the main thread until it has finished handling SIGTERM number `round_`.

        A signal that comes while the handler still runs, or just before the
        main thread blocks in a system call again, is only noted: it is acted
        on when the main thread next runs Python code. So signal again, every
        `_WAKE_INTERVAL`, until it has been (for `_WAKE_PATIENCE` at most).
        """
        main = threading.main_thread().ident
        give_up = time.monotonic() + _WAKE_PATIENCE
        while self._busy and self._round == round_ and time.monotonic() < give_up:
            if not self._returned:
                time.sleep(0.001)
                continue
            self._last_wake = time.monotonic()
            with contextlib.suppress(OSError):  # the main thread is gone: exit is under way
                if main is not None and hasattr(signal, "pthread_kill"):
                    signal.pthread_kill(main, signal.SIGTERM)
                else:  # pragma: no cover - platforms without pthread_kill
                    os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(_WAKE_INTERVAL)

    def _finish(self, signum: int, frame: Optional[FrameType]) -> None:
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            # Still here: the default action did not end the process, as for the
            # first process of a PID namespace (a container's PID 1 without an
            # init), whose signals without a handler are ignored. End it as the
            # default action would have, as far as its parent can tell.
            os._exit(128 + signum)


def flush_on_sigterm(timeout: Optional[float] = None) -> None:
    """Flush every engine when the process gets SIGTERM, then end as SIGTERM would have.

    For containers: `docker stop`, ECS and Kubernetes send SIGTERM, and
    Python's default action for it ends the process without running
    ``atexit``, losing what is queued. On SIGTERM, the handler installed here
    has every engine of the process deliver what it holds, for up to
    `timeout` seconds (default `DEFAULT_TIMEOUT`), on a thread of its own
    while the program goes on; then it calls the SIGTERM handler that was
    installed before it, if any. If there was none, the process ends by
    SIGTERM (exit status 143), and what could not be delivered is reported
    first. If SIGTERM was ignored, it still is, after the flush. A second
    SIGTERM during the flush ends the wait.

    Process-wide; calling again only changes `timeout` (when given). Must be
    called from the main thread, where Python runs signal handlers; a
    handler installed later by other code (a server's, say) replaces this
    one unless it calls the one before it. Raises `WatchtowerError` from
    another thread, or if SIGTERM's handler was not installed from Python
    (it can't be called after the flush). `multiprocessing` children do
    without it: their parent ends them with SIGTERM only to stop them at
    once, and they flush when their target returns. The
    ``flush_on_sigterm=True`` option of every front end calls this.
    """
    if timeout is not None:
        timeout = seconds("timeout", timeout)
    if threading.current_thread() is not threading.main_thread():
        raise WatchtowerError(
            "flush_on_sigterm must be set up from the main thread (Python runs signal"
            f" handlers there only), not from thread {threading.current_thread().name!r}"
        )
    if _starting_multiprocessing_child():
        return  # see leave_sigterm_to_multiprocessing
    with _install_lock:
        current = signal.getsignal(signal.SIGTERM)
        if isinstance(current, _FlushOnSigterm):
            if timeout is not None:
                current.timeout = timeout
            return
        if current is None:
            raise WatchtowerError(
                "flush_on_sigterm: SIGTERM has a handler that was not installed from"
                " Python; it is left as it is"
            )
        handler = _FlushOnSigterm(current, DEFAULT_TIMEOUT if timeout is None else timeout)
        signal.signal(signal.SIGTERM, handler)


def sigterm_flush_installed() -> bool:
    """Tell whether SIGTERM's handler now is the one `flush_on_sigterm` installs."""
    return isinstance(signal.getsignal(signal.SIGTERM), _FlushOnSigterm)


def leave_sigterm_to_multiprocessing() -> None:
    """In a `multiprocessing` child, put back the SIGTERM handler that was there before ours.

    multiprocessing sends a child SIGTERM to stop it at once (``terminate()``,
    and ``Pool.__exit__``); a Python handler may only run once the child's
    main thread next runs Python code, which a child blocked on its task
    queue may never do, and its parent would wait for ever. A child flushes
    when its target returns instead (see `_registry`).
    """
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _FlushOnSigterm) and (
        threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGTERM, current.previous)


def _starting_multiprocessing_child() -> bool:
    """Tell whether this is a spawned `multiprocessing` child importing its parent's modules.

    multiprocessing sets ``_inheriting`` on the child's process object while
    it runs the parent's main module again (spawn and forkserver), before
    the child's own code.
    """
    process = sys.modules.get("multiprocessing.process")
    return process is not None and bool(getattr(process.current_process(), "_inheriting", False))
