"""The spool under abuse: files that block, damaged records, a full disk, crash loops.

Over real files (a FIFO, flipped bytes, a cut file, a 2 MiB tmpfs or a fake
full disk where mounting is not allowed) and real HTTP (moto's server, and
the fault proxy for outages); processes killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from faultproxy import FaultProxy
from helpers import messages, start_python, subprocess_env, wait_for

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning, _spool
from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender
from wt_adapters._settings import Settings
from wt_adapters._spool import format as spool_format

#: Named as a gone writer's files are: HOST-PID-RANDOM.NNNNNN.seg.
GONE = "gonehost-4242-0000beef"


def segments(directory: Path) -> List[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".seg"))


def messages_or_none(client: Any, group: str) -> List[str]:
    try:
        return messages(client, group)
    except client.exceptions.ResourceNotFoundException:
        return []


def records(group: str, n_records: int, per_record: int) -> List[bytes]:
    """A gone writer's segment as records: its header, then runs of `per_record` events."""
    now = int(time.time() * 1000)
    runs = [
        _spool.encode_run(r * per_record, group, [("s", now, f"record {r * per_record + i}")
                                                  for i in range(per_record)])
        for r in range(n_records)
    ]  # fmt: skip
    return [spool_format.encode_header(GONE), *runs]


def format_1(payload: bytes) -> bytes:
    """A record as format 1 wrote it: length, CRC-32 of the payload, payload."""
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def adopt(directory: Path, endpoint: str, group: str) -> CloudWatchLogHandler:
    """A handler with the spool of `directory` that has looked for gone writers once."""
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="own", spool_dir=directory, endpoint_url=endpoint,
        send_interval=0.1, spool_sync_interval=0.05,
    )  # fmt: skip
    spool = handler._destination.engine.spool
    assert spool.adopt_now(10)
    return handler


def delivered(client: Any, group: str, n: int) -> List[str]:
    """The group's messages once `n` are stored (and a moment more, for any extra)."""
    wait_for(lambda: len(messages_or_none(client, group)) >= n, timeout=30)
    time.sleep(0.3)
    return messages(client, group)


# ------------------------------------------------------------- blocking files


