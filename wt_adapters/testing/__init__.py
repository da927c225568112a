"""Test an app's logging without AWS: capture what would reach CloudWatch Logs.

``capture_events()`` is a context manager; the pytest plugin (registered by
the package's ``pytest11`` entry point) offers it as the ``cloudwatch_events``
fixture::

    def test_signing_in_is_logged(cloudwatch_events):
        app.sign_in("ada")
        assert cloudwatch_events.data()[-1]["event"] == "signed in"
"""

from .._filter_pattern import FilterPatternError, matches
from ._capture import CapturedEvent, CapturedEvents, CaptureSender, capture_events

__all__ = [
    "CaptureSender",
    "CapturedEvent",
    "CapturedEvents",
    "FilterPatternError",
    "capture_events",
    "matches",
]
