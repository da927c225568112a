"""The disk spool (``spool_dir``): events kept on disk until CloudWatch has them.

Real processes and real signals over HTTP with the moto server: a process
killed during an outage, the next one delivering what it left; processes
sharing a directory; torn records, a full spool, a directory that can't be
written; refused events in the dead-letter file; exit with the endpoint down.

A test that waits for delivery gives flush a timeout of its own: a spooling
handler's default flush gives up once no attempt has ended for 3 s with every
event safe on disk (docs/spool.md), and on a loaded machine the first attempt,
which makes the client, can take longer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from faultproxy import FaultProxy
from helpers import free_port, messages, start_python, subprocess_env, wait_for

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning, _recovery, _spool
from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender
from wt_adapters._settings import Settings

DOWN = "http://127.0.0.1:{port}"


def down() -> str:
    """An endpoint nothing listens on."""
    return DOWN.format(port=free_port())


def segments(directory: Path) -> List[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".seg"))


def messages_or_none(client: Any, group: str) -> List[str]:
    """The group's messages, or none while it does not exist."""
    try:
        return messages(client, group)
    except client.exceptions.ResourceNotFoundException:
        return []


def wait_line(process: subprocess.Popen[str], expected: str, timeout: float = 30) -> None:
    """Read `process`'s stdout until a line `expected`; fail (killing it) otherwise."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == expected:
            return
        if not line and process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate(timeout=10)
    raise AssertionError(f"no line {expected!r} from the child; stderr: {err}")


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL


#: Logs N records to GROUP with a spool in DIR, waits until the spool holds them on
#: disk, says "spooled" and waits to be killed.
WRITER = """
import logging, sys, time, wt_adapters
from wt_adapters import _spool
directory, group, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = logging.getLogger("w")
log.addHandler(wt_adapters.CloudWatchLogHandler(
    log_group_name=group, log_stream_name="s", spool_dir=directory, send_interval=0.2,
    spool_sync_interval=0.05))
for i in range(n):
    log.warning("record %d", i)
deadline = time.monotonic() + 30
while _spool.summary(directory).events < n and time.monotonic() < deadline:
    time.sleep(0.02)
print("spooled", flush=True)
time.sleep(60)
"""


def spawn_writer(directory: Path, group: str, n: int, endpoint: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(WRITER), str(directory), group,
         str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(endpoint=endpoint),
    )  # fmt: skip


#: Starts with a spool in DIR, logs nothing of its own, and exits.
NEXT_START = """
import logging, sys, wt_adapters
logging.getLogger("n").addHandler(wt_adapters.CloudWatchLogHandler(
    log_group_name=sys.argv[2], spool_dir=sys.argv[1]))
