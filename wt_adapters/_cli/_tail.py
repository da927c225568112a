"""`wt-adapters tail`: read events back with FilterLogEvents, page by page, in order."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import click

from ._common import aws_errors, aws_from, aws_options, log_group_param, make_client
from ._output import COLOR_CHOICES, use_color
from ._tail_follow import follow as follow_group
from ._tail_follow import order, pages
from ._tail_format import Printer
from ._tail_time import TimeParam


@click.command()
@click.argument("group_argument", metavar="[GROUP]", required=False, callback=log_group_param)
@click.option(
    "--group",
    "-g",
    default=None,
    callback=log_group_param,
    help="Log group to read (or give it as GROUP).",
)
@click.option(
    "--stream",
    "-s",
    "streams",
    multiple=True,
    metavar="NAME",
    help="Only this stream (repeatable; exact names).",
)
@click.option("--stream-prefix", "-p", default=None, help="Only streams whose name starts so.")
@click.option(
    "--since",
    type=TimeParam(),
    default="10m",
    show_default=True,
    help="Start: a duration ago (30s, 10m, 2h, 1d, 1w), an ISO 8601 time (UTC if no"
    " zone), or 'all'.",
)
@click.option("--until", type=TimeParam(), default=None, help="End, in the same forms as --since.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option(
    "--filter",
    "pattern",
    default=None,
    metavar="PATTERN",
    help="CloudWatch filter pattern, e.g. ERROR, '?ERROR ?WARN' or '{ $.level = \"error\" }'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON object.")
@click.option(
    "--pretty",
    is_flag=True,
    help="Pretty-print JSON (the --json objects, or messages that are JSON objects).",
)
@click.option(
    "--stream-column/--no-stream-column",
    "show_stream",
    default=True,
    show_default=True,
    help="Show each event's stream name.",
)
@click.option(
    "--ingestion-time", is_flag=True, help="Also show when CloudWatch received each event."
)
@click.option(
    "--color",
    type=click.Choice(COLOR_CHOICES),
    default="auto",
    show_default=True,
    help="Colour the time and stream: auto is on for a terminal unless NO_COLOR is set.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="With --follow, seconds between polls.",
)
@aws_options
def tail(
    group_argument: Optional[str],
    group: Optional[str],
    streams: Tuple[str, ...],
    stream_prefix: Optional[str],
    since: Optional[int],
    until: Optional[int],
    follow: bool,
    pattern: Optional[str],
    as_json: bool,
    pretty: bool,
    show_stream: bool,
    ingestion_time: bool,
    color: str,
    interval: float,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """Print the events of a log group, oldest first, as they are read.

    Events are read with FilterLogEvents, a page at a time, and each page is
    printed as it arrives (in constant memory), in timestamp order. By
    default one line each: time, stream, message. Control characters in
    messages and stream names are shown escaped (\\e, \\x07), never sent to
    the terminal.

    \b
    Examples:
      wt-adapters tail my-app --since 1h --filter ERROR
      wt-adapters tail -g my-app --follow --json
    """
    if group_argument and group and group_argument != group:
        raise click.UsageError("give the log group once: as GROUP or with --group")
    group = group or group_argument
    if not group:
        raise click.UsageError("missing the log group: GROUP or --group")
    if follow and until is not None:
        raise click.UsageError("--follow and --until cannot be used together")
    if streams and stream_prefix:
        raise click.UsageError("--stream and --stream-prefix cannot be used together")
    if since is not None and until is not None and until < since:
        raise click.UsageError("--until is before --since")
    aws = aws_from(profile, region, endpoint_url)
    client = make_client(aws)
    params: Dict[str, Any] = {"logGroupName": group}
    if streams:
        params["logStreamNames"] = list(dict.fromkeys(streams))
    if stream_prefix:
        params["logStreamNamePrefix"] = stream_prefix
    if since is not None:
        params["startTime"] = since
    if until is not None:
        params["endTime"] = until
    if pattern:
        params["filterPattern"] = pattern
    printer = Printer(
        as_json,
        pretty,
        color=use_color(color),
        show_stream=show_stream,
        show_ingestion=ingestion_time,
    )
    if follow:
        follow_group(client, aws, group, params, printer, interval)
        return 0
    with aws_errors(aws, group, pattern):
        for page in pages(client, params):
            printer.write(order(page))
    return 0
