"""`wt-adapters pipe`: ship lines from stdin or files through the engine."""

from __future__ import annotations

import sys
from typing import Any, Optional, Tuple

import click

from .._errors import WatchtowerError
from .._rules import EVENT_OVERHEAD
from .._settings import BLOCK
from . import _common
from ._common import PROG, AwsProblem, aws_from, aws_options, check_reachable, make_client
from ._engine_flags import RememberArgs, Speaker, Spelling, add_flags, make_flags, resolve_flags
from ._pipe_input import close_inputs, open_inputs
from ._pipe_ship import ship

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
    inputs = open_inputs(files)  # a file that can't be read fails before any AWS call
    try:
        if options["transport"] == "http-ingest":  # a bearer token alone: no boto3, no credentials
            destination = Destination(**options, **queues, endpoint_url=aws.endpoint_url)
        else:
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
        close_inputs(inputs)
        raise click.UsageError(speak(str(e)), ctx) from None
    except BaseException:
        close_inputs(inputs)
        raise
    piece = max(1, options["max_message_size"] - EVENT_OVERHEAD)
    return ship(destination, namer, inputs, piece, tee, progress, flush_timeout, aws, speak)