"""


def next_start(directory: Path, group: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(NEXT_START), str(directory), group],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(endpoint=endpoint),
    )


# ---------------------------------------------------------------- configuration


def test_a_spool_dir_that_cant_be_created_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(WatchtowerError, match=r"spool_dir=.*can't be created or written"):
        CloudWatchLogHandler(log_group_name="g", spool_dir=tmp_path / "file" / "spool")
    with pytest.raises(WatchtowerError, match=r"spool_dir=.*can't be created or written"):
        CloudWatchLogHandler(log_group_name="g", spool_dir=tmp_path / "file")


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("spool_dir", 42, "spool_dir=42 must be a directory path"),
        ("spool_dir", "", "spool_dir='' must be a directory path"),
        ("spool_max_bytes", 10, "spool_max_bytes=10 must be an integer >= 1048576"),
        ("spool_sync_interval", -1, "spool_sync_interval=-1 must be a number of seconds"),
    ],
)
def test_bad_spool_options_are_errors_naming_them(option: str, value: Any, fragment: str) -> None:
    with pytest.raises(WatchtowerError, match=fragment):
        CloudWatchLogHandler(log_group_name="g", **{option: value})


def test_the_spool_dir_is_created_and_left_clean_after_delivery(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: Any
) -> None:
    directory = tmp_path / "a" / "spool"
    handler = CloudWatchLogHandler(log_group_name=group, spool_dir=directory, endpoint_url=endpoint)
    logger.addHandler(handler)
    for i in range(100):
        logger.info("record %d", i)
    assert handler.flush(30) is True
    assert messages(client, group) == [f"record {i}" for i in range(100)]
    stats = handler.stats()
    assert stats["sent"] == 100 and stats["spool_torn"] == 0
    logger.removeHandler(handler)
    handler.close()
    assert list(directory.iterdir()) == []


# ------------------------------------------------------------- crash and recovery


def test_sigkill_during_an_outage_then_the_next_process_delivers_everything(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    writer = spawn_writer(tmp_path, group, 5000, down())
    wait_line(writer, "spooled")
    kill(writer)
    waiting = _spool.summary(tmp_path)
    assert waiting.events == 5000 and waiting.writers_gone == 1 and waiting.writers_live == 0
    assert [(s.group, s.stream, s.events) for s in waiting.streams] == [(group, "s", 5000)]

    done = next_start(tmp_path, group, endpoint)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    stored = messages(client, group, "s")
    assert sorted(stored) == sorted(f"record {i}" for i in range(5000))
    assert segments(tmp_path) == []
    assert _spool.summary(tmp_path).events == 0


def test_a_segment_with_a_torn_last_record_is_read_up_to_it_and_counted(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    writer = spawn_writer(tmp_path, group, 300, down())
    wait_line(writer, "spooled")
    kill(writer)
    (name,) = segments(tmp_path)
    path = tmp_path / name
    intact = path.read_bytes()
    # A second run of records, cut short as a kill mid-write would leave it.
    extra = _spool.encode_run(10**15, group, [("s", int(time.time() * 1000), "torn")])
    path.write_bytes(intact + extra[:-3])
    waiting = _spool.summary(tmp_path)
    assert waiting.events == 300 and waiting.torn == 1

    with pytest.warns(WatchtowerWarning, match=r"ends in a record cut short.* 300 events kept"):
        counts = _recovery.deliver(tmp_path, endpoint_url=endpoint, timeout=30)
    assert counts["torn"] == 1 and counts["adopted"] == 300 and counts["delivered"], counts
    assert sorted(messages(client, group, "s")) == sorted(f"record {i}" for i in range(300))
    assert segments(tmp_path) == []
    assert os.listdir(tmp_path / "quarantine") == [name]  # what could not be read is kept


def test_a_corrupt_record_is_skipped_and_the_reading_goes_on_at_the_next(
    tmp_path: Path,
) -> None:
    good = _spool.encode_run(0, "g", [("s", 1, "one")])
    bad = bytearray(_spool.encode_run(1, "g", [("s", 2, "two")]))
    bad[-1] ^= 0xFF  # a flipped bit: the checksum no longer matches
    after = _spool.encode_run(2, "g", [("s", 3, "three")])
    contents = _spool.parse_segment(good + bytes(bad) + after)
    assert list(contents.events) == [0, 2]
    assert contents.corrupt == 1 and not contents.torn and contents.unread_bytes == len(bad)
    huge = _spool.format.MAGIC + (2**31).to_bytes(4, "big") + b"\0\0\0\0"
    assert _spool.parse_segment(good + huge).torn
    assert not _spool.parse_segment(good).damaged


def test_acked_events_are_not_sent_again_and_sending_ones_are_counted(tmp_path: Path) -> None:
    events = [("s", int(time.time() * 1000), f"m{i}") for i in range(10)]
    data = (
        _spool.encode_run(0, "g", events)
        + _spool.encode_mark(b"S", list(range(8)))
        + _spool.encode_mark(b"A", list(range(6)))
    )
    (tmp_path / "gone-1-00000000.000000.seg").write_bytes(data)
    waiting = _spool.summary(tmp_path)
    assert waiting.events == 4 and waiting.possible_duplicates == 2
    sender = MemorySender()
    settings = Settings("other", spool_dir=str(tmp_path), send_interval=0.05)
    engine = build_engine(settings, sender, lambda group: build_engine(Settings(group, spool_dir=str(tmp_path),
                    send_interval=0.05), sender))  # fmt: skip
    assert engine.spool is not None
    assert engine.spool.adopt_now(10)
    wait_for(lambda: len(sender.events("g")) == 4)
    assert [m for _, _, m in sender.events("g")] == ["m6", "m7", "m8", "m9"]
    (adopter,) = [e for e in engine.spool.engines() if e.settings.log_group_name == "g"]
    assert adopter.stats()["possible_duplicates"] == 2
    adopter.close(5)
    engine.close(5)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------- longer than memory


def test_an_outage_longer_than_memory_waits_on_disk_and_is_delivered_after(
    tmp_path: Path, proxy: FaultProxy, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=tmp_path, endpoint_url=proxy.url,
        max_queue_events=500, send_interval=0.1, spool_sync_interval=0.05,
    )  # fmt: skip
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        proxy.set_down(True)
        for i in range(5000):
            logger.info("record %d", i)
        stats = handler.stats()
        assert stats["dropped"] == {} and stats["queued"] <= 500
        wait_for(lambda: handler.stats()["spool_disk_only"] >= 4500)
        proxy.set_down(False)
        assert handler.flush(60)
    stored = messages(client, group, "s")
    assert set(stored) == {f"record {i}" for i in range(5000)}
    stats = handler.stats()
    assert len(stored) - 5000 <= stats["possible_duplicates"]
    assert stats["dropped"] == {} and stats["spool_disk_only"] == 0


def test_past_spool_max_bytes_the_overflow_policy_applies_and_is_counted(
    tmp_path: Path, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, spool_dir=tmp_path, endpoint_url=down(), max_queue_events=100,
        spool_max_bytes=1024 * 1024, spool_sync_interval=0.05,
    )  # fmt: skip
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3000):
            logger.info("%d %s", i, "x" * 1000)
        stats = handler.stats()
        dropped = stats["dropped"].get("queue_full", 0)
        assert dropped >= 1000  # the disk holds about 1,000 of the 3,000 events
        assert any("queue full" in str(w.message) for w in caught)
        held = 3000 - dropped - stats["queued"]
        wait_for(lambda: handler.stats()["spool_disk_only"] == held)
        # The design's slack past the budget (`_spool.Spool`'s docstring): one event counted
        # at the pass that filled it (1,000 bytes and its framing), and the marks and
        # segment headers written once the budget is spent, tens of bytes a request (here
        # every retry against the down endpoint), so a few KiB at most.
        assert handler.stats()["spool_bytes"] <= 1024 * 1024 + 1100 + 8 * 1024
        logger.removeHandler(handler)
        engine = handler._destination.engine
        engine.close(0)
        wait_for(lambda: engine.stats()["in_flight"] == 0 and not engine.workers.threads)
    assert held <= _spool.summary(tmp_path).events <= 3000 - dropped


# --------------------------------------------------------------- dead letters


def test_events_refused_for_good_go_to_the_dead_letter_file(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=tmp_path, endpoint_url=endpoint
    )
    logger.addHandler(handler)
    old = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "too old to keep", (), None)
    old.created = time.time() - 15 * 24 * 3600
    with pytest.warns(WatchtowerWarning, match="too old"):
        logger.handle(old)
        logger.info("fresh")
        assert handler.flush(30) is True
    assert messages(client, group, "s") == ["fresh"]
    handler._destination.engine.spool.sync()
    (line,) = (tmp_path / _spool.DEAD_LETTER).read_text().splitlines()
    letter = json.loads(line)
    assert letter["message"] == "too old to keep" and letter["reason"] == "too_old"
    assert (letter["group"], letter["stream"]) == (group, "s")
    assert handler.stats()["dead_letters"] == 1
    assert _spool.summary(tmp_path).dead_letters == 1
    with pytest.warns(WatchtowerWarning, match="1 too old"):
        assert handler.close() is False


# ---------------------------------------------------------------- disk trouble


def test_a_failing_write_turns_the_spool_off_with_one_warning_and_delivery_goes_on(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=tmp_path, endpoint_url=endpoint,
        spool_sync_interval=0.05,
    )  # fmt: skip
    spool = handler._destination.engine.spool
    # The first segment file is a device that answers every write with ENOSPC.
    (tmp_path / f"{spool.writer}.000000.seg").symlink_to("/dev/full")
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(200):
            logger.info("record %d", i)
        wait_for(lambda: handler.stats()["spool_off"])
        for i in range(200, 400):
            logger.info("record %d", i)
        assert handler.flush(30) is True
    off = [w for w in caught if "can't write to spool_dir" in str(w.message)]
    assert len(off) == 1 and "No space left on device" in str(off[0].message)
    assert messages(client, group, "s") == [f"record {i}" for i in range(400)]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for this test (skipped where mounting is not allowed)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_turns_the_spool_off_and_nothing_is_lost(
    tiny_tmpfs: Path, proxy: FaultProxy, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=tiny_tmpfs, endpoint_url=proxy.url,
        spool_sync_interval=0.05,
    )  # fmt: skip
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proxy.set_down(True)
        for i in range(2000):
            logger.info("%d %s", i, "y" * 500)  # about 1 MB: four times the disk
        wait_for(lambda: handler.stats()["spool_off"])
        proxy.set_down(False)
        assert handler.flush(60)
    assert any("No space left on device" in str(w.message) for w in caught)
    assert {m.split()[0] for m in messages(client, group, "s")} == {str(i) for i in range(2000)}


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make `directory` read-only for this process: chmod, or as root (whom chmod does not
    stop) a read-only bind mount over it; skip the test where neither can be done."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    bound = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"running as root and can't bind-mount: {bound.stderr.decode().strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(directory)], capture_output=True
        )
        assert remount.returncode == 0, remount.stderr
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=False)


def test_a_directory_made_read_only_turns_the_spool_off(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=tmp_path, endpoint_url=endpoint,
        spool_sync_interval=0.05,
    )  # fmt: skip
    logger.addHandler(handler)
    with read_only(tmp_path), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(100):
            logger.info("record %d", i)
        wait_for(lambda: handler.stats()["spool_off"])
        assert handler.flush(30) is True
    off = [w for w in caught if "can't write to spool_dir" in str(w.message)]
    assert len(off) == 1
    assert "Read-only file system" in str(off[0].message) or "Permission" in str(off[0].message)
    assert messages(client, group, "s") == [f"record {i}" for i in range(100)]


# ------------------------------------------------------------------------ exit


EXIT_SCRIPT = """
import logging, sys, time, wt_adapters
started = time.monotonic()
log = logging.getLogger("e")
log.addHandler(wt_adapters.CloudWatchLogHandler(log_group_name=sys.argv[2], spool_dir=sys.argv[1]))
for i in range(100):
    log.warning("record %d", i)
