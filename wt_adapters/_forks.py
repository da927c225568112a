"""The package's one at-fork hook: its steps run in a fixed order, whoever registers them.

`os.register_at_fork` runs hooks registered later first (before a fork) or
last (after one), so the order of the package's steps would depend on which
module was imported first. Here every step names its place instead: the
engines' (`ENGINES`), then the spools' (`SPOOLS`), then the stream-name
caches' (`STREAM_CACHES`). The steps after a fork in the child take no lock:
they replace what the parent's threads may have held.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

#: The places of the package's steps, in the order they run after a fork.
ENGINES, SPOOLS, STREAM_CACHES = 10, 20, 30

_Step = Tuple[int, Callable[[], None]]
_before: List[_Step] = []
_in_parent: List[_Step] = []
_in_child: List[_Step] = []


def on_fork(
    place: int,
    *,
    before: Optional[Callable[[], None]] = None,
    after_in_parent: Optional[Callable[[], None]] = None,
    after_in_child: Optional[Callable[[], None]] = None,
) -> None:
    """Run these steps at every fork, at `place` among the package's steps."""
    kinds = ((_before, before), (_in_parent, after_in_parent), (_in_child, after_in_child))
    for steps, step in kinds:
        if step is not None:
            steps.append((place, step))
            steps.sort(key=lambda s: s[0])


def _run(steps: List[_Step], reverse: bool = False) -> Callable[[], None]:
    def run() -> None:
        for _, step in reversed(steps) if reverse else list(steps):
            step()

    return run


if hasattr(os, "register_at_fork"):
    # Before a fork, the later places first (the engines last: they pause their senders
    # and hold their locks until after it); after it, the engines first.
    os.register_at_fork(
        before=_run(_before, reverse=True),
        after_in_parent=_run(_in_parent),
        after_in_child=_run(_in_child),
    )
