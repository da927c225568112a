"""Whether an endpoint can be reached now: shared by the engines that send to it."""

from __future__ import annotations

from typing import Optional


class Reach:
    """Since when every call to one endpoint (one client, profile or endpoint URL) has
    failed for want of a connection or of credentials.

    The engines of every log group sent through the same client share one, so that
    the second and third handlers closed with the endpoint down do not wait out a
    stall window of their own: the first one's is theirs. Plain attributes, set
    under whichever engine's lock: a late write of one engine's view is harmless.
    """

    __slots__ = ("_last_failure", "_since")

    def __init__(self) -> None:
        self._since: Optional[float] = None
        self._last_failure = 0.0

    def failed(self, now: float) -> None:
        """A call failed, the endpoint unreachable or the credentials refused."""
        if self._since is None:
            self._since = now
        self._last_failure = now

    def succeeded(self) -> None:
        """A call succeeded: the endpoint is there, the credentials good."""
        self._since = None

    def blocked_since(self, now: float, window: float) -> Optional[float]:
        """Since when delivery has been impossible, if a call failed within `window` of
        `now` and none has succeeded since the first failure; else None (an outage long
        over, with no call made since, says nothing of now)."""
        if self._since is None or now - self._last_failure > window:
            return None
        return self._since
