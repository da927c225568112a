"""The engines that hand events to one spool, and the maker of engines for adopted log groups."""

from __future__ import annotations

import threading
from typing import Callable, List, Optional, Set, Tuple

from .._ports import Durability, Handover, SpoolClient
from .format import KEY_SHIFT
from .replay import in_memory_only

#: Makes an engine for a log group no engine of the spool sends to (for adopted events).
MakeEngine = Callable[[str], SpoolClient]


class Engines:
    """The engines attached to a spool (kept across a fork: the child's engines are the same)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: List[SpoolClient] = []
        self._make: Optional[MakeEngine] = None
        #: Log groups some engine of this process sent to through the spool.
        self._groups: Set[str] = set()

    def add(self, engine: SpoolClient, make: Optional[MakeEngine]) -> None:
        with self._lock:
            self._groups.add(engine.group)
            self._engines.append(engine)
            if make is not None and self._make is None:
                self._make = make

    def remove(self, engine: SpoolClient) -> bool:
        """Forget `engine`; return whether none is left."""
        with self._lock:
            if engine in self._engines:
                self._engines.remove(engine)
            return not self._engines

    def attached(self) -> List[SpoolClient]:
        """Every engine attached, closed or not."""
        with self._lock:
            return list(self._engines)

    def open(self) -> List[SpoolClient]:
        with self._lock:
            return [e for e in self._engines if not e.closed]

    def engine_for(self, group: str, *, may_make: bool) -> Optional[SpoolClient]:
        """The open engine for `group`; one made for it if none ever sent to it and `may_make`."""
        for engine in self.open():
            if engine.group == group:
                return engine
        make = self._make
        if make is None or not may_make or group in self._groups:
            return None  # its engine was closed: what waits stays on disk
        return make(group)  # attaches itself

    def collect(self, spool: Durability) -> List[Tuple[int, str, List[Handover]]]:
        """What each engine handed over since the spool last looked: (key, group, events)."""
        runs = []
        for engine in self.attached():
            buf = engine.spool_collect(spool)
            if buf:
                runs.append((buf[0].event.seq >> KEY_SHIFT, engine.group, buf))
        return runs

    def stop(self) -> None:
        """Have engines hand nothing more over; what was to be on disk only goes to memory."""
        for engine in self.open():
            held = [in_memory_only(h) for h in engine.spool_stop() if h.disk_only]
            if held:
                engine.take_back(held)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
