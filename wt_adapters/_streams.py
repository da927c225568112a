"""Log stream names from a template, resolved once per distinct value."""

from __future__ import annotations

import os
import platform
import string
import sys
import threading
import weakref
from datetime import datetime, timezone
from typing import Dict, Optional, Tuple

from ._errors import WatchtowerError
from ._forks import STREAM_CACHES, on_fork
from ._rules import clean_stream_part, stream_name_problem

#: The default stream name template (watchtower's).
DEFAULT_LOG_STREAM_NAME = "{machine_name}/{program_name}/{logger_name}/{process_id}"

FIELDS = ("machine_name", "program_name", "logger_name", "process_id", "thread_name", "strftime")
_PER_RECORD = frozenset({"logger_name", "thread_name", "strftime"})
_CACHE_LIMIT = 4096

_namers: weakref.WeakSet[StreamNamer] = weakref.WeakSet()


class StreamNamer:
    """Turn a stream name template into the stream name for each event.

    Fields: ``{machine_name}``, ``{program_name}``, ``{logger_name}``,
    ``{process_id}``, ``{thread_name}`` and ``{strftime:FORMAT}`` (the event's
    time in UTC). Colons and asterisks that a field's value would bring in are
    removed, since CloudWatch refuses them in stream names.
    """

    def __init__(self, template: str, argument: str = "log_stream_name") -> None:
        if not isinstance(template, str):
            raise WatchtowerError(f"{argument}={template!r} must be a string")
        self.template = template
        self._argument = argument
        used = set()
        try:
            for _literal, name, _spec, _conversion in string.Formatter().parse(template):
                if name is None:
                    continue
                if name not in FIELDS:
                    raise WatchtowerError(
                        f"{argument}={template!r}: unknown field {{{name}}}; the fields are "
                        + ", ".join(f"{{{f}}}" for f in FIELDS)
                    )
                used.add(name)
        except ValueError as e:
            raise WatchtowerError(f"{argument}={template!r} is not a valid template: {e}") from None
        self._uses_time = "strftime" in used
        self._per_record = bool(used & _PER_RECORD)
        self._cache: Dict[Tuple[str, str, int], str] = {}
        #: With a template whose only per-record field is {logger_name} (or that has no
        #: per-record field): stream names by logger name, for front ends to look up
        #: first (emptied with the cache, and after a fork). None for other templates.
        self.by_logger: Optional[Dict[str, str]] = (
            {} if not used & {"thread_name", "strftime"} else None
        )
        self._fixed: Optional[str] = None
        self._lock = threading.Lock()
        self._reset()
        sample = self._render("root", "MainThread", 0.0, clean=False)
        problem = stream_name_problem(sample)
        if problem:
            raise WatchtowerError(
                f"{argument}={template!r} gives the stream name {sample!r}, which CloudWatch"
                f" refuses: {problem} (1 to 512 characters, no ':' or '*')"
            )
        _namers.add(self)

    def _reset(self) -> None:
        self._machine = clean_stream_part(platform.node())
        self._program = clean_stream_part(sys.argv[0] if sys.argv and sys.argv[0] else "python")
        self._pid = os.getpid()
        self._cache.clear()
        if self.by_logger is not None:
            self.by_logger.clear()
        self._fixed = None if self._per_record else self._render("", "", 0.0)

    def _render(
        self, logger_name: str, thread_name: str, created: float, clean: bool = True
    ) -> str:
        try:
            name = self.template.format(
                machine_name=self._machine,
                program_name=self._program,
                process_id=self._pid,
                logger_name=clean_stream_part(logger_name),
                thread_name=clean_stream_part(thread_name),
                strftime=datetime.fromtimestamp(created, timezone.utc) if self._uses_time else None,
            )
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise WatchtowerError(
                f"{self._argument}={self.template!r} can't be formatted: {e}"
            ) from None
        if not clean:
            return name
        return clean_stream_part(name)[:512] or "default"

    def __call__(self, logger_name: str = "", thread_name: str = "", created: float = 0.0) -> str:
        """Return the stream name for an event of this logger, thread and time."""
        fixed = self._fixed
        if fixed is not None:
            by_logger = self.by_logger
            if by_logger is not None and len(by_logger) < _CACHE_LIMIT:
                by_logger[logger_name] = fixed  # for the front ends' look-up next time
            return fixed
        key = (logger_name, thread_name, int(created) if self._uses_time else 0)
        name = self._cache.get(key)
        if name is None:
            name = self._render(logger_name, thread_name, created)
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                    if self.by_logger is not None:
                        self.by_logger.clear()
                self._cache[key] = name
                if self.by_logger is not None:
                    self.by_logger[logger_name] = name
        return name


def after_fork_in_child() -> None:
    """In a forked child (from the process's one at-fork hook): fresh locks and caches."""
    for namer in list(_namers):
        namer._lock = threading.Lock()
        namer._reset()


on_fork(STREAM_CACHES, after_in_child=after_fork_in_child)
