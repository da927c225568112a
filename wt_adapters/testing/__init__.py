"""Test an app's logging without AWS: capture what would reach CloudWatch Logs.

``capture_events()`` is a context manager; the pytest plugin (registered by
the package's ``pytest11`` entry point) offers it as the ``cloudwatch_events``
fixture::

    def test_signing_in_is_logged(cloudwatch_events):
        app.sign_in("ada")
        assert cloudwatch_events.data()[-1]["event"] == "signed in"

Each name loads on first use (PEP 562), so that loading the plugin, as every
pytest run does, loads no capture machinery, engine or boto3.
"""

import typing

from .._lazy import lazy_names as _lazy_names

if typing.TYPE_CHECKING:
    from .._filter_pattern import FilterPatternError, matches
    from ._capture import CapturedEvent, CapturedEvents, CaptureSender, capture_events

#: Each name loaded on first use: (module, name in it).
_LAZY = {
    name: (module, name)
    for module, names in (
        ("._capture", ("CaptureSender", "CapturedEvent", "CapturedEvents", "capture_events")),
        (".._filter_pattern", ("FilterPatternError", "matches")),
    )
    for name in names
}

__getattr__, __dir__ = _lazy_names(globals(), _LAZY)


__all__ = [
    "CaptureSender",
    "CapturedEvent",
    "CapturedEvents",
    "FilterPatternError",
    "capture_events",
    "matches",
]
