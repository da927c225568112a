"""How a process ends: exit hooks in either import order, multiprocessing children, SIGTERM.

Every test runs a real Python subprocess against the moto server over HTTP,
without PYTHONUNBUFFERED, and waits on it with a deadline.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from helpers import free_port, make_client, read_events, subprocess_env, wait_for

import wt_adapters
from wt_adapters import WatchtowerError
from wt_adapters._signals import sigterm_flush_installed

#: Prepended to every script: where the test server is, and a shortened exit deadline.
PRELUDE = """\
import os, sys
ENDPOINT = os.environ["TEST_ENDPOINT"]
GROUP = os.environ["TEST_GROUP"]

def make_client():
    import boto3
    return boto3.client("logs", endpoint_url=ENDPOINT, region_name="us-east-1")
"""


def child_env(endpoint: str, group: str) -> Dict[str, str]:
    """The environment of a test subprocess (dummy keys, no PYTHONUNBUFFERED)."""
    return subprocess_env(TEST_ENDPOINT=endpoint, TEST_GROUP=group)


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"


def write_script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path


def run_script(
    script: Path, env: Dict[str, str], *, timeout: float, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=script.parent,
    )


def messages_by_stream(endpoint: str, group: str) -> Dict[str, List[str]]:
    by_stream: Dict[str, List[str]] = {}
    for event in read_events(make_client(endpoint), group):
        by_stream.setdefault(event["logStreamName"], []).append(event["message"])
    return by_stream


# ---------------------------------------------------------------- exit deadline

EXIT_WITH_TWO_HANDLERS = """
    {imports}
    import wt_adapters._registry as registry
    registry.FLUSH_TIMEOUT = 1.0  # the exit deadline, shortened for the test
    import boto3
    client = boto3.client("logs", endpoint_url=ENDPOINT, region_name="us-east-1")
    log = logging.getLogger("exit")
    for stream in ("a", "b"):
        log.addHandler(wt_adapters.CloudWatchLogHandler(
            log_group_name=GROUP, log_stream_name=stream, boto3_client=client))
    log.warning("never delivered")
