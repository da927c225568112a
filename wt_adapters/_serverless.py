"""`flush_after`: deliver every queued log event before a short-lived function returns.

AWS Lambda freezes the process as soon as the handler returns: events still
queued would wait for the next invocation, or be lost with the sandbox.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Optional, TypeVar, cast, overload

from ._buffer import _ScopeManager
from ._errors import WatchtowerError
from ._registry import EXIT_GRACE, flush_all
from ._report import report

F = TypeVar("F", bound=Callable[..., Any])

#: Without a Lambda context (or `timeout`), how long to wait for delivery (seconds).
DEFAULT_TIMEOUT = 10.0
#: Time left to the function after flushing, before Lambda's own deadline (seconds).
DEFAULT_MARGIN = 0.5


def _remaining_seconds(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Optional[float]:
    """The Lambda context's remaining time, if a context is among the arguments."""
    for value in (*args, *kwargs.values()):
        remaining = getattr(value, "get_remaining_time_in_millis", None)
        if callable(remaining):
            try:
                return float(remaining()) / 1000.0
            except Exception:  # a stand-in context that misbehaves: use the default
                return None
    return None


def _flush(
    started: float, limit: Optional[float], margin: float, remaining: Optional[float]
) -> Optional[str]:
    """Flush every engine within the deadline; say what went wrong, if anything did."""
    budget = DEFAULT_TIMEOUT if limit is None else limit
    if remaining is not None:
        left = remaining - (time.monotonic() - started) - margin
        budget = left if limit is None else min(limit, left)
    budget = max(0.0, budget)
    try:
        done = flush_all(budget, grace=EXIT_GRACE)
    except Exception as e:  # never turn the function's result into a logging failure
        return f"flush_after: flushing failed: {e!r}"
    if not done:
        return f"flush_after: some log events were not delivered within {budget:.3g} s"
    return None


@overload
def flush_after(fn: F) -> F: ...


@overload
def flush_after(
    *, timeout: Optional[float] = None, margin: float = DEFAULT_MARGIN
) -> Callable[[F], F]: ...


def flush_after(
    fn: Optional[F] = None,
    *,
    timeout: Optional[float] = None,
    margin: float = DEFAULT_MARGIN,
) -> Any:
    """Decorate a function so that every engine is flushed before it returns or raises.

    For AWS Lambda handlers and other short-lived functions (a cron job, a
    Celery task, a serverless container's request). The wait is bounded: by
    the Lambda context's remaining time less `margin` seconds when the
    function gets a context (an argument with ``get_remaining_time_in_millis``),
    by `timeout` seconds when given (the smaller of the two when both), else by
    `DEFAULT_TIMEOUT`. Events not delivered in time are counted and warned
    about as `WatchtowerWarning` (on stderr when warnings are errors, as
    under ``-W error``); the function's result or exception is passed on
    untouched. Works on ``async def`` functions too (the flush runs
    in a worker thread).

    Each call runs in a `wt_adapters.buffer_scope` (joining one already
    open): with ``buffer_level`` set, its DEBUG records ship only if an
    error record or an exception follows, before the flush.

    ::

        @wt_adapters.flush_after
        def handler(event, context): ...

        @wt_adapters.flush_after(timeout=2)
        def job(): ...
    """
    for name, value in (("timeout", timeout), ("margin", margin)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise WatchtowerError(f"{name}={value!r} must be a number of seconds >= 0")
    if fn is None:
        return lambda f: _decorate(f, timeout, margin)
    return _decorate(fn, timeout, margin)


def _decorate(fn: F, timeout: Optional[float], margin: float) -> F:
    if not callable(fn):
        raise WatchtowerError(f"flush_after decorates a function, not {fn!r}")

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            remaining = _remaining_seconds(args, kwargs)
            try:
                with _ScopeManager():  # this invocation's buffer scope
                    return await fn(*args, **kwargs)
            finally:
                import asyncio  # here, so that an app without coroutines never loads it

                loop = asyncio.get_running_loop()
                problem = await loop.run_in_executor(
                    None, _flush, started, timeout, margin, remaining
                )
                if problem:  # reported here, on the caller's thread, at the caller's code
                    report(problem)

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        remaining = _remaining_seconds(args, kwargs)
        try:
            with _ScopeManager():  # this invocation's buffer scope
                return fn(*args, **kwargs)
        finally:
            problem = _flush(started, timeout, margin, remaining)
            if problem:
                report(problem)

    return cast(F, wrapper)
