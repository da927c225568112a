"""The spool thread: a pass every ``spool_sync_interval`` or when woken, adoption on request."""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from typing import Callable, Iterator, Optional

from .._threads import start_thread, thread_state
from .adopt import Adopter


class SpoolThread:
    """The thread of one spool (one per writer: a forked child makes its own).

    The spool says what it does: `begin` once, as it starts (the writer's
    lock in a forked child); `look` at each wake-up, every ``interval``
    seconds or on `wake` (one pass: write, load back, adopt when due; False
    when the spool is closed or is the parent's copy, and the thread ends);
    `stopped` when the spool no longer works (closed, or off), which ends a
    wait for adoption. A look that raises is a bug: it is said on stderr with
    its traceback, and the thread goes on.
    """

    def __init__(
        self,
        directory: str,
        interval: float,
        adopter: Adopter,
        begin: Callable[[], None],
        look: Callable[[], bool],
        stopped: Callable[[], bool],
    ) -> None:
        self.directory = directory
        self.interval = interval
        self._adopter = adopter
        self._begin = begin
        self._look = look
        self._stopped = stopped
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, *, now: bool = False) -> None:
        """Start the thread; with `now`, its first look is at once rather than after an interval."""
        if now:
            self._wake.set()
        thread = threading.Thread(target=self._run, name="wt_adapters:spool", daemon=True)
        self._thread = thread
        start_thread(thread)

    def wake(self) -> None:
        """Have the thread look now instead of at its next interval."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Wake the thread to see that the spool is closed; wait up to `timeout` for it to end."""
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        thread_state.in_engine = True
        self._begin()
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                if not self._look():
                    return
            except Exception as e:  # a bug: say so, and go on
                self._adopter.give_up()
                _say_failed(self.directory, e)

    def adopt_now(self, timeout: float) -> bool:
        """Have the thread look for gone writers now; wait up to `timeout` for it."""
        wanted = self._adopter.ask()
        self._wake.set()
        return self._adopter.wait_for(wanted, timeout, self._stopped)

    def adopt_before_exit(self, timeout: float) -> None:
        """Look for gone writers now, unless the thread did already (or is not running)."""
        thread = self._thread
        if self._adopter.passes == 0 and thread is not None and thread.is_alive():
            self.adopt_now(timeout)


def _say_failed(directory: str, error: Exception) -> None:
    """Say on stderr that the spool thread's look failed (a bug), with the traceback."""
    with contextlib.suppress(Exception):
        sys.stderr.write(
            f"wt_adapters: the spool thread for {directory!r} failed: {error!r}\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__))
        )


@contextlib.contextmanager
def held(lock: threading.Lock, timeout: Optional[float]) -> Iterator[bool]:
    """Hold `lock` if it can be had within `timeout` (None: however long); yield whether it was."""
    had = lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout))
    try:
        yield had
    finally:
        if had:
            lock.release()
