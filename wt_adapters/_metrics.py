"""Loss you can alarm on: an engine's counters as CloudWatch Embedded Metric Format events.

With ``metrics_interval`` set, every engine puts one event into its own log
group each interval (and a last one at close or exit, if a counter changed since
the one before), in a stream of its own
(`METRICS_STREAM`). The event carries the counters' changes since the one
before, and the queue depth; CloudWatch Logs turns them into metrics, so an
alarm can watch ``Dropped > 0`` with no other API call or permission.

This module is pure: `MetricsReporter.take` turns counters into the event's
text. The engine counts its own metrics events in a ledger apart
(`OwnLedger`), so they never show in the figures they report, and a metrics
event that is dropped is no user's loss: no drop warning, no metric about it.
"""

from __future__ import annotations

import json
import platform
from typing import Any, Dict, List, Mapping, Tuple

from ._ledger import Ledger
from ._rules import clean_stream_part

#: The stream the metrics events go to, in the engine's log group.
METRICS_STREAM = "wt_adapters-metrics/{host}/{pid}"
#: The dimensions: the log group alone (for alarms over every process), and with the process.
DIMENSION_SETS = (("LogGroup",), ("LogGroup", "Process"))
#: At most this many metrics per directive (the EMF specification's limit).
MAX_METRICS_PER_DIRECTIVE = 100

#: Counters carried in every event (zeros too), as (metric name, `stats()` key).
COUNTERS: Tuple[Tuple[str, str], ...] = (
    ("Enqueued", "enqueued"),
    ("Sent", "sent"),
    ("Retried", "retried"),
    ("BatchesFailed", "batches_failed"),
    ("PossibleDuplicates", "possible_duplicates"),
)
#: Counters by reason: the total is always carried, each reason when it changed.
BY_REASON: Tuple[Tuple[str, str], ...] = (("Dropped", "dropped"), ("Rejected", "rejected"))
#: The gauge: events held by the engine when the event was made.
QUEUE_DEPTH = "QueueDepth"


def reason_metric(prefix: str, reason: str) -> str:
    """Name the metric of one reason: ``("Dropped", "queue_full")`` -> ``DroppedQueueFull``."""
    return prefix + "".join(part.capitalize() for part in reason.split("_"))


def deltas(before: Mapping[str, Any], after: Mapping[str, Any]) -> Dict[str, int]:
    """The counters' changes from `before` to `after` (both shaped as `stats()`), by metric name.

    Totals are always there; a reason's metric only when its count changed.
    """
    out: Dict[str, int] = {}
    for metric, key in COUNTERS:
        out[metric] = after.get(key, 0) - before.get(key, 0)
    for prefix, key in BY_REASON:
        old: Mapping[str, int] = before.get(key) or {}
        new: Mapping[str, int] = after.get(key) or {}
        out[prefix] = sum(new.values()) - sum(old.values())
        for reason in sorted(new):
            change = new[reason] - old.get(reason, 0)
            if change:
                out[reason_metric(prefix, reason)] = change
    return out


def emf_document(
    values: Mapping[str, int],
    gauges: Mapping[str, int],
    dimensions: Mapping[str, str],
    namespace: str,
    timestamp_ms: int,
) -> Dict[str, Any]:
    """Build one EMF document: every metric and dimension a top-level member, all in Count."""
    names: List[str] = [*values, *gauges]
    directives = [
        {
            "Namespace": namespace,
            "Dimensions": [list(s) for s in DIMENSION_SETS],
            "Metrics": [{"Name": n, "Unit": "Count"} for n in chunk],
        }
        for chunk in (
            names[i : i + MAX_METRICS_PER_DIRECTIVE]
            for i in range(0, len(names), MAX_METRICS_PER_DIRECTIVE)
        )
    ]
    return {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives},
        **dimensions,
        **values,
        **gauges,
    }


class MetricsReporter:
    """When an engine's next metrics event is due, and what the last one reported."""

    def __init__(self, interval: float, namespace: str, group: str, now: float, pid: int) -> None:
        self.interval = interval
        self.namespace = namespace
        host = clean_stream_part(platform.node()) or "localhost"
        self.stream = METRICS_STREAM.format(host=host[:400], pid=pid)
        self.dimensions = {"LogGroup": group, "Process": f"{host}:{pid}"}
        #: When the next event is due (monotonic seconds).
        self.due = now + interval
        #: How many events were queued (the last at close included).
        self.made = 0
        self._last: Mapping[str, Any] = {}
        self._taken: Mapping[str, Any] = {}

    def take(self, figures: Mapping[str, Any], queue_depth: int, now: float, now_ms: int) -> str:
        """Make the event for the counters in `figures` (shaped as `stats()`), as JSON text.

        The next event is due an interval from `now`. What this one reports is
        remembered only once `kept` is called: an event that found no room
        leaves its changes to the next.
        """
        document = emf_document(
            deltas(self._last, figures),
            {QUEUE_DEPTH: queue_depth},
            self.dimensions,
            self.namespace,
            now_ms,
        )
        self._taken = figures
        self.due = now + self.interval
        return json.dumps(document, separators=(",", ":"))

    def changed(self, figures: Mapping[str, Any]) -> bool:
        """Tell whether a counter in `figures` changed since the last event kept."""
        return any(deltas(self._last, figures).values())

    def kept(self) -> None:
        """Say the event last taken is on its way: the next one reports the changes since."""
        figures = self._taken
        self._last = {
            **{key: figures.get(key, 0) for _, key in COUNTERS},
            **{key: dict(figures.get(key) or {}) for _, key in BY_REASON},
        }
        self.made += 1


class OwnLedger(Ledger):
    """The counts of the engine's own metrics events: kept apart, never warned about."""

    def note(self, key: str, message: str, *, error: bool = True) -> None:
        if error:
            self.last_error = message

    def summary(self) -> Dict[str, Any]:
        """What `stats()` shows of the metrics events: sent, dropped and rejected by reason."""
        return {"sent": self.counts["sent"], "dropped": dict(self.dropped),
                "rejected": dict(self.rejected)}  # fmt: skip
