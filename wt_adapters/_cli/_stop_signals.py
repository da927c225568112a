"""`wt-adapters pipe` and `local` stop on SIGINT and SIGTERM, unless the process ignores them.

A shell starts a background job (``cmd &``, no job control) with SIGINT
ignored, so that a Ctrl-C meant for the foreground does not end it; a signal
ignored when the command starts stays ignored, as Python itself leaves an
ignored SIGINT alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Iterator, Optional


class Stop:
    """Set by SIGINT/SIGTERM: stop reading (or serving), then flush and report."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: Optional[str] = None

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        self.signal = signal.Signals(signum).name
        self.event.set()


@contextlib.contextmanager
def stop_on_signals(stop: Stop) -> Iterator[None]:
    """Have SIGINT and SIGTERM set `stop` inside the block (where this thread can)."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no SIGTERM
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
