"""The ingestion endpoint's request bodies: events as NDJSON lines, in requests of bounded size.

An event's message that is a JSON object goes as that object, with
``"timestamp"`` (the event's, in ms) put first unless the object has one of
its own; any other message (text, a JSON array, a number) goes as
``{"timestamp": ..., "message": "<the text>"}``, so that CloudWatch never
flattens an array or takes a number's line for an event of its own.

A message is parsed only when it could be an object (it starts with ``{``
and ends with ``}``), to tell a JSON object from text that looks like one:
CloudWatch skips a line that is not JSON, so a line is never sent unchecked.
An object is sent as the message spells it (the timestamp is spliced in, not
re-encoded), unless it spans lines (pretty-printed): then it is re-encoded
on one line.
"""

from __future__ import annotations

import gzip
import json
from json.encoder import encode_basestring
from typing import Any, Iterator, List, Sequence

from ._protocol import Event

#: The most bytes of NDJSON (before compression) one request carries. AWS documents no
#: limit for the endpoint; PutLogEvents' 1 MiB is taken.
MAX_REQUEST_BYTES = 1024 * 1024

#: gzip level: 1 takes about a third of the time of level 6 and a fifteenth of level 9
#: on log lines, for bodies 10-15% of their size against 8-12% (`python -m
#: benchmarks.ingest_body`; docs/transports.md has the figures).
GZIP_LEVEL = 1


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json writes NaN; RFC 8259 has none


def _strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse)


try:  # orjson parses several times faster than json, where it is installed
    import orjson

    def _parse(text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # also valid JSON orjson refuses (1e400, surrogates)
            return _strict_loads(text)

except ImportError:  # pragma: no cover - the fast extra is not installed
    _parse = _strict_loads


def line_of(timestamp: int, message: str) -> str:
    """The NDJSON line (without its newline) that carries one event."""
    if message[:1] == "{" and message[-1:] == "}":
        try:
            value = _parse(message)
        except (ValueError, RecursionError):  # not JSON (or nested too deep): text
            value = None
        if isinstance(value, dict):
            if "\n" in message or "\r" in message:  # whitespace between tokens: one line
                try:  # re-read as Python does, for its integers of any size
                    message = json.dumps(
                        _strict_loads(message),
                        ensure_ascii=False,
                        separators=(",", ":"),
                        allow_nan=False,
                    )
                except (ValueError, RecursionError):
                    return _text_line(timestamp, message)
            if "timestamp" in value:
                return message
            if not value:
                return f'{{"timestamp":{timestamp}}}'
            return f'{{"timestamp":{timestamp},{message[1:].lstrip()}'
    return _text_line(timestamp, message)


def _text_line(timestamp: int, message: str) -> str:
    return f'{{"timestamp":{timestamp},"message":{encode_basestring(message)}}}'


def encode_lines(events: Sequence[Event]) -> List[bytes]:
    """Each event's line, UTF-8 encoded, with its newline."""
    return [(line_of(ts, msg) + "\n").encode("utf-8", "replace") for ts, msg in events]


def requests_of(lines: Sequence[bytes], limit: int = MAX_REQUEST_BYTES) -> Iterator[bytes]:
    """Join `lines` into request bodies of at most `limit` bytes each (a longer line: alone)."""
    chunk: List[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) > limit:
            yield b"".join(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    if chunk:
        yield b"".join(chunk)


def compress(body: bytes) -> bytes:
    """The gzip form of a request body (``Content-Encoding: gzip``); no timestamp in the header."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