import atexit
atexit.register(lambda: print(f"ran {time.monotonic() - started:.1f}", flush=True))
"""


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """An endpoint that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.slow
@pytest.mark.parametrize("down_how", ["refused", "no answer"])
def test_exit_with_the_endpoint_down_says_how_many_events_wait_on_disk(
    tmp_path: Path, endpoint: str, client: Any, group: str, down_how: str
) -> None:
    with contextlib.ExitStack() as stack:
        url = down() if down_how == "refused" else stack.enter_context(black_hole())
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", textwrap.dedent(EXIT_SCRIPT), str(tmp_path),
             group],
            capture_output=True, text=True, timeout=60, env=subprocess_env(endpoint=url),
        )  # fmt: skip
        seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    # The exit grace, not the 30 s deadline: refused connections prove delivery
    # impossible; an endpoint that never answers is not waited for past the grace
    # either, the events being safe on disk.
    assert seconds < 20
    assert "100 events for log group" in done.stderr
    assert "wait on disk in spool_dir=" in done.stderr and "for the next start" in done.stderr
    assert "could not be delivered" not in done.stderr and "dropped" not in done.stderr
    assert _spool.summary(tmp_path).events == 100

    delivered = next_start(tmp_path, group, endpoint)
    assert delivered.returncode == 0, delivered.stderr
    assert sorted(messages(client, group)) == sorted(f"record {i}" for i in range(100))
    assert segments(tmp_path) == []


