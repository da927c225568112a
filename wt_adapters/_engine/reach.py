"""Whether delivery to an endpoint is possible now: shared by the engines that use it."""

from __future__ import annotations

from typing import Optional


class Reach:
    """Since when every call to one endpoint (one client, profile or endpoint URL) has
    failed for want of a connection or of credentials, and whether that cause can't clear.

    The engines of every log group sent through the same client share one, so that
    the second and third handlers closed with the endpoint down do not wait out a
    stall window of their own: the first one's is theirs. Plain attributes, set
    under whichever engine's lock: a late write of one engine's view is harmless.
    """

    __slots__ = ("blocked_since", "hopeless")

    def __init__(self) -> None:
        #: Since when (monotonic) every call has failed, unreachable or refused; None
        #: once one succeeds.
        self.blocked_since: Optional[float] = None
        #: Why delivery can't happen within this process (no credentials, no client can
        #: be made, a missing group or stream it may not create); None once a call succeeds.
        self.hopeless: Optional[str] = None

    def failed(self, now: float, *, permanent: Optional[str] = None) -> None:
        """A call failed, unreachable or refused (`permanent`: why it can't clear)."""
        if self.blocked_since is None:
            self.blocked_since = now
        if permanent is not None:
            self.hopeless = permanent

    def succeeded(self) -> None:
        """A call succeeded: the endpoint is there, the credentials good."""
        self.blocked_since = None
        self.hopeless = None
