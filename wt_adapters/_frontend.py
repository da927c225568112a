"""What the three front ends share: the re-entry guard and the AWS SDK noise filter."""

from __future__ import annotations

import math

from ._threads import MAX_NESTING, thread_state

#: Loggers of the AWS SDK, whose DEBUG records carry request details (and would loop).
SDK_LOGGERS = ("botocore", "urllib3", "boto3", "s3transfer")
DEBUG = 10

#: An event's time in milliseconds from its time in seconds: ``trunc(seconds * 1000)``,
#: the same number as watchtower's ``int(seconds * 1000)`` for any float, in half the time.
trunc = math.trunc


def is_sdk_noise(name: str, level: int) -> bool:
    """Tell whether a record of logger `name` at `level` is the AWS SDK's own DEBUG output."""
    return level <= DEBUG and name.startswith(SDK_LOGGERS)


#: What `enter` says of a record: leave it out, keep it local only, or ship it.
OUT, LOCAL, SHIP = 0, 1, 2


def enter() -> int:
    """Start handling a record on this thread; say whether to ship it.

    `OUT`: it was made while handling records, nested too deep (say, by a
    serializer that logs): leave it out. `LOCAL`: the delivery engine made it
    (its thread, or a synchronous send): don't ship it. `SHIP`: ship it.
    Unless `OUT`, call `leave` when done. The three front ends inline these
    few lines on their hot path (two calls are a measurable share of a log
    call's cost); tests/test_frontend.py holds each of them to this definition.
    """
    state = thread_state
    if state.depth >= MAX_NESTING:
        return OUT
    state.depth += 1
    return LOCAL if state.in_engine else SHIP


def leave() -> None:
    """Finish what `enter` started."""
    thread_state.depth -= 1
