"""Error-triggered buffering: hold low-level records inside a scope, ship them if an error follows.

A *buffer scope* (`buffer_scope`) is one unit of work: a web request, a
task, a Lambda invocation. Inside it, a front end whose destination has a
``buffer_level`` holds the records at or below that level (`Buffer.offer`)
instead of submitting them. A record at or above ``flush_buffer_on`` ships
what the scope holds first, then itself; so does an exception escaping the
scope. A scope that ends without either discards what it holds (counted).

The scope lives in a `contextvars.ContextVar`: a nested scope joins the one
around it, an asyncio task joins its creator's, a new thread starts outside
any (unless it runs in a copy of the context). Held records keep their
timestamps and their order, per destination; shipping them is the front
end's own submit, so they go through the engine, its batching and its spool
like any other record. Nothing here knows a logging framework or the engine.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections import deque
from contextvars import ContextVar, Token
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Generator,
    List,
    Optional,
    Tuple,
    TypeVar,
    Union,
    cast,
    overload,
)

from ._errors import WatchtowerError
from ._forks import STREAM_CACHES, on_fork
from ._report import report
from ._rules import EVENT_OVERHEAD

F = TypeVar("F", bound=Callable[..., Any])

#: Submits one event: ``submit(stream, timestamp_ms, message)`` (a destination's).
Submit = Callable[[str, int, str], Any]

#: One held record: (stream, timestamp_ms, message, size in bytes).
Held = Tuple[str, int, str, int]

#: The scope of the current context, if any.
_current: ContextVar[Optional[Scope]] = ContextVar("wt_adapters_buffer_scope", default=None)

#: Guards every scope's records and every buffer's counters: each section is a few
#: appends and additions; records are submitted with it released.
_lock = threading.Lock()


def _fresh_lock_in_child() -> None:
    """After a fork: another thread may have held the lock; the child's only thread needs one."""
    global _lock
    _lock = threading.Lock()


on_fork(STREAM_CACHES + 1, after_in_child=_fresh_lock_in_child)  # after the caches: no order needed


def current_scope() -> Optional[Scope]:
    """Return the buffer scope the caller is in, or None."""
    return _current.get()


class _Pending:
    """One destination's records held in one scope, oldest first, and their bytes."""

    __slots__ = ("records", "size")

    def __init__(self) -> None:
        self.records: Deque[Held] = deque()
        self.size = 0


class Scope:
    """The records one unit of work holds, for every destination that buffers.

    Made by `buffer_scope`; shared by every thread or task running in its
    context. `ship` sends what it holds now; the scope's owner ends it.
    """

    __slots__ = ("_pending", "closed")

    def __init__(self) -> None:
        self._pending: Dict[Buffer, _Pending] = {}
        #: True once the scope ended: records offered to it are shipped at once.
        self.closed = False

    def ship(self) -> int:
        """Submit every held record to its destination, oldest first; return how many."""
        with _lock:
            pending, self._pending = self._pending, {}
            for buffer, held in pending.items():
                buffer.shipped += len(held.records)
        count = 0
        for buffer, held in pending.items():
            submit = buffer.submit
            for stream, timestamp, message, _ in held.records:
                submit(stream, timestamp, message)
            count += len(held.records)
        return count

    def close(self) -> int:
        """End the scope, discarding what it holds (counted); return how many were discarded."""
        with _lock:
            self.closed = True
            pending, self._pending = self._pending, {}
            count = 0
            for buffer, held in pending.items():
                buffer.discarded += len(held.records)
                count += len(held.records)
        return count


class Buffer:
    """One destination's buffering: its levels, its byte budget per scope, its counters.

    `hold_at` and `flush_at` are level numbers (`flush_at` None: no level
    ships); `submit` is the destination's own.
    """

    __slots__ = (
        "discarded",
        "evicted",
        "flush_at",
        "held",
        "hold_at",
        "max_bytes",
        "shipped",
        "submit",
        "warned",
    )

    def __init__(
        self, hold_at: int, flush_at: Optional[int], max_bytes: int, submit: Submit
    ) -> None:
        self.hold_at = hold_at
        self.flush_at = flush_at if flush_at is not None else float("inf")
        self.max_bytes = max_bytes
        self.submit = submit
        self.held = self.shipped = self.discarded = self.evicted = 0
        self.warned = False

    def offer(self, level: int, stream: str, timestamp: int, message: str) -> bool:
        """Take the record into the caller's scope if it is to be held: return True then.

        False: the caller submits it (outside a scope, or above ``buffer_level``).
        A record at or above ``flush_buffer_on`` first ships what the scope holds.
        """
        scope = _current.get()
        if scope is None:
            return False
        if level > self.hold_at:
            if level >= self.flush_at:
                scope.ship()
            return False
        size = len(message) if message.isascii() else len(message.encode("utf-8", "replace"))
        size += EVENT_OVERHEAD
        evicted = 0
        with _lock:
            if scope.closed:  # a task or thread outliving its scope: ship as usual
                return False
            held = scope._pending.get(self)
            if held is None:
                held = scope._pending[self] = _Pending()
            held.records.append((stream, timestamp, message, size))
            held.size += size
            self.held += 1
            if held.size > self.max_bytes:
                records = held.records
                while held.size > self.max_bytes and records:
                    held.size -= records.popleft()[3]
                    evicted += 1
                self.evicted += evicted
        if evicted and not self.warned:
            self.warned = True
            report(
                f"buffer_max_bytes={self.max_bytes} was reached in a buffer scope: its oldest"
                " held records were evicted (counted in stats()['buffered']['evicted']);"
                " said once"
            )
        return True

    def stats(self) -> Dict[str, int]:
        """The counters: records held, then shipped, discarded or evicted (none is loss)."""
        with _lock:
            return {
                "held": self.held,
                "shipped": self.shipped,
                "discarded": self.discarded,
                "evicted": self.evicted,
            }


