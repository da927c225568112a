"""`wt-adapters spool DIR`: what waits in a spool directory, and `--send` to deliver it."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

import click

from .._errors import WatchtowerError
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    aws_from,
    aws_options,
    check_reachable,
    counted,
    echo_err,
    make_client,
)
from ._output import escape, escape_json, write_text

DEAD_LETTER_FILE = "dead-letter.jsonl"


def age(seconds: float) -> str:
    """A duration as a person reads it: ``45s``, ``5m 12s``, ``3h 05m``, ``2d 04h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def as_json(found: Any, now: float) -> Dict[str, Any]:
    """The summary as a JSON document, with each stream's oldest event's age in seconds."""
    document: Dict[str, Any] = found.as_dict()
    document["bytes"] = sum(s.bytes for s in found.streams)
    for stream in document["streams"]:
        stream["oldest_age_s"] = round(max(0.0, now - stream["oldest_timestamp"] / 1000), 3)
    return document


def table(found: Any, now: float) -> str:
    """The summary for a person: a headline, then one row per (group, stream)."""
    total = sum(s.bytes for s in found.streams)
    head = (
        f"{escape(found.directory)}: {counted(found.events, 'event', grouped=True)}"
        f" ({counted(total, 'byte', grouped=True)}) waiting"
    )
    if found.streams:
        oldest = min(s.oldest_timestamp for s in found.streams)
        head += f", the oldest logged {age(now - oldest / 1000)} ago"
    head += (
        f"; {counted(found.dead_letters, 'dead letter', grouped=True)};"
        f" writers: {found.writers_live} live, {found.writers_gone} gone"
    )
    lines = [head]
    if found.torn:
        files = "1 segment file ends" if found.torn == 1 else f"{found.torn} segment files end"
        lines.append(f"{files} in a torn record (skipped, counted)")
    if found.possible_duplicates:
        one = found.possible_duplicates == 1
        was, them, they = ("was", "it", "it is") if one else ("were", "them", "they are")
        lines.append(
            f"{counted(found.possible_duplicates, 'event', grouped=True)} {was} being sent"
            f" when {'its' if one else 'their'} writer stopped: CloudWatch may have {them}"
            f" already (sent again, {they} counted as possible duplicates)"
        )
    if found.streams:
        rows = [["GROUP", "STREAM", "EVENTS", "BYTES", "OLDEST"]]
        for s in found.streams:
            rows.append([escape(s.group), escape(s.stream), f"{s.events:,}", f"{s.bytes:,}",
                         age(now - s.oldest_timestamp / 1000) + " ago"])  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines.append("")
        for row in rows:
            cells = [
                cell.rjust(widths[i]) if i in (2, 3) else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--json", "json_out", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--send",
    is_flag=True,
    help="Deliver what writers that are gone left there, then exit: 0 when all of it"
    " arrived, 1 otherwise (what was not delivered stays on disk).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --send, the longest to wait for delivery.",
)
@aws_options
def spool(
    directory: str,
    json_out: bool,
    send: bool,
    timeout: float,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """Show what waits in the spool directory DIR (spool_dir=), or --send it.

    Per log group and stream: the events and bytes waiting and how old the
    oldest is; then the dead letters (events CloudWatch refused for good, in
    DIR/dead-letter.jsonl) and the processes writing there, live or gone.
    Reading changes nothing in DIR.

    \b
    Examples:
      wt-adapters spool /var/lib/my-app/logs-spool
      wt-adapters spool /var/lib/my-app/logs-spool --send
    """
    from .._spool import summary

    aws = aws_from(profile, region, endpoint_url) if send else None
    try:
        found = summary(directory)
    except WatchtowerError as e:
        raise click.BadParameter(_plain(str(e), directory), param_hint="'DIR'") from None
    if not send:
        now = time.time()
        if json_out:
            text = json.dumps(as_json(found, now), ensure_ascii=False)
            write_text(escape_json(text) + "\n")
        else:
            write_text(table(found, now))
        return EXIT_OK
    assert aws is not None
    return _send(directory, found, timeout, aws, json_out)


def _plain(message: str, directory: str) -> str:
    return message.replace(f"spool_dir={directory!r}", repr(directory))


def _send(directory: str, found: Any, timeout: float, aws: Any, json_out: bool) -> int:
    from .._recovery import deliver
    from .._spool import summary

    started = time.monotonic()
    if found.writers_gone == 0:
        echo_err(
            f"{PROG} spool: nothing to send in {escape(directory)}: no writer there is gone"
            + (f" ({found.writers_live} live, sending their own)" if found.writers_live else "")
        )
        if json_out:
            write_text(json.dumps({"directory": directory, "sent": 0, "delivered": True}) + "\n")
        return EXIT_OK
    client = make_client(aws, engine=True)
    groups: List[str] = sorted({s.group for s in found.streams})
    if groups:  # a wrong endpoint or credential fails at once, in one line
        check_reachable(client, aws, groups[0])
    try:
        counts: Dict[str, Any] = deliver(directory, timeout=timeout, boto3_client=client)
    except WatchtowerError as e:
        raise click.UsageError(_plain(str(e), directory)) from None
    after = summary(directory)
    elapsed = time.monotonic() - started
    if json_out:
        document = {"directory": directory, **counts, "waiting_after": after.events}
        document.pop("left_by_group", None)
        write_text(escape_json(json.dumps(document, ensure_ascii=False, default=str)) + "\n")
    line = (
        f"{PROG} spool: sent {counted(counts['sent'], 'event', grouped=True)}"
        f" from {escape(directory)}"
        f" (adopted {counts['adopted']:,} from writers that were gone; rejected"
        f" {counts['rejected']:,}, dropped {counts['dropped']:,}, possible duplicates"
        f" {counts['possible_duplicates']:,}, torn {counts['torn']:,}; dead letters"
        f" {counts['dead_letters']:,}) in {elapsed:.2f} s"
    )
    echo_err(line)
    if after.writers_live and after.events:
        belong = "belongs" if after.events == 1 else "belong"
        echo_err(
            f"{PROG} spool: {counted(after.events, 'event', grouped=True)} {belong} to live"
            " writers, which send them"
        )
    if counts["delivered"] and not counts["rejected"]:
        return EXIT_OK
    last_error = counts.get("last_error")
    echo_err(
        f"{PROG}: error: {counted(counts['left'], 'event', grouped=True)}"
        f" {'was' if counts['left'] == 1 else 'were'} not delivered to {aws.describe()}"
        f" and stay in {escape(directory)}"
        + (f", {counts['dropped']:,} dropped" if counts["dropped"] else "")
        + (
            f", {counts['rejected']:,} refused (in {DEAD_LETTER_FILE})"
            if counts["rejected"]
            else ""
        )
        + (f"; last error: {last_error}" if last_error else "")
    )
    return EXIT_FAILED
