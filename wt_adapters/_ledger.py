"""An engine's counters, and the warnings they call for.

Every event is counted once as sent, rejected (by CloudWatch, by reason) or
dropped (by the engine, by reason). Warnings are noted here, at most once a
minute per kind, and issued by the engine outside its lock. The engine's lock
guards a ledger: it has none of its own.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

from ._rejections import Rejected

#: How often the same kind of problem is warned about, at most (seconds).
REPORT_INTERVAL = 60.0


class Ledger:
    """Counts for one engine (its log group), and the warnings waiting to be issued."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.counts: Dict[str, int] = dict.fromkeys(
            ("sent", "retried", "batches_sent", "batches_failed",
             "possible_duplicates", "streams_created"), 0
        )  # fmt: skip
        self.dropped: Dict[str, int] = {}
        self.rejected: Dict[str, int] = {}
        #: Requests whose entity CloudWatch refused, by ``rejectedEntityInfo.errorType``.
        self.entity_rejected: Dict[str, int] = {}
        #: The last delivery error: never a count of drops, so the real cause stays here.
        self.last_error: Optional[str] = None
        self.notices: List[str] = []
        #: The kind of each notice in `notices`.
        self._notice_keys: List[str] = []
        #: The loss counts at the last summary (see `loss_since_summary`).
        self._summed: Dict[str, int] = {}
        self._reported: Dict[str, float] = {}

    def note(self, key: str, message: str, *, error: bool = True) -> None:
        """Queue a warning unless one of kind `key` was queued lately; `error` sets last_error."""
        now = time.monotonic()
        last = self._reported.get(key)
        if error:
            self.last_error = message
        if last is not None and now - last < REPORT_INTERVAL:
            return
        self._reported[key] = now
        self.notices.append(message)
        self._notice_keys.append(key)

    def take_notices(self) -> List[str]:
        """Return the warnings queued so far, and forget them."""
        notices, self.notices = self.notices, []
        self._notice_keys = []
        return notices

    def forget_notices(self, key: str) -> None:
        """Drop the warnings of kind `key` not issued yet (a fuller one says it instead)."""
        kept = [(k, n) for k, n in zip(self._notice_keys, self.notices) if k != key]
        self._notice_keys = [k for k, _ in kept]
        self.notices = [n for _, n in kept]

    def drop(self, reason: str, n: int) -> None:
        """Count `n` events the engine dropped, and note a warning."""
        self.count_drop(reason, n)
        self.note(
            f"drop:{reason}",
            f"wt_adapters dropped log events for log group {self.group!r}:"
            f" {self.dropped[reason]} so far because of {reason.replace('_', ' ')}",
            error=False,
        )

    def count_drop(self, reason: str, n: int) -> None:
        """Count `n` dropped events, with no warning (the caller gives its own)."""
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def sent(self, n: int, rejected: Sequence[Rejected], maybe_stored: int) -> None:
        """Count a batch of `n` CloudWatch took, less what its response says it `rejected`.

        `maybe_stored` is how many earlier attempts CloudWatch may have stored
        although their response was lost: each made `n` possible duplicates.
        """
        before = dict(self.rejected)
        refused = 0
        for reason, start, end in rejected:
            self.rejected[reason] = self.rejected.get(reason, 0) + end - start
            refused += end - start
        self.counts["sent"] += n - refused
        self.counts["batches_sent"] += 1
        self.counts["possible_duplicates"] += n * maybe_stored
        for reason, total in self.rejected.items():
            if total != before.get(reason):
                self.note(
                    f"rejected:{reason}",
                    f"CloudWatch rejected log events as {reason.replace('_', ' ')}:"
                    f" {total} so far for log group {self.group!r}",
                    error=False,
                )

    def entity_refused(self, error_type: str) -> None:
        """Count a request whose entity CloudWatch refused; warn the first time, per type.

        The events themselves were stored (and are counted as sent): only the
        tie to the service is lost, so this is no loss and no ``last_error``.
        """
        first = error_type not in self.entity_rejected
        self.entity_rejected[error_type] = self.entity_rejected.get(error_type, 0) + 1
        if first:
            self.note(
                f"entity:{error_type}",
                f"CloudWatch refused the entity sent with log events for log group"
                f" {self.group!r} ({error_type}); the events were stored without it."
                " Check the entity option (see docs/entity.md)",
                error=False,
            )

    def loss_since_summary(self) -> Dict[str, int]:
        """Events not delivered since the last call, by reason (``dropped:REASON``,
        ``rejected:REASON``); the warnings of those kinds not issued yet are dropped,
        as the summary says it all."""
        totals = {f"dropped:{r}": n for r, n in self.dropped.items()}
        totals.update((f"rejected:{r}", n) for r, n in self.rejected.items())
        since = {k: n - self._summed.get(k, 0) for k, n in totals.items()}
        self._summed = totals
        for key in since:
            self.forget_notices(key.replace("dropped:", "drop:"))
        return {k: n for k, n in since.items() if n}

    def figures(self) -> Dict[str, Any]:
        """The counters, as `stats()` shows them (copies)."""
        return {
            **self.counts,
            "dropped": dict(self.dropped),
            "rejected": dict(self.rejected),
            "entity_rejected": dict(self.entity_rejected),
            "last_error": self.last_error,
        }


def describe_loss(loss: Dict[str, int]) -> str:
    """A summary's reasons in words, the largest first: "900 queue full, 100 close timeout"."""
    parts = []
    for key, n in sorted(loss.items(), key=lambda kv: (-kv[1], kv[0])):
        kind, reason = key.split(":", 1)
        words = reason.replace("_", " ")
        parts.append(f"{n} {words}" if kind == "dropped" else f"{n} rejected as {words}")
    return ", ".join(parts)