def test_a_fifo_named_like_a_gone_writers_segment_blocks_nothing(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    (tmp_path / f"{GONE}.000000.seg").write_bytes(b"".join(records(group, 10, 100)))
    fifo = "gonehost-4343-0000cafe.000000.seg"
    os.mkfifo(tmp_path / fifo)
    with pytest.warns(WatchtowerWarning, match=rf"{fifo} .* is no regular file"):
        handler = adopt(tmp_path, endpoint, group)
        stored = delivered(client, group, 1000)
        began = time.monotonic()
        assert handler.close(timeout=3)
        took = time.monotonic() - began
    assert sorted(stored) == sorted(f"record {i}" for i in range(1000))
    assert took < 3.5, f"close(timeout=3) took {took:.1f} s"
    assert os.listdir(tmp_path / "quarantine") == [fifo]
    assert segments(tmp_path) == []
    # The next start, with FIFOs named like a segment, a lock and the dead-letter file.
    os.mkfifo(tmp_path / "gonehost-4444-0000f00d.000000.seg")
    os.mkfifo(tmp_path / "gonehost-4545-0000d00d.lock")
    os.mkfifo(tmp_path / "dead-letter.jsonl")
    script = textwrap.dedent(
        """
        import logging, sys, wt_adapters
        handler = wt_adapters.CloudWatchLogHandler(log_group_name=sys.argv[2],
            spool_dir=sys.argv[1], spool_sync_interval=0.05)
        logging.getLogger("n").addHandler(handler)
        assert handler._destination.engine.spool.adopt_now(10)
        print(handler.close(timeout=3))
        """
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(tmp_path), group],
        capture_output=True, text=True, timeout=30, env=subprocess_env(endpoint=endpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert time.monotonic() - began < 15
    assert done.stderr.count("is no regular file") == 1, done.stderr


# ------------------------------------------------------------- damaged records


def test_a_flipped_byte_loses_only_its_record_and_the_file_is_kept_aside(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    recs = records(group, 10, 100)
    data = bytearray(b"".join(recs))
    data[sum(map(len, recs[:3])) + len(recs[3]) // 2] ^= 0x01  # inside the third run
    name = f"{GONE}.000000.seg"
    (tmp_path / name).write_bytes(bytes(data))
    assert _spool.summary(tmp_path).events == 900 and _spool.summary(tmp_path).corrupt == 1
    with pytest.warns(WatchtowerWarning, match=r"1 bad records skipped; .*900 events kept"):
        handler = adopt(tmp_path, endpoint, group)
        stored = delivered(client, group, 900)
        stats = handler.stats()
        assert handler.close(timeout=10)
    assert sorted(stored) == sorted(f"record {i}" for i in range(1000) if not 200 <= i < 300)
    assert stats["spool_corrupt"] == 1 and stats["spool_torn"] == 0
    assert stats["spool_quarantined"] == 1 and stats["adopted"] == 900
    assert os.listdir(tmp_path / "quarantine") == [name]
    assert (tmp_path / "quarantine" / name).read_bytes() == bytes(data)
    assert segments(tmp_path) == []


def test_a_record_with_a_good_checksum_and_bad_json_at_the_head_loses_only_itself(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    head, *runs = records(group, 10, 100)
    bad = spool_format.encode_record(b'R{"s": 0, "g": "not json')
    (tmp_path / f"{GONE}.000000.seg").write_bytes(head + bad + b"".join(runs))
    with pytest.warns(WatchtowerWarning, match=r"1 bad records skipped; .*1000 events kept"):
        handler = adopt(tmp_path, endpoint, group)
        stored = delivered(client, group, 1000)
        assert handler.stats()["spool_corrupt"] == 1
        assert handler.close(timeout=10)
    assert sorted(stored) == sorted(f"record {i}" for i in range(1000))


def test_a_segment_cut_in_the_middle_keeps_what_is_before_the_cut_and_says_so(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    recs = records(group, 10, 100)
    whole = b"".join(recs)
    cut = sum(map(len, recs[:6])) + len(recs[6]) // 2  # in the middle of the sixth run
    (tmp_path / f"{GONE}.000000.seg").write_bytes(whole[:cut])
    with pytest.warns(WatchtowerWarning, match=r"ends in a record cut short.*500 events kept"):
        handler = adopt(tmp_path, endpoint, group)
        stored = delivered(client, group, 500)
        stats = handler.stats()
        assert handler.close(timeout=10)
    assert sorted(stored) == sorted(f"record {i}" for i in range(500))
    assert stats["spool_torn"] == 1 and stats["spool_corrupt"] == 0
    assert os.listdir(tmp_path / "quarantine") == [f"{GONE}.000000.seg"]


def test_a_format_1_segment_is_read_and_resynchronised_past_a_bad_record(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    head = format_1(b'V{"version":1,"writer":"%s"}' % GONE.encode())
    runs = [format_1(r[12:]) for r in records(group, 10, 100)[1:]]  # the payloads, refrained
    mark = format_1(b"A" + b"[[0,50]]")  # the first 50 were acked
    (tmp_path / f"{GONE}.000000.seg").write_bytes(head + b"".join(runs) + mark)
    damaged = bytearray(head + b"".join(runs))
    damaged[len(head) + len(runs[0]) + 40] ^= 0x10  # inside the second run
    (tmp_path / "gonehost-4646-0000abba.000000.seg").write_bytes(bytes(damaged))
    assert not _spool.parse_segment(head + b"".join(runs)).damaged
    with pytest.warns(WatchtowerWarning, match=r"gonehost-4646-0000abba.*\(1 bad records skipped"):
        handler = adopt(tmp_path, endpoint, group)
        stored = delivered(client, group, 950 + 900)
        assert handler.close(timeout=10)
    expected = [f"record {i}" for i in range(50, 1000)]
    expected += [f"record {i}" for i in range(1000) if not 100 <= i < 200]
    assert sorted(stored) == sorted(expected)
    assert os.listdir(tmp_path / "quarantine") == ["gonehost-4646-0000abba.000000.seg"]


def test_segments_are_written_in_format_2(tmp_path: Path) -> None:
    recs = records("g", 2, 3)
    assert all(r.startswith(spool_format.MAGIC) for r in recs)
    assert b'"version": 2' in recs[0]
    contents = _spool.parse_segment(b"".join(recs))
    assert len(contents.events) == 6 and not contents.damaged and contents.records == 3


# ------------------------------------------------------------------ full disk


@pytest.fixture(params=["tmpfs", "fake"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB disk: a tmpfs where it can be mounted, else writes failing with ENOSPC past
    2 MiB (the spool's one write call, wrapped)."""
    where = tmp_path / "disk"
    where.mkdir()
    if request.param == "fake":
        left = [2 * 1024 * 1024]
        real = spool_format.os_write

        def write(fd: int, data: Any) -> int:
            if len(data) > left[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            left[0] -= len(data)
            return real(fd, data)

        spool_format.os_write = write
        try:
            yield where
        finally:
            spool_format.os_write = real
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=10)


def test_marks_taken_by_a_pass_that_fills_the_disk_still_settle_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass takes the marks, then a record's write fails: the spool goes off, and the
    events those marks settled must not stay on disk for the next start to send again."""
    settings = Settings("g", spool_dir=str(tmp_path), send_interval=0.05,
                        spool_sync_interval=3600)  # fmt: skip  # passes when the test says
    engine = build_engine(settings, MemorySender())
    spool = engine.spool
    assert isinstance(spool, _spool.Spool)
    now = int(time.time() * 1000)
    try:
        for i in range(100):
            assert engine.submit("s", now, f"on disk {i}")
        spool.sync()  # written
        assert segments(tmp_path) and _spool.summary(tmp_path).events == 100
        assert engine.flush(10)  # delivered: their marks wait for the next pass
        assert engine.submit("s", now, "one more")  # that pass writes this first

        def full(fd: int, data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(spool_format, "os_write", full)
        with pytest.warns(WatchtowerWarning, match="No space left on device"):
            spool.sync()
        assert spool.off
        spool.sync()  # off: applies what it has, deletes what is all settled
        assert engine.flush(10)
    finally:
        engine.close(5)
    assert _spool.summary(tmp_path).events == 0
    assert segments(tmp_path) == []


#: Starts with a spool in DIR, adopts what gone writers left, and says how many it adopted.
NEXT_START = """
import logging, sys, wt_adapters
handler = wt_adapters.CloudWatchLogHandler(log_group_name=sys.argv[2], spool_dir=sys.argv[1],
    spool_sync_interval=0.05)
logging.getLogger("n").addHandler(handler)
assert handler._destination.engine.spool.adopt_now(10)
assert handler.flush(30)
s = handler.stats()
print(s["adopted"], s["adopted_possible_duplicates"])
handler.close()
"""


def test_what_is_delivered_after_a_full_disk_switched_the_spool_off_is_not_sent_again(
    small_disk: Path, endpoint: str, client: Any, group: str, logger: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logging_thread = threading.current_thread()
    writes_in_log_calls = []  # close() writes its last marks on this thread: that is fine
    in_call = [False]
    written = [0]
    disk_write = spool_format.os_write

    def write(fd: int, data: Any) -> int:
        written[0] += 1
        if in_call[0] and threading.current_thread() is logging_thread:
            writes_in_log_calls.append(len(data))
        return disk_write(fd, data)

    monkeypatch.setattr(spool_format, "os_write", write)
    handler = CloudWatchLogHandler(
        log_group_name=group, log_stream_name="s", spool_dir=small_disk, endpoint_url=endpoint,
        spool_sync_interval=0.05,
    )  # fmt: skip
    logger.addHandler(handler)
    slowest = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(20_000):
            in_call[0] = True
            began = time.perf_counter()
            logger.info("%d %s", i, "x" * 100)  # about 2.6 MB: more than the disk
            slowest = max(slowest, time.perf_counter() - began)
            in_call[0] = False
        wait_for(lambda: handler.stats()["spool_off"], timeout=30)
        assert handler.flush(60)
        stats = handler.stats()
        handler.close(timeout=10)
    off = [w for w in caught if "can't write to spool_dir" in str(w.message)]
    assert len(off) == 1 and "No space left on device" in str(off[0].message), off
    assert [w for w in caught if issubclass(w.category, WatchtowerWarning)] == off
    # The caller never waits on the disk: it never writes there, and no log call waited
    # long for a lock the spool thread held. The bound leaves room for what a loaded
    # machine does to one thread (a call took 0.54 s once with a load average of 10).
    assert written[0] > 0 and writes_in_log_calls == []
    assert slowest < 5, f"a log call took {slowest:.3f} s"
    assert stats["sent"] == 20_000
    stored = messages(client, group, "s")
    in_order = sorted(stored, key=lambda m: int(m.split()[0]))
    assert in_order == [f"{i} {'x' * 100}" for i in range(20_000)]
    # What the switched-off spool had written and was then delivered is not left unsent.
    assert _spool.summary(small_disk).events == 0
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(NEXT_START), str(small_disk), group],
        capture_output=True, text=True, timeout=60, env=subprocess_env(endpoint=endpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]
    assert len(messages(client, group, "s")) == 20_000
    assert stats["spool_unmarked"] == 0  # no mark failed to reach a segment that stays


# ---------------------------------------------------------------- crash loops

#: Logs "SEED-RUN-i" through a spool in DIR until killed; after each 20 records waits
#: two sync intervals and says "safe i": every record up to i is on disk by then.
CHILD = """
import logging, sys, time, wt_adapters
directory, tag = sys.argv[1], sys.argv[2]
log = logging.getLogger("c")
handler = wt_adapters.CloudWatchLogHandler(log_group_name=sys.argv[3], log_stream_name="s",
    spool_dir=directory, send_interval=0.05, spool_sync_interval=0.05, retry_deadline=600)
log.addHandler(handler)
i = 0
while True:
    log.warning("%s-%d", tag, i)
    if i % 20 == 19:
        time.sleep(0.15)  # three sync intervals: time for the spool thread to write
        print("safe", i, flush=True)
    i += 1
"""


def flap(proxy: FaultProxy, rng: random.Random, stop: threading.Event) -> None:
    while not stop.wait(rng.uniform(0.05, 0.4)):
        proxy.set_down(not proxy.is_down)


def run_child(directory: Path, tag: str, group: str, proxy: FaultProxy, seconds: float) -> int:
    """Run the child until it says its first records are safe, then `seconds` more, and kill
    it; return the last record it called safe. (Its start-up is not timed: on a loaded
    machine it can take longer than the whole run was meant to.)"""
    child = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(CHILD), str(directory), tag, group],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(endpoint=proxy.url),
    )  # fmt: skip
    assert child.stdout is not None
    try:
        first = child.stdout.readline()  # bounded by the test's timeout
        if first.startswith("safe "):
            time.sleep(seconds)
            child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(OSError):
            child.kill()
    assert child.returncode == -signal.SIGKILL, err
    safe = -1
    for line in [first, *out.splitlines()]:
        if line.startswith("safe "):
            safe = int(line.split()[1])
    return safe


@pytest.mark.parametrize("seed", [1, 2])
def test_a_crash_loop_with_a_flapping_endpoint_loses_nothing_past_the_sync_window(
    seed: int, tmp_path: Path, proxy: FaultProxy, client: Any, group: str
) -> None:
    rng = random.Random(seed)
    stop = threading.Event()
    flapper = threading.Thread(target=flap, args=(proxy, rng, stop), daemon=True)
    flapper.start()
    safe: Dict[str, int] = {}
    counted = 0
    try:
        for run in range(3):
            tag = f"{seed}-{run}"
            safe[tag] = run_child(tmp_path, tag, group, proxy, rng.uniform(0.5, 2.0))
            counted += _spool.summary(tmp_path).possible_duplicates  # what may go twice
    finally:
        stop.set()
        flapper.join(5)
    proxy.set_down(False)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(NEXT_START), str(tmp_path), group],
        capture_output=True, text=True, timeout=60, env=subprocess_env(endpoint=proxy.url),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = messages(client, group, "s")
    for tag, last in safe.items():
        assert last >= 0, f"run {tag} logged nothing safe"
        missing = {f"{tag}-{i}" for i in range(last + 1)} - set(stored)
        assert not missing, f"lost within the window from run {tag}: {sorted(missing)[:5]}"
    duplicates = len(stored) - len(set(stored))
    assert duplicates <= counted, (duplicates, counted)
    assert _spool.summary(tmp_path).events == 0


#: Logs 500 records of its own to GROUP-N through the spool in DIR, and waits to be told to go.
SHARER = """
import logging, sys, wt_adapters
directory, group = sys.argv[1], sys.argv[2]
log = logging.getLogger("p")
handler = wt_adapters.CloudWatchLogHandler(log_group_name=group, log_stream_name="own",
    spool_dir=directory, send_interval=0.1, spool_sync_interval=0.05)
log.addHandler(handler)
for i in range(500):
    log.warning("%s %d", group, i)
handler._destination.engine.spool.adopt_now(10)
print("started", flush=True)
sys.stdin.readline()
"""


def test_three_processes_sharing_a_spool_send_everything_exactly_once(
    tmp_path: Path, endpoint: str, client: Any, group: str
) -> None:
    now = int(time.time() * 1000)
    for n in range(4):  # four gone writers, 500 events each
        runs = [
            _spool.encode_run(r * 100, f"{group}-gone", [("s", now, f"gone {n} {r * 100 + i}")
                              for i in range(100)])
            for r in range(5)
        ]  # fmt: skip
        data = spool_format.encode_header(GONE) + b"".join(runs)
        (tmp_path / f"gonehost-{5000 + n}-0000{n:04x}.000000.seg").write_bytes(data)
    sharers = [
        start_python(textwrap.dedent(SHARER), str(tmp_path), f"{group}-{n}", endpoint=endpoint)
        for n in range(3)
    ]
    try:
        for p in sharers:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "started"
        wait_for(lambda: _spool.summary(tmp_path).writers_gone == 0, timeout=60)
        wait_for(lambda: len(messages_or_none(client, f"{group}-gone")) >= 2000, timeout=60)
    finally:
        outputs = [p.communicate("go\n", timeout=60) for p in sharers]
    for p, (_, err) in zip(sharers, outputs):
        assert p.returncode == 0, err
    expected = [f"gone {n} {i}" for n in range(4) for i in range(500)]
    assert sorted(messages(client, f"{group}-gone")) == sorted(expected)
    for n in range(3):
        own = sorted(f"{group}-{n} {i}" for i in range(500))
        assert sorted(messages(client, f"{group}-{n}")) == own
    assert segments(tmp_path) == []
