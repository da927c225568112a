"""What waits in a spool directory, read without changing anything; the writers found there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from .._errors import WatchtowerError
from .._rules import EVENT_OVERHEAD
from .dead_letter import count_dead_letters
from .format import LOCK_NAME, SEGMENT_NAME, lock_name, parse_segment, read_file


def writers_in(directory: str) -> Dict[str, List[Tuple[int, str]]]:
    """Every writer with a lock file or a segment in `directory`: its segments, oldest first."""
    writers: Dict[str, List[Tuple[int, str]]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return writers
    for name in names:
        m = SEGMENT_NAME.match(name)
        if m:
            writers.setdefault(m["writer"], []).append(
                (int(m["number"]), os.path.join(directory, name))
            )
            continue
        m = LOCK_NAME.match(name)
        if m:
            writers.setdefault(m["writer"], [])
    for segments in writers.values():
        segments.sort()
    return writers


def lock_is_held(path: str) -> bool:
    """Whether some open file holds `path`'s lock (a live writer); False if there is no file."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO: no wait
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases it, if taken
    return False


@dataclass(frozen=True)
class StreamSummary:
    """The events that wait in a spool for one log stream."""

    group: str
    stream: str
    events: int
    #: Their size as CloudWatch counts it (UTF-8 bytes plus 26 per event).
    bytes: int
    #: The oldest one's timestamp (ms since the epoch).
    oldest_timestamp: int


@dataclass(frozen=True)
class Summary:
    """What waits in a spool directory (see `summary`)."""

    directory: str
    streams: List[StreamSummary]
    dead_letters: int
    writers_live: int
    writers_gone: int
    #: Segment files that ended in a torn or corrupt record.
    torn: int
    #: Events marked as being sent but not acked: maybe stored already.
    possible_duplicates: int
    #: Bytes of segment files in all.
    segment_bytes: int
    #: Bad records skipped inside segment files (their good records are read).
    corrupt: int = 0

    @property
    def events(self) -> int:
        return sum(s.events for s in self.streams)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "directory": self.directory,
            "events": self.events,
            "streams": [vars(s) for s in self.streams],
            "dead_letters": self.dead_letters,
            "writers_live": self.writers_live,
            "writers_gone": self.writers_gone,
            "torn": self.torn,
            "possible_duplicates": self.possible_duplicates,
            "segment_bytes": self.segment_bytes,
            "corrupt": self.corrupt,
        }


def summary(directory: str | os.PathLike[str]) -> Summary:
    """Tell what waits in spool `directory`, without changing anything there.

    Events of every writer, live or gone, that are not acked are counted, per
    (log group, log stream). Raises `WatchtowerError` if `directory` is not a
    readable directory.
    """
    path = os.fspath(directory)
    if not os.path.isdir(path):
        raise WatchtowerError(f"spool_dir={path!r} is not a directory")
    try:
        os.listdir(path)
    except OSError as e:
        raise WatchtowerError(f"spool_dir={path!r} can't be read: {e}") from None
    per_stream: Dict[Tuple[str, str], List[int]] = {}
    live = gone = torn = corrupt = duplicates = segment_bytes = 0
    for writer, segments in sorted(writers_in(path).items()):
        if lock_is_held(os.path.join(path, lock_name(writer))):
            live += 1
        else:
            gone += 1
        for _, seg_path in segments:  # one at a time: each holds its events' marks
            data = read_file(seg_path)  # None for a FIFO or a device: never waited on
            if data is None:
                continue
            segment_bytes += len(data)
            contents = parse_segment(data)
            torn += contents.torn
            corrupt += contents.corrupt
            for seq, (group, stream, timestamp, message) in contents.events.items():
                if seq in contents.acked:
                    continue
                if seq in contents.sending:
                    duplicates += 1
                figures = per_stream.setdefault((group, stream), [0, 0, timestamp])
                figures[0] += 1
                figures[1] += len(message.encode("utf-8", "backslashreplace")) + EVENT_OVERHEAD
                figures[2] = min(figures[2], timestamp)
    streams = [
        StreamSummary(group, stream, n, nbytes, oldest)
        for (group, stream), (n, nbytes, oldest) in sorted(per_stream.items())
    ]
    dead = count_dead_letters(path)
    return Summary(path, streams, dead, live, gone, torn, duplicates, segment_bytes, corrupt)