"""


@pytest.mark.parametrize(
    "imports",
    ["import wt_adapters\nimport logging", "import logging\nimport wt_adapters"],
    ids=["wt_adapters_first", "logging_first"],
)
def test_exit_with_the_endpoint_down_keeps_one_deadline_whatever_the_import_order(
    tmp_path: Path, group: str, imports: str
) -> None:
    script = write_script(
        tmp_path, EXIT_WITH_TWO_HANDLERS.replace("{imports}", imports.replace("\n", "\n    "))
    )
    started = time.monotonic()
    run = run_script(script, child_env(closed_port_url(), group), timeout=25)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    # One 1 s deadline for the whole process (each handler's own 30 s before).
    assert took < 12, (took, run.stderr)
    assert "could not be delivered" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.slow
def test_exit_with_loguru_imported_after_wt_adapters_keeps_one_deadline(
    tmp_path: Path, group: str
) -> None:
    pytest.importorskip("loguru")
    script = write_script(
        tmp_path,
        """
        import wt_adapters
        import boto3
        from loguru import logger
        from wt_adapters.loguru import cloudwatch_sink
        import wt_adapters._registry as registry
        registry.FLUSH_TIMEOUT = 1.0  # the exit deadline only: the sinks' own stay 30 s
        client = boto3.client("logs", endpoint_url=ENDPOINT, region_name="us-east-1")
        logger.remove()
        for stream in ("a", "b"):
            logger.add(cloudwatch_sink(log_group_name=GROUP, log_stream_name=stream,
                                       boto3_client=client))
        logger.warning("never delivered")
        import time
        print(time.monotonic(), flush=True)  # exit begins (the parent's clock is the same)
        """,
    )
    run = run_script(script, child_env(closed_port_url(), group), timeout=60)
    ended = time.monotonic()
    assert run.returncode == 0, run.stderr
    # Timed from the end of the script, so that start-up on a loaded machine is left out:
    # one deadline (FLUSH_TIMEOUT, then the grace) takes seconds; a deadline per sink, 30 s.
    took = ended - float(run.stdout.split()[-1])
    assert took < 8, (took, run.stderr)
    assert "could not be delivered" in run.stderr, run.stderr


def test_records_logged_by_a_later_exit_hook_are_still_delivered(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    script = write_script(
        tmp_path,
        """
        import wt_adapters
        import atexit, logging
        log = logging.getLogger("late")
        log.setLevel(logging.INFO)
        log.addHandler(wt_adapters.CloudWatchLogHandler(
            log_group_name=GROUP, log_stream_name="late", boto3_client=make_client(),
            send_interval=600))
        log.info("before exit")
        # Registered after the engine: runs before our exit hook, still delivered.
        atexit.register(lambda: log.info("from an exit hook"))
        """,
    )
    run = run_script(script, child_env(endpoint, group), timeout=60, flags=("-W", "error"))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert messages_by_stream(endpoint, group) == {"late": ["before exit", "from an exit hook"]}


# ------------------------------------------------------------- multiprocessing

CHILDREN = """
    import logging, multiprocessing, wt_adapters
    # At the top level: spawn and forkserver children run this too.
    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=GROUP, log_stream_name="{process_id}", boto3_client=make_client(),
        send_interval=600)
    log = logging.getLogger("mp")
    log.setLevel(logging.INFO)
    log.addHandler(handler)

    def work(n):
        for i in range(500):
            log.info("task %d record %d", n, i)
        return n

    def main(kind, method):
        ctx = multiprocessing.get_context(method)
        if kind == "process":
            children = [ctx.Process(target=work, args=(n,)) for n in range(4)]
            for child in children:
                child.start()
            for child in children:
                child.join(120)
            assert [c.exitcode for c in children] == [0] * 4, children
        elif kind == "pool":
            pool = ctx.Pool(4)
            assert pool.map(work, range(4), chunksize=1) == [0, 1, 2, 3]
            pool.close()
            pool.join()
        else:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(4, mp_context=ctx) as executor:
                assert list(executor.map(work, range(4))) == [0, 1, 2, 3]
        print("parent", os.getpid(), flush=True)

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2])
"""

START_METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("kind", ["process", "pool", "executor"])
def test_multiprocessing_children_deliver_when_their_target_returns(
    tmp_path: Path, endpoint: str, group: str, kind: str, method: str
) -> None:
    script = write_script(tmp_path, CHILDREN)
    run = subprocess.run(
        [sys.executable, "-W", "error", str(script), kind, method],
        capture_output=True,
        text=True,
        timeout=180,
        env=child_env(endpoint, group),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr
    parent = run.stdout.split()[1]
    by_stream = messages_by_stream(endpoint, group)
    assert parent not in by_stream  # the parent logged nothing
    delivered = sorted(m for ms in by_stream.values() for m in ms)
    expected = sorted(f"task {n} record {i}" for n in range(4) for i in range(500))
    assert len(delivered) == 2000
    assert delivered == expected
    for ms in by_stream.values():  # each child's records in the order it logged them
        assert ms == sorted(ms, key=lambda m: tuple(int(w) for w in m.split()[1::2]))


# ---------------------------------------------------------------------- SIGTERM

SIGTERM_WORKER = """
    import logging, signal, time, wt_adapters
    log = logging.getLogger("term")
    log.setLevel(logging.INFO)
    handler = wt_adapters.CloudWatchLogHandler(
        log_group_name=GROUP, log_stream_name="term", boto3_client=make_client(),
        send_interval=60)
    log.addHandler(handler)
    {setup}
    for i in range(1000):
        log.info("record %d", i)
    print("ready", flush=True)
    deadline = time.monotonic() + 30  # ends by itself if no signal comes
    while time.monotonic() < deadline:
        time.sleep(0.05)
        {after_signal}
    sys.exit(3)
"""


def sigterm_script(tmp_path: Path, setup: str = "", after_signal: str = "pass") -> Path:
    return write_script(
        tmp_path, SIGTERM_WORKER.replace("{setup}", setup).replace("{after_signal}", after_signal)
    )


def start(script: Path, env: Dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=script.parent,
    )


def terminate_when_ready(proc: subprocess.Popen[str], timeout: float = 60) -> Tuple[str, str]:
    """Wait for the child's "ready" line, send it SIGTERM, and return its stdout and stderr."""
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, "the child never said it was ready"
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=timeout)
        return out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def delivered(endpoint: str, group: str) -> List[str]:
    try:
        return [m for ms in messages_by_stream(endpoint, group).values() for m in ms]
    except make_client(endpoint).exceptions.ResourceNotFoundException:
        return []  # the group was never created: nothing was sent


