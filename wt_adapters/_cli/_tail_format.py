"""`wt-adapters tail`'s output: an event as a line (or JSON), terminal-safe."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable

from ._output import escape, escape_json, style, write_text
from ._tail_time import format_time


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
