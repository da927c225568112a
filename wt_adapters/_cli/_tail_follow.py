"""`wt-adapters tail`'s reading: FilterLogEvents page by page, in order, and --follow."""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Tuple

from ._common import PROG, AwsOptions, aws_problem, echo_err
from ._output import stdout_closed
from ._tail_format import Printer

#: With --follow, events up to this far behind the newest one seen are still looked for
#: (they can reach CloudWatch late: batching, retries).
FOLLOW_LOOKBACK_MS = 120_000
#: With --follow, the ids of events seen are pruned to the look-back window past this many.
PRUNE_AT = 20_000


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


def follow(
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
