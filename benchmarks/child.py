"""Running one measurement in a fresh process: what the runner and every section share.

The runner (benchmarks/run.py) imports the sections; the sections
(benchmarks/latency.py, benchmarks/spool.py, benchmarks/floor.py) import this
module and never the runner.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

from benchmarks.scenarios import RESULT_PREFIX

#: The repository root: every child runs there, with it on PYTHONPATH.
REPO = Path(__file__).resolve().parent.parent
#: The log stream every scenario logs to (created beforehand: see benchmarks/README.md).
STREAM = "bench"


def child_env(endpoint_url: str) -> Dict[str, str]:
    """The environment of every child: dummy credentials, the local endpoint, no AWS config."""
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(name, None)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        # Every boto3 client in the child goes to the local endpoint, whatever its service:
        # boto3's own variables, and the one wt_adapters reads.
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=endpoint_url,
        AWS_ENDPOINT_URL_LOGS=endpoint_url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    return env


def run_child(
    spec: Dict[str, Any],
    env: Dict[str, str],
    timeout: float,
    *,
    module: Sequence[str] = ("benchmarks.scenarios",),
    prefix: str = RESULT_PREFIX,
) -> Dict[str, Any]:
    """Run one scenario in a fresh process; return its result or raise RuntimeError.

    The child is ``python -m <module...> '<json spec>'``; it prints its result as one
    line of JSON after `prefix`.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-m", *module, json.dumps(spec)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"did not finish within {timeout:g} s") from None
    for line in done.stdout.splitlines():
        if line.startswith(prefix):
            result: Dict[str, Any] = json.loads(line[len(prefix) :])
            return result
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-5:]
    raise RuntimeError(f"exit status {done.returncode}: " + " | ".join(tail))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
