"""`wt-adapters pipe`'s input: the files it reads, cut into lines and pieces of lines."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import BinaryIO, Iterator, List, Tuple

import click

READ_SIZE = 64 * 1024
#: How often the read loop looks at the stop flag while waiting for input (seconds).
POLL = 0.2

#: A line (or a piece of one) without its newline, and whether more of it follows.
Line = Tuple[bytes, bool]
#: An input: (logger name, fd, whether it was opened here).
Input = Tuple[str, int, bool]


def read_chunks(fd: int, stop: threading.Event, piece: int) -> Iterator[List[Line]]:
    """Yield the lines read from `fd`, a read's worth at a time, until EOF or `stop`.

    Each line comes without its newline, with a flag saying whether more of
    the same line follows: a line over `piece` bytes is cut into pieces of at
    most that many bytes, at UTF-8 character boundaries. Waits for input in
    slices of `POLL` seconds so that a signal stops it promptly; every byte
    already read is still yielded (an unterminated last piece as a line).
    """
    import select

    buffer = b""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], POLL)
        if not ready:
            continue
        chunk = os.read(fd, READ_SIZE)
        if not chunk:
            break
        buffer += chunk
        lines: List[Line] = []
        if b"\n" in chunk:
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                lines.extend(_pieces(line, piece))
        while len(buffer) > piece:  # a line still growing: ship what can't grow any more
            cut = _boundary(buffer, piece)
            lines.append((buffer[:cut], True))
            buffer = buffer[cut:]
        if lines:
            yield lines
    if buffer:
        yield list(_pieces(buffer, piece))


def _boundary(data: bytes, limit: int) -> int:
    """The largest cut at most `limit` bytes into `data` that splits no UTF-8 character."""
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut or limit


def _pieces(line: bytes, piece: int) -> Iterator[Line]:
    while len(line) > piece:
        cut = _boundary(line, piece)
        yield line[:cut], True
        line = line[cut:]
    yield line, False


def read_chunks_simple(stream: BinaryIO, stop: threading.Event, piece: int) -> Iterator[List[Line]]:
    """`read_chunks` where select() can't wait on files (Windows)."""
    for line in stream:
        yield list(_pieces(line.rstrip(b"\n"), piece))
        if stop.is_set():
            break


def open_inputs(files: Tuple[str, ...]) -> List[Input]:
    """(logger name, fd, opened here) for each input; stdin when there are none."""
    opened: List[Input] = []
    for path in files or ("-",):
        if path == "-":
            opened.append(("stdin", sys.stdin.fileno(), False))
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            for _, other, mine in opened:
                if mine:
                    os.close(other)
            raise click.BadParameter(
                f"cannot read {path!r}: {e.strerror}", param_hint="'FILES'"
            ) from None
        opened.append((os.path.basename(path) or path, fd, True))
    return opened


def close_inputs(inputs: List[Input]) -> None:
    """Close the inputs opened here (not stdin)."""
    for _, fd, mine in inputs:
        if mine:
            with contextlib.suppress(OSError):
                os.close(fd)
