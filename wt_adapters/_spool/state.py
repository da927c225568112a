"""What this writer keeps in memory of its segments: the sources' keys, each event's state."""

from __future__ import annotations

import threading
import time
from typing import Container, Dict, List

from .format import KEY_SHIFT

#: A segment event's state in memory.
IN_MEMORY, SETTLED, DISK_ONLY = 0, 1, 2


class Keys:
    """The keys of the spool's event sources (engines, adopted log groups), and each one's group."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 1
        self._groups: Dict[int, str] = {}

    def new(self, group: str) -> int:
        with self._lock:
            key = self._next
            self._next += 1
            self._groups[key] = group
            return key

    def group(self, key: int) -> str:
        return self._groups[key]

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


class Range:
    """One source's events in a segment: consecutive sequence numbers from `start`."""

    __slots__ = ("start", "state")

    def __init__(self, start: int) -> None:
        self.start = start
        #: One byte per event: in memory, settled, or on disk only.
        self.state = bytearray()


class Segment:
    """One of this writer's segment files, and the state of each of its events."""

    __slots__ = ("damaged", "dirty", "disk_only", "fd", "named", "nbytes", "number", "opened",
                 "path", "ranges", "sealed", "unmarked", "unsettled")  # fmt: skip

    def __init__(self, number: int, path: str, fd: int) -> None:
        self.number = number
        self.path = path
        self.fd = fd
        self.nbytes = 0
        #: Each source's events here, by its key (a sequence number's top bits).
        self.ranges: Dict[int, Range] = {}
        self.unsettled = 0
        #: Events on disk only, per log group.
        self.disk_only: Dict[str, int] = {}
        self.opened = time.monotonic()
        self.sealed = False
        #: Events written since its last fsync; whether its name is on disk (the directory synced).
        self.dirty = False
        self.named = False
        #: Some of it could not be read back: moved aside rather than deleted.
        self.damaged = False
        #: (first, count) ranges settled whose "acked" mark could not be written yet.
        self.unmarked: List[List[int]] = []

    def take_back(self, seq: int, group: str) -> bool:
        """Mark disk-only event `seq` (of `group`) as in memory again; False if it isn't one."""
        r = self.ranges.get(seq >> KEY_SHIFT)
        if r is None:
            return False
        i = seq - r.start
        if not 0 <= i < len(r.state) or r.state[i] != DISK_ONLY:
            return False
        r.state[i] = IN_MEMORY
        self.disk_only[group] -= 1
        return True

    def settle_missing(self, present: Container[int], keys: Keys) -> Dict[str, int]:
        """Settle the disk-only events not in `present` (unreadable); return how many, by group."""
        lost: Dict[str, int] = {}
        for key, r in self.ranges.items():
            group = keys.group(key)
            for i, state in enumerate(r.state):
                if state == DISK_ONLY and r.start + i not in present:
                    r.state[i] = SETTLED
                    self.unsettled -= 1
                    self.disk_only[group] -= 1
                    lost[group] = lost.get(group, 0) + 1
        return lost
