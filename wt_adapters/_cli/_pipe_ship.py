"""`wt-adapters pipe`'s loop: read, submit, report; with a progress line and --tee."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from typing import Any, BinaryIO, Dict, List, Optional

from .._errors import WatchtowerError
from .._json import dumps
from ._common import EXIT_FAILED, EXIT_OK, PROG, AwsOptions, counted, echo_err
from ._engine_flags import Speaker
from ._pipe_input import Input, Line, close_inputs, read_chunks, read_chunks_simple
from ._stop_signals import Stop, stop_on_signals

#: The progress line appears after this long, and is redrawn this often (seconds).
PROGRESS_AFTER = 1.0
PROGRESS_EVERY = 0.5


def to_message(line: str) -> str:
    """Return the event message for a line: a JSON object re-encoded compactly, else the line."""
    if line[:1] == "{" or line.lstrip()[:1] == "{":
        try:
            value = json.loads(line)
        except ValueError:
            return line
        if isinstance(value, dict):
            return dumps(value)
    return line


class _Progress:
    """A progress line on stderr, redrawn in place by time, when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.next_draw = self.started + PROGRESS_AFTER
        self.drawn = False

    def update(self, read: int, stats: Any) -> None:
        now = time.monotonic()
        if not self.enabled or now < self.next_draw:
            return
        self.next_draw = now + PROGRESS_EVERY
        figures = stats()
        rate = read / max(1e-6, now - self.started)
        sys.stderr.write(
            f"\r\x1b[K{PROG} pipe: read {counted(read, 'line')} ({rate:,.0f}/s),"
            f" sent {figures['sent']}, queued {figures['queued']}"
        )
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the line (before other output, or at the end); the next update redraws it."""
        if self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.drawn = False
            self.next_draw = min(self.next_draw, time.monotonic() + PROGRESS_EVERY)


def _sum(counts: Dict[str, int]) -> int:
    return sum(counts.values())


def _describe(counts: Dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(counts.items()) if v)


def ship(
    destination: Any,
    namer: Any,
    inputs: List[Input],
    piece: int,
    tee: bool,
    progress_flag: Optional[bool],
    flush_timeout: float,
    aws: AwsOptions,
    speak: Speaker,
) -> int:
    started = time.monotonic()
    stop = Stop()
    progress = _Progress(sys.stderr.isatty() if progress_flag is None else progress_flag)
    out = sys.stdout.buffer if tee else None
    read = blank = submitted = refused = long_lines = pieces = 0
    last_ms = 0
    try:
        with stop_on_signals(stop):
            for logger_name, fd, _ in inputs:
                if stop.event.is_set():
                    break
                if sys.platform == "win32":  # pragma: no cover - select() needs sockets there
                    chunks = read_chunks_simple(
                        os.fdopen(fd, "rb", closefd=False), stop.event, piece
                    )
                else:
                    chunks = read_chunks(fd, stop.event, piece)
                in_long = False  # inside a line longer than a piece
                for lines in chunks:
                    if out is not None:
                        progress.clear()
                        out = _tee(out, lines)
                    for raw, continues in lines:
                        is_piece = continues or in_long
                        if is_piece:
                            pieces += 1
                            long_lines += not in_long
                        in_long = continues
                        read += not continues
                        text = raw.decode("utf-8", "replace")
                        if text.endswith("\r") and not continues:
                            text = text[:-1]
                        if not text.strip():
                            blank += not is_piece
                            continue
                        # Never go back in time: lines keep their order in CloudWatch. The
                        # pieces of a long line get a millisecond each, so that they keep
                        # theirs even when they go out in parallel requests.
                        last_ms = max(last_ms + is_piece, int(time.time() * 1000))
                        name = namer(logger_name, "MainThread", last_ms / 1000)
                        submitted += 1
                        message = text if is_piece else to_message(text)
                        if not destination.submit(name, last_ms, message):
                            refused += 1
                    progress.update(read, destination.stats)
            delivered = destination.close(flush_timeout)
    finally:
        progress.clear()
        close_inputs(inputs)
    figures = destination.stats()
    dropped: Dict[str, int] = dict(figures["dropped"])
    rejected: Dict[str, int] = dict(figures["rejected"])
    sent = int(figures["sent"])
    lost = submitted - sent
    elapsed = time.monotonic() - started
    why = f" on {stop.signal}" if stop.signal else ""
    stopped = f"stopped{why}: " if stop.signal else ""
    summary = f"{PROG} pipe: {stopped}read {counted(read, 'line')} ({blank} blank, skipped)"
    summary += f", sent {counted(sent, 'event')} to {destination.settings.log_group_name!r}"
    summary += f", dropped {_sum(dropped)}, rejected {_sum(rejected)} in {elapsed:.2f} s"
    if long_lines:
        were = "was" if long_lines == 1 else "were"
        summary += (
            f"; {counted(long_lines, 'line')} longer than --max-message-size {were} split"
            f" into {counted(pieces, 'event')}"
        )
    echo_err(summary)
    if lost or refused or not delivered:
        details = _describe({**dropped, **{f"rejected {k}": v for k, v in rejected.items()}})
        last_error = speak(str(figures.get("last_error") or "")) or None
        echo_err(
            f"{PROG}: error: {lost} of {counted(submitted, 'event')}"
            f" {'was' if lost == 1 else 'were'} not delivered to {aws.describe()}"
            + (f" ({details})" if details else "")
            + (f"; last error: {last_error}" if last_error else "")
            + _on_disk(getattr(destination.settings, "spool_dir", None))
        )
        return EXIT_FAILED
    return EXIT_OK


def _on_disk(spool_dir: Optional[str]) -> str:
    """With --spool-dir: how many events wait there, and how to send them."""
    if spool_dir is None:
        return ""
    from .._spool import summary

    try:
        waiting = summary(spool_dir).events
    except WatchtowerError:
        return ""
    if not waiting:
        return ""
    return (
        f"; {counted(waiting, 'event')} {'waits' if waiting == 1 else 'wait'} in"
        f" {spool_dir!r} for the next start"
        f" (or: {PROG} spool {shlex.quote(spool_dir)} --send)"
    )


def _tee(out: BinaryIO, lines: List[Line]) -> Optional[BinaryIO]:
    """Copy a read's lines to stdout at once (pieces of a long line joined back)."""
    try:
        out.write(b"".join(raw if continues else raw + b"\n" for raw, continues in lines))
    except BrokenPipeError:
        return _flush_out(out)
    return _flush_out(out)


def _flush_out(out: BinaryIO) -> Optional[BinaryIO]:
    try:
        out.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return None
    return out
