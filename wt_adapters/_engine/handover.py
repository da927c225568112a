"""The engine's side of its disk spool: the events handed over, and the room left there."""

from __future__ import annotations

from typing import Iterable, List

from .._ports import NO_SPOOL, Durability, Handover, QueuedEvent
from .streams import Stream


class Handovers:
    """Events accepted since the spool thread last looked, for it to write (lock held).

    Each accepted event is numbered (`next_seq`) and appended here as long as
    the spool has room (`room`: ``spool_max_bytes`` less its files, when it
    last looked); with no spool, or once it is off, `room` is 0 and nothing is.
    """

    __slots__ = ("buf", "buf_bytes", "first_seq", "held", "left", "next_seq", "room", "spool",
                 "spooling")  # fmt: skip

    def __init__(self) -> None:
        #: The disk spool (``spool_dir``), shared with the process's other engines naming
        #: it; `NO_SPOOL` without one.
        self.spool: Durability = NO_SPOOL
        self.first_seq = 0
        #: Events left on disk by `close` for the next process, not counted as dropped.
        self.left = 0
        self.reset()

    def use(self, spool: Durability, first_seq: int) -> None:
        """Hand events to `spool` from now on, numbered from `first_seq`."""
        self.spool = spool
        self.first_seq = first_seq
        self.reset()

    def reset(self) -> None:
        spool = self.spool
        #: Whether events are handed to the spool: not without one, nor once it is off.
        self.spooling = spool.off is None
        self.buf: List[Handover] = []
        self.next_seq = self.first_seq
        #: Events in `buf` to be kept on disk only; bytes of all in it.
        self.held = 0
        self.buf_bytes = 0
        self.room = spool.max_bytes - spool.disk_bytes if self.spooling else 0

    def hold(self, stream: str, timestamp: int, message: str, size: int) -> bool:
        """Keep an event on disk only, the queue being full; False if no room there."""
        if self.buf_bytes + size > self.room:
            return False
        seq = self.next_seq
        self.next_seq = seq + 1
        self.buf.append(Handover(stream, QueuedEvent(timestamp, message, size, -1, seq), True))
        self.held += 1
        self.buf_bytes += size
        return True

    def collect(self, group: str) -> List[Handover]:
        """Give the spool what was handed over since it last looked, and look at its room."""
        buf = self.buf
        spool = self.spool
        if buf:
            self.buf = []
            spool.taken_over(group, self.held, self.buf_bytes)
            self.held = self.buf_bytes = 0
        if self.spooling:
            self.room = spool.max_bytes - spool.disk_bytes
        return buf

    def stop(self) -> List[Handover]:
        """Hand nothing more over (the spool is off); return what it had not taken."""
        buf, self.buf = self.buf, []
        self.spooling = False
        self.room = 0
        self.held = self.buf_bytes = 0
        return buf

    def disk_waiting(self, group: str) -> int:
        """Events of `group` kept on disk only (written, or about to be)."""
        return self.held + self.spool.disk_only(group)


def all_on_disk(streams: Iterable[Stream]) -> bool:
    """Whether every event the `streams` hold (pending, awaiting a resend, in flight) is
    on disk too."""
    return not any(
        any(e[4] < 0 for e in st.pending)
        or any(e[4] < 0 for b in (*st.ready, *st.in_flight) for e in b.events)
        for st in streams
    )
