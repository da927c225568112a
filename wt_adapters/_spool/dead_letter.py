"""The dead-letter file: events CloudWatch refused for good, kept for a person to read.

``dead-letter.jsonl`` in the spool directory, shared by every writer, one JSON
object a line with ``group``, ``stream``, ``timestamp``, ``message``,
``reason``; rotated once to ``dead-letter.jsonl.1`` past `DEAD_LETTER_BYTES`.
"""

from __future__ import annotations

import json
import os
import threading
from typing import List, Tuple

from .format import read_file, write_all

DEAD_LETTER = "dead-letter.jsonl"
#: The dead-letter file is rotated (to one ``.1``) past this many bytes.
DEAD_LETTER_BYTES = 16 * 1024 * 1024


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


class DeadLetters:
    """This writer's dead letters: taken on any thread, written by the spool's writing pass."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, DEAD_LETTER)
        self._lock = threading.Lock()
        self._pending: List[bytes] = []
        #: Lines written to the file.
        self.written = 0

    def add(self, group: str, stream: str, events: List[Tuple[int, str]], reason: str) -> None:
        lines = encode_letters(group, stream, events, reason)
        with self._lock:
            self._pending.extend(lines)

    def drop_pending(self) -> None:
        with self._lock:
            self._pending = []

    def write(self) -> None:
        """Append what waits to the file, rotated past `DEAD_LETTER_BYTES` (the io lock held)."""
        with self._lock:
            lines, self._pending = self._pending, []
        if not lines:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            write_all(fd, b"".join(lines))
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        self.written += len(lines)
        if size > DEAD_LETTER_BYTES:
            os.replace(self.path, self.path + ".1")