# ------------------------------------------------------------- shared directory


SHARER = """
import logging, sys, time, wt_adapters
from wt_adapters import _spool
directory, group = sys.argv[1], sys.argv[2]
log = logging.getLogger("p")
log.addHandler(wt_adapters.CloudWatchLogHandler(
    log_group_name=group, log_stream_name="own", spool_dir=directory, send_interval=0.2))
for i in range(500):
    log.warning("%s %d", group, i)
print("started", flush=True)
sys.stdin.readline()  # both live until told to go
"""


def test_two_live_processes_share_a_directory_and_a_gone_ones_events_go_once(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    gone = spawn_writer(tmp_path, group + "-gone", 1000, down())
    wait_line(gone, "spooled")
    kill(gone)
    sharers = [
        start_python(textwrap.dedent(SHARER), str(tmp_path), f"{group}-{n}", endpoint=endpoint)
        for n in (1, 2)
    ]
    try:
        for p in sharers:
            wait_line(p, "started")
        # Each live one sends its own; one of them takes the gone one's events.
        wait_for(lambda: _spool.summary(tmp_path).writers_gone == 0, timeout=30)
        wait_for(lambda: len(messages_or_none(client, group + "-gone")) >= 1000, timeout=30)
        live = _spool.summary(tmp_path)
        assert live.writers_live == 2
    finally:
        outputs = [p.communicate("go\n", timeout=60) for p in sharers]
    for p, (_, err) in zip(sharers, outputs):
        assert p.returncode == 0, err
    assert sorted(messages(client, group + "-gone")) == sorted(f"record {i}" for i in range(1000))
    for n in (1, 2):
        assert sorted(messages(client, f"{group}-{n}")) == sorted(
            f"{group}-{n} {i}" for i in range(500)
        )
    assert segments(tmp_path) == []


# --------------------------------------------------- duplicates, forks, SIGTERM


def test_a_batch_maybe_stored_before_a_kill_is_sent_again_and_counted(
    tmp_path: Path, proxy: FaultProxy, endpoint: str, client: Any, group: str
) -> None:
    proxy.add_fault("drop_after", count=1)  # the first PutLogEvents is stored, its answer lost
    proxy.add_fault("drop_before")  # and no later one gets through
    writer = spawn_writer(tmp_path, group, 300, proxy.url)
    wait_line(writer, "spooled")
    wait_for(lambda: proxy.stats()["faults"].get("drop_after") == 1)
    kill(writer)
    assert _spool.summary(tmp_path).possible_duplicates == 300

    counts = _recovery.deliver(tmp_path, endpoint_url=endpoint, timeout=30)
    assert counts["delivered"] and counts["adopted"] == 300, counts
    assert counts["possible_duplicates"] == 300
    stored = messages(client, group, "s")
    assert set(stored) == {f"record {i}" for i in range(300)}
    assert len(stored) - 300 <= counts["possible_duplicates"]
    assert segments(tmp_path) == []


FORKS = """
import logging, multiprocessing, sys, wt_adapters
directory, group = sys.argv[1], sys.argv[2]
log = logging.getLogger("f")
log.addHandler(wt_adapters.CloudWatchLogHandler(
    log_group_name=group, log_stream_name="{process_id}", spool_dir=directory,
    send_interval=0.2))

def child(n):
    for i in range(200):
        log.warning("child %d %d", n, i)

if __name__ == "__main__":
    children = [multiprocessing.get_context("fork").Process(target=child, args=(n,))
                for n in range(2)]
    for c in children:
        c.start()
    for c in children:
        c.join()
    for i in range(200):
        log.warning("parent %d", i)
"""


def test_forked_children_spool_as_writers_of_their_own_and_leave_nothing(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(FORKS), str(tmp_path), group],
        capture_output=True, text=True, timeout=60, env=subprocess_env(endpoint=endpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    expected = [f"child {n} {i}" for n in range(2) for i in range(200)]
    expected += [f"parent {i}" for i in range(200)]
    assert sorted(messages(client, group)) == sorted(expected)
    assert list(tmp_path.iterdir()) == []


def test_a_writers_lock_file_has_its_name_only_once_it_is_locked(
    tmp_path: Path, endpoint: str, group: str, logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A lock file that can be locked is a gone writer's, for another process to adopt. A
    live writer's, seen between its making and its locking, was unlinked as one, and the
    writer's events were adopted and sent twice (a forked child's 200, 2 runs in 100)."""
    import fcntl

    named_when_locked = []
    flock = fcntl.flock

    def watched(fd: int, operation: int) -> None:
        if ".lock" in os.path.basename(os.readlink(f"/proc/self/fd/{fd}")):
            named_when_locked.append(sorted(p.name for p in tmp_path.glob("*.lock")))
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", watched)
    handler = CloudWatchLogHandler(log_group_name=group, spool_dir=tmp_path, endpoint_url=endpoint)
    logger.addHandler(handler)
    logger.info("one")
    assert handler.flush(10)
    spool = handler._destination.engine.spool
    assert isinstance(spool, _spool.Spool)
    assert [p.name for p in tmp_path.glob("*.lock")] == [f"{spool.writer}.lock"]
    assert handler.close(10)
    assert named_when_locked == [[]]


TERMINATED = """
import logging, sys, time, wt_adapters
log = logging.getLogger("t")
log.addHandler(wt_adapters.CloudWatchLogHandler(
    log_group_name=sys.argv[2], log_stream_name="s", spool_dir=sys.argv[1],
    flush_on_sigterm=True))
for i in range(500):
    log.warning("record %d", i)
print("logged", flush=True)
time.sleep(60)
"""


def test_sigterm_with_flush_on_sigterm_delivers_and_leaves_no_segment(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(TERMINATED), str(tmp_path),
         group],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(endpoint=endpoint),
    )  # fmt: skip
    wait_line(process, "logged")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGTERM, err
    assert sorted(messages(client, group, "s")) == sorted(f"record {i}" for i in range(500))
    assert segments(tmp_path) == []
    assert _spool.summary(tmp_path).events == 0


@pytest.mark.slow
def test_a_live_process_adopts_a_writer_that_dies_while_it_runs(
    tmp_path: Path, endpoint: str, client: Any, group: str, logger: Any
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group + "-live", spool_dir=tmp_path, endpoint_url=endpoint
    )
    logger.addHandler(handler)
    logger.info("the live one's own")
    writer = spawn_writer(tmp_path, group, 400, down())
    wait_line(writer, "spooled")
    kill(writer)
    # Looked for every few seconds while the process runs (`_spool.ADOPT_INTERVAL`).
    wait_for(lambda: handler.stats()["adopted"] == 400, timeout=3 * _spool.ADOPT_INTERVAL)
    wait_for(lambda: len(messages_or_none(client, group)) == 400, timeout=30)
    assert sorted(messages(client, group, "s")) == sorted(f"record {i}" for i in range(400))
    assert handler.flush(30) is True
    assert messages(client, group + "-live") == ["the live one's own"]
