"""One ``spool_max_bytes`` per directory, shared by every writer in it, adoption included.

At each pass of its spool thread a writer holds an ``fcntl.flock`` on the
directory itself while it counts the bytes of every segment file there (every
writer's, live or gone: ``os.scandir`` and a stat each) and what every other
writer has reserved, and reserves the room its engines may hand over until
its next pass: its share of what is left. A reservation is published as the
size of the writer's lock file (a sparse file: it takes no disk), so that each
writer counts the others' before it reserves. Engines see that room as
``max_bytes - disk_bytes``: ``disk_bytes`` is ``max_bytes`` less the share at
the pass, plus what was taken and written since.

The share is what is left divided by the writers with a lock file in the
directory plus one, so that a busy writer can't take all the room from the
others, nor from a writer starting now (whose first events would otherwise be
kept in memory only until the others count again).
The directory's flock is only tried (never waited on for long): a writer that
can't have it writes within the share it has, and counts again at its next
pass. Copying a gone writer's segment claims its room the same way (`claim`).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator, NamedTuple, Optional

from .format import LOCK_NAME, SEGMENT_NAME, lock_name

#: How long a pass tries for the directory's flock before writing within the share it has.
LOCK_TRIES, LOCK_PAUSE = 20, 0.002


class Count(NamedTuple):
    """What a directory holds against its budget, counted under its flock."""

    #: Bytes of every segment file in it.
    files: int
    #: Bytes the other writers reserved (their lock files' sizes).
    reserved: int
    #: Writers with a lock file (this one included), live or gone.
    writers: int


class Budget:
    """This writer's part in its directory's ``spool_max_bytes`` (the spool's io lock held)."""

    def __init__(self, directory: str, writer: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock_file = lock_name(writer)
        #: Bytes of the directory's segment files at the last count (for tests and figures).
        self.files = 0
        #: Bytes counted against ``max_bytes`` (read without a lock by engines): ``max_bytes``
        #: less this writer's share at its last count, plus what was taken and written since.
        #: No room until the first count.
        self.disk_bytes = max_bytes
        #: Bytes taken from engines since the last write (counted at their events' sizes).
        self._taken = 0

    def take(self, nbytes: int) -> None:
        """Count `nbytes` an engine handed over, from now on, while they are being written."""
        self.disk_bytes += nbytes
        self._taken += nbytes

    def wrote(self, nbytes: int) -> None:
        """Count `nbytes` written, in place of what was taken since the last write."""
        self.disk_bytes += nbytes - self._taken
        self._taken = 0

    def share(self, write: Callable[[], None]) -> None:
        """Count the directory, take this writer's share of its room and `write` (io lock held).

        What the engines hand over now was taken from the last share; the room
        they see after is the new share less it, and is published as this
        writer's reservation before the directory's flock is let go.
        """
        with self.held() as share:
            self.disk_bytes = self.disk_bytes if share is None else self.max_bytes - share
            write()
            self.reserve(self.max_bytes - self.disk_bytes, share)

    @contextlib.contextmanager
    def held(self) -> Iterator[Optional[int]]:
        """Hold the directory's flock; yield this writer's new share (None: not had, no count)."""
        with self._flock() as had:
            if not had:
                yield None
                return
            count = self.count()
            left = self.max_bytes - count.files
            yield max(0, min(left - count.reserved, left // (count.writers + 1)))

    @contextlib.contextmanager
    def _flock(self) -> Iterator[bool]:
        """Hold the directory's flock if it can be had within a few tries; yield whether it was."""
        import fcntl

        try:
            fd = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            yield False
            return
        try:
            for _ in range(LOCK_TRIES):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    time.sleep(LOCK_PAUSE)
                    continue
                yield True
                return
            yield False
        finally:
            os.close(fd)  # releases the flock

    def count(self) -> Count:
        """Count the directory's segment bytes and the other writers' reservations."""
        files = reserved = 0
        writers = 1
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        if SEGMENT_NAME.match(name):
                            files += entry.stat().st_size
                        elif name != self._lock_file and LOCK_NAME.match(name):
                            writers += 1
                            reserved += entry.stat().st_size
                    except FileNotFoundError:
                        continue  # deleted meanwhile (settled, or adopted)
        except OSError:
            files = self.max_bytes  # can't count: no room
        self.files = files
        return Count(files, reserved, writers)

    def reserve(self, nbytes: int, share: Optional[int] = 0) -> None:
        """Publish that this writer may write `nbytes` more before its next count.

        Not when `share` is None: the directory's flock was not had.
        """
        if share is None:
            return
        with contextlib.suppress(OSError):  # no lock file (closed, or off): nothing reserved
            os.truncate(os.path.join(self.directory, self._lock_file), max(0, nbytes))

    def claim(self, copy: int, old: int, own_waiting: bool) -> bool:
        """Whether a gone writer's segment of `old` bytes may be copied (`copy` bytes) now.

        If so, the copy is counted, out of the engines' room first (io lock held).
        """
        room = max(0, self.max_bytes - self.disk_bytes)
        if not self._fits(copy, old, room, own_waiting):
            return False
        self.disk_bytes -= max(0, copy - room)
        return True

    def _fits(self, copy: int, old: int, reserved: int, own_waiting: bool) -> bool:
        """Whether the copy fits the directory's budget now; if so, reserve it.

        It fits when the copy fits beside every file (the old one included: it
        is deleted once its copy is on disk) and every reservation, this
        writer's `reserved` too; then the copy is reserved. When nothing of
        this writer's own waits on disk, so that nothing of its own can free
        room, a copy no bigger than the old file may go anyway: the directory
        is then one copy over for as long as the copy takes.
        """
        with self._flock() as had:
            if not had:
                return False
            count = self.count()
            fits = count.files + count.reserved + reserved + copy <= self.max_bytes
            if fits or (not own_waiting and copy <= old):
                self.reserve(max(reserved, copy))  # the engines' room is taken first
                return True
            return False
