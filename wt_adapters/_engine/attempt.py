"""A job's one CloudWatch call: a stream's creation, or a batch's PutLogEvents."""

from __future__ import annotations

from typing import Callable

from .._delivery import GroupCreator, Outcome, create_stream, put_batch
from .._ports import Durability
from .._protocol import Transport
from .._settings import Settings
from .streams import CREATE, Job


class Attempt:
    """Makes a job's one call through the engine's transport of the moment (lock not held).

    `transport()` and `spool()` are read at each call: `wt_adapters.testing`
    swaps an engine's transport while it runs, and the wiring gives it a
    spool after it is made.
    """

    def __init__(
        self,
        transport: Callable[[], Transport],
        settings: Settings,
        spool: Callable[[], Durability],
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._spool = spool
        self.reset()

    def reset(self) -> None:
        """Forget which groups were made (at start, and in a forked child)."""
        self.groups = GroupCreator()

    def __call__(self, job: Job) -> Outcome:
        kind, st, batch = job
        if kind == CREATE:
            return create_stream(
                self._transport(), self._settings, st.name, self.groups, st.create_past
            )
        assert batch is not None
        spool = self._spool()
        if spool.off is None:  # no marks to write without a spool, or once it is off
            spool.sending([e[4] for e in batch.events])
        events = [(e[0], e[1]) for e in batch.events]
        return put_batch(self._transport(), self._settings, st.name, events, batch.past)
