"""The structlog front end: `CloudWatchRenderer`, a last processor that ships event dicts.

Importing this module imports structlog (the ``structlog`` extra); ``import
wt_adapters`` does not. Without structlog installed, importing it is an
`ImportError` that says what to install.
"""

try:
    import structlog as _structlog  # noqa: F401
except ModuleNotFoundError as missing:
    if missing.name != "structlog":
        raise
    raise ImportError(
        'wt_adapters.structlog needs structlog: pip install "wt-adapters[structlog]"',
        name="structlog",
    ) from None

from ._renderer import CloudWatchRenderer

__all__ = ["CloudWatchRenderer"]
