"""This writer's segment files: what each holds, writing runs and marks, sealing and deleting.

Per writer (one process: host, pid and a random part) the directory holds
``WRITER.lock``, held with ``fcntl.flock`` while the writer lives (a lock
nobody holds means the writer is gone and its segments may be adopted), and
``WRITER.NNNNNN.seg`` segment files, sealed (fsynced, no more runs) at
`SEGMENT_BYTES` or `SEGMENT_SECONDS`; a sealed segment whose events are all
settled (sent, or refused for good) is deleted.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import operator
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

from .._ports import Handover
from .format import (
    ACKED,
    KEY_SHIFT,
    dumps,
    encode_header,
    encode_record,
    encode_rows,
    lock_name,
    ranges,
    segment_name,
    write_all,
    writer_id,
)
from .state import DISK_ONLY, IN_MEMORY, SETTLED, Keys, Range, Segment

#: A segment is sealed (and a new one begun) past this many bytes...
SEGMENT_BYTES = 4 * 1024 * 1024
#: ... or once it is this old (seconds), so that settled segments go soon.
SEGMENT_SECONDS = 5.0
#: Message bytes per run record, at most (a longer sync is written as several runs).
RUN_BYTES = 1024 * 1024

_SIZE = operator.itemgetter(2)
#: A "sending" or "acked" mark: its kind and sequence numbers.
Mark = Tuple[bytes, List[int]]


class SegmentWriter:
    """This process's segment files in one directory (the spool's io lock guards it).

    Each writing method returns the bytes it added to the files (or freed), for
    the spool's running estimate of its disk use.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.writer = writer_id()
        self.segments: List[Segment] = []
        #: Per key: the first sequence number of its range in each segment, and those segments.
        self._index: Dict[int, Tuple[List[int], List[Segment]]] = {}
        self._current: Optional[Segment] = None
        self._next_number = 0
        self._lock_fd = -1
        self._fsynced_at = time.monotonic()
        #: Events settled whose "acked" mark never reached their segment, left at close:
        #: the next start sends them again.
        self.unmarked_left = 0

    # ------------------------------------------------------------ the lock

    @property
    def has_lock(self) -> bool:
        return self._lock_fd >= 0

    def take_lock(self) -> None:
        """Become this directory's writer (raises OSError if the lock can't be had).

        The lock file is made and locked under a name no one looks for, then
        renamed to its own: a lock file that can be locked is a gone writer's
        (`adopt`), so a live writer's must never be seen unlocked. Seen between
        its creation and its lock, it was unlinked as a gone writer's, and the
        live writer's segments were adopted and sent a second time.
        """
        import fcntl

        path = os.path.join(self.directory, lock_name(self.writer))
        making = os.path.join(self.directory, f".{lock_name(self.writer)}.new")
        fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(making, path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(making)
            raise
        self._lock_fd = fd

    def close_files(self, *, remove_lock: bool) -> None:
        """Close every file; delete the lock file too when asked and no segment is left."""
        for seg in self.segments:
            if seg.fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(seg.fd)
                seg.fd = -1
        if self._lock_fd >= 0:
            if remove_lock and not self.segments:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, lock_name(self.writer)))
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------ writing

    def write_run(self, key: int, group: str, buf: List[Handover]) -> int:
        """Write one source's handed-over events."""
        first = buf[0].event.seq
        added = 0
        seg = self._current
        if seg is not None:
            r = seg.ranges.get(key)
            if r is not None and r.start + len(r.state) != first:
                self.seal(seg)  # not where this key's events left off (a switch-off between)
                seg = None
        if seg is None:
            seg = self._open_segment()
            added += seg.nbytes
        r = seg.ranges.get(key)
        if r is None:
            r = seg.ranges[key] = Range(first)
            starts, segs = self._index.setdefault(key, ([], []))
            starts.append(first)
            segs.append(seg)
        # Column by column, so that most of the work is done in C.
        stream_column = [h.stream for h in buf]
        items = [h.event for h in buf]
        n = len(items)
        names = list(dict.fromkeys(stream_column))
        if len(names) == 1:
            rows = [(0, item[0], item[1]) for item in items]
        else:
            index = {name: i for i, name in enumerate(names)}
            rows = [(index[s], item[0], item[1]) for s, item in zip(stream_column, items)]
        ends = list(itertools.accumulate(map(_SIZE, items)))
        records = []
        start = 0
        while start < n:  # runs of about RUN_BYTES each
            end = bisect.bisect_left(ends, ends[start] - _SIZE(items[start]) + RUN_BYTES, start)
            end = min(n, max(end, start) + 1)
            records.append(encode_rows(first + start, group, names, rows[start:end]))
            start = end
        data = b"".join(records)
        write_all(seg.fd, data)
        state = r.state
        if any(h.disk_only for h in buf):
            before = len(state)
            state.extend(DISK_ONLY if h.disk_only else IN_MEMORY for h in buf)
            held = state.count(DISK_ONLY, before)
            seg.disk_only[group] = seg.disk_only.get(group, 0) + held
        else:
            state.extend(bytes(n))  # all IN_MEMORY
        seg.nbytes += len(data)
        seg.unsettled += n
        seg.dirty = True
        return added + len(data)

    def _open_segment(self) -> Segment:
        number = self._next_number
        self._next_number += 1
        path = os.path.join(self.directory, segment_name(self.writer, number))
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)  # O_NONBLOCK: a FIFO there fails instead of waiting
        seg = Segment(number, path, fd)
        data = encode_header(self.writer)
        write_all(fd, data)
        seg.nbytes = len(data)
        self.segments.append(seg)
        self._current = seg
        return seg

    def _find(self, seq: int) -> Optional[Tuple[Segment, int, bytearray]]:
        """The segment holding event `seq`, its index there and its range's states."""
        found = self._index.get(seq >> KEY_SHIFT)
        if found is None:
            return None
        starts, segs = found
        i = bisect.bisect_right(starts, seq) - 1
        if i < 0:
            return None
        seg = segs[i]
        r = seg.ranges[seq >> KEY_SHIFT]
        offset = seq - r.start
        return (seg, offset, r.state) if offset < len(r.state) else None

    def write_marks(self, marks: List[Tuple[bytes, List[int]]]) -> int:
        """Apply and write "sending" and "acked" marks, range by range.

        They are applied even if a write fails (raising OSError after the rest
        are tried): the "acked" ones not written are tried again by `retry_unmarked`.
        """
        by_segment: Dict[Tuple[int, bytes], Tuple[Segment, List[List[int]]]] = {}
        for kind, seqs in marks:
            for first, count in ranges(seqs):
                while count > 0:
                    found = self._find(first)
                    if found is None:
                        first, count = first + 1, count - 1
                        continue
                    seg, i, state = found
                    take = min(count, len(state) - i)
                    if kind == ACKED:
                        chunk = state[i : i + take]
                        settled = chunk.count(SETTLED)
                        if settled == take:
                            first, count = first + take, count - take
                            continue
                        seg.unsettled -= take - settled
                        state[i : i + take] = b"\x01" * take
                    key = (seg.number, kind)
                    if key not in by_segment:
                        by_segment[key] = (seg, [])
                    by_segment[key][1].append([first, take])
                    first, count = first + take, count - take
        added = 0
        failed: Optional[OSError] = None
        for (_, kind), (seg, found_ranges) in by_segment.items():
            try:
                added += self._write_mark(seg, kind, found_ranges)
            except OSError as e:
                failed = e
                if kind == ACKED:
                    seg.unmarked.extend(found_ranges)
        if failed is not None:
            raise failed
        return added

    def _write_mark(self, seg: Segment, kind: bytes, found: List[List[int]]) -> int:
        if seg.fd < 0:
            return 0  # deleted meanwhile
        data = encode_record(kind + dumps(found))
        write_all(seg.fd, data)
        seg.nbytes += len(data)
        return len(data)

    def retry_unmarked(self) -> None:
        """Write the "acked" marks that could not be written, where the disk lets now."""
        for seg in self.segments:
            if seg.unmarked and seg.unsettled:  # one all settled is deleted: no mark needed
                with contextlib.suppress(OSError):
                    self._write_mark(seg, ACKED, seg.unmarked)
                    seg.unmarked = []

    def settle_off(
        self, marks: List[Tuple[bytes, List[int]]], put_away: Callable[[str], None]
    ) -> None:
        """Once the spool is off: apply `marks`, write them where the disk lets, and delete
        (or `put_away`) the segments all settled, so that the next start sends none again."""
        with contextlib.suppress(OSError):  # applied in memory even if not written
            self.write_marks(marks)
        self.retry_unmarked()
        self.delete_settled(put_away)

    def close_out(self, put_away: Callable[[str], None]) -> None:
        """At close: seal, delete (or `put_away`) what is settled, and count the settled
        events whose segment stays without their "acked" mark (the next start sends them)."""
        self.seal_if_due(now=True)
        self.delete_settled(put_away)
        self.unmarked_left += sum(
            count for seg in self.segments if seg.unsettled for _, count in seg.unmarked
        )

    # ------------------------------------------------------ sealing, deleting

    def seal_if_due(self, *, now: bool = False) -> None:
        """Seal the current segment if asked to, or if it is full or old."""
        current = self._current
        if current is not None and (
            now
            or current.nbytes >= SEGMENT_BYTES
            or time.monotonic() - current.opened >= SEGMENT_SECONDS
        ):
            self.seal(current)

    def seal(self, seg: Segment) -> None:
        with contextlib.suppress(OSError):
            self._fsync(seg)
        seg.sealed = True
        if self._current is seg:
            self._current = None

    def fsync_current(self) -> None:
        """Have the current segment on disk now (raises OSError)."""
        if self._current is not None:
            self._fsync(self._current)

    def fsync_if_due(self, interval: float) -> None:
        """Fsync the current segment if events were written to it since the last fsync
        and `interval` seconds have passed since then (the spool thread)."""
        seg = self._current
        if seg is not None and seg.dirty and time.monotonic() - self._fsynced_at >= interval:
            with contextlib.suppress(OSError):  # as at seal: the next write says if the disk failed
                self._fsync(seg)

    def _fsync(self, seg: Segment) -> None:
        """Have `seg`'s bytes on disk, and its name with the first time (raises OSError)."""
        self._fsynced_at = time.monotonic()
        os.fsync(seg.fd)
        seg.dirty = False
        if not seg.named:
            fd = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            seg.named = True

    def delete_settled(self, put_away: Callable[[str], None] = os.unlink) -> int:
        """Delete the sealed segments whose events are all settled; return the bytes freed.

        A damaged one (`Segment.damaged`) is handed to `put_away` instead.
        """
        done = [s for s in self.segments if s.sealed and s.unsettled == 0]
        if not done:
            return 0
        freed = 0
        for seg in done:
            if seg.fd >= 0:
                os.close(seg.fd)
                seg.fd = -1
            if seg.damaged:
                put_away(seg.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(seg.path)
            freed += seg.nbytes
        gone = {id(s) for s in done}
        self.segments = [s for s in self.segments if id(s) not in gone]
        for key, (_, segs) in list(self._index.items()):
            kept = [s for s in segs if id(s) not in gone]
            if not kept:
                del self._index[key]
            elif len(kept) != len(segs):
                self._index[key] = ([s.ranges[key].start for s in kept], kept)
        return freed

    # ------------------------------------------------------------- figures

    def unsettled(self) -> int:
        return sum(s.unsettled for s in self.segments)

    def waiting(self, keys: Keys) -> Dict[str, int]:
        """Events on disk, by log group, that are not settled."""
        counts: Dict[str, int] = {}
        for seg in self.segments:
            for key, r in seg.ranges.items():
                n = len(r.state) - r.state.count(SETTLED)
                if n:
                    group = keys.group(key)
                    counts[group] = counts.get(group, 0) + n
        return counts
