"""The disk spool: accepted events kept in files until CloudWatch has them.

With ``spool_dir`` set, every event an engine accepts is also handed to the
`Spool` of that directory (one per directory per process, shared by every
engine naming it; events carry their log group and stream). A spool thread
writes what was handed over every ``spool_sync_interval`` seconds, so a log
call never waits on the disk; a process killed with SIGKILL loses at most
what was logged in the last interval. The next process using the directory
(or `deliver`) sends the rest.

The directory holds, per writer (one process: host, pid and a random part):

- ``WRITER.lock``: held with ``fcntl.flock`` while the writer lives; a lock
  nobody holds means the writer is gone and its segments may be adopted;
- ``WRITER.NNNNNN.seg``: segment files of records, rotated at
  `SEGMENT_BYTES` or `SEGMENT_SECONDS`; a sealed segment whose events are all
  settled (sent, or refused for good) is deleted.

and, shared, ``dead-letter.jsonl`` (rotated once to ``dead-letter.jsonl.1``
past `DEAD_LETTER_BYTES`): events CloudWatch refused for good, one JSON object
a line with ``group``, ``stream``, ``timestamp``, ``message``, ``reason``.

A record is ``struct ">II"`` (payload length, ``zlib.crc32(payload)``) and its
payload, whose first byte says what it is: ``V`` a segment's header (JSON),
``R`` a run of events (JSON: first sequence number, log group, stream names,
[stream index, timestamp, message] rows), ``S`` the events put in a
PutLogEvents request ("sending"), ``A`` the events settled ("acked"); marks
hold (first, count) ranges of sequence numbers and are written to the segment
holding their events, so that each segment reads on its own. A torn or
corrupt record ends the reading of its file: it is counted (``spool_torn``),
never raised. A sequence number is the engine's key (`KEY_SHIFT` bits up)
plus the engine's own count, so that an engine numbers its events under the
lock it holds anyway.

Adoption: a live process takes a gone writer's lock, reads its segments one
by one, copies the events not acked into its own spool (on disk only, loaded
into an engine for their group as room allows), then deletes each old file;
a crash half-way loses nothing (events may then be sent twice). Events
marked "sending" but not acked may have been stored already: they are
counted as ``possible_duplicates``. docs/spool.md describes it for users.

The API for the command line:

- ``summary(directory) -> Summary``: what waits in a spool directory, read
  without changing anything: per (group, stream) the events, bytes and
  oldest event's timestamp; dead letters; writers live and gone; torn records.
- ``_recovery.deliver(directory, *, timeout=60.0, **options) -> Dict[str, Any]``: adopt
  every gone writer's segments, send them (``options`` are any front end's,
  e.g. ``endpoint_url`` or ``boto3_client``), flush, and return the counts
  ``adopted``, ``sent``, ``rejected``, ``dropped``, ``possible_duplicates``,
  ``dead_letters``, ``torn``, ``left`` (events still on disk after it) and
  ``delivered`` (True when nothing is left and nothing was dropped).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import operator
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
import weakref
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ._errors import WatchtowerError, WatchtowerWarning
from ._ports import Handover, LoadedEvent, QueuedEvent, SpoolClient
from ._report import report
from ._rules import EVENT_OVERHEAD
from ._threads import thread_state

__all__ = ["Spool", "StreamSummary", "Summary", "attach", "summary"]

#: A segment is sealed (and a new one begun) past this many bytes...
SEGMENT_BYTES = 4 * 1024 * 1024
#: ... or once it is this old (seconds), so that settled segments go soon.
SEGMENT_SECONDS = 5.0
#: How often a spool looks for gone writers to adopt (seconds).
ADOPT_INTERVAL = 5.0
#: The dead-letter file is rotated (to one ``.1``) past this many bytes.
DEAD_LETTER_BYTES = 16 * 1024 * 1024
#: The largest record a reader takes; a longer length is taken as corruption.
MAX_RECORD = 64 * 1024 * 1024
#: Message bytes per run record, at most (a longer sync is written as several runs).
RUN_BYTES = 1024 * 1024
#: How many disk-only events are loaded back into an engine at once, at most.
LOAD_BATCH = 50_000

DEAD_LETTER = "dead-letter.jsonl"
_HEADER = struct.Struct(">II")
_HEADER_KIND = b"V"
_RUN = b"R"
_SENDING = b"S"
_ACKED = b"A"
_SEGMENT_NAME = re.compile(r"(?P<writer>[A-Za-z0-9_-]+)\.(?P<number>[0-9]+)\.seg\Z")
_LOCK_NAME = re.compile(r"(?P<writer>[A-Za-z0-9_-]+)\.lock\Z")

#: A segment event's state in memory.
_IN_MEMORY, _SETTLED, _DISK_ONLY = 0, 1, 2
_SIZE = operator.itemgetter(2)


try:  # the spool thread's work is mostly encoding: orjson does it several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None  # type: ignore[assignment]


def _dumps(value: Any) -> bytes:
    """`value` as compact JSON bytes (orjson when installed)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value)
        except TypeError:  # a lone surrogate, say: the standard library escapes it
            pass
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def _loads(data: bytes) -> Any:
    return _orjson.loads(data) if _orjson is not None else json.loads(data)


