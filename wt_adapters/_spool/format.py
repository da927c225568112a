"""The spool's files as bytes: names, record framing, checksums, reading a segment back.

A record (format 2) is `MAGIC`, ``struct ">II"`` (payload length,
``zlib.crc32`` of the length's four bytes and the payload) and its payload,
whose first byte says what it is: ``V`` a segment's header (JSON), ``R`` a run
of events (JSON: first sequence number, log group, stream names, [stream
index, timestamp, message] rows), ``S`` the events put in a PutLogEvents
request ("sending"), ``A`` the events settled ("acked"); marks hold (first,
count) ranges of sequence numbers and are written to the segment holding their
events, so that each segment reads on its own.

A reader that meets a bad record (a checksum that does not match, a length
past the file, a payload that is not what its kind says) skips it and goes on
at the next good frame: `MAGIC` holds bytes that UTF-8 (and so no payload's
JSON) never holds, and a frame is taken only with a matching checksum. What
was skipped is counted (`SegmentContents.corrupt`, ``skipped``); a file that
ends in a record cut short is ``torn``. Segments of format 1 (written before
`MAGIC`: length, CRC-32 of the payload, payload; the first byte of the file is
0) are still read, and resynchronised on the next frame whose kind and JSON
open as a record's do. Nothing here raises on bad bytes.

A sequence number is an engine's key (`KEY_SHIFT` bits up) plus the engine's
own count, so that an engine numbers its events under the lock it holds anyway.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import stat
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

#: The largest record a reader takes; a longer length is taken as corruption.
MAX_RECORD = 64 * 1024 * 1024
#: A sequence number is an engine's key shifted by this, plus the engine's count.
KEY_SHIFT = 40

HEADER_KIND = b"V"
RUN = b"R"
SENDING = b"S"
ACKED = b"A"
_HEADER = struct.Struct(">II")
#: Opens every record of format 2: 0xFF and 0xFE never occur in UTF-8.
MAGIC = b"\xffWR\xfe"
#: The segment format written; format 1 (no `MAGIC`) is still read.
VERSION = 2
_KINDS = (b"V{", b"R{", b"S[", b"A[")

SEGMENT_NAME = re.compile(r"(?P<writer>[A-Za-z0-9_-]+)\.(?P<number>[0-9]+)\.seg\Z")
LOCK_NAME = re.compile(r"(?P<writer>[A-Za-z0-9_-]+)\.lock\Z")

try:  # the spool thread's work is mostly encoding: orjson does it several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """`value` as compact JSON bytes (orjson when installed)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value)
        except TypeError:  # a lone surrogate, say: the standard library escapes it
            pass
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def loads(data: bytes) -> Any:
    return _orjson.loads(data) if _orjson is not None else json.loads(data)


def writer_id() -> str:
    """A name for this process's writer: host, pid and a random part (containers share pids)."""
    host = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{random.getrandbits(32):08x}"


def segment_name(writer: str, number: int) -> str:
    return f"{writer}.{number:06d}.seg"


def lock_name(writer: str) -> str:
    return f"{writer}.lock"


# -------------------------------------------------------------------- writing


def encode_record(payload: bytes) -> bytes:
    length = len(payload).to_bytes(4, "big")
    return MAGIC + length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "big") + payload


def encode_header(writer: str) -> bytes:
    """A segment's first record."""
    header = {"version": VERSION, "writer": writer}
    return encode_record(HEADER_KIND + json.dumps(header).encode("ascii"))


def encode_rows(first: int, group: str, streams: List[str], rows: List[Any]) -> bytes:
    """One run record: `rows` of (stream index, timestamp, message) numbered from `first`."""
    body = {"s": first, "g": group, "p": streams, "e": rows}
    return encode_record(RUN + dumps(body))


def encode_run(first: int, group: str, events: List[Tuple[str, int, str]]) -> bytes:
    """One run record: events (stream, timestamp, message) of `group` numbered from `first`."""
    streams: Dict[str, int] = {}
    rows = []
    for stream, timestamp, message in events:
        index = streams.get(stream)
        if index is None:
            index = streams[stream] = len(streams)
        rows.append((index, timestamp, message))
    return encode_rows(first, group, list(streams), rows)


def ranges(seqs: List[int]) -> List[List[int]]:
    """`seqs` as sorted (first, count) ranges, each number once."""
    found: List[List[int]] = []
    for seq in sorted(seqs):
        if found and found[-1][0] + found[-1][1] == seq:
            found[-1][1] += 1
        elif not found or found[-1][0] + found[-1][1] < seq:
            found.append([seq, 1])
    return found


def encode_mark(kind: bytes, seqs: List[int]) -> bytes:
    """A "sending" or "acked" mark for `seqs`, as (first, count) ranges."""
    return encode_record(kind + dumps(ranges(seqs)))


