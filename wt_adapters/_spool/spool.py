"""The spool of one directory in this process: its parts, its thread's pass, switch-off, close."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._errors import WatchtowerWarning
from .._ports import Handover, SpoolClient
from .._report import report
from .adopt import Adopter
from .budget import Budget
from .damage import Damage
from .dead_letter import DeadLetters
from .engines import Engines, MakeEngine
from .format import ACKED, KEY_SHIFT, SENDING
from .replay import DiskOnly, Replay, give_back
from .segments import SegmentWriter
from .state import Keys
from .thread import SpoolThread, held

#: At least this long (seconds) a close waits for the spool's files, past its deadline if need be.
#: A pass takes milliseconds on an idle machine; on a loaded one (forked children exiting
#: beside a parallel test suite) one took over 0.5 s, so that a child's delivered events
#: stayed unmarked on disk and the next start sent them again.
LAST_WRITE = 2.0


class Spool:
    """The spool of one directory in this process (see the package's docstring).

    An engine appends each event it accepts (a `Handover`) to its own list,
    under the lock it holds anyway: the spool thread takes that list every
    ``spool_sync_interval``. Events held on disk only (memory full) are
    handed over with ``disk_only``. Engines call `sending`
    before a request, `settle` when a batch's fate is known and `dead_letter`
    for events refused for good.

    The spool holds its parts: the engines (`Engines`), the writer's segment
    files (`SegmentWriter`), reading disk-only events back (`Replay`),
    adopting gone writers' files (`Adopter`), the dead letters
    (`DeadLetters`), the directory's budget (`Budget`) and the spool thread
    (`SpoolThread`, which runs `_look`). `forget` is called when
    the last engine leaves, before the spool closes.

    ``max_bytes`` is the directory's budget, shared with every writer in it
    (`Budget`): each pass of the spool thread counts every segment file there
    and the others' reservations, and takes a share of the room left; a gone
    writer's segment is copied only when the copy fits. The slack past it: the
    marks and segment headers written when the budget is spent (tens of bytes
    a request); JSON escaping past the events' counted sizes at one pass (none
    for plain text); one share per engine beyond the first; and one segment's
    copy while it is made, when adopting into a directory full of gone
    writers' files with nothing of this writer's own on disk.
    """

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        sync_interval: float,
        forget: Callable[[Spool], None] = lambda spool: None,
        fsync_interval: Optional[float] = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.sync_interval = max(0.01, sync_interval)
        #: At most how often the spool thread fsyncs the current segment (None: at seal only).
        self.fsync_interval = fsync_interval
        self._forget = forget
        self._engines = Engines()
        self._keys = Keys()
        self._reset()

    def _reset(self) -> None:
        """Begin as a new writer (at start, and in a forked child: no lock is taken)."""
        self._lock = threading.Lock()  # guards the marks and the state
        self._io = threading.Lock()  # guards the files; taken before an engine's lock
        self._marks: List[Tuple[bytes, List[int]]] = []
        self._writer = SegmentWriter(self.directory)
        self._budget = Budget(self.directory, self._writer.writer, self.max_bytes)
        self._disk_only = DiskOnly()
        self._damage = Damage(self.directory)
        self._replay = Replay(self._writer, self._keys, self._disk_only, self._damage)
        self._adopter = Adopter(self.directory, self._writer.writer, self._keys, self._disk_only,
                                self._claim, self._damage)  # fmt: skip
        self._dead = DeadLetters(self.directory)
        self._thread = SpoolThread(
            self.directory, self.sync_interval, self._adopter, self._begin, self._look, self._done
        )
        self._closed = False
        #: Why the spool was switched off (disk trouble), or None while it works.
        self.off: Optional[str] = None
        #: Set by `deliver`: closing engines don't warn of what stays on disk.
        self.quiet = False
        self._pid = os.getpid()

    @property
    def disk_bytes(self) -> int:
        """Bytes counted against ``max_bytes`` (see `Budget.disk_bytes`)."""
        return self._budget.disk_bytes

    @property
    def writer(self) -> str:
        """This process's writer name (its files' prefix)."""
        return self._writer.writer

    @property
    def figures(self) -> Dict[str, int]:
        """Counts since the spool began: damage, dead letters, adopted events, unmarked acks."""
        unmarked = {"spool_unmarked": self._writer.unmarked_left}
        return {**self._damage.figures(), **self._dead.figures(), **self._adopter.figures(),
                **unmarked}  # fmt: skip

    # ------------------------------------------------------------ engines

    def attach(self, engine: SpoolClient, make_engine: Optional[MakeEngine]) -> int:
        """Take `engine` on; return its first sequence number (its key, shifted)."""
        key = self._keys.new(engine.group)
        self._engines.add(engine, make_engine)
        with self._lock:
            start = self.needs_thread
        if start:
            self._writer.take_lock()
            with self._io:
                self._budget.share(self._write_pending)  # the room its engines begin with
            self._thread.start()
        return key << KEY_SHIFT

    def detach(self, engine: SpoolClient, timeout: Optional[float] = None) -> bool:
        """Write what `engine` handed over and forget it; return whether it was the last.

        Waits for the files up to `timeout` (None: as long as they take), and at
        least `LAST_WRITE`: what it writes is what the next start gets.
        """
        wait = None if timeout is None else max(LAST_WRITE, timeout)
        with contextlib.suppress(Exception), held(self._io, wait) as had:
            if had and self.off is None and not self._closed:
                self._write_pending()
        return self._engines.remove(engine)

    def release(self, engine: SpoolClient, timeout: Optional[float] = None) -> Dict[str, int]:
        """Detach a closing engine; close the spool if it was the last (within `timeout`).

        Returns what waits on disk.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.detach(engine, timeout):
            return {}
        self._forget(self)
        return self.close(None if deadline is None else deadline - time.monotonic())

    def engines(self) -> List[SpoolClient]:
        """The open engines that use the spool."""
        return self._engines.open()

    def _engine_for(self, group: str) -> Optional[SpoolClient]:
        return self._engines.engine_for(group, may_make=not self._closed)

    # ---------------------------------------------------- the engine's calls

    def sending(self, seqs: List[int]) -> None:
        """Mark `seqs` as being sent, on disk before the request goes out (a sender thread)."""
        seqs = [s for s in seqs if s >= 0]
        if not seqs or self.off is not None:
            return
        with self._io:
            if self.off is not None or self._closed:
                return
            with self._lock:
                self._marks.append((SENDING, seqs))
            self._write_pending()

    def settle(self, seqs: List[int]) -> None:
        """Note that `seqs` are settled (sent, or refused for good): they need no disk."""
        if seqs and (self.off is None or self._writer.segments):
            with self._lock:  # once off, still applied to what was written before (`_tidy_off`)
                self._marks.append((ACKED, seqs))

    def dead_letter(
        self, group: str, stream: str, events: List[Tuple[int, str]], reason: str
    ) -> None:
        """Keep events refused for good in the dead-letter file."""
        if self.off is None:
            self._dead.add(group, stream, events, reason)

    def taken_over(self, group: str, held: int, nbytes: int) -> None:
        """Count the events `_write_pending` took from an engine, `held` of them on disk only.

        Called under the engine's lock, the io lock held: their bytes count
        against ``spool_max_bytes`` from now on, while they are being written.
        """
        self._budget.take(nbytes)
        if held:
            self._disk_only.add(group, held)

    def disk_only(self, group: str) -> int:
        """How many events of `group` wait on disk only (written; see `Engine.disk_waiting`)."""
        return self._disk_only.of(group)

    def disk_only_total(self) -> int:
        """How many events of every group wait on disk only."""
        return self._disk_only.total()

    def write_now(self) -> None:
        """Write what engines handed over, the marks and the dead letters, now."""
        with self._io:
            self._write_pending()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def owned_by_this_process(self) -> bool:
        """False in a forked child until the at-fork hook made the spool a new writer."""
        return self._pid == os.getpid()

    def wake(self) -> None:
        """Have the spool thread look now (write, load back) instead of at its next interval."""
        self._thread.wake()

    def stats(self) -> Dict[str, Any]:
        """The spool's figures, for an engine's `stats()`."""
        with self._lock:
            return {
                **self.figures,
                "spool_bytes": sum(seg.nbytes for seg in self._writer.segments),
                "spool_events": self._writer.unsettled(),
                "spool_disk_only": self._disk_only.total(),
                "spool_off": self.off,
            }

    # ------------------------------------------------------------- thread

    @property
    def needs_thread(self) -> bool:
        """True in a forked child until its spool thread is started."""
        return not self._thread.started and not self._closed and self.off is None

    def start_in_child(self) -> None:
        """In a forked child, at an engine's first event: start the writer there.

        Its engines have no room on disk until its first count, which is made at once.
        """
        with self._lock:
            if not self._thread.started and not self._closed:
                self._thread.start(now=True)

    def _begin(self) -> None:
        """The spool thread's start: take the writer's lock if not yet had (a forked child)."""
        if not self._writer.has_lock:
            try:
                self._writer.take_lock()
            except OSError as e:
                with self._io:
                    self._switch_off(e)

    def _look(self) -> bool:
        """The spool thread's pass: write, load back, adopt; False once the thread should end."""
        if self._closed or self._pid != os.getpid():
            return False
        self.sync(fsync=True, count=True)
        self._replay.load_back(self._engine_for, self._io, lambda: self.off is None)
        self._adopter.run_if_due(self._commit_adopted, self._engine_for, self._done)
        return True

    def _done(self) -> bool:
        return self._closed or self.off is not None

    def adopt_now(self, timeout: float) -> bool:
        """Have the spool thread look for gone writers now; wait up to `timeout` for it."""
        return self._thread.adopt_now(timeout)

    def adopt_before_exit(self, timeout: float) -> None:
        """Look for gone writers now, unless the spool thread did already (or is not running)."""
        self._thread.adopt_before_exit(timeout)

    # -------------------------------------------------------------- files

    def sync(self, *, seal: bool = False, fsync: bool = False, count: bool = False) -> None:
        """Write what was handed over, seal an old segment (or this one), delete settled ones.

        With `fsync` (the spool thread only), fsync the current segment if
        ``spool_fsync_interval`` has passed since the last; with `count` (the
        spool thread's pass), count the directory and take a new share of its
        budget first (`Budget.share`).
        """
        with self._io:
            if self.off is not None:
                self._tidy_off()
                return
            if count:
                self._budget.share(self._write_pending)
            else:
                self._write_pending()
            if fsync and self.fsync_interval:
                self._writer.fsync_if_due(self.fsync_interval)
            self._writer.seal_if_due(now=seal)
            self._writer.delete_settled(self._damage.put_away)  # room counted at the next count

    def _claim(self, copy: int, old: int) -> bool:
        """Whether a gone writer's segment (`old` bytes, `copy` to write) may be adopted now."""
        with self._io:
            return self._budget.claim(copy, old, self._writer.unsettled() > 0)

    def _write_pending(self) -> None:
        """Write what engines handed over, the marks and the dead letters (io lock held).

        The marks are taken first: an event settled was handed over before its
        mark was made, so it is written in this pass at the latest.
        """
        if self.off is not None:
            return
        with self._lock:
            marks, self._marks = self._marks, []
        runs = self._adopter.take_pending() + self._engines.collect(self)
        applied = False  # `write_marks` applies every mark in memory, even if a write fails
        try:
            written = sum(self._writer.write_run(key, group, buf) for key, group, buf in runs)
            if marks:
                applied = True
                written += self._writer.write_marks(marks)
            self._budget.wrote(written)
            self._dead.write()
        except OSError as e:
            if not applied:  # a run's write failed first: `_tidy_off` applies them, once off
                with self._lock:
                    self._marks[:0] = marks
            self._switch_off(e, [(group, buf) for _, group, buf in runs])

    def _commit_adopted(self) -> bool:
        """Write the adopted events and have them on disk; False if the spool is off."""
        with self._io:
            self._write_pending()
            if self.off is not None:
                return False
            self._writer.fsync_current()
            return True

    def _tidy_off(self) -> None:
        """Once off, settle what was written before (io lock held; `SegmentWriter.settle_off`)."""
        with self._lock:
            marks, self._marks = self._marks, []
        self._writer.settle_off(marks, self._damage.put_away)

    def waiting(self) -> Dict[str, int]:
        """Events on disk, by log group, that are not settled."""
        with self._io:
            return self._writer.waiting(self._keys)

    # ----------------------------------------------------------- trouble, close

    def _switch_off(
        self, error: OSError, unwritten: Optional[List[Tuple[str, List[Handover]]]] = None
    ) -> None:
        """Stop using the disk after a failed write: events stay in memory, with one warning.

        The io lock is held. Events that were to be on disk only go back to
        their engine's memory.
        """
        with self._lock:
            if self.off is not None:
                return
            self.off = f"{type(error).__name__}: {error}"
        engines = self._engines.attached()
        self._dead.drop_pending()
        rest = list(unwritten or [])
        rest.extend((group, buf) for _, group, buf in self._adopter.take_pending())
        rest.extend((engine.group, engine.spool_stop()) for engine in engines)
        _say_off(self.directory, self.off)
        give_back(rest, self._engine_for, self._disk_only)
        self._writer.seal_if_due(now=True)  # nothing more is written to it; deleted once settled

    def close(self, timeout: Optional[float] = None) -> Dict[str, int]:
        """Write what is left, delete settled segments; return what still waits on disk, by group.

        With nothing left, the writer's lock file goes too; otherwise the lock is
        released, so that the next process (or a live one) adopts the rest. Waits
        for the spool thread within `timeout` (None: 5 s at most for it, then
        as long as its files take), and for its files at least `LAST_WRITE`
        (the last write keeps what is left for the next start; a pass takes
        milliseconds); a thread stuck in a system call past that leaves the
        files as they are.
        """
        with self._lock:
            if self._closed:
                return {}
            self._closed = True
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        self._thread.stop(5.0 if timeout is None else min(5.0, max(0.0, timeout)))
        if self._pid != os.getpid():
            return {}
        wait = None if deadline is None else max(LAST_WRITE, deadline - time.monotonic())
        with held(self._io, wait) as had:
            if not had:  # the spool thread is stuck in a system call: the files stay as they are
                self._engines.stop()
                return {}
            with contextlib.suppress(OSError):
                self._last_write()
            self._engines.stop()
            left = self._writer.waiting(self._keys) if self._writer.segments else {}
            self._writer.close_files(remove_lock=True)
        return left

    def _last_write(self) -> None:
        """Write what is left, seal, delete what is settled, reserve nothing (io lock held)."""
        if self.off is None:
            self._closed = False  # so that the last pass writes
            try:
                self._write_pending()
            finally:
                self._closed = True
        if self.off is not None:
            self._tidy_off()
        self._writer.close_out(self._damage.put_away)
        self._budget.reserve(0)

    def after_fork_in_child(self) -> None:
        """A forked child is a new writer: drop the parent's files (no lock is taken)."""
        self._writer.close_files(remove_lock=False)
        closed = self._closed
        self._keys.after_fork_in_child()
        self._engines.after_fork_in_child()
        self._reset()
        self._closed = closed


def _say_off(directory: str, why: str) -> None:
    """Warn, once per spool, that it no longer writes to the disk, and why."""
    report(
        f"wt_adapters can't write to spool_dir={directory!r} ({why});"
        " events are kept in memory only from now on",
        WatchtowerWarning,
    )