def writer_id() -> str:
    """A name for this process's writer: host, pid and a random part (containers share pids)."""
    host = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{random.getrandbits(32):08x}"


# -------------------------------------------------------------------- records


def encode_record(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_run(first: int, group: str, events: List[Tuple[str, int, str]]) -> bytes:
    """One run record: events (stream, timestamp, message) of `group` numbered from `first`."""
    streams: Dict[str, int] = {}
    rows = []
    for stream, timestamp, message in events:
        index = streams.get(stream)
        if index is None:
            index = streams[stream] = len(streams)
        rows.append((index, timestamp, message))
    return _encode_run(first, group, list(streams), rows)


def _ranges(seqs: List[int]) -> List[List[int]]:
    """`seqs` as sorted (first, count) ranges, each number once."""
    ranges: List[List[int]] = []
    for seq in sorted(seqs):
        if ranges and ranges[-1][0] + ranges[-1][1] == seq:
            ranges[-1][1] += 1
        elif not ranges or ranges[-1][0] + ranges[-1][1] < seq:
            ranges.append([seq, 1])
    return ranges


def encode_mark(kind: bytes, seqs: List[int]) -> bytes:
    """A "sending" or "acked" mark for `seqs`, as (first, count) ranges."""
    return encode_record(kind + _dumps(_ranges(seqs)))


def read_records(data: bytes) -> Tuple[List[bytes], bool]:
    """Split a file's bytes into payloads; say whether it ended in a torn or corrupt record."""
    payloads: List[bytes] = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < _HEADER.size:
            return payloads, True
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        if length == 0 or length > MAX_RECORD or start + length > end:
            return payloads, True
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return payloads, True
        payloads.append(payload)
        offset = start + length
    return payloads, False


@dataclass
class SegmentContents:
    """What one segment file holds: events by sequence number, and the marks."""

    #: seq -> (group, stream, timestamp, message)
    events: Dict[int, Tuple[str, str, int, str]] = field(default_factory=dict)
    acked: Set[int] = field(default_factory=set)
    sending: Set[int] = field(default_factory=set)
    torn: bool = False


def _expand(ranges: Any) -> Iterator[int]:
    for first, count in ranges:
        yield from range(int(first), int(first) + int(count))


def parse_segment(data: bytes, into: Optional[SegmentContents] = None) -> SegmentContents:
    """Read a segment's bytes; a torn or unreadable record ends the reading (``torn``)."""
    contents = into if into is not None else SegmentContents()
    payloads, torn = read_records(data)
    for payload in payloads:
        kind, body = payload[:1], payload[1:]
        try:
            if kind == _RUN:
                run = _loads(body)
                seq = int(run["s"])
                group = str(run["g"])
                streams = [str(s) for s in run["p"]]
                for i, (index, timestamp, message) in enumerate(run["e"]):
                    contents.events[seq + i] = (group, streams[index], int(timestamp), str(message))
            elif kind == _ACKED:
                contents.acked.update(_expand(_loads(body)))
            elif kind == _SENDING:
                contents.sending.update(_expand(_loads(body)))
            elif kind != _HEADER_KIND:
                raise ValueError(f"unknown record kind {kind!r}")
        except (ValueError, TypeError, KeyError, IndexError):
            torn = True
            break
    contents.torn = contents.torn or torn
    return contents


def _read_file(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _writers_in(directory: str) -> Dict[str, List[Tuple[int, str]]]:
    """Every writer with a lock file or a segment in `directory`: its segments, oldest first."""
    writers: Dict[str, List[Tuple[int, str]]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return writers
    for name in names:
        m = _SEGMENT_NAME.match(name)
        if m:
            writers.setdefault(m["writer"], []).append(
                (int(m["number"]), os.path.join(directory, name))
            )
            continue
        m = _LOCK_NAME.match(name)
        if m:
            writers.setdefault(m["writer"], [])
    for segments in writers.values():
        segments.sort()
    return writers


def _lock_is_held(path: str) -> bool:
    """Whether some open file holds `path`'s lock (a live writer); False if there is no file."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases it, if taken
    return False


# -------------------------------------------------------------------- summary


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
        }


def _count_lines(path: str) -> int:
    data = _read_file(path)
    return 0 if data is None else data.count(b"\n")


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
    live = gone = torn = duplicates = segment_bytes = 0
    for writer, segments in sorted(_writers_in(path).items()):
        if _lock_is_held(os.path.join(path, f"{writer}.lock")):
            live += 1
        else:
            gone += 1
        for _, seg_path in segments:  # one at a time: each holds its events' marks
            data = _read_file(seg_path)
            if data is None:
                continue
            segment_bytes += len(data)
            contents = parse_segment(data)
            torn += contents.torn
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
    dead = _count_lines(os.path.join(path, DEAD_LETTER)) + _count_lines(
        os.path.join(path, DEAD_LETTER + ".1")
    )
    return Summary(path, streams, dead, live, gone, torn, duplicates, segment_bytes)


# ---------------------------------------------------------------------- spool


class _Range:
    """One engine's events in a segment: consecutive sequence numbers from `start`."""

    __slots__ = ("start", "state")

    def __init__(self, start: int) -> None:
        self.start = start
        #: One byte per event: in memory, settled, or on disk only.
        self.state = bytearray()


class _Segment:
    """One of this writer's segment files, and the state of each of its events."""

    __slots__ = ("disk_only", "fd", "nbytes", "number", "opened", "path", "ranges", "sealed",
                 "unsettled")  # fmt: skip

    def __init__(self, number: int, path: str, fd: int) -> None:
        self.number = number
        self.path = path
        self.fd = fd
        self.nbytes = 0
        #: Each engine's events here, by the engine's key (a sequence number's top bits).
        self.ranges: Dict[int, _Range] = {}
        self.unsettled = 0
        #: Events on disk only, per log group.
        self.disk_only: Dict[str, int] = {}
        self.opened = time.monotonic()
        self.sealed = False


#: A sequence number is an engine's key shifted by this, plus the engine's count.
KEY_SHIFT = 40


class Spool:
    """The spool of one directory in this process (see the module's docstring).

    An engine appends each event it accepts (a `Handover`) to its own list,
    under the lock it holds anyway: the spool thread takes that list every
    ``spool_sync_interval``. Events held on disk only (memory full) are
    handed over with ``disk_only``. Engines call `sending`
    before a request, `settle` when a batch's fate is known and `dead_letter`
    for events refused for good.
    """

    def __init__(self, directory: str, max_bytes: int, sync_interval: float) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.sync_interval = max(0.01, sync_interval)
        self._engines: List[SpoolClient] = []
        #: Makes an engine for a log group no engine here sends to (for adopted events).
        self._make_engine: Optional[Callable[[str], SpoolClient]] = None
        self._next_key = 1
        #: The log group of each key's events.
        self._key_groups: Dict[int, str] = {}
        #: Log groups some engine of this process sent to through the spool.
        self._attached_groups: Set[str] = set()
        self._reset()

    def _reset(self) -> None:
        """Begin as a new writer (at start, and in a forked child: no lock is taken)."""
        self._lock = threading.Lock()  # guards the marks, dead letters and counts
        self._io = threading.Lock()  # guards the files; taken before an engine's lock
        self._wake = threading.Event()
        self._marks: List[Tuple[bytes, List[int]]] = []
        self._dead: List[bytes] = []
        #: Adopted events waiting to be written, by key.
        self._own: Dict[int, List[Handover]] = {}
        self._own_next: Dict[int, int] = {}
        self._own_keys: Dict[str, int] = {}
        #: Bytes of segment files (read without a lock: an estimate for `hold`).
        self.disk_bytes = 0
        self._reserved = 0
        self._segments: List[_Segment] = []
        self._index: Dict[int, Tuple[List[int], List[_Segment]]] = {}
        self._current: Optional[_Segment] = None
        self._next_number = 0
        self._disk_only: Dict[str, int] = {}
        self.writer = writer_id()
        self._lock_fd = -1
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        #: Why the spool was switched off (disk trouble), or None while it works.
        self.off: Optional[str] = None
        #: Set by `deliver`: closing engines don't warn of what stays on disk.
        self.quiet = False
        self._pid = os.getpid()
        self._next_adoption = 0.0
        self._adoptions = 0  # adoption passes done, for `adopt_now`
        self._adopt_asked = 0
        self.figures: Dict[str, int] = dict.fromkeys(
            ("spool_torn", "dead_letters", "adopted", "adopted_possible_duplicates"), 0
        )

    # ------------------------------------------------------------ engines

    def attach(
        self, engine: SpoolClient, make_engine: Optional[Callable[[str], SpoolClient]]
    ) -> int:
        """Take `engine` on; return its first sequence number (its key, shifted)."""
        with self._lock:
            key = self._next_key
            self._next_key += 1
            self._key_groups[key] = engine.group
            self._attached_groups.add(engine.group)
            self._engines.append(engine)
            if make_engine is not None and self._make_engine is None:
                self._make_engine = make_engine
            start = self._thread is None and not self._closed and self.off is None
        if start:
            self._start()
        return key << KEY_SHIFT

    def detach(self, engine: SpoolClient) -> bool:
        """Write what `engine` handed over and forget it; return whether it was the last."""
        with contextlib.suppress(Exception), self._io:
            if self.off is None and not self._closed:
                self._write_pending()
        with self._lock:
            if engine in self._engines:
                self._engines.remove(engine)
            return not self._engines

    def release(self, engine: SpoolClient) -> Dict[str, int]:
        """Detach a closing engine; close the spool if it was the last.

        Returns what waits on disk.
        """
        if not self.detach(engine):
            return {}
        with _spools_lock:
            if _spools.get(self.directory) is self:
                del _spools[self.directory]
        return self.close()

    def engines(self) -> List[SpoolClient]:
        with self._lock:
            return [e for e in self._engines if not e.closed]

    def _engine_for(self, group: str) -> Optional[SpoolClient]:
        for engine in self.engines():
            if engine.group == group:
                return engine
        make = self._make_engine
        if make is None or self._closed or group in self._attached_groups:
            return None  # its engine was closed: what waits stays on disk
        return make(group)  # attaches itself

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
                self._marks.append((_SENDING, seqs))
            self._write_pending()

    def settle(self, seqs: List[int]) -> None:
        """Note that `seqs` are settled (sent, or refused for good): they need no disk."""
        if seqs:
            with self._lock:
                if self.off is None:
                    self._marks.append((_ACKED, seqs))

    def dead_letter(
        self, group: str, stream: str, events: List[Tuple[int, str]], reason: str
    ) -> None:
        """Keep events refused for good in the dead-letter file."""
        lines = [
            json.dumps(
                {
                    "group": group,
                    "stream": stream,
                    "timestamp": ts,
                    "message": msg,
                    "reason": reason,
                },
                ensure_ascii=False,
            ).encode("utf-8", "backslashreplace")
            + b"\n"
            for ts, msg in events
        ]
        with self._lock:
            if self.off is None:
                self._dead.extend(lines)

    def taken_over(self, group: str, held: int, nbytes: int) -> None:
        """Count the events `_write_pending` took from an engine, `held` of them on disk only.

        Called under the engine's lock, the io lock held: their bytes count
        against ``spool_max_bytes`` from now on, while they are being written.
        """
        self.disk_bytes += nbytes
        self._reserved += nbytes
        if held:
            self.count_disk_only(group, held)

    def count_disk_only(self, group: str, n: int) -> None:
        """Count `n` more (or fewer) events of `group` on disk only."""
        with self._lock:
            self._disk_only[group] = self._disk_only.get(group, 0) + n

    def disk_only_total(self) -> int:
        """How many events of every group wait on disk only."""
        return sum(self._disk_only.values())

    def write_now(self) -> None:
        """Write what engines handed over, the marks and the dead letters, now."""
        with self._io:
            self._write_pending()

    def disk_only(self, group: str) -> int:
        """How many events of `group` wait on disk only (written; see `Engine.disk_waiting`)."""
        return self._disk_only.get(group, 0)

    @property
    def closed(self) -> bool:
        return self._closed

    def wake(self) -> None:
        """Have the spool thread look now (write, load back) instead of at its next interval."""
        self._wake.set()

    def stats(self) -> Dict[str, Any]:
        """The spool's figures, for an engine's `stats()`."""
        with self._lock:
            waiting = sum(s.unsettled for s in self._segments)
            return {
                **self.figures,
                "spool_bytes": self.disk_bytes - self._reserved,
                "spool_events": waiting,
                "spool_disk_only": sum(self._disk_only.values()),
                "spool_off": self.off,
            }

    # ------------------------------------------------------------- thread

    def _start(self) -> None:
        """Become this directory's writer: take the lock file, start the spool thread."""
        self._take_lock()
        self._start_thread()

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name="wt_adapters:spool", daemon=True)
        self._thread = thread
        thread.start()

    @property
    def needs_thread(self) -> bool:
        """True in a forked child until its spool thread is started."""
        return self._thread is None and not self._closed and self.off is None

    def start_in_child(self) -> None:
        """In a forked child, at an engine's first event: start the writer there."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._start_thread()

    def _take_lock(self) -> None:
        import fcntl

        path = os.path.join(self.directory, f"{self.writer}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _run(self) -> None:
        thread_state.in_engine = True
        if self._lock_fd < 0:
            try:
                self._take_lock()
            except OSError as e:
                with self._io:
                    self._switch_off(e)
        while True:
            self._wake.wait(self.sync_interval)
            self._wake.clear()
            if self._closed or self._pid != os.getpid():
                return
            try:
                self.sync()
                self._load_back()
                if time.monotonic() >= self._next_adoption or self._adopt_asked > self._adoptions:
                    asked = self._adopt_asked
                    self._next_adoption = time.monotonic() + ADOPT_INTERVAL
                    self._adopt_gone()
                    self._adoptions = max(self._adoptions + 1, asked)
            except Exception as e:  # a bug: say so, and go on
                self._adoptions = max(self._adoptions, self._adopt_asked)
                with contextlib.suppress(Exception):
                    sys.stderr.write(
                        f"wt_adapters: the spool thread for {self.directory!r} failed: {e!r}\n"
                        + "".join(traceback.format_exception(type(e), e, e.__traceback__))
                    )

    def adopt_now(self, timeout: float) -> bool:
        """Have the spool thread look for gone writers now; wait up to `timeout` for it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._adopt_asked = self._adoptions + 1
            wanted = self._adopt_asked
        self._wake.set()
        while self._adoptions < wanted:
            if time.monotonic() > deadline or self._closed or self.off is not None:
                return False
            time.sleep(0.01)
        return True

    # -------------------------------------------------------------- files

    def sync(self, *, seal: bool = False) -> None:
        """Write what was handed over, seal an old segment (or this one), delete settled ones."""
        with self._io:
            if self.off is not None:
                return
            self._write_pending()
            current = self._current
            if current is not None and (
                seal
                or current.nbytes >= SEGMENT_BYTES
                or time.monotonic() - current.opened >= SEGMENT_SECONDS
            ):
                self._seal(current)
            self._delete_settled()

    def _write_pending(self) -> None:
        """Write what engines handed over, the marks and the dead letters (io lock held).

        The marks are taken first: an event settled was handed over before its
        mark was made, so it is written in this pass at the latest.
        """
        if self.off is not None:
            return
        with self._lock:
            marks, self._marks = self._marks, []
            dead, self._dead = self._dead, []
            own, self._own = self._own, {}
            engines = list(self._engines)
        runs: List[Tuple[int, str, List[Handover]]] = []
        for key, buf in own.items():
            runs.append((key, self._key_groups[key], buf))
        for engine in engines:
            buf = engine.spool_collect(self)
            if buf:
                runs.append((buf[0].event.seq >> KEY_SHIFT, engine.group, buf))
        try:
            for key, group, buf in runs:
                self._write_run(key, group, buf)
            self.disk_bytes -= self._reserved
            self._reserved = 0
            if marks:
                self._write_marks(marks)
            if dead:
                self._write_dead(dead)
        except OSError as e:
            self._switch_off(e, [(group, buf) for _, group, buf in runs])

    def _write_run(self, key: int, group: str, buf: List[Handover]) -> None:
        """Write one engine's handed-over events."""
        first = buf[0].event.seq
        seg = self._current
        if seg is not None:
            r = seg.ranges.get(key)
            if r is not None and r.start + len(r.state) != first:
                self._seal(seg)  # not where this key's events left off (a switch-off between)
                seg = None
        if seg is None:
            seg = self._open_segment()
        r = seg.ranges.get(key)
        if r is None:
            r = seg.ranges[key] = _Range(first)
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
            records.append(_encode_run(first + start, group, names, rows[start:end]))
            start = end
        data = b"".join(records)
        _write_all(seg.fd, data)
        state = r.state
        if any(h.disk_only for h in buf):
            before = len(state)
            state.extend(_DISK_ONLY if h.disk_only else _IN_MEMORY for h in buf)
            held = state.count(_DISK_ONLY, before)
            seg.disk_only[group] = seg.disk_only.get(group, 0) + held
        else:
            state.extend(bytes(n))  # all _IN_MEMORY
        seg.nbytes += len(data)
        self.disk_bytes += len(data)
        seg.unsettled += n

    def _open_segment(self) -> _Segment:
        number = self._next_number
        self._next_number += 1
        path = os.path.join(self.directory, f"{self.writer}.{number:06d}.seg")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        seg = _Segment(number, path, fd)
        header = json.dumps({"version": 1, "writer": self.writer})
        data = encode_record(_HEADER_KIND + header.encode("ascii"))
        _write_all(fd, data)
        seg.nbytes = len(data)
        self.disk_bytes += len(data)
        self._segments.append(seg)
        self._current = seg
        return seg

    def _find(self, seq: int) -> Optional[Tuple[_Segment, int, bytearray]]:
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

    def _write_marks(self, marks: List[Tuple[bytes, List[int]]]) -> None:
        """Apply and write "sending" and "acked" marks, range by range (io lock held)."""
        by_segment: Dict[Tuple[int, bytes], Tuple[_Segment, List[List[int]]]] = {}
        for kind, seqs in marks:
            for first, count in _ranges(seqs):
                while count > 0:
                    found = self._find(first)
                    if found is None:
                        first, count = first + 1, count - 1
                        continue
                    seg, i, state = found
                    take = min(count, len(state) - i)
                    if kind == _ACKED:
                        chunk = state[i : i + take]
                        settled = chunk.count(_SETTLED)
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
        for (_, kind), (seg, ranges) in by_segment.items():
            if seg.fd < 0:
                continue  # deleted meanwhile
            data = encode_record(kind + _dumps(ranges))
            _write_all(seg.fd, data)
            seg.nbytes += len(data)
            self.disk_bytes += len(data)

    def _write_dead(self, lines: List[bytes]) -> None:
        path = os.path.join(self.directory, DEAD_LETTER)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, b"".join(lines))
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        self.figures["dead_letters"] += len(lines)
        if size > DEAD_LETTER_BYTES:
            os.replace(path, path + ".1")

    def _seal(self, seg: _Segment) -> None:
        with contextlib.suppress(OSError):
            os.fsync(seg.fd)
        seg.sealed = True
        if self._current is seg:
            self._current = None

    def _delete_settled(self) -> None:
        done = [s for s in self._segments if s.sealed and s.unsettled == 0]
        if not done:
            return
        for seg in done:
            if seg.fd >= 0:
                os.close(seg.fd)
                seg.fd = -1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(seg.path)
            self.disk_bytes -= seg.nbytes
        gone = {id(s) for s in done}
        self._segments = [s for s in self._segments if id(s) not in gone]
        for key, (_, segs) in list(self._index.items()):
            kept = [s for s in segs if id(s) not in gone]
            if not kept:
                del self._index[key]
            elif len(kept) != len(segs):
                self._index[key] = ([s.ranges[key].start for s in kept], kept)

    # ------------------------------------------------------------ loading back

    def _load_back(self) -> None:
        """Hand disk-only events to their group's engine, oldest first, as its memory has room."""
        for group, waiting in list(self._disk_only.items()):
            if waiting <= 0:
                continue
            engine = self._engine_for(group)
            if engine is None:
                continue
            room, room_bytes = engine.room()
            room = min(room, LOAD_BATCH)
            # Loaded once half the queue is free (or all that waits fits), not event by event.
            half = engine.half_queue()
            if room < min(waiting, half[0]) or room_bytes < half[1]:
                continue
            with self._io:
                if self.off is not None:
                    return
                events = self._read_back(group, room, room_bytes // 2)
            if events:
                engine.take_back(events)
                # Counted down only now, so that a flush sees them either here or there.
                self.count_disk_only(group, -len(events))

    def _read_back(self, group: str, room: int, room_bytes: int) -> List[LoadedEvent]:
        """Read up to `room` disk-only events (`room_bytes`) of `group` back, oldest first.

        The io lock is held.
        """
        loaded: List[LoadedEvent] = []
        nbytes = 0
        for seg in self._segments:
            if len(loaded) >= room or nbytes >= room_bytes:
                break
            if not seg.disk_only.get(group):
                continue
            data = _read_file(seg.path)
            contents = parse_segment(data or b"")
            for seq in sorted(contents.events):
                if len(loaded) >= room or nbytes >= room_bytes:
                    break
                r = seg.ranges.get(seq >> KEY_SHIFT)
                if r is None:
                    continue
                i = seq - r.start
                if not 0 <= i < len(r.state) or r.state[i] != _DISK_ONLY:
                    continue
                g, stream, timestamp, message = contents.events[seq]
                if g != group:
                    continue
                r.state[i] = _IN_MEMORY
                seg.disk_only[group] -= 1
                nbytes += len(message) + EVENT_OVERHEAD
                loaded.append(LoadedEvent(stream, timestamp, message, seq))
            if contents.torn or data is None:
                self._lose_unreadable(seg, contents)
        return loaded

    def _lose_unreadable(self, seg: _Segment, contents: SegmentContents) -> None:
        """What can't be read back is lost: settle it, so that the segment can go."""
        lost: Dict[str, int] = {}
        for key, r in seg.ranges.items():
            group = self._key_groups[key]
            for i, state in enumerate(r.state):
                if state == _DISK_ONLY and r.start + i not in contents.events:
                    r.state[i] = _SETTLED
                    seg.unsettled -= 1
                    seg.disk_only[group] -= 1
                    lost[group] = lost.get(group, 0) + 1
        if lost:
            self.figures["spool_torn"] += 1
            for group, n in lost.items():
                self.count_disk_only(group, -n)
                report(
                    f"wt_adapters lost {n} events of log group {group!r} kept on disk only:"
                    f" a segment in spool_dir={self.directory!r} could not be read back",
                    WatchtowerWarning,
                )

    # ---------------------------------------------------------------- adoption

    def _adopt_gone(self) -> None:
        """Adopt the segments of every writer whose lock nobody holds."""
        import fcntl

        for writer in _writers_in(self.directory):
            if writer == self.writer or self._closed or self.off is not None:
                continue
            path = os.path.join(self.directory, f"{writer}.lock")
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer
                # Listed again under the lock: another process may have adopted them just now.
                segments = _writers_in(self.directory).get(writer, [])
                if self._adopt(segments):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            finally:
                os.close(fd)

    def _adopt(self, segments: List[Tuple[int, str]]) -> bool:
        """Copy a gone writer's unsettled events into this spool, then delete its files.

        Segment by segment (each holds its events' marks), so that memory holds
        one segment at a time; each is deleted once its copy is on disk.
        """
        for _, path in segments:
            data = _read_file(path)
            if data is None:
                continue
            contents = parse_segment(data)
            if contents.torn:
                self.figures["spool_torn"] += 1
            duplicates: Dict[str, int] = {}
            held: Dict[str, int] = {}
            with self._lock:
                for seq in sorted(contents.events):
                    if seq in contents.acked:
                        continue
                    group, stream, timestamp, message = contents.events[seq]
                    key = self._own_keys.get(group)
                    if key is None:
                        key = self._own_keys[group] = self._next_key
                        self._next_key += 1
                        self._key_groups[key] = group
                        self._own_next[key] = key << KEY_SHIFT
                    new = self._own_next[key]
                    self._own_next[key] = new + 1
                    size = len(message) + EVENT_OVERHEAD
                    event = QueuedEvent(timestamp, message, size, -1, new)
                    self._own.setdefault(key, []).append(Handover(stream, event, True))
                    held[group] = held.get(group, 0) + 1
                    if seq in contents.sending:
                        duplicates[group] = duplicates.get(group, 0) + 1
                for group, n in held.items():
                    self._disk_only[group] = self._disk_only.get(group, 0) + n
            with self._io:
                self._write_pending()
                if self.off is not None:
                    return False  # not copied: the old files stay for the next process
                if self._current is not None:
                    os.fsync(self._current.fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.figures["adopted"] += sum(held.values())
            for group, n in duplicates.items():
                self.figures["adopted_possible_duplicates"] += n
                engine = self._engine_for(group)
                if engine is not None:
                    engine.count_possible_duplicates(n)
        return True

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
            self._marks = []
            self._dead = []
            own, self._own = self._own, {}
            engines = list(self._engines)
        rest = list(unwritten or [])
        rest.extend((self._key_groups[key], buf) for key, buf in own.items())
        for engine in engines:
            rest.append((engine.group, engine.spool_stop()))
        report(
            f"wt_adapters can't write to spool_dir={self.directory!r} ({self.off});"
            " events are kept in memory only from now on",
            WatchtowerWarning,
        )
        by_group: Dict[str, List[LoadedEvent]] = {}
        for group, buf in rest:
            for h in buf:
                if h.disk_only:
                    by_group.setdefault(group, []).append(_in_memory_only(h))
        for group, events in by_group.items():
            target = self._engine_for(group)
            if target is not None:
                target.take_back(events)
            self.count_disk_only(group, -len(events))

    def waiting(self) -> Dict[str, int]:
        """Events on disk, by log group, that are not settled."""
        counts: Dict[str, int] = {}
        with self._io:
            for seg in self._segments:
                for key, r in seg.ranges.items():
                    n = len(r.state) - r.state.count(_SETTLED)
                    if n:
                        group = self._key_groups[key]
                        counts[group] = counts.get(group, 0) + n
        return counts

    def close(self) -> Dict[str, int]:
        """Write what is left, delete settled segments; return what still waits on disk, by group.

        With nothing left, the writer's lock file goes too; otherwise the lock is
        released, so that the next process (or a live one) adopts the rest.
        """
        with self._lock:
            if self._closed:
                return {}
            self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        left: Dict[str, int] = {}
        if self._pid != os.getpid():
            return left
        with contextlib.suppress(OSError), self._io:
            if self.off is None:
                self._closed = False  # so that the last pass writes
                try:
                    self._write_pending()
                finally:
                    self._closed = True
            if self._current is not None:
                self._seal(self._current)
            if self.off is None:
                self._delete_settled()
        self._stop_engines()
        if self._segments:
            left = self.waiting()
        for seg in self._segments:
            if seg.fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(seg.fd)
                seg.fd = -1
        if self._lock_fd >= 0:
            if not self._segments:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, f"{self.writer}.lock"))
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = -1
        return left

    def _stop_engines(self) -> None:
        """Have engines hand nothing more over; what was to be on disk only goes to memory."""
        for engine in self.engines():
            held = [_in_memory_only(h) for h in engine.spool_stop() if h.disk_only]
            if held:
                engine.take_back(held)

    def _after_fork_in_child(self) -> None:
        """A forked child is a new writer: drop the parent's files (no lock is taken)."""
        for seg in self._segments:
            if seg.fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(seg.fd)
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        engines, make = list(self._engines), self._make_engine
        closed = self._closed
        self._reset()
        self._engines, self._make_engine = engines, make
        self._closed = closed


def _in_memory_only(h: Handover) -> LoadedEvent:
    """An event that was to be on disk only, for its engine to keep in memory instead."""
    return LoadedEvent(h.stream, h.event.timestamp, h.event.message, -1)


def _encode_run(first: int, group: str, streams: List[str], events: List[Any]) -> bytes:
    body = {"s": first, "g": group, "p": streams, "e": events}
    return encode_record(_RUN + _dumps(body))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ------------------------------------------------------------------ registry

_spools_lock = threading.Lock()
_spools: Dict[str, Spool] = {}
_all_spools: weakref.WeakSet[Spool] = weakref.WeakSet()


def attach(
    engine: SpoolClient,
    spool_dir: str,
    max_bytes: int,
    sync_interval: float,
    make_engine: Optional[Callable[[str], SpoolClient]] = None,
) -> Tuple[Spool, int]:
    """Return the spool of `spool_dir` for `engine` (made, the directory checked, if new),
    and the engine's first sequence number.

    Raises `WatchtowerError` naming ``spool_dir`` if the directory can't be
    created or written.
    """
    directory = os.path.abspath(spool_dir)
    with _spools_lock:
        spool = _spools.get(directory)
        if spool is None or spool._closed:
            _probe(spool_dir, directory)
            spool = Spool(directory, max_bytes, sync_interval)
            _spools[directory] = spool
            _all_spools.add(spool)
        try:
            first_seq = spool.attach(engine, make_engine)
        except OSError as e:
            del _spools[directory]
            raise WatchtowerError(f"spool_dir={spool_dir!r} can't be used: {e}") from None
    return spool, first_seq


def _probe(given: str, directory: str) -> None:
    """Create `directory` if need be and check that a file can be made there."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".probe-{os.getpid()}-{random.getrandbits(32):08x}")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise WatchtowerError(
            f"spool_dir={given!r} can't be created or written: {e.strerror or e}"
        ) from None
    try:
        import fcntl  # noqa: F401
    except ImportError:
        raise WatchtowerError("spool_dir needs fcntl (a POSIX system)") from None




def close_all() -> List[Tuple[Spool, Dict[str, int]]]:
    """Close every spool of the process (at exit); return what each leaves on disk."""
    with _spools_lock:
        spools = list(_spools.values())
        _spools.clear()
    return [(spool, spool.close()) for spool in spools]


def sync_all() -> None:
    """Have every spool of the process write what it was handed, seal its segment and delete
    settled ones (after an exit flush: what was delivered leaves no file behind)."""
    with _spools_lock:
        spools = list(_spools.values())
    for spool in spools:
        if spool._pid == os.getpid() and not spool.closed:
            spool.sync(seal=True)


def adopt_before_exit(timeout: float) -> None:
    """At exit, have every spool that has not looked for gone writers yet do so now."""
    deadline = time.monotonic() + timeout
    with _spools_lock:
        spools = list(_spools.values())
    for spool in spools:
        thread = spool._thread
        if spool._adoptions == 0 and thread is not None and thread.is_alive():
            spool.adopt_now(max(0.0, deadline - time.monotonic()))


def after_fork_in_child() -> None:
    """In a forked child (from the process's one at-fork hook): every spool starts afresh."""
    global _spools_lock
    _spools_lock = threading.Lock()
    for spool in list(_all_spools):
        spool._after_fork_in_child()