def test_sigterm_without_the_option_loses_what_is_queued(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    proc = start(sigterm_script(tmp_path), child_env(endpoint, group))
    _, err = terminate_when_ready(proc)
    assert proc.returncode == -signal.SIGTERM, err  # 143 to a shell
    assert delivered(endpoint, group) == []  # Python's default action skips atexit


def test_sigterm_with_flush_on_sigterm_delivers_everything_and_ends_with_status_143(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    script = sigterm_script(tmp_path, setup="wt_adapters.flush_on_sigterm()")
    proc = start(script, child_env(endpoint, group))
    started = time.monotonic()
    _, err = terminate_when_ready(proc)
    assert proc.returncode == -signal.SIGTERM, err
    assert err == ""
    assert time.monotonic() - started < 20
    assert delivered(endpoint, group) == [f"record {i}" for i in range(1000)]


def test_sigterm_status_is_143_to_a_shell(tmp_path: Path, endpoint: str, group: str) -> None:
    script = sigterm_script(tmp_path, setup="wt_adapters.flush_on_sigterm()")
    proc = subprocess.Popen(
        ["/bin/sh", "-c", f'"{sys.executable}" -W error "{script}" & echo $! ; wait $! ; echo $?'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(endpoint, group),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        assert select.select([proc.stdout], [], [], 60)[0]
        assert proc.stdout.readline() == "ready\n"
        os.kill(pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.split() == ["143"], err
    assert len(delivered(endpoint, group)) == 1000


def test_sigterm_calls_the_handler_installed_before_after_flushing(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    setup = textwrap.dedent("""\
        def previous(signum, frame):
            print("previous handler: sent", handler.stats()["sent"], flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, previous)
        wt_adapters.flush_on_sigterm()""").replace("\n", "\n    ")
    proc = start(sigterm_script(tmp_path, setup=setup), child_env(endpoint, group))
    out, err = terminate_when_ready(proc)
    assert proc.returncode == 7, err
    assert out == "previous handler: sent 1000\n"
    assert delivered(endpoint, group) == [f"record {i}" for i in range(1000)]


def test_sigterm_ignored_before_stays_ignored_after_the_flush(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    setup = "signal.signal(signal.SIGTERM, signal.SIG_IGN); wt_adapters.flush_on_sigterm()"
    after = 'if handler.stats()["sent"] == 1000: print("still running"); sys.exit(0)'
    script = sigterm_script(tmp_path, setup=setup, after_signal=after)
    proc = start(script, child_env(endpoint, group))
    out, err = terminate_when_ready(proc)
    assert proc.returncode == 0, err
    assert out == "still running\n"
    assert len(delivered(endpoint, group)) == 1000


def test_sigterm_inside_a_log_call_flushes_once_the_call_returns(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    # The signal arrives while the handler formats record 500 (a log call may
    # hold an engine's lock then): the flush must not deadlock.
    script = write_script(
        tmp_path,
        """
        import logging, signal, time, wt_adapters

        class KillingFormatter(logging.Formatter):
            def format(self, record):
                if record.args == (500,):
                    os.kill(os.getpid(), signal.SIGTERM)  # handled inside this log call
                return super().format(record)

        log = logging.getLogger("term")
        log.setLevel(logging.INFO)
        handler = wt_adapters.CloudWatchLogHandler(
            log_group_name=GROUP, log_stream_name="term", boto3_client=make_client(),
            send_interval=60)
        handler.setFormatter(KillingFormatter())
        log.addHandler(handler)
        wt_adapters.flush_on_sigterm()
        for i in range(1000):
            log.info("record %d", i)
        time.sleep(30)
        sys.exit(3)
        """,
    )
    started = time.monotonic()
    run = run_script(script, child_env(endpoint, group), timeout=60, flags=("-W", "error"))
    assert run.returncode == -signal.SIGTERM, run.stderr
    assert time.monotonic() - started < 25
    got = delivered(endpoint, group)
    assert got[:501] == [f"record {i}" for i in range(501)]
    assert got == [f"record {i}" for i in range(len(got))]


@pytest.mark.slow
def test_pool_workers_still_end_at_once_when_terminated_with_flush_on_sigterm(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    # `with Pool()` ends its workers with terminate(), that is SIGTERM. A Python
    # handler there might not run while a worker waits on its task queue, and
    # the parent would wait for ever: in multiprocessing children the handler
    # before ours is put back (they flush when their target returns instead).
    script = write_script(
        tmp_path,
        CHILDREN.replace(
            "import logging, multiprocessing, wt_adapters",
            "import logging, multiprocessing, signal, wt_adapters\n"
            "    wt_adapters.flush_on_sigterm()",
        )
        .replace(
            "        return n",
            "        default = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL\n"
            "        print('child handler', default, flush=True)\n"
            "        return n",
        )
        .replace(
            """            pool = ctx.Pool(4)
            assert pool.map(work, range(4), chunksize=1) == [0, 1, 2, 3]
            pool.close()
            pool.join()""",
            """            for _ in range(3):
                with ctx.Pool(4) as pool:
                    assert pool.map(work, range(4), chunksize=1) == [0, 1, 2, 3]""",
        ),
    )
    for method in START_METHODS:
        run = subprocess.run(
            [sys.executable, "-W", "error", str(script), "pool", method],
            capture_output=True,
            text=True,
            timeout=120,
            env=child_env(endpoint, group),
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[:-1] == ["child handler True"] * 12, run.stdout  # 3 pools x 4 tasks


def test_flush_on_sigterm_refuses_to_be_set_up_from_another_thread() -> None:
    before = signal.getsignal(signal.SIGTERM)
    errors: List[BaseException] = []

    def set_up() -> None:
        try:
            wt_adapters.flush_on_sigterm()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=set_up, name="not-main")
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], WatchtowerError)
    assert "main thread" in str(errors[0]) and "not-main" in str(errors[0])
    assert signal.getsignal(signal.SIGTERM) is before


def test_flush_on_sigterm_checks_its_timeout() -> None:
    with pytest.raises(WatchtowerError, match="timeout"):
        wt_adapters.flush_on_sigterm(timeout=-1)


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    """Put SIGTERM's handler back as it was after the test."""
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _stdlib(**options: object) -> object:
    return wt_adapters.CloudWatchLogHandler(**options)  # type: ignore[arg-type]


def _structlog(**options: object) -> object:
    pytest.importorskip("structlog")
    from wt_adapters.structlog import CloudWatchRenderer

    return CloudWatchRenderer(**options)  # type: ignore[arg-type]


def _loguru(**options: object) -> object:
    pytest.importorskip("loguru")
    from wt_adapters.loguru import cloudwatch_sink

    return cloudwatch_sink(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make", [_stdlib, _structlog, _loguru], ids=["stdlib", "structlog", "loguru"]
)
def test_every_front_end_takes_flush_on_sigterm(
    make: Callable[..., object], client: object, group: str, sigterm_restored: None
) -> None:
    plain = make(log_group_name=group, boto3_client=client)
    assert not sigterm_flush_installed()
    front = make(log_group_name=group, boto3_client=client, flush_on_sigterm="true")
    assert sigterm_flush_installed()
    for made in (plain, front):
        made.close()  # type: ignore[attr-defined]
    assert sigterm_flush_installed()  # process-wide: closing a front end leaves it


def test_flush_on_sigterm_chains_to_the_handler_before_and_is_installed_once(
    sigterm_restored: None,
) -> None:
    calls: List[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    wt_adapters.flush_on_sigterm(timeout=1)
    installed = signal.getsignal(signal.SIGTERM)
    wt_adapters.flush_on_sigterm(timeout=2)  # again: the same handler, a new deadline
    assert signal.getsignal(signal.SIGTERM) is installed
    os.kill(os.getpid(), signal.SIGTERM)
    wait_for(lambda: calls, timeout=10)
    assert calls == [signal.SIGTERM]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_as_pid_1_sigterm_flushes_and_ends_with_status_143(
    tmp_path: Path, endpoint: str, group: str
) -> None:
    # PID 1 of a PID namespace ignores signals it has no handler for.
    script = sigterm_script(tmp_path, setup="wt_adapters.flush_on_sigterm()")
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no permission to make a PID namespace")
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-W", "error", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(endpoint, group),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert select.select([proc.stdout], [], [], 60)[0]
        assert proc.stdout.readline() == "ready\n"
        child = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(child, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert len(delivered(endpoint, group)) == 1000
