"""`wt-adapters pipe` stops on SIGINT and SIGTERM: reading ends, then what was read is flushed."""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Iterator, Optional


class Stop:
    """Set by SIGINT/SIGTERM: stop reading, then flush and report."""

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
            previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
