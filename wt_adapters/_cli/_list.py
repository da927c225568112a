"""`wt-adapters groups` and `wt-adapters streams`: what there is to tail."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import click

from ._common import aws_errors, aws_from, aws_options, log_group_param, make_client
from ._output import escape, escape_json, write_text
from ._tail_time import format_time


def _emit(record: Dict[str, Any], as_json: bool, columns: list[str]) -> None:
    if as_json:
        write_text(escape_json(json.dumps(record, ensure_ascii=False)) + "\n")
    else:
        write_text(" ".join(escape(c) for c in columns) + "\n")


@click.command()
@click.argument("prefix", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
@aws_options
def groups(
    prefix: Optional[str],
    as_json: bool,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """List the log groups (whose name starts with PREFIX), one per line.

    Each line: the name, the retention in days (or 'never' expires), the bytes stored.
    """
    aws = aws_from(profile, region, endpoint_url)
    client = make_client(aws)
    params: Dict[str, Any] = {"logGroupNamePrefix": prefix} if prefix else {}
    with aws_errors(aws):
        for page in client.get_paginator("describe_log_groups").paginate(**params):
            for group in page.get("logGroups", ()):
                name = str(group.get("logGroupName", ""))
                retention = group.get("retentionInDays")
                stored = int(group.get("storedBytes") or 0)
                record = {"name": name, "retention_days": retention, "stored_bytes": stored}
                shown = [name, f"{retention}d" if retention else "never", str(stored)]
                _emit(record, as_json, shown)
    return 0


@click.command()
@click.argument("group", callback=log_group_param)
@click.option("--prefix", "-p", default=None, help="Only streams whose name starts so.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per stream.")
@aws_options
def streams(
    group: str,
    prefix: Optional[str],
    as_json: bool,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """List the log streams of GROUP, one per line: name, last event time.

    Without --prefix the most recently written stream comes first.
    """
    aws = aws_from(profile, region, endpoint_url)
    client = make_client(aws)
    params: Dict[str, Any] = {"logGroupName": group}
    if prefix:
        params["logStreamNamePrefix"] = prefix
    else:  # CloudWatch orders by last event time only without a prefix
        params.update(orderBy="LastEventTime", descending=True)
    with aws_errors(aws, group):
        for page in client.get_paginator("describe_log_streams").paginate(**params):
            for stream in page.get("logStreams", ()):
                name = str(stream.get("logStreamName", ""))
                last = stream.get("lastEventTimestamp")
                when = format_time(int(last)) if last is not None else None
                record = {"name": name, "last_event": when}
                _emit(record, as_json, [name, when or "-"])
    return 0
