"""What the command line says when it is used wrongly: one line, the flag named, exit code 2.

End to end in subprocesses; nothing listens at the endpoint of the usage tests,
so a command that made an AWS call would exit with 3 instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
from helpers import ROOT, subprocess_env

from wt_adapters._local import LocalEndpoint

TIMEOUT = 120
NOWHERE = "http://127.0.0.1:9"


def run(
    *args: str, env: Dict[str, str], input: Optional[str] = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wt_adapters", *args], input=input, capture_output=True,
        text=True, env=env, cwd=ROOT, timeout=TIMEOUT,
    )  # fmt: skip


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a usage error (exit code 2, nothing on stdout)."""
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wt-adapters: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    """wt_adapters' local endpoint, which checks filter patterns as CloudWatch does."""
    with LocalEndpoint() as endpoint:
        yield endpoint.url


# ------------------------------------------------------------------ no command


def test_no_command_prints_the_help_on_stderr_and_exits_2_as_click_does(tmp_path: Path) -> None:
    env = subprocess_env(home=tmp_path)
    bare = run(env=env)
    asked = run("--help", env=env)
    assert (bare.returncode, bare.stdout) == (2, "")
    assert (asked.returncode, asked.stderr) == (0, "")
    assert bare.stderr == asked.stdout
    assert "no command: this help, on stderr, exit code 2" in " ".join(asked.stdout.split())


# ------------------------------------------------------------------ log groups


@pytest.mark.parametrize(
    "args",
    [
        ["pipe", "--group=None"],
        ["pipe", "-g", "None"],
        ["tail", "--group=None"],
        ["tail", "None"],
        ["streams", "None"],
        ["demo", "--group", "None"],
    ],
)
def test_a_group_of_none_is_a_usage_error_before_any_aws_call(
    tmp_path: Path, args: List[str]
) -> None:
    line = usage_error(run(*args, env=subprocess_env(NOWHERE, home=tmp_path), input="x\n"))
    assert "None is Python's None, not a value on the command line" in line
    assert "give the log group's name" in line
    assert ("--group" in line) if args[1].startswith("-") else ("GROUP" in line)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["pipe", "-g", "bad name"], "--group='bad name' is not a valid log group name"),
        (["tail", "-g", "bad name"], "'bad name' is not a valid log group name"),
        (["streams", "bad:name"], "'bad:name' is not a valid log group name"),
        (["demo", "--group", "bad name"], "'bad name' is not a valid log group name"),
    ],
)
def test_a_group_cloudwatch_would_refuse_is_a_usage_error_before_any_aws_call(
    tmp_path: Path, args: List[str], named: str
) -> None:
    line = usage_error(run(*args, env=subprocess_env(NOWHERE, home=tmp_path), input="x\n"))
    assert named in line and "CloudWatch takes 1 to 512 characters" in line


# ---------------------------------------------------------------------- values


def test_a_choice_refused_lists_the_choices_as_words(tmp_path: Path) -> None:
    env = subprocess_env(NOWHERE, home=tmp_path)
    line = usage_error(run("pipe", "-g", "g", "--queue-overflow", "all", env=env, input="x\n"))
    assert line == (
        "wt-adapters: error: --queue-overflow='all' must be one of 'drop_oldest',"
        " 'drop_newest', 'block' (see 'wt-adapters pipe --help')"
    )


def test_a_filter_pattern_cloudwatch_refuses_is_a_usage_error(tmp_path: Path, local: str) -> None:
    env = subprocess_env(local, home=tmp_path)
    line = usage_error(run("tail", "some-group", "--filter", "{ $.level = ", env=env))
    assert line.startswith("wt-adapters: error: Invalid value for '--filter': CloudWatch refused")
    assert "{ $.level =" in line and line.endswith("(see 'wt-adapters tail --help')")


# ---------------------------------------------------------------------- counts


def test_counts_are_singular_for_one_and_plural_otherwise() -> None:
    from wt_adapters._cli._common import counted

    assert [counted(n, "line") for n in (0, 1, 2)] == ["0 lines", "1 line", "2 lines"]
    assert counted(12_345, "event", grouped=True) == "12,345 events"
    assert counted(1, "front end") == "1 front end"


def test_pipe_counts_one_line_as_one_line(tmp_path: Path, endpoint: str) -> None:
    result = run("pipe", "-g", "one", env=subprocess_env(endpoint, home=tmp_path), input="x\n")
    assert result.returncode == 0, result.stderr
    assert "pipe: read 1 line (0 blank, skipped), sent 1 event to 'one'" in result.stderr