#: The system call the spool writes its files with: a seam for tests (a full disk, a short write).
os_write = os.write


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os_write(fd, view)
        view = view[n:]


# -------------------------------------------------------------------- reading


class Records(NamedTuple):
    """A file's payloads, and what could not be read of it."""

    payloads: List[bytes]
    #: Stretches of bad bytes skipped between good records.
    skipped: int
    #: Bytes that are no good record: those stretches, and a torn end.
    unread: int
    #: Whether the file ends in bytes that are no good record (cut short, or damaged).
    torn: bool


def _frame(data: bytes, offset: int, v2: bool) -> Optional[Tuple[bytes, int]]:
    """The good record at `offset` (its payload, the offset after it), or None."""
    head = offset + (len(MAGIC) if v2 else 0)
    if head + _HEADER.size > len(data) or (v2 and data[offset:head] != MAGIC):
        return None
    length, crc = _HEADER.unpack_from(data, head)
    start = head + _HEADER.size
    if length == 0 or length > MAX_RECORD or start + length > len(data):
        return None
    payload = data[start : start + length]
    seed = zlib.crc32(data[head : head + 4]) if v2 else 0
    return (payload, start + length) if zlib.crc32(payload, seed) == crc else None


def _resync(data: bytes, offset: int, v2: bool) -> int:
    """The offset of the next good record after `offset`, or -1 if there is none."""
    while True:
        if v2:
            found = data.find(MAGIC, offset + 1)
        else:  # format 1: a frame's kind byte and JSON begin 8 bytes after it
            hits = [data.find(kind, offset + 1 + _HEADER.size) for kind in _KINDS]
            found = min((h - _HEADER.size for h in hits if h >= 0), default=-1)
        if found < 0 or _frame(data, found, v2) is not None:
            return found
        offset = found


def read_records(data: bytes) -> Records:
    """Split a file's bytes into payloads, skipping bad records (see the module's docstring)."""
    payloads: List[bytes] = []
    v2 = not data.startswith(b"\0")
    offset = skipped = unread = 0
    while offset < len(data):
        found = _frame(data, offset, v2)
        if found is not None:
            payloads.append(found[0])
            offset = found[1]
            continue
        after = _resync(data, offset, v2)
        if after < 0:
            return Records(payloads, skipped, unread + len(data) - offset, True)
        skipped += 1
        unread += after - offset
        offset = after
    return Records(payloads, skipped, unread, False)


@dataclass
class SegmentContents:
    """What one segment file holds: events by sequence number, and the marks."""

    #: seq -> (group, stream, timestamp, message)
    events: Dict[int, Tuple[str, str, int, str]] = field(default_factory=dict)
    acked: Set[int] = field(default_factory=set)
    sending: Set[int] = field(default_factory=set)
    #: Whether the file ends in a record cut short (or damaged past any good one).
    torn: bool = False
    #: Bad records skipped between good ones (bad bytes, or a payload that did not parse).
    corrupt: int = 0
    #: Bytes not read: skipped, and the torn end.
    unread_bytes: int = 0
    #: Good records read.
    records: int = 0

    @property
    def damaged(self) -> bool:
        """Whether some of the file could not be read."""
        return self.torn or self.corrupt > 0


def _expand(found: Any) -> Iterator[int]:
    for first, count in found:
        yield from range(int(first), int(first) + int(count))


def parse_segment(data: bytes, into: Optional[SegmentContents] = None) -> SegmentContents:
    """Read a segment's bytes; bad records are skipped and counted, never raised."""
    contents = into if into is not None else SegmentContents()
    found = read_records(data)
    for payload in found.payloads:
        kind, body = payload[:1], payload[1:]
        try:
            if kind == RUN:
                run = loads(body)
                seq = int(run["s"])
                group = str(run["g"])
                streams = [str(s) for s in run["p"]]
                events = {
                    seq + i: (group, streams[index], int(timestamp), str(message))
                    for i, (index, timestamp, message) in enumerate(run["e"])
                }  # made whole before any is kept: a bad row drops its record only
                contents.events.update(events)
            elif kind == ACKED:
                contents.acked.update(_expand(loads(body)))
            elif kind == SENDING:
                contents.sending.update(_expand(loads(body)))
            elif kind != HEADER_KIND:
                raise ValueError(f"unknown record kind {kind!r}")
            contents.records += 1
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            contents.corrupt += 1
            contents.unread_bytes += len(payload)
    contents.corrupt += found.skipped
    contents.unread_bytes += found.unread
    contents.torn = contents.torn or found.torn
    return contents


def read_file(path: str) -> Optional[bytes]:
    """A regular file's bytes; None if it can't be read or is no regular file (never blocks:
    a FIFO or a device named like a spool file is opened without waiting, then left)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def is_irregular(path: str) -> bool:
    """Whether `path` is there and is no regular file (a FIFO, a device, a directory)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
