"""How a process ends: exit hooks in either import order, multiprocessing children, SIGTERM.

Every test runs a real Python subprocess against the moto server over HTTP,
without PYTHONUNBUFFERED, and waits on it with a deadline.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import free_port, make_client, read_events, subprocess_env

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
        """,
    )
    started = time.monotonic()
    run = run_script(script, child_env(closed_port_url(), group), timeout=25)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert took < 12, (took, run.stderr)
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