class _ScopeManager:
    """What `buffer_scope` returns: a context manager (sync and async) and a decorator."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: List[Tuple[Optional[Token[Optional[Scope]]], Scope]] = []

    def __enter__(self) -> Scope:
        scope = _current.get()
        if scope is not None and not scope.closed:  # nested: join the scope around it
            self._entries.append((None, scope))
            return scope
        scope = Scope()
        self._entries.append((_current.set(scope), scope))
        return scope

    def __exit__(self, kind: Any, error: Optional[BaseException], traceback: Any) -> None:
        entries = self._entries
        token, scope = entries.pop()
        here = _current.get()
        if scope is not here:  # one manager entered by several threads: find this one's
            entries.append((token, scope))
            at = next((i for i in range(len(entries) - 1, -1, -1) if entries[i][1] is here), -1)
            token, scope = entries.pop(at)
        if isinstance(error, Exception):
            scope.ship()
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # ended in another context than it began in
                _current.set(None)
            scope.close()

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(self, kind: Any, error: Optional[BaseException], traceback: Any) -> None:
        self.__exit__(kind, error, traceback)

    def __call__(self, fn: F) -> F:
        return _decorate(fn)


class _InContext:
    """A generator whose every step runs in `context` (for ``yield from``)."""

    __slots__ = ("context", "generator")

    def __init__(self, context: contextvars.Context, generator: Generator[Any, Any, Any]) -> None:
        self.context = context
        self.generator = generator

    def __iter__(self) -> _InContext:
        return self

    def __next__(self) -> Any:
        return self.context.run(next, self.generator)

    def send(self, value: Any) -> Any:
        return self.context.run(self.generator.send, value)

    def throw(self, *args: Any) -> Any:
        return self.context.run(self.generator.throw, *args)

    def close(self) -> None:
        self.context.run(self.generator.close)


def _decorate(fn: F) -> F:
    if not callable(fn):
        raise WatchtowerError(f"buffer_scope decorates a function, not {fn!r}")
    if inspect.isasyncgenfunction(fn):
        raise WatchtowerError(
            f"buffer_scope cannot decorate the async generator function {fn.__qualname__};"
            " open `async with buffer_scope():` inside it"
        )
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            # The generator's own code runs in a context of its own, its scope open there
            # from its first step to its last; the consumer's code between steps does not.
            context = contextvars.copy_context()
            manager = _ScopeManager()
            context.run(manager.__enter__)
            error: Optional[BaseException] = None
            try:
                return (yield from _InContext(context, context.run(fn, *args, **kwargs)))
            except BaseException as e:  # GeneratorExit (closed early) discards, as it should
                error = e
                raise
            finally:
                context.run(manager.__exit__, type(error), error, None)

        return cast(F, generator_wrapper)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _ScopeManager():
                return await fn(*args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _ScopeManager():
            return fn(*args, **kwargs)

    return cast(F, wrapper)


@overload
def buffer_scope(fn: F) -> F: ...


@overload
def buffer_scope() -> _ScopeManager: ...


def buffer_scope(fn: Optional[F] = None) -> Union[F, _ScopeManager]:
    """Hold buffered records for one unit of work; ship them if it fails.

    Use as ``with buffer_scope():``, ``async with buffer_scope():``, or as a
    decorator, ``@buffer_scope`` or ``@buffer_scope()``, on a function or an
    ``async def`` function, or a generator function (the scope is open while
    the generator's own code runs, from its first step to its last; not an
    async generator function). Inside, a destination
    with ``buffer_level`` holds the records at or below it; a record at or
    above its ``flush_buffer_on`` ships every record the scope holds, then
    itself, and so does an exception escaping the scope (an `Exception`;
    not `KeyboardInterrupt`, `SystemExit` or a cancellation). At its end the
    scope discards what it still holds, counted in ``stats()["buffered"]``.

    A scope opened inside another joins it. It is kept in the context
    (`contextvars`): asyncio tasks made inside it join it, a new thread
    starts outside it unless it runs in a copy of the context
    (``contextvars.copy_context().run``, as ``asyncio.to_thread`` does).
    Records offered after the scope ended (a task that outlived it) are
    shipped as usual. The context manager gives the `Scope`; its ``ship()``
    sends what it holds now.
    """
    if fn is None:
        return _ScopeManager()
    return _decorate(fn)
