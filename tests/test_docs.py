"""Every code block in README.md and docs/*.md is run, or checked, as written.

How a block is treated (the convention every doc follows):

- ```python: run as a script of its own, ``python -W error``, in an empty
  temporary directory, with the environment pointing boto3 at a local
  CloudWatch Logs endpoint (``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, dummy
  credentials, ``AWS_REGION``) that this module starts. It must exit with 0.
- ```sh, ```bash, ```shell, ```console: every ``wt-adapters ...`` or
  ``python -m wt_adapters ...`` command in it (after a ``$`` prompt in a
  console block, also after ``|`` or ``&&``) is parsed by the command line's
  own parser: an unknown flag or a bad value fails the test. Other commands
  are not run.
- ```json: must parse.
- ```text, or no language: output shown as an example; not run.
- Any other language needs a directive.

A directive is an HTML comment (invisible once rendered) on the line just
before the opening fence:

- ``<!-- doc-test: compile -->``: a fragment (it names things it does not
  define); only compiled.
- ``<!-- doc-test: pytest -->``: a test module; run with pytest (so the
  ``cloudwatch_events`` fixture is there), in the same environment.
- ``<!-- doc-test: skip: WHY -->``: not run; the reason is required.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

import click
import pytest
from helpers import ROOT, reset_endpoint, subprocess_env

from wt_adapters._cli import cli
from wt_adapters._local import LocalEndpoint

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 120

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
_DIRECTIVE = re.compile(r"<!--\s*doc-test:\s*(?P<kind>[a-z]+)\s*(?::\s*(?P<why>.*?))?\s*-->")
RUN = {"python", "py"}
SHELL = {"sh", "bash", "shell", "console", "shell-session"}
SHOWN = {"", "text", "txt", "output"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    code: str
    directive: Optional[str]
    why: Optional[str]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> Iterator[Block]:
    """The fenced code blocks of a Markdown file, with the directive before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        language = opening.group("info").strip().split(" ")[0].lower()
        previous = lines[i - 1].strip() if i > 0 else ""
        directive = _DIRECTIVE.search(previous)
        body: List[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            text = lines[j]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip())
            j += 1
        yield Block(
            path=path,
            line=i + 1,
            language=language,
            code="\n".join(body) + "\n",
            directive=directive.group("kind") if directive else None,
            why=directive.group("why") if directive else None,
        )
        i = j + 1


ALL = [block for path in DOCS for block in blocks(path)]


@pytest.fixture(scope="module")
def doc_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """The environment a block runs in: a local endpoint of its own, nothing of the developer's."""
    home = tmp_path_factory.mktemp("home")
    with LocalEndpoint() as endpoint:
        env = subprocess_env(credentials=False, home=home, **endpoint.environment)
        yield env


