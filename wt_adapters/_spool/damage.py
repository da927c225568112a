"""Spool files that can't be read in full: counted, said once per file, moved aside.

A segment with bad records (see `format`) keeps the events of its good ones;
what could not be read is never deleted: once the good events are copied (a
gone writer's) or settled (this writer's), the file is moved to `QUARANTINE`,
a folder inside the spool directory that no writer reads, for a person to
look at. A file named like a segment that is no regular file (a FIFO, a
device) is never opened for reading, so it can't block the spool thread: it
is moved aside too, said once per process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Dict, Set

from .._errors import WatchtowerWarning
from .._report import report
from .format import SegmentContents

#: The folder, inside the spool directory, damaged and foreign files are moved to.
QUARANTINE = "quarantine"


def move_aside(directory: str, path: str) -> str:
    """Move `path` to the directory's `QUARANTINE` folder; return where (raises OSError)."""
    folder = os.path.join(directory, QUARANTINE)
    os.makedirs(folder, exist_ok=True)
    where = os.path.join(folder, os.path.basename(path))
    os.replace(path, where)
    return where


class Damage:
    """What one spool found unreadable: the counts for `stats()`, and the files said."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        #: Files that ended in a record cut short; bad records skipped; files moved aside.
        self.torn = 0
        self.corrupt = 0
        self.quarantined = 0
        self._said: Set[str] = set()
        self._irregular_said = False

    def figures(self) -> Dict[str, int]:
        return {
            "spool_torn": self.torn,
            "spool_corrupt": self.corrupt,
            "spool_quarantined": self.quarantined,
        }

    def found(self, path: str, contents: SegmentContents, kept: int) -> bool:
        """Count and say the damage in `path` (once per file); False if it has none.

        `kept` is how many of its events are kept (copied, or still to send).
        """
        if not contents.damaged:
            return False
        name = os.path.basename(path)
        with self._lock:
            if name in self._said:
                return True
            self._said.add(name)
            self.torn += contents.torn
            self.corrupt += contents.corrupt
        what = [f"{contents.corrupt} bad records skipped"] if contents.corrupt else []
        what += ["it ends in a record cut short"] if contents.torn else []
        report(
            f"wt_adapters: segment {name} in spool_dir={self.directory!r} could not be read"
            f" in full ({'; '.join(what)}; {contents.unread_bytes} bytes unread):"
            f" {contents.records} good records read, {kept} events kept; the file is moved to"
            f" {QUARANTINE}/ (counted as spool_corrupt, spool_torn)",
            WatchtowerWarning,
        )
        return True

    def put_away(self, path: str) -> None:
        """Move a damaged file aside once what it held is kept; delete it if it can't move."""
        try:
            move_aside(self.directory, path)
        except FileNotFoundError:
            return
        except OSError as e:  # deleted, or its good events would be sent again and again
            with contextlib.suppress(OSError):
                os.unlink(path)
            report(
                f"wt_adapters: can't move {os.path.basename(path)} to {QUARANTINE}/ in"
                f" spool_dir={self.directory!r} ({type(e).__name__}: {e}): deleted",
                WatchtowerWarning,
            )
            return
        with self._lock:
            self.quarantined += 1

    def irregular(self, path: str) -> None:
        """Put aside a file named like a segment that is no regular file; say it once."""
        with contextlib.suppress(OSError):
            move_aside(self.directory, path)
            with self._lock:
                self.quarantined += 1
        with self._lock:
            if self._irregular_said:
                return
            self._irregular_said = True
        report(
            f"wt_adapters: {os.path.basename(path)} in spool_dir={self.directory!r} is no"
            f" regular file: skipped, and moved to {QUARANTINE}/ if it could be (said once)",
            WatchtowerWarning,
        )
