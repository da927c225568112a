"""The structlog front end: `CloudWatchRenderer`, a last processor that ships event dicts.

Importing this module imports structlog; ``import wt_adapters`` does not.
"""

from ._renderer import CloudWatchRenderer

__all__ = ["CloudWatchRenderer"]