@pytest.fixture
def block_env(doc_env: Dict[str, str]) -> Dict[str, str]:
    """`doc_env`, its endpoint's state reset for this block: a block repeated (pytest-repeat's
    --count) finds the groups it creates new again."""
    reset_endpoint(doc_env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"])
    return doc_env


@pytest.mark.parametrize("block", ALL, ids=[b.name for b in ALL])
def test_code_block(block: Block, block_env: Dict[str, str], tmp_path: Path) -> None:
    if block.directive == "skip":
        assert block.why, f"{block.name}: say why a block is skipped: <!-- doc-test: skip: WHY -->"
        pytest.skip(block.why)
    if block.directive not in (None, "compile", "pytest"):
        pytest.fail(f"{block.name}: unknown directive {block.directive!r}")
    if block.directive == "compile":
        compile(block.code, block.name, "exec")
    elif block.directive == "pytest":
        script = tmp_path / "test_doc_block.py"
        script.write_text(block.code)
        _run([sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
              script.name], block, block_env, tmp_path)  # fmt: skip
    elif block.language in RUN:
        script = tmp_path / "doc_block.py"
        script.write_text(block.code)
        _run([sys.executable, "-W", "error", script.name], block, block_env, tmp_path)
    elif block.language in SHELL:
        for command in wt_adapters_commands(block.code, console=block.language != "sh"):
            check_parses(command, block)
    elif block.language == "json":
        json.loads(block.code)
    elif block.language not in SHOWN:
        pytest.fail(
            f"{block.name}: a {block.language!r} block needs a directive"
            " (<!-- doc-test: skip: WHY --> or compile)"
        )


def _run(command: List[str], block: Block, env: Dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT
    )
    assert result.returncode == 0, (
        f"{block.name} failed:\n{block.code}\n--- stdout\n{result.stdout}\n--- stderr\n"
        f"{result.stderr}"
    )
    return result.stdout


def wt_adapters_commands(code: str, console: bool) -> Iterator[List[str]]:
    """The argument lists of the wt-adapters commands a shell block runs."""
    has_prompts = any(line.startswith("$ ") for line in code.splitlines())
    for line in code.splitlines():
        if has_prompts:
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        line = line.split(" #", 1)[0]
        if not line.strip():
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        command: List[str] = []
        for word in [*words, "&&"]:
            if word in ("|", "&&", "||", ";"):
                args = _wt_adapters_args(command)
                if args is not None:
                    yield args
                command = []
            else:
                command.append(word)


def _wt_adapters_args(words: List[str]) -> Optional[List[str]]:
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the command
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program == "wt-adapters":
        return words[1:]
    if re.fullmatch(r"python[0-9.]*", program) and words[1:3] == ["-m", "wt_adapters"]:
        return words[3:]
    return None


def check_parses(args: List[str], block: Block) -> None:
    """Let click parse `args` as the real command would, without running anything."""
    try:
        if not args or args[0].startswith("-"):
            cli.make_context("wt-adapters", list(args)).close()
            return
        with click.Context(cli, info_name="wt-adapters") as parent:
            command = cli.get_command(parent, args[0])
            assert command is not None, f"{block.name}: no command {args[0]!r}"
            command.make_context(args[0], list(args[1:]), parent=parent).close()
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.UsageError as e:
        pytest.fail(f"{block.name}: `wt-adapters {shlex.join(args)}`: {e.format_message()}")


def test_the_docs_have_blocks_of_every_kind() -> None:
    languages = {b.language for b in ALL}
    assert {"python", "sh"} <= languages
    assert any(b.path.name == "README.md" for b in ALL)


_RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s#]+)(#[^)\s]*)?\)")


def anchors(path: Path) -> Set[str]:
    """The anchors GitHub makes for a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {target for target, _anchor in _RELATIVE_LINK.findall(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert not pages - linked, "docs/README.md does not link these pages"


def test_the_architecture_page_names_every_module_of_the_package() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "wt_adapters"
    modules = {p.stem for p in package.glob("*.py")} | {
        p.stem for folder in ("_engine", "_spool") for p in (package / folder).glob("*.py")
    }
    named = set(re.findall(r"`(?:\w+/)*(\w+)(?:\.py|/)?`", page))
    assert not modules - {"__init__", "__main__"} - named, "docs/architecture.md does not name these"


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_relative_links_in_the_docs_name_files_and_headings_that_exist(path: Path) -> None:
    broken = []
    for target, anchor in _RELATIVE_LINK.findall(path.read_text(encoding="utf-8")):
        linked = path.parent / target
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor[1:] not in anchors(linked):
            broken.append(target + anchor)
    assert not broken


def test_the_metrics_example_runs_twice_in_a_row(doc_env: Dict[str, str], tmp_path: Path) -> None:
    """A reader runs an example again: it must not assume the first run's streams are new."""
    (block,) = [b for b in blocks(ROOT / "docs" / "metrics.md") if b.language in RUN][:1]
    script = tmp_path / "doc_block.py"
    script.write_text(block.code)
    outputs = [
        _run([sys.executable, "-W", "error", script.name], block, doc_env, tmp_path)
        for _ in range(2)
    ]
    assert outputs[0] != outputs[1]  # the second run reads its own metrics stream
