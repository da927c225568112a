"""`wt-adapters tail`: read events back with FilterLogEvents, page by page, in order."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple

import click

from ._common import (
    PROG,
    AwsOptions,
    aws_errors,
    aws_from,
    aws_options,
    aws_problem,
    echo_err,
    log_group_param,
    make_client,
)
from ._output import (
    COLOR_CHOICES,
    escape,
    escape_json,
    stdout_closed,
    style,
    use_color,
    write_text,
)

#: With --follow, events up to this far behind the newest one seen are still looked for
#: (they can reach CloudWatch late: batching, retries).
FOLLOW_LOOKBACK_MS = 120_000
#: With --follow, the ids of events seen are pruned to the look-back window past this many.
PRUNE_AT = 20_000
#: The latest time CloudWatch takes (the year 9999), in ms since the epoch.
MAX_TIME_MS = 253_402_300_799_999

_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\Z"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str, now: Optional[float] = None) -> Optional[int]:
    """Return ms since the epoch for "10m", "2h", "1d" (ago), an ISO 8601 time, or "all" (None).

    Units are lower case (``1M`` is refused, not read as a minute). ISO 8601 is
    read by python-dateutil (botocore's own dependency), so every Python reads
    the same forms: ``2024-05-01T12:00:00.5Z``, ``+0100``, ``20240501T120000Z``.
    A time without a zone is UTC.
    """
    text = value.strip()
    if text.lower() in ("all", "beginning"):
        return None
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)[0]]
        ms = int(((time.time() if now is None else now) - seconds) * 1000)
    else:
        from dateutil.parser import isoparse  # type: ignore[import-untyped]

        try:
            when = isoparse(text)
        except (ValueError, OverflowError):
            raise ValueError(
                f"{value!r} is neither a duration like 30s, 10m, 2h, 1d, 1w nor an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        try:
            ms = int(when.timestamp() * 1000)
        except (OverflowError, ValueError, OSError):
            ms = -1
    if not 0 <= ms <= MAX_TIME_MS:
        raise ValueError(f"{value!r} is out of range (1970 to 9999)")
    return ms


if TYPE_CHECKING:
    _ParamType = click.ParamType[Optional[int], Any]
else:  # not subscriptable before click 8.2
    _ParamType = click.ParamType


class TimeParam(_ParamType):
    """A --since/--until value, converted to ms since the epoch (None: from the start)."""

    name = "TIME"

    def convert(
        self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> Any:
        if value is None or isinstance(value, int):
            return value
        try:
            return parse_time(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


def format_time(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def decode(message: str) -> Any:
    """The message as a JSON object if it is one, else the string itself."""
    if message[:1] == "{" or message.lstrip()[:1] == "{":
        try:
            value = json.loads(message)
        except ValueError:
            return message
        if isinstance(value, dict):
            return value
    return message


def order(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Sort by timestamp, then ingestion time; equal keys keep the order they came in.

    CloudWatch interleaves the streams of a page by time; within a stream,
    events of equal timestamp come in stored order, which the stable sort keeps.
    """
    return sorted(events, key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))


def pages(client: Any, params: Dict[str, Any]) -> Iterator[List[Dict[str, Any]]]:
    """The events FilterLogEvents returns for `params`, a page at a time (in constant memory)."""
    for page in client.get_paginator("filter_log_events").paginate(**params):
        yield page.get("events", [])


class Printer:
    """Writes events to stdout as they come: one line each, or JSON; terminal-safe."""

    def __init__(
        self,
        as_json: bool,
        pretty: bool,
        *,
        color: bool = False,
        show_stream: bool = True,
        show_ingestion: bool = False,
    ) -> None:
        self.as_json = as_json
        self.pretty = pretty
        self.color = color
        self.show_stream = show_stream
        self.show_ingestion = show_ingestion

    def render(self, event: Dict[str, Any]) -> str:
        message = str(event.get("message", ""))
        stream = str(event.get("logStreamName", ""))
        when = format_time(int(event["timestamp"]))
        ingested = event.get("ingestionTime")
        if self.as_json:
            record: Dict[str, Any] = {"time": when, "timestamp": event["timestamp"]}
            if self.show_ingestion and ingested is not None:
                record["ingestion_time"] = format_time(int(ingested))
            if self.show_stream:
                record["stream"] = stream
            record["message"] = decode(message)
            text = json.dumps(record, indent=2 if self.pretty else None, ensure_ascii=False)
            return escape_json(text)
        value = decode(message) if self.pretty else message
        if isinstance(value, dict):
            shown = escape_json(json.dumps(value, indent=2, ensure_ascii=False))
        else:
            # A message's own line breaks stay line breaks, indented under it.
            shown = escape(message.rstrip("\n"), newlines=True).replace("\n", "\n    ")
        columns = [style(when, "2", self.color)]
        if self.show_ingestion and ingested is not None:
            columns.append(style(format_time(int(ingested)), "2", self.color))
        if self.show_stream:
            columns.append(style(escape(stream), "36", self.color))
        columns.append(shown)
        return " ".join(columns)

    def write(self, events: Iterable[Dict[str, Any]]) -> int:
        """Write a page of events and flush; return how many."""
        lines = [self.render(event) for event in events]
        if lines:
            write_text("\n".join(lines) + "\n")
        return len(lines)


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
        _follow(client, aws, group, params, printer, interval)
        return 0
    with aws_errors(aws, group, pattern):
        for page in pages(client, params):
            printer.write(order(page))
    return 0


def _follow(
    client: Any,
    aws: AwsOptions,
    group: str,
    params: Dict[str, Any],
    printer: Printer,
    interval: float,
) -> None:
    """Print, then poll for new events until Ctrl-C or until stdout's reader goes away.

    A group that does not exist yet is waited for (said once on stderr).
    """
    import botocore.exceptions

    start = params.get("startTime")
    newest = start or 0
    seen: Dict[Tuple[str, str], int] = {}
    wake = threading.Event()
    waiting_said = False
    first = True
    try:
        while True:
            if not first:
                if stdout_closed():
                    return
                wake.wait(interval)
            first = False
            floor = newest - FOLLOW_LOOKBACK_MS
            request = dict(params)
            if seen:
                request["startTime"] = max(floor, start or floor)
            try:
                for page in pages(client, request):
                    fresh = []
                    for event in page:
                        key = (str(event.get("logStreamName")), str(event.get("eventId")))
                        if key not in seen:
                            seen[key] = event["timestamp"]
                            fresh.append(event)
                    if fresh:
                        printer.write(order(fresh))
                        newest = max(newest, max(e["timestamp"] for e in fresh))
                    if len(seen) > PRUNE_AT:  # keep only what the next poll can return again
                        floor = newest - FOLLOW_LOOKBACK_MS
                        seen = {k: ts for k, ts in seen.items() if ts >= floor}
            except botocore.exceptions.ClientError as e:
                code = e.response.get("Error", {}).get("Code")
                if code != "ResourceNotFoundException":
                    raise aws_problem(e, aws, group, params.get("filterPattern")) from None
                if not waiting_said:
                    echo_err(
                        f"{PROG} tail: log group {group!r} does not exist yet at"
                        f" {aws.describe()}; waiting for it (Ctrl-C stops)"
                    )
                    waiting_said = True
            except botocore.exceptions.BotoCoreError as e:
                raise aws_problem(e, aws, group) from None
    except KeyboardInterrupt:
        return
