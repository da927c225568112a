"""The small protocols between the engine, the disk spool and the process's hooks.

The engine and the spool are siblings: neither imports the other. The engine
speaks to its spool through `Durability`; the spool speaks to the engines
that use it through `SpoolClient`; the process's exit, fork and signal hooks
know engines only as `ManagedEngine`. The wiring (`_destination`) connects
them. With no ``spool_dir``, `NO_SPOOL` stands in for the spool: the engine
never asks whether it has one.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Tuple


class QueuedEvent(NamedTuple):
    """An event of an engine's queue, as it is handed to the spool (in a `Handover`).

    Inside the engine the same fields are a plain tuple (`_batching.Item`).
    """

    #: Milliseconds since the epoch.
    timestamp: int
    message: str
    #: Its size as CloudWatch counts it: UTF-8 bytes plus the per-event overhead.
    size: int
    #: Its number among its stream's arrivals (the order it was logged in).
    arrival: int
    #: Its sequence number in the disk spool, or -1 when it is in memory only.
    seq: int


class Handover(NamedTuple):
    """An event an engine hands to its spool to be written."""

    stream: str
    event: QueuedEvent
    #: True when the engine's memory was full: the event is on disk only, and is
    #: loaded back into the engine as its queue drains.
    disk_only: bool


class LoadedEvent(NamedTuple):
    """An event read back from the spool for an engine to queue."""

    stream: str
    timestamp: int
    message: str
    #: Its sequence number in the spool, or -1 when the spool no longer keeps it.
    seq: int


class Durability(Protocol):
    """What an engine asks of the disk spool that keeps its events (see `_spool.Spool`)."""

    directory: str
    #: ``spool_max_bytes``; 0 for no spool.
    max_bytes: int
    #: Why the spool was switched off (disk trouble), or None while it works.
    off: Optional[str]
    #: True when closing engines should not warn of what stays on disk.
    quiet: bool

    #: Bytes of the spool's files now (an estimate, read without a lock).
    @property
    def disk_bytes(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    @property
    def needs_thread(self) -> bool: ...

    def start_in_child(self) -> None: ...

    def sending(self, seqs: List[int]) -> None: ...

    def settle(self, seqs: List[int]) -> None: ...

    def dead_letter(
        self, group: str, stream: str, events: List[Tuple[int, str]], reason: str
    ) -> None: ...

    def taken_over(self, group: str, held: int, nbytes: int) -> None: ...

    def disk_only(self, group: str) -> int: ...

    def wake(self) -> None: ...

    def stats(self) -> Dict[str, Any]: ...

    def release(self, client: Any, timeout: Optional[float] = None) -> Dict[str, int]: ...


class NoSpool:
    """The spool of an engine without ``spool_dir``: keeps nothing, has no room."""

    directory = ""
    max_bytes = 0
    disk_bytes = 0
    off: Optional[str] = "no spool_dir"
    quiet = True
    closed = False
    needs_thread = False

    def start_in_child(self) -> None:
        pass

    def sending(self, seqs: List[int]) -> None:
        pass

    def settle(self, seqs: List[int]) -> None:
        pass

    def dead_letter(
        self, group: str, stream: str, events: List[Tuple[int, str]], reason: str
    ) -> None:
        pass

    def taken_over(self, group: str, held: int, nbytes: int) -> None:
        pass

    def disk_only(self, group: str) -> int:
        return 0

    def wake(self) -> None:
        pass

    def stats(self) -> Dict[str, Any]:
        return {}

    def release(self, client: Any, timeout: Optional[float] = None) -> Dict[str, int]:
        return {}


#: The one spool of every engine without ``spool_dir``.
NO_SPOOL = NoSpool()


class SpoolClient(Protocol):
    """What the spool asks of an engine that hands it events (see `_engine.Engine`)."""

    @property
    def group(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def half_queue(self) -> Tuple[int, int]:
        """Half the queue's limits: (events, bytes)."""

    def spool_collect(self, spool: Durability) -> List[Handover]:
        """The events handed over since the spool last looked."""

    def spool_stop(self) -> List[Handover]:
        """Hand no more events to the spool; return what it had not taken."""

    def room(self) -> Tuple[int, int]:
        """Events and bytes the queue has room for now."""

    def take_back(self, events: Sequence[LoadedEvent]) -> None:
        """Queue events read back from the spool."""

    def count_possible_duplicates(self, n: int) -> None:
        """Count adopted events that a gone process may have had stored already."""


class ManagedEngine(Protocol):
    """What the process's registry, exit, fork and signal hooks ask of an engine."""

    @property
    def closed(self) -> bool: ...

    @property
    def owned_by_this_process(self) -> bool: ...

    def acquire(self) -> Any: ...

    def flush(self, timeout: Optional[float] = None, *, grace: Optional[float] = None) -> bool: ...

    def close(self, timeout: Optional[float] = None) -> bool: ...

    def deliver_last_metrics(
        self, timeout: Optional[float] = None, *, grace: Optional[float] = None
    ) -> bool: ...

    def pause_for_fork(self, deadline: float) -> None: ...

    def resume_after_fork(self) -> None: ...

    def after_fork_in_child(self) -> None: ...
