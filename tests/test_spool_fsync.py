"""``spool_fsync_interval``: the current segment is fsynced that often, by the spool thread."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

from wt_adapters import WatchtowerError
from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender
from wt_adapters._options import OPTIONS
from wt_adapters._settings import Settings

#: (when, thread name) of each fsync of a regular file.
Fsyncs = List[Tuple[float, str]]


def log_for(
    seconds: float, fsync_interval: Optional[float], directory: Path, monkeypatch: Any
) -> Fsyncs:
    """Log an event every 2 ms for `seconds` with a spool; return the fsyncs of files meanwhile."""
    fsyncs: Fsyncs = []
    real = os.fsync

    def counting(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            fsyncs.append((time.monotonic(), threading.current_thread().name))
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    settings = Settings("g", spool_dir=str(directory), send_interval=0.05,
                        spool_sync_interval=0.05, spool_fsync_interval=fsync_interval)  # fmt: skip
    engine = build_engine(settings, MemorySender())
    try:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            assert engine.submit("s", int(time.time() * 1000), f"event {i}")
            i += 1
            time.sleep(0.002)  # a steady trickle, as an app logs
        during = list(fsyncs)
    finally:
        engine.close(5)
    return during


@pytest.mark.slow
def test_the_segment_is_fsynced_at_the_interval_by_the_spool_thread(
    tmp_path: Path, monkeypatch: Any
) -> None:
    interval, seconds = 0.3, 2.0
    fsyncs = log_for(seconds, interval, tmp_path, monkeypatch)
    assert {name for _, name in fsyncs} == {"wt_adapters:spool"}  # never a caller's thread
    times = [when for when, _ in fsyncs]
    # At most once per interval, and about as often as that while events come in.
    assert all(b - a >= interval * 0.95 for a, b in zip(times, times[1:])), times
    assert 2 <= len(times) <= seconds / interval + 1, times


def test_without_an_interval_a_segment_is_fsynced_only_when_sealed(
    tmp_path: Path, monkeypatch: Any
) -> None:
    assert log_for(1.0, None, tmp_path, monkeypatch) == []  # segments are sealed at 5 s


@pytest.mark.parametrize("value", [None, 0, "0"])
def test_none_or_zero_means_only_at_seal(value: Any) -> None:
    assert Settings("g", spool_fsync_interval=value).spool_fsync_interval is None


def test_the_interval_is_checked_and_has_a_default() -> None:
    with pytest.raises(WatchtowerError, match="spool_fsync_interval=-1"):
        Settings("g", spool_fsync_interval=-1)
    assert Settings("g").spool_fsync_interval == OPTIONS["spool_fsync_interval"].default
