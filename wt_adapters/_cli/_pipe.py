"""`wt-adapters pipe`: ship lines from stdin or files through the engine."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Tuple

import click

from .._errors import WatchtowerError
from .._json import dumps
from .._rules import EVENT_OVERHEAD
from .._settings import BLOCK
from . import _common
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    AwsOptions,
    AwsProblem,
    aws_from,
    aws_options,
    check_reachable,
    counted,
    echo_err,
    make_client,
)
from ._engine_flags import RememberArgs, Speaker, Spelling, add_flags, make_flags, resolve_flags

READ_SIZE = 64 * 1024
#: How often the read loop looks at the stop flag while waiting for input (seconds).
POLL = 0.2
#: The progress line appears after this long, and is redrawn this often (seconds).
PROGRESS_AFTER = 1.0
PROGRESS_EVERY = 0.5

#: Where pipe spells an engine option differently from the table (every other
#: option's flag is made from the table as it is: see `_engine_flags`).
SPELLINGS = {
    "log_group_name": Spelling(("-g", "--group"), default=None, required=True),
    "log_stream_name": Spelling(
        ("-s", "--stream"),
        help="Log stream name or template, with fields {machine_name} {program_name}"
        " {logger_name} (stdin, or the file's name) {process_id} {thread_name}"
        " {strftime:FORMAT} (the line's UTC time).",
        shown="HOST/wt-adapters/stdin/PID",
    ),
    "send_interval": Spelling(default=5.0),
    "max_message_size": Spelling(
        help="Longer lines are split into events of at most this many bytes (26 of them"
        " CloudWatch's overhead; at most 1048576)."
    ),
    "log_group_retention_days": Spelling(("--retention-days",)),
    "log_group_tags": Spelling(("--tag",), help="A tag for a log group this creates."),
    "create_log_group": Spelling(("--create-group",)),
    "create_log_stream": Spelling(("--create-stream",)),
    "queue_overflow": Spelling(
        default=BLOCK, note="The default here slows the writer rather than drop lines."
    ),
    "queue_block_timeout": Spelling(default=60.0),
}
ENGINE_FLAGS = make_flags(SPELLINGS)
#: How messages say pipe's --no-queue (the use_queues option).
NO_QUEUE = {"needs use_queues=True": "does not work with --no-queue"}

#: Names the flags in messages when the command line is not known (as pipe's help does).
_speak = Speaker(ENGINE_FLAGS, ())


class _Stop:
    """Set by SIGINT/SIGTERM: stop reading, then flush and report."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: Optional[str] = None

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        self.signal = signal.Signals(signum).name
        self.event.set()


@contextlib.contextmanager
def _stop_on_signals(stop: _Stop) -> Iterator[None]:
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no SIGTERM
            previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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


Line = Tuple[bytes, bool]


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


def _read_chunks_simple(
    stream: BinaryIO, stop: threading.Event, piece: int
) -> Iterator[List[Line]]:
    """`read_chunks` where select() can't wait on files (Windows)."""
    for line in stream:
        yield list(_pieces(line.rstrip(b"\n"), piece))
        if stop.is_set():
            break


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


@click.command(cls=RememberArgs)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--tee", is_flag=True, help="Also copy every line to stdout.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress line on stderr  [default: when stderr is a terminal]",
)
@add_flags(ENGINE_FLAGS)
@click.option(
    "--no-queue",
    "no_queue",
    is_flag=True,
    help="Send each line before reading the next (slow; no batching).",
)
@click.option(
    "--flush-timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    default=60.0,
    show_default=True,
    help="At the end, how long to wait for the last lines to be sent (seconds).",
)
@aws_options
def pipe(
    files: Tuple[str, ...],
    tee: bool,
    progress: Optional[bool],
    no_queue: bool,
    flush_timeout: float,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
    **engine: Any,
) -> int:
    """Ship lines from stdin (or FILES) to CloudWatch Logs, one event per line.

    A line that is a JSON object is stored as a JSON object; blank lines are
    skipped. Each event's timestamp is the time its line was read. At end of
    input, or on Ctrl-C or SIGTERM, what was read is flushed and the counts
    are printed on stderr. Exits with 1 if any line was not delivered.

    \b
    Example:
      my-app 2>&1 | wt-adapters pipe --group my-app --tee
    """
    aws = aws_from(profile, region, endpoint_url)
    # Checked by the options' own definitions: no engine, no network.
    ctx = click.get_current_context()
    queues = {"use_queues": not no_queue}
    options, speak = resolve_flags(ctx, ENGINE_FLAGS, engine, fixed=queues, phrases=NO_QUEUE)
    _common.speak = speak  # warnings name the flags, not Destination's arguments
    # The program name in stream names: the command, not the path of __main__.py.
    sys.argv[0] = PROG
    from .._destination import Destination
    from .._streams import StreamNamer

    group = options["log_group_name"]
    namer = StreamNamer(options["log_stream_name"], "log_stream_name")
    inputs = _inputs(files)  # a file that can't be read fails before any AWS call
    try:
        client = make_client(aws, engine=True)
        exists = check_reachable(client, aws, group)
        if exists is False and not options["create_log_group"]:
            no = speak.negations["create_log_group"]
            raise AwsProblem(
                f"log group {group!r} does not exist at {aws.describe()}, and {no}"
                f" was given: create it, or leave out {no}"
            )
        destination = Destination(**options, **queues, boto3_client=client)
    except WatchtowerError as e:  # what only the engine can check (a spool directory, ...)
        _close_inputs(inputs)
        raise click.UsageError(speak(str(e)), ctx) from None
    except BaseException:
        _close_inputs(inputs)
        raise
    piece = max(1, options["max_message_size"] - EVENT_OVERHEAD)
    return _ship(destination, namer, inputs, piece, tee, progress, flush_timeout, aws, speak)


def _inputs(files: Tuple[str, ...]) -> List[Tuple[str, int, bool]]:
    """(logger name, fd, opened here) for each input; stdin when there are none."""
    opened: List[Tuple[str, int, bool]] = []
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


def _close_inputs(inputs: List[Tuple[str, int, bool]]) -> None:
    for _, fd, mine in inputs:
        if mine:
            with contextlib.suppress(OSError):
                os.close(fd)


def _ship(
    destination: Any,
    namer: Any,
    inputs: List[Tuple[str, int, bool]],
    piece: int,
    tee: bool,
    progress_flag: Optional[bool],
    flush_timeout: float,
    aws: AwsOptions,
    speak: Speaker,
) -> int:
    started = time.monotonic()
    stop = _Stop()
    progress = _Progress(sys.stderr.isatty() if progress_flag is None else progress_flag)
    out = sys.stdout.buffer if tee else None
    read = blank = submitted = refused = long_lines = pieces = 0
    last_ms = 0
    try:
        with _stop_on_signals(stop):
            for logger_name, fd, _ in inputs:
                if stop.event.is_set():
                    break
                if sys.platform == "win32":  # pragma: no cover - select() needs sockets there
                    chunks = _read_chunks_simple(
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
        _close_inputs(inputs)
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
