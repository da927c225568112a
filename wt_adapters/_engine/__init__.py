"""The delivery engine (see `engine`)."""

from .engine import Engine

__all__ = ["Engine"]
