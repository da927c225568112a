"""Per-thread state shared by the engine and every front end."""

from __future__ import annotations

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
