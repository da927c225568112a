"""The spool's files as bytes: names, record framing, checksums, reading a segment back.

A record is ``struct ">II"`` (payload length, ``zlib.crc32(payload)``) and its
payload, whose first byte says what it is: ``V`` a segment's header (JSON),
``R`` a run of events (JSON: first sequence number, log group, stream names,
[stream index, timestamp, message] rows), ``S`` the events put in a
PutLogEvents request ("sending"), ``A`` the events settled ("acked"); marks
hold (first, count) ranges of sequence numbers and are written to the segment
holding their events, so that each segment reads on its own. A torn or
corrupt record ends the reading of its file: it is counted, never raised.

A sequence number is an engine's key (`KEY_SHIFT` bits up) plus the engine's
own count, so that an engine numbers its events under the lock it holds anyway.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

#: The largest record a reader takes; a longer length is taken as corruption.
MAX_RECORD = 64 * 1024 * 1024
#: A sequence number is an engine's key shifted by this, plus the engine's count.
KEY_SHIFT = 40

HEADER_KIND = b"V"
RUN = b"R"
SENDING = b"S"
ACKED = b"A"
_HEADER = struct.Struct(">II")

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
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_header(writer: str) -> bytes:
    """A segment's first record."""
    return encode_record(HEADER_KIND + json.dumps({"version": 1, "writer": writer}).encode("ascii"))


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


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# -------------------------------------------------------------------- reading


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


def _expand(found: Any) -> Iterator[int]:
    for first, count in found:
        yield from range(int(first), int(first) + int(count))


def parse_segment(data: bytes, into: Optional[SegmentContents] = None) -> SegmentContents:
    """Read a segment's bytes; a torn or unreadable record ends the reading (``torn``)."""
    contents = into if into is not None else SegmentContents()
    payloads, torn = read_records(data)
    for payload in payloads:
        kind, body = payload[:1], payload[1:]
        try:
            if kind == RUN:
                run = loads(body)
                seq = int(run["s"])
                group = str(run["g"])
                streams = [str(s) for s in run["p"]]
                for i, (index, timestamp, message) in enumerate(run["e"]):
                    contents.events[seq + i] = (group, streams[index], int(timestamp), str(message))
            elif kind == ACKED:
                contents.acked.update(_expand(loads(body)))
            elif kind == SENDING:
                contents.sending.update(_expand(loads(body)))
            elif kind != HEADER_KIND:
                raise ValueError(f"unknown record kind {kind!r}")
        except (ValueError, TypeError, KeyError, IndexError):
            torn = True
            break
    contents.torn = contents.torn or torn
    return contents


def read_file(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
