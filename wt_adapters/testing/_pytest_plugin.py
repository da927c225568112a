"""The pytest plugin: the `cloudwatch_events` fixture.

Registered through the ``pytest11`` entry point, so installing the package
is enough to use the fixture, and every pytest run of a project that installs
it loads this module. It imports nothing beyond pytest and its own packages
(``wt_adapters`` and ``wt_adapters.testing``, which Python imports first and
which load their names on first use): the capture machinery, the engine and
boto3 load when a test asks for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from ._capture import CapturedEvents


@pytest.fixture
def cloudwatch_events() -> Iterator[CapturedEvents]:
    """Capture what every log handler, renderer and sink sends during the test, in memory.

    Yields `wt_adapters.testing.CapturedEvents`: the events (each with
    `group`, `stream`, `timestamp`, `message` and decoded `data`), in time
    order. Nothing reaches AWS.
    """
    from ._capture import capture_events

    with capture_events() as events:
        yield events
