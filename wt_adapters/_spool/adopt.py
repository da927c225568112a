"""Adoption: a live writer takes over the segments of writers that are gone.

A live process takes a gone writer's lock, reads its segments one by one,
copies the events not acked into its own spool (on disk only, loaded into an
engine for their group as room allows), then deletes each old file; a crash
half-way loses nothing (events may then be sent twice). Events marked
"sending" but not acked may have been stored already: they are counted as
possible duplicates.

A segment is copied only when its copy fits the directory's budget (see
`budget.Budget.claim`); one that does not is left on disk with the rest of its
writer's, for a later pass (or another process) once room frees, counted as
``adopt_deferred`` and said once.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from typing import Callable, Dict, List, Tuple

from .._errors import WatchtowerWarning
from .._ports import Handover, QueuedEvent
from .._report import report
from .._rules import EVENT_OVERHEAD
from .damage import Damage
from .format import KEY_SHIFT, is_irregular, lock_name, parse_segment, read_file
from .replay import DiskOnly, EngineFor
from .state import Keys
from .summary import writers_in

#: How often a spool looks for gone writers to adopt (seconds).
ADOPT_INTERVAL = 5.0

#: Writes what was handed over (adopted events included) and has it on disk;
#: False when the spool no longer uses the disk.
Commit = Callable[[], bool]

#: Whether a segment of the given bytes (its copy's, the old file's) may be copied now.
Claim = Callable[[int, int], bool]


class Adopter:
    """Finds gone writers in the directory and copies their events into this writer's spool."""

    def __init__(
        self,
        directory: str,
        writer: str,
        keys: Keys,
        disk_only: DiskOnly,
        claim: Claim,
        damage: Damage,
    ) -> None:
        self.directory = directory
        self.writer = writer
        self._keys = keys
        self._disk_only = disk_only
        self._claim = claim
        #: Times a gone writer's segment was left for later, for want of room.
        self.deferred = 0
        self._lock = threading.Lock()
        #: Adopted events waiting to be written, by key; each key's next sequence number.
        self._pending: Dict[int, List[Handover]] = {}
        self._next: Dict[int, int] = {}
        self._group_keys: Dict[str, int] = {}
        self.adopted = 0
        self.possible_duplicates = 0
        #: Adopted segments that could not be read in full are counted and put away there.
        self._damage = damage
        self._next_pass = 0.0
        #: Passes done, and the pass asked for (by `ask`).
        self.passes = 0
        self._asked = 0

    def figures(self) -> Dict[str, int]:
        return {
            "adopted": self.adopted,
            "adopted_possible_duplicates": self.possible_duplicates,
            "adopt_deferred": self.deferred,
        }

    # ------------------------------------------------------------ when

    def ask(self) -> int:
        """Ask for a pass at the spool thread's next look; return the number it will have."""
        with self._lock:
            self._asked = self.passes + 1
            return self._asked

    def run_if_due(self, commit: Commit, engine_for: EngineFor, stop: Callable[[], bool]) -> None:
        """Look for gone writers if it is time, or if a pass was asked for (the spool thread)."""
        if time.monotonic() < self._next_pass and self._asked <= self.passes:
            return
        asked = self._asked
        self._next_pass = time.monotonic() + ADOPT_INTERVAL
        self._adopt_gone(commit, engine_for, stop)
        self.passes = max(self.passes + 1, asked)

    def wait_for(self, wanted: int, timeout: float, stop: Callable[[], bool]) -> bool:
        """Wait up to `timeout` for pass `wanted` to be done; False if not (or on `stop`)."""
        deadline = time.monotonic() + timeout
        while self.passes < wanted:
            if time.monotonic() > deadline or stop():
                return False
            time.sleep(0.01)
        return True

    def give_up(self) -> None:
        """Count the pass asked for as done (the spool thread's look failed)."""
        self.passes = max(self.passes, self._asked)

    def take_pending(self) -> List[Tuple[int, str, List[Handover]]]:
        """The adopted events to write now: (key, group, events) per key."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [(key, self._keys.group(key), buf) for key, buf in pending.items()]

    # ------------------------------------------------------------ how

    def _adopt_gone(self, commit: Commit, engine_for: EngineFor, stop: Callable[[], bool]) -> None:
        """Adopt the segments of every writer whose lock nobody holds."""
        import fcntl

        for writer in writers_in(self.directory):
            if writer == self.writer or stop():
                continue
            path = os.path.join(self.directory, lock_name(writer))
            try:  # never waits: a FIFO named like a lock file is left alone
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
            except OSError:
                continue
            try:
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        continue
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)  # a gone writer reserves nothing (see `budget`)
                # Listed again under the lock: another process may have adopted them just now.
                segments = writers_in(self.directory).get(writer, [])
                if self._adopt(segments, commit, engine_for):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            finally:
                os.close(fd)

    def _adopt(
        self, segments: List[Tuple[int, str]], commit: Commit, engine_for: EngineFor
    ) -> bool:
        """Copy a gone writer's unsettled events into this spool, then delete its files.

        Segment by segment (each holds its events' marks), so that memory holds
        one segment at a time; each is deleted once its copy is on disk.
        """
        for _, path in segments:
            if is_irregular(path):  # a FIFO would block a read: never opened
                self._damage.irregular(path)
                continue
            data = read_file(path)
            if data is None:
                continue
            contents = parse_segment(data)
            copy = sum(
                len(event[3]) + EVENT_OVERHEAD
                for seq, event in contents.events.items()
                if seq not in contents.acked
            )
            if copy and not self._claim(copy, len(data)):
                self._defer(path, copy)
                return False  # the rest stay on disk for a later pass
            duplicates: Dict[str, int] = {}
            held: Dict[str, int] = {}
            with self._lock:
                for seq in sorted(contents.events):
                    if seq in contents.acked:
                        continue
                    group, stream, timestamp, message = contents.events[seq]
                    key = self._group_keys.get(group)
                    if key is None:
                        key = self._group_keys[group] = self._keys.new(group)
                        self._next[key] = key << KEY_SHIFT
                    new = self._next[key]
                    self._next[key] = new + 1
                    size = len(message) + EVENT_OVERHEAD
                    event = QueuedEvent(timestamp, message, size, -1, new)
                    self._pending.setdefault(key, []).append(Handover(stream, event, True))
                    held[group] = held.get(group, 0) + 1
                    if seq in contents.sending:
                        duplicates[group] = duplicates.get(group, 0) + 1
                for group, n in held.items():
                    self._disk_only.add(group, n)
            if not commit():
                return False  # not copied: the old files stay for the next process
            if self._damage.found(path, contents, sum(held.values())):
                self._damage.put_away(path)  # what could not be read is not deleted
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.adopted += sum(held.values())
            for group, n in duplicates.items():
                self.possible_duplicates += n
                engine = engine_for(group)
                if engine is not None:
                    engine.count_possible_duplicates(n)
        return True

    def _defer(self, path: str, copy: int) -> None:
        self.deferred += 1
        if self.deferred == 1:
            report(
                f"wt_adapters: spool_dir={self.directory!r} has no room for a gone writer's"
                f" segment ({os.path.basename(path)}, {copy} bytes to copy) within"
                " spool_max_bytes: it stays on disk and is adopted later, as room frees",
                WatchtowerWarning,
            )
