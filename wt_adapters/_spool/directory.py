"""One spool per directory per process: made at an engine's attach, closed, synced and forked."""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from typing import Callable, Dict, List, Optional, Tuple

from .._errors import WatchtowerError
from .._ports import SpoolClient
from .spool import Spool

_spools_lock = threading.Lock()
_spools: Dict[str, Spool] = {}
_all_spools: weakref.WeakSet[Spool] = weakref.WeakSet()


def attach(
    engine: SpoolClient,
    spool_dir: str,
    max_bytes: int,
    sync_interval: float,
    make_engine: Optional[Callable[[str], SpoolClient]] = None,
    *,
    fsync_interval: Optional[float] = None,
) -> Tuple[Spool, int]:
    """Return the spool of `spool_dir` for `engine` (made, the directory checked, if new),
    and the engine's first sequence number.

    A new spool fsyncs the segment it writes at most every `fsync_interval`
    seconds (None: only when sealing it); a spool shared keeps its first settings.

    Raises `WatchtowerError` naming ``spool_dir`` if the directory can't be
    created or written.
    """
    directory = os.path.abspath(spool_dir)
    with _spools_lock:
        spool = _spools.get(directory)
        if spool is None or spool.closed:
            _probe(spool_dir, directory)
            spool = Spool(
                directory, max_bytes, sync_interval, forget=_forget, fsync_interval=fsync_interval
            )
            _spools[directory] = spool
            _all_spools.add(spool)
        try:
            first_seq = spool.attach(engine, make_engine)
        except OSError as e:
            del _spools[directory]
            raise WatchtowerError(f"spool_dir={spool_dir!r} can't be used: {e}") from None
    return spool, first_seq


def _forget(spool: Spool) -> None:
    """The last engine left `spool`: the next one to name its directory makes a new one."""
    with _spools_lock:
        if _spools.get(spool.directory) is spool:
            del _spools[spool.directory]


def _probe(given: str, directory: str) -> None:
    """Create `directory` if need be and check that a file can be made there."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".probe-{os.getpid()}-{random.getrandbits(32):08x}")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise WatchtowerError(
            f"spool_dir={given!r} can't be created or written: {e.strerror or e}"
        ) from None
    try:
        import fcntl  # noqa: F401
    except ImportError:
        raise WatchtowerError("spool_dir needs fcntl (a POSIX system)") from None


def _open_spools() -> List[Spool]:
    with _spools_lock:
        return list(_spools.values())


def close_all() -> List[Tuple[Spool, Dict[str, int]]]:
    """Close every spool of the process (at exit); return what each leaves on disk."""
    with _spools_lock:
        spools = list(_spools.values())
        _spools.clear()
    return [(spool, spool.close()) for spool in spools]


def sync_all() -> None:
    """Have every spool of the process write what it was handed, seal its segment and delete
    settled ones (after an exit flush: what was delivered leaves no file behind)."""
    for spool in _open_spools():
        if spool.owned_by_this_process and not spool.closed:
            spool.sync(seal=True)


def adopt_before_exit(timeout: float) -> None:
    """At exit, have every spool that has not looked for gone writers yet do so now."""
    deadline = time.monotonic() + timeout
    for spool in _open_spools():
        spool.adopt_before_exit(max(0.0, deadline - time.monotonic()))


def after_fork_in_child() -> None:
    """In a forked child (from the process's one at-fork hook): every spool starts afresh."""
    global _spools_lock
    _spools_lock = threading.Lock()
    for spool in list(_all_spools):
        spool.after_fork_in_child()
