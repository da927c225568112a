"""`wt-adapters tail`: read events back with FilterLogEvents, in order."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

import click

from ._common import aws_errors, aws_from, aws_options, make_client

#: Most FilterLogEvents pages read in one pass (a page holds up to 10,000 events).
MAX_PAGES = 100_000
#: With --follow, events up to this far behind the newest one seen are still looked for
#: (they can reach CloudWatch late: batching, retries).
FOLLOW_LOOKBACK_MS = 120_000

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\Z", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str, now: Optional[float] = None) -> Optional[int]:
    """Return ms since the epoch for "10m", "2h", "1d" (ago), an ISO 8601 time, or "all" (None).

    An ISO time without a zone is taken as UTC.
    """
    text = value.strip()
    if text.lower() in ("all", "beginning"):
        return None
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration like 30s, 10m, 2h, 1d, 1w nor an ISO 8601 time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


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

    FilterLogEvents returns one stream after another (moto) or interleaved
    (CloudWatch); within a stream, events of equal timestamp come in stored
    order, which the stable sort keeps.
    """
    return sorted(events, key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))


def fetch(client: Any, params: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every event FilterLogEvents returns for `params`, all pages."""
    events: List[Dict[str, Any]] = []
    request = dict(params)
    seen_tokens = set()
    for _ in range(MAX_PAGES):
        page = client.filter_log_events(**request)
        events.extend(page.get("events", ()))
        token = page.get("nextToken")
        if not token or token in seen_tokens:
            break
        seen_tokens.add(token)
        request["nextToken"] = token
    return events


class Printer:
    """Writes events to stdout: one line each, or JSON."""

    def __init__(self, as_json: bool, pretty: bool) -> None:
        self.as_json = as_json
        self.pretty = pretty

    def render(self, event: Dict[str, Any]) -> str:
        message = str(event.get("message", ""))
        stream = str(event.get("logStreamName", ""))
        when = format_time(int(event["timestamp"]))
        if self.as_json:
            record = {
                "time": when,
                "timestamp": event["timestamp"],
                "stream": stream,
                "message": decode(message),
            }
            return json.dumps(record, indent=2 if self.pretty else None, ensure_ascii=False)
        if self.pretty:
            value = decode(message)
            if isinstance(value, dict):
                message = json.dumps(value, indent=2, ensure_ascii=False)
        return f"{when} {stream} {message}"

    def write(self, events: Iterable[Dict[str, Any]]) -> int:
        n = 0
        lines = []
        for event in events:
            lines.append(self.render(event))
            n += 1
        if lines:
            click.echo("\n".join(lines))
        return n


@click.command()
@click.option("--group", "-g", required=True, help="Log group to read.")
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
    help="CloudWatch filter pattern, e.g. ERROR or '{ $.level = \"error\" }'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON object.")
@click.option(
    "--pretty",
    is_flag=True,
    help="Pretty-print JSON (the --json objects, or messages that are JSON objects).",
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
    group: str,
    stream_prefix: Optional[str],
    since: Optional[int],
    until: Optional[int],
    follow: bool,
    pattern: Optional[str],
    as_json: bool,
    pretty: bool,
    interval: float,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """Print the events of a log group, oldest first.

    Events are read with FilterLogEvents (all pages) and printed in timestamp
    order; events with equal timestamps keep the order they were stored in.
    By default one line each: time, stream, message.

    \b
    Examples:
      wt-adapters tail --group my-app --since 1h --filter ERROR
      wt-adapters tail --group my-app --follow --json
    """
    if follow and until is not None:
        raise click.UsageError("--follow and --until cannot be used together")
    aws = aws_from(profile, region, endpoint_url)
    client = make_client(aws)
    params: Dict[str, Any] = {"logGroupName": group}
    if stream_prefix:
        params["logStreamNamePrefix"] = stream_prefix
    if since is not None:
        params["startTime"] = since
    if until is not None:
        params["endTime"] = until
    if pattern:
        params["filterPattern"] = pattern
    printer = Printer(as_json, pretty)
    with aws_errors(aws, group):
        events = order(fetch(client, params))
        printer.write(events)
        if follow:
            _follow(client, params, events, printer, interval)
    return 0


def _follow(
    client: Any,
    params: Dict[str, Any],
    printed: List[Dict[str, Any]],
    printer: Printer,
    interval: float,
) -> None:
    """Poll for new events until Ctrl-C (KeyboardInterrupt ends the command with 0)."""
    start = params.get("startTime")
    newest = max((e["timestamp"] for e in printed), default=start or 0)
    seen: Dict[Tuple[str, str], int] = {
        (str(e.get("logStreamName")), str(e.get("eventId"))): e["timestamp"] for e in printed
    }
    wake = threading.Event()
    try:
        while True:
            wake.wait(interval)
            floor = newest - FOLLOW_LOOKBACK_MS
            request = dict(params, startTime=max(floor, start or floor))
            fresh = []
            for event in fetch(client, request):
                key = (str(event.get("logStreamName")), str(event.get("eventId")))
                if key not in seen:
                    seen[key] = event["timestamp"]
                    fresh.append(event)
            if fresh:
                printer.write(order(fresh))
                newest = max(newest, max(e["timestamp"] for e in fresh))
                floor = newest - FOLLOW_LOOKBACK_MS
                seen = {k: ts for k, ts in seen.items() if ts >= floor}
    except KeyboardInterrupt:
        return
