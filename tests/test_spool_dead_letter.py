"""The dead-letter file shared by every process of a spool directory: rotation, and trouble."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Dict, List

from helpers import subprocess_env, wait_for

from wt_adapters import WatchtowerWarning
from wt_adapters._spool import DEAD_LETTER, Spool

#: Writes N dead letters tagged TAG into DIR, one write each, with rotation past LIMIT
#: bytes; starts once the file GO exists; prints what its spool says at the end.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from wt_adapters._spool import dead_letter
    from wt_adapters._spool.spool import Spool

    directory, n, tag, limit, go = sys.argv[1:]
    dead_letter.DEAD_LETTER_BYTES = int(limit)
    spool = Spool(directory, 1 << 30, 0.2)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    for i in range(int(n)):
        spool.dead_letter("g", "s", [(i, f"{tag}:{i}:" + "x" * 150)], "too_old")
        spool.write_now()
    print(json.dumps({"off": spool.off, "figures": spool.figures}), flush=True)
    """
)


def read_letters(directory: Path) -> List[Dict[str, object]]:
    """Every line of the dead-letter file and its rotated copy, each parsed (a torn one fails)."""
    letters = []
    for name in (DEAD_LETTER + ".1", DEAD_LETTER):
        path = directory / name
        if path.exists():
            for line in path.read_bytes().splitlines():
                letters.append(json.loads(line))
    return letters


def test_processes_sharing_a_directory_rotate_dead_letters_without_losing_or_tearing_lines(
    tmp_path: Path,
) -> None:
    writers, n, limit = 6, 400, 8 * 1024
    go = tmp_path / "go"
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(spool_dir), str(n), f"w{k}", str(limit), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for k in range(writers)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        go.touch()
        ends = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            ends.append(json.loads(out.splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=10)
    # No process's spool was switched off, and each wrote every line it was given.
    assert [end["off"] for end in ends] == [None] * writers
    assert [end["figures"]["dead_letters"] for end in ends] == [n] * writers
    # Each rotation drops the older copy whole: what is kept of each writer's lines is
    # the last of them, none missing in between, none torn.
    kept: Dict[str, List[int]] = {}
    for letter in read_letters(spool_dir):
        tag, number, _ = str(letter["message"]).split(":")
        kept.setdefault(tag, []).append(int(number))
    for tag in (f"w{k}" for k in range(writers)):
        numbers = sorted(kept.get(tag, []))
        assert numbers == list(range(n - len(numbers), n)), tag
    # A rotation happens only past the limit, so the rotated copy holds at least that much.
    assert (spool_dir / (DEAD_LETTER + ".1")).stat().st_size > limit
    assert not list(spool_dir.glob("*.seg"))


def test_a_dead_letter_file_that_cannot_be_written_leaves_the_spool_on_and_is_counted(
    tmp_path: Path,
) -> None:
    (tmp_path / DEAD_LETTER).mkdir()  # the file can't be opened for appending
    spool = Spool(str(tmp_path), 1 << 30, 0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            spool.dead_letter("g", "s", [(i, f"refused {i}")], "too_old")
            spool.write_now()
    assert spool.off is None
    figures = spool.stats()
    assert figures["spool_off"] is None
    assert figures["dead_letters"] == 0 and figures["dead_letters_lost"] == 3
    said = [w for w in caught if issubclass(w.category, WatchtowerWarning)]
    assert len(said) == 1 and "dead-letter" in str(said[0].message)
    # Once the file can be written again, dead letters go there.
    (tmp_path / DEAD_LETTER).rmdir()
    spool.dead_letter("g", "s", [(9, "refused 9")], "too_old")
    spool.write_now()
    wait_for(lambda: (tmp_path / DEAD_LETTER).exists(), timeout=5)
    assert [letter["message"] for letter in read_letters(tmp_path)] == ["refused 9"]
    assert spool.stats()["dead_letters"] == 1
    spool.close()
