"""The package's threads never take a shutdown signal meant for the process.

The kernel hands a signal sent to the process to any thread that does not
block it, and Python runs the handler only on the main thread: a SIGTERM
taken by a sender thread while the main thread sleeps would wait for the
sleep to end (the SIGTERM-with-flush_on_sigterm child hung so, 4 times in
40 under load). tests/test_spool.py's SIGTERM tests run the whole path.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any, List, Mapping, Sequence, Set

import pytest

from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender
from wt_adapters._protocol import Event
from wt_adapters._settings import Settings
from wt_adapters._threads import SHUTDOWN_SIGNALS

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks"
)


class MaskReadingSender(MemorySender):
    """Notes the signal mask of the thread each batch is sent on."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: List[Set[int]] = []

    def put_log_events(
        self, group: str, stream: str, events: Sequence[Event], **kwargs: Any
    ) -> Mapping[str, Any]:
        self.masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        return super().put_log_events(group, stream, events, **kwargs)


def test_sender_and_spool_threads_block_the_shutdown_signals(tmp_path: Path) -> None:
    sender = MaskReadingSender()
    engine = build_engine(
        Settings(log_group_name="g", spool_dir=str(tmp_path), send_interval=0.05), sender
    )
    engine.submit("s", int(time.time() * 1000), "one")
    assert engine.flush(10)
    spool_threads = [t for t in threading.enumerate() if t.name == "wt_adapters:spool"]
    assert engine.close(10)
    assert sender.masks and all(SHUTDOWN_SIGNALS <= mask for mask in sender.masks)
    assert spool_threads  # started the same way (`_threads.start_thread`)
    # The caller's own mask is as it was.
    assert not SHUTDOWN_SIGNALS & set(signal.pthread_sigmask(signal.SIG_BLOCK, []))
