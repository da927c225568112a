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

import importlib
import typing

if typing.TYPE_CHECKING:
    from .._filter_pattern import FilterPatternError, matches
    from ._capture import CapturedEvent, CapturedEvents, CaptureSender, capture_events

#: Each name loaded on first use: its module.
_LAZY: typing.Dict[str, str] = {
    "CaptureSender": "._capture",
    "CapturedEvent": "._capture",
    "CapturedEvents": "._capture",
    "FilterPatternError": ".._filter_pattern",
    "capture_events": "._capture",
    "matches": ".._filter_pattern",
}


def __getattr__(name: str) -> typing.Any:
    """Load `name` from its module on first use, and keep it here."""
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> typing.List[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CaptureSender",
    "CapturedEvent",
    "CapturedEvents",
    "FilterPatternError",
    "capture_events",
    "matches",
]
