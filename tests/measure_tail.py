"""Measure `wt-adapters tail` on a large group: time to the first line, and peak memory.

Run: ``.venv/bin/python tests/measure_tail.py [EVENTS]`` (500,000 by default). It
starts `wt-adapters local` in a process of its own, stores EVENTS events in two
streams, then runs `wt-adapters tail --since 1h` into a pipe and reports the
seconds until its first line, until its last, the lines printed and the peak
RSS of the tail process. Also prints the injection example's escaped output.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INJECTION = "\x1b]0;pwned\x07 title, \x1b[2J clear, over\rwrite, back\bspace"


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop("PYTHONUNBUFFERED", None)
    env.update(PYTHONPATH=ROOT, HOME="/tmp", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)  # fmt: skip
    local = subprocess.Popen([sys.executable, "-m", "wt_adapters", "local"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert local.stdout is not None
        exported = {}
        while "AWS_DEFAULT_REGION" not in exported:
            line = local.stdout.readline()
            if not line:
                raise SystemExit("wt-adapters local did not start")
            name, _, value = line.strip()[len("export ") :].partition("=")
            exported[name] = value
        env.update(exported)
        client = boto3.client(
            "logs", endpoint_url=exported["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"],
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        client.create_log_group(logGroupName="big")
        start = int(time.time() * 1000) - 1_800_000
        for stream in ("a", "b"):
            client.create_log_stream(logGroupName="big", logStreamName=stream)
        for first in range(0, total, 10_000):
            stream = "a" if (first // 10_000) % 2 == 0 else "b"
            events = [{"timestamp": start + first + i, "message": f"event {first + i} " + "x" * 60}
                      for i in range(min(10_000, total - first))]  # fmt: skip
            client.put_log_events(logGroupName="big", logStreamName=stream, logEvents=events)
        began = time.monotonic()
        tail = subprocess.Popen([sys.executable, "-m", "wt_adapters", "tail", "big", "--since",
                                 "1h"], env=env, stdout=subprocess.PIPE)  # fmt: skip
        assert tail.stdout is not None
        tail.stdout.readline()
        first_line = time.monotonic() - began
        lines = 1 + sum(1 for _ in tail.stdout)
        tail.wait()
        last_line = time.monotonic() - began
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"events stored: {total:,}; lines printed: {lines:,}")
        print(f"time to first line: {first_line:.2f} s; to the last: {last_line:.2f} s")
        print(f"peak RSS of the tail process: {peak_kib / 1024:.1f} MiB")
        client.create_log_stream(logGroupName="big", logStreamName="\x1b[2Jinjected")
        client.put_log_events(logGroupName="big", logStreamName="\x1b[2Jinjected",
                              logEvents=[{"timestamp": int(time.time() * 1000),
                                          "message": INJECTION}])  # fmt: skip
        shown = subprocess.run([sys.executable, "-m", "wt_adapters", "tail", "big", "--stream",
                                "\x1b[2Jinjected"], env=env, capture_output=True, text=True)  # fmt: skip
        print(f"the injection example, as tail prints it: {shown.stdout.strip()}")
    finally:
        local.terminate()
        local.wait(30)


if __name__ == "__main__":
    main()
