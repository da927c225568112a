"""The dead-letter file: events CloudWatch refused for good, kept for a person to read.

``dead-letter.jsonl`` in the spool directory, shared by every writer, one JSON
object a line with ``group``, ``stream``, ``timestamp``, ``message``,
``reason``; rotated once to ``dead-letter.jsonl.1`` past `DEAD_LETTER_BYTES`
(the older ``.1`` is dropped then, whole).

Several processes share the file: each appends and rotates holding an
``fcntl.flock`` on ``dead-letter.jsonl.lock``, and looks at the size under it,
so that one rotation happens per crossing of the limit and no line lands in a
file another process is dropping. A process that can't have the lock within
`LOCK_WAIT` appends without it (``O_APPEND`` keeps each line whole) and leaves
the rotation to the next writer. Trouble with the file never switches the
spool off: the lines are counted (``dead_letters_lost``) and it is said once.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import Dict, Iterator, List, Tuple

from .._errors import WatchtowerWarning
from .._report import report
from .format import read_file, write_all

DEAD_LETTER = "dead-letter.jsonl"
#: The dead-letter file is rotated (to one ``.1``) past this many bytes.
DEAD_LETTER_BYTES = 16 * 1024 * 1024
#: How long a writer waits for the rotation lock before appending without it (seconds).
LOCK_WAIT = 1.0
#: Not a writer's lock: a writer's name holds no dot.
_LOCK = DEAD_LETTER + ".lock"
#: O_NONBLOCK: a FIFO named like the file fails at once (ENXIO) instead of waiting for a reader.
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC


def encode_letters(
    group: str, stream: str, events: List[Tuple[int, str]], reason: str
) -> List[bytes]:
    """One line per (timestamp, message) event."""
    return [
        json.dumps(
            {"group": group, "stream": stream, "timestamp": ts, "message": msg, "reason": reason},
            ensure_ascii=False,
        ).encode("utf-8", "backslashreplace")
        + b"\n"
        for ts, msg in events
    ]


def count_dead_letters(directory: str) -> int:
    """How many dead letters `directory` keeps (both files)."""
    path = os.path.join(directory, DEAD_LETTER)
    return sum(_count_lines(p) for p in (path, path + ".1"))


def _count_lines(path: str) -> int:
    data = read_file(path)
    return 0 if data is None else data.count(b"\n")


@contextlib.contextmanager
def _rotation_lock(path: str) -> Iterator[bool]:
    """Hold the directory's dead-letter lock; yield whether it was had within `LOCK_WAIT`."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    locked = False
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while not locked:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.001)
            except OSError:
                break
        yield locked
    finally:
        os.close(fd)  # releases the lock


class DeadLetters:
    """This writer's dead letters: taken on any thread, written by the spool's writing pass."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, DEAD_LETTER)
        self._lock_path = os.path.join(directory, _LOCK)
        self._lock = threading.Lock()
        self._pending: List[bytes] = []
        #: Lines written to the file, and lines that could not be.
        self.written = 0
        self.lost = 0
        self._warned = False

    def figures(self) -> Dict[str, int]:
        return {"dead_letters": self.written, "dead_letters_lost": self.lost}

    def add(self, group: str, stream: str, events: List[Tuple[int, str]], reason: str) -> None:
        lines = encode_letters(group, stream, events, reason)
        with self._lock:
            self._pending.extend(lines)

    def drop_pending(self) -> None:
        with self._lock:
            self._pending = []

    def write(self) -> None:
        """Append what waits to the file, rotated past `DEAD_LETTER_BYTES`; never raises OSError."""
        with self._lock:
            lines, self._pending = self._pending, []
        if not lines:
            return
        with _rotation_lock(self._lock_path) as locked:
            try:
                fd = os.open(self.path, _APPEND, 0o600)
                try:
                    write_all(fd, b"".join(lines))
                finally:
                    os.close(fd)
            except OSError as e:
                self.lost += len(lines)
                self._say(e, f"{len(lines)} events refused for good are not kept there")
                return
            self.written += len(lines)
            if locked:
                self._rotate()

    def _rotate(self) -> None:
        """Rotate the file if it is past the limit (the lock held: the size is looked at now)."""
        try:
            if os.stat(self.path).st_size > DEAD_LETTER_BYTES:
                os.replace(self.path, self.path + ".1")
        except FileNotFoundError:
            pass
        except OSError as e:
            self._say(e, "it is not rotated")

    def _say(self, error: OSError, what: str) -> None:
        if self._warned:
            return
        self._warned = True
        report(
            f"wt_adapters can't write the dead-letter file {self.path!r}"
            f" ({type(error).__name__}: {error}): {what} (counted as dead_letters_lost;"
            " said once)",
            WatchtowerWarning,
        )
