"""What a full queue does with one more event: ``queue_overflow``'s three policies.

``drop_newest`` refuses it, ``drop_oldest`` drops the oldest pending events
until it fits, ``block`` waits up to ``queue_block_timeout`` for room (never
on one of the engine's own threads). Every event refused or dropped is
counted as ``queue_full``.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, Protocol

from .._ledger import Ledger
from .._settings import BLOCK, DROP_OLDEST, Settings
from .._threads import in_engine_call
from .handover import Handovers
from .streams import Stream


class FullQueue(Protocol):
    """What the policies need of the queue (`queue.Queue`)."""

    settings: Settings
    queued_events: int
    queued_bytes: int
    closed: bool
    done: threading.Condition
    ledger: Ledger
    streams: Dict[str, Stream]
    handovers: Handovers

    def press(self) -> None: ...

    def free(self, n: int, nbytes: int) -> None: ...


def make_room(queue: FullQueue, size: int) -> bool:
    """Apply the overflow policy to a full `queue` (lock held); True if the new event of
    `size` bytes may go in."""
    s = queue.settings
    queue.press()
    if s.queue_overflow == BLOCK and not in_engine_call():
        deadline = time.monotonic() + s.queue_block_timeout
        while queue.queued_events >= s.max_queue_events or (
            queue.queued_bytes + size > s.max_queue_bytes
        ):
            left = deadline - time.monotonic()
            if left <= 0 or queue.closed:
                break
            queue.done.wait(left)
        else:
            if not queue.closed:
                return True
            queue.ledger.drop("closed", 1)  # while it waited for room
            return False
    elif s.queue_overflow == DROP_OLDEST:
        while queue.queued_events >= s.max_queue_events or (
            queue.queued_bytes + size > s.max_queue_bytes
        ):
            victim = None
            for st in queue.streams.values():
                if st.pending and (victim is None or st.pending[0][0] < victim.pending[0][0]):
                    victim = st
            if victim is None:
                break  # all that is queued is in batches already taken
            old = victim.pending.popleft()
            if old[4] >= 0:
                queue.handovers.spool.settle([old[4]])
            victim.pending_bytes -= old[2]
            queue.free(1, old[2])
            victim.ledger.drop("queue_full", 1)
        else:
            return True
    queue.ledger.drop("queue_full", 1)
    return False
