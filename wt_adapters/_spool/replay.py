"""Events kept on disk only (an engine's memory was full), read back into engines as they drain."""

from __future__ import annotations

import threading
from typing import Callable, ContextManager, Dict, Iterable, List, Optional, Tuple

from .._errors import WatchtowerWarning
from .._ports import Handover, LoadedEvent, SpoolClient
from .._report import report
from .._rules import EVENT_OVERHEAD
from .damage import Damage
from .format import SegmentContents, parse_segment, read_file
from .segments import SegmentWriter
from .state import Keys, Segment

#: How many disk-only events are loaded back into an engine at once, at most.
LOAD_BATCH = 50_000

#: The engine for a log group's events, or None when there is none (any more).
EngineFor = Callable[[str], Optional[SpoolClient]]


class DiskOnly:
    """How many events of each log group wait on disk only (written, or being written)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[str, int] = {}

    def add(self, group: str, n: int) -> None:
        """Count `n` more (or fewer) events of `group` on disk only."""
        with self._lock:
            self._counts[group] = self._counts.get(group, 0) + n

    def of(self, group: str) -> int:
        return self._counts.get(group, 0)

    def total(self) -> int:
        return sum(self._counts.values())

    def waiting(self) -> List[Tuple[str, int]]:
        with self._lock:
            return list(self._counts.items())


def in_memory_only(h: Handover) -> LoadedEvent:
    """An event that was to be on disk only, for its engine to keep in memory instead."""
    return LoadedEvent(h.stream, h.event.timestamp, h.event.message, -1)


def give_back(
    unwritten: Iterable[Tuple[str, List[Handover]]], engine_for: EngineFor, disk_only: DiskOnly
) -> None:
    """Hand events that were to be on disk only back to their group's engine, to keep in memory."""
    by_group: Dict[str, List[LoadedEvent]] = {}
    for group, buf in unwritten:
        for h in buf:
            if h.disk_only:
                by_group.setdefault(group, []).append(in_memory_only(h))
    for group, events in by_group.items():
        target = engine_for(group)
        if target is not None:
            target.take_back(events)
        disk_only.add(group, -len(events))


class Replay:
    """Reads disk-only events back from this writer's segments for their engines."""

    def __init__(
        self, writer: SegmentWriter, keys: Keys, disk_only: DiskOnly, damage: Damage
    ) -> None:
        self._writer = writer
        self._keys = keys
        self._disk_only = disk_only
        #: Segments that could not be read back in full are counted there (once each).
        self._damage = damage

    def load_back(
        self, engine_for: EngineFor, io: ContextManager[object], working: Callable[[], bool]
    ) -> None:
        """Hand disk-only events to their group's engine, oldest first, as its memory has room.

        `io` is the spool's io lock; `working` says whether the spool still uses the disk.
        """
        for group, waiting in self._disk_only.waiting():
            if waiting <= 0:
                continue
            engine = engine_for(group)
            if engine is None:
                continue
            room, room_bytes = engine.room()
            room = min(room, LOAD_BATCH)
            # Loaded once half the queue is free (or all that waits fits), not event by event.
            half = engine.half_queue()
            if room < min(waiting, half[0]) or room_bytes < half[1]:
                continue
            with io:
                if not working():
                    return
                events = self.read_back(group, room, room_bytes // 2)
            if events:
                engine.take_back(events)
                # Counted down only now, so that a flush sees them either here or there.
                self._disk_only.add(group, -len(events))

    def read_back(self, group: str, room: int, room_bytes: int) -> List[LoadedEvent]:
        """Read up to `room` disk-only events (`room_bytes`) of `group` back, oldest first.

        The io lock is held.
        """
        loaded: List[LoadedEvent] = []
        nbytes = 0
        for seg in self._writer.segments:
            if len(loaded) >= room or nbytes >= room_bytes:
                break
            if not seg.disk_only.get(group):
                continue
            data = read_file(seg.path)
            contents = parse_segment(data or b"")
            for seq in sorted(contents.events):
                if len(loaded) >= room or nbytes >= room_bytes:
                    break
                g, stream, timestamp, message = contents.events[seq]
                if g != group or not seg.take_back(seq, group):
                    continue
                nbytes += len(message) + EVENT_OVERHEAD
                loaded.append(LoadedEvent(stream, timestamp, message, seq))
            if contents.damaged or data is None:
                self._lose_unreadable(seg, contents)
        return loaded

    def _lose_unreadable(self, seg: Segment, contents: SegmentContents) -> None:
        """What can't be read back is lost: settle it, so that the segment can go."""
        seg.damaged = True  # moved aside, not deleted, once settled
        self._damage.found(seg.path, contents, len(contents.events))
        lost = seg.settle_missing(contents.events, self._keys)
        for group, n in lost.items():
            self._disk_only.add(group, -n)
            report(
                f"wt_adapters lost {n} events of log group {group!r} kept on disk only:"
                f" a segment in spool_dir={self._writer.directory!r} could not be read back",
                WatchtowerWarning,
            )
