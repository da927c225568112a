"""The package's root error and warning (names kept from watchtower)."""

from __future__ import annotations


class WatchtowerError(Exception):
    """Raised for a configuration the package cannot work with.

    The message names the offending argument.
    """


class WatchtowerWarning(UserWarning):
    """Warned for a delivery problem: truncation, drops, rejections, failures."""
