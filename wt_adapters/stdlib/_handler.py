"""`CloudWatchLogHandler`: the stdlib logging front end, a drop-in for watchtower's."""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

from .._buffer import Buffer
from .._destination import Destination
from .._errors import WatchtowerError
from .._frontend import DEBUG, is_sdk_noise
from .._frontend import trunc as _trunc
from .._options import DEFAULT_LOG_GROUP_NAME, OPTIONS, POSITIONAL, resolve
from .._registry import FLUSH_DEFAULT
from .._report import report
from .._rules import EVENT_OVERHEAD
from .._streams import DEFAULT_LOG_STREAM_NAME
from .._threads import MAX_NESTING, thread_state
from ._formatter import CloudWatchLogFormatter

#: The attributes whose assignment `CloudWatchLogHandler._refresh` looks at.
_REFRESH = frozenset({"formatter", "shutting_down", "emit", "format", "filter"})

#: Watchtower's deprecated aliases, positional after its options.
_ALIASES = ("log_group", "stream_name")


def _boto_debug_filter(record: logging.LogRecord) -> bool:
    """Keep out the AWS SDK's own DEBUG records (they carry request details)."""
    return not is_sdk_noise(record.name, record.levelno)


def _fallback_message(record: logging.LogRecord, error: Exception) -> str:
    """Describe a record whose formatting failed, as well as can be done."""
    try:
        return f"{record.msg!r} % {record.args!r} (formatting failed: {error!r})"
    except Exception:
        return f"<unformattable log record from {record.name}: {type(error).__name__}>"


def _split(
    args: Tuple[Any, ...], kwargs: Dict[str, Any]
) -> Tuple[Dict[str, Any], Tuple[Any, ...], Dict[str, Any]]:
    """Sort watchtower-style arguments into (options, `logging.Handler` args and kwargs)."""
    names = (*POSITIONAL, *_ALIASES)
    options = dict(zip(names, args))
    for name, value in kwargs.items():
        if name in options:
            raise TypeError(f"CloudWatchLogHandler() got multiple values for argument {name!r}")
        options[name] = value
    handler_kwargs = {k: options.pop(k) for k in ("level",) if k in options}
    for alias, name, default in (
        ("log_group", "log_group_name", DEFAULT_LOG_GROUP_NAME),
        ("stream_name", "log_stream_name", DEFAULT_LOG_STREAM_NAME),
    ):  # watchtower's deprecated aliases, with its words
        value = options.pop(alias, None)
        if value is None:
            continue
        if options.get(name, default) != default:
            raise WatchtowerError(f"Both {name} and deprecated {alias} parameter specified")
        warnings.warn(f"Please use {name} instead of {alias}", DeprecationWarning, stacklevel=3)
        options[name] = value
    return options, args[len(names) :], handler_kwargs


class CloudWatchLogHandler(logging.Handler):
    """Send log records to AWS CloudWatch Logs.

    Takes watchtower's arguments (positional, in watchtower's order, or by
    keyword) with watchtower's defaults, and wt_adapters' own options
    (keyword-only); see the README's Options section for each. Strings such
    as ``"false"`` or ``"5"`` (from ``fileConfig``, YAML or the environment)
    are taken as the booleans and numbers they spell. Records are queued and
    sent in batches by a background thread shared by every handler with the
    same client, group and options. Nothing here makes an AWS call: the group
    and stream are created when first needed. Every option's value is an
    attribute of the handler (``handler.send_interval``, ...).
    """

    END = 1
    FLUSH = 2
    FLUSH_TIMEOUT = 30
    EXTRA_MSG_PAYLOAD_SIZE = EVENT_OVERHEAD

    # Class defaults: a handler whose constructor raised is inert (logging.shutdown
    # may still flush and close it, and a record sent to it is only reported).
    _destination: Optional[Destination] = None
    shutting_down = True
    #: Whether `format` is `logging.Handler`'s (set for each subclass).
    _default_format = True
    #: Whether `filter` is `logging.Handler`'s, and `emit` ours (set for each subclass).
    _default_filter = True
    _default_emit = True
    #: Whether `handle` may skip `filter` (no filter but the SDK's), and `emit` skip
    #: `format`, for this instance (see `_refresh`).
    _own_filter = True
    _own_format = True
    #: The formatter when a dict message may skip `emit` (see `_refresh`), else None.
    _fast: Optional[CloudWatchLogFormatter] = None
    #: Where records are offered first, with ``buffer_level`` (then `handle` takes no
    #: shortcut around `emit`).
    _buffer: Optional[Buffer] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        options, handler_args, handler_kwargs = _split(args, kwargs)
        resolve(options)  # raises here, before logging knows of this handler
        super().__init__(*handler_args, **handler_kwargs)
        destination = Destination(**options)
        for name, value in destination.values.items():
            setattr(self, name, value)
        self.json_serialize_default = destination.json_default
        self._stream_names = destination.stream_names
        by_logger = destination.stream_names.by_logger
        # Never filled when None (a template with per-record fields): every look-up misses.
        self._streams_by_logger: Dict[str, str] = {} if by_logger is None else by_logger
        self._submit = destination.submit
        self._buffer = destination.buffer
        self._destination = destination
        self.shutting_down = False
        self.setFormatter(
            CloudWatchLogFormatter(
                json_serialize_default=options.get("json_serialize_default"),
                json_library=destination.values["json_library"],
                trace_id=destination.values["trace_id"],
            )
        )
        self.addFilter(_boto_debug_filter)

    @property
    def cwl_client(self) -> Any:
        """The boto3 client the handler sends with (made now if no request made it yet)."""
        return None if self._destination is None else self._destination.client

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's own `format`, `emit` or `filter` must be called: no shortcut around it.
        cls._default_format = cls.format is logging.Handler.format
        cls._default_filter = cls.filter is logging.Handler.filter
        cls._default_emit = cls.emit is CloudWatchLogHandler.emit

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _REFRESH:
            self._refresh()

    def _refresh(self) -> None:
        """Decide once, not per record, which calls `handle` may leave out.

        `filter`, when neither the class nor the instance replaces it (the
        filters themselves are looked at per record). `emit` and `format`, for
        a dict message, when the handler is open, neither its class nor the
        instance replaces them and the formatter is a `CloudWatchLogFormatter`
        itself (its own settings, `add_log_record_attrs` and the encoder, are
        read per record). Called whenever one of those attributes is assigned.
        """
        own = self.__dict__
        own_filter = self._default_filter and "filter" not in own
        own_format = self._default_format and "format" not in own
        formatter = own.get("formatter")
        fast = (
            formatter
            if type(formatter) is CloudWatchLogFormatter
            and own_filter
            and own_format
            and self._default_emit
            and "emit" not in own
            and not self.shutting_down
            and self._buffer is None
            else None
        )
        object.__setattr__(self, "_own_filter", own_filter)
        object.__setattr__(self, "_own_format", own_format)
        object.__setattr__(self, "_fast", fast)

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter and emit `record`, unless it comes from inside the delivery engine.

        The engine is thread-safe, so no handler lock is taken: a record logged
        by botocore while sending can't deadlock against a caller.
        """
        # The guard of `_frontend.enter`/`leave`, inlined: it runs on every log call.
        # The thread's own dict of `thread_state` (an attribute missing from it has the
        # class default): one thread-local look-up instead of four.
        state = thread_state.__dict__
        depth = state.get("depth", 0)
        if depth >= MAX_NESTING or state.get("in_engine", False):
            return False
        state["depth"] = depth + 1
        try:
            filters = self.filters
            if len(filters) == 1 and filters[0] is _boto_debug_filter and self._own_filter:
                if record.levelno <= DEBUG and is_sdk_noise(record.name, record.levelno):
                    return False
                formatter = self._fast
                msg = record.msg
                if (
                    formatter is not None
                    and type(msg) is dict
                    and not formatter.add_log_record_attrs
                    and not record.exc_info
                ):  # what emit does with a dict message, without the calls
                    try:
                        name, created = record.name, record.created
                        stream = self._streams_by_logger.get(name)
                        if stream is None:
                            stream = self._stream_names(name, record.threadName or "", created)
                        self._submit(stream, _trunc(created * 1000), formatter._encode(msg))
                    except RecursionError:  # pragma: no cover - as stdlib handlers do
                        raise
                    except Exception:
                        self.handleError(record)
                    return True
                rv: Any = True
            else:
                rv = self.filter(record)
                if not rv:
                    return rv
                if isinstance(rv, logging.LogRecord):  # 3.12+: a filter may replace the record
                    record = rv
            self.emit(record)
            return rv
        finally:
            state["depth"] = depth

    def emit(self, record: logging.LogRecord) -> None:
        """Queue `record` for CloudWatch; never raises into the caller."""
        try:
            if self.shutting_down:  # closed, or its constructor raised
                if self._destination is not None:
                    self._destination.refuse()  # counted as dropped, "closed"
                report("Received message after logging system shutdown")
                return
            stream = self._streams_by_logger.get(record.name)
            if stream is None:
                stream = self._stream_names(record.name, record.threadName or "", record.created)
            formatter = self.formatter
            render: Optional[Callable[[logging.LogRecord], str]] = None
            if type(formatter) is CloudWatchLogFormatter and self._own_format:
                if (
                    type(record.msg) is dict
                    and not formatter.add_log_record_attrs
                    and not record.exc_info
                ):  # what CloudWatchLogFormatter.format does with a dict, without the calls
                    message = formatter._encode(record.msg)
                else:
                    render = formatter.format  # all that Handler.format would do
            else:
                render = self.format
            if render is not None:
                try:
                    message = render(record)
                except Exception as e:  # ship what can be said of it, and report as logging does
                    message = _fallback_message(record, e)
                    self._submit(stream, _trunc(record.created * 1000), message)
                    self.handleError(record)
                    return
                if not message or record.__dict__.get("message", message) == "":  # as watchtower
                    report(
                        "Received empty message. Empty messages cannot be sent to CloudWatch Logs"
                    )
                    return
            timestamp = _trunc(record.created * 1000)
            buffer = self._buffer  # None unless buffer_level: then a buffer scope may hold it
            if buffer is None or not buffer.offer(record.levelno, stream, timestamp, message):
                self._submit(stream, timestamp, message)
        except RecursionError:  # pragma: no cover - as stdlib handlers do
            raise
        except Exception:
            self.handleError(record)

    def flush(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:  # type: ignore[override]
        """Send everything queued so far; return whether that finished within `timeout`.

        Given no timeout: up to 30 s, but False once delivery has been impossible
        (the endpoint unreachable, credentials refused) for 3 s, counted from the
        first failure of any handler sending to the same endpoint, and at once for
        a cause that can't clear (no credentials, a missing group that
        ``create_log_group=False`` forbids creating). An explicit `timeout` gets all
        of itself unless the cause can't clear.
        """
        if self.shutting_down or self._destination is None:
            return True
        return self._destination.flush(timeout)

    def close(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:  # type: ignore[override]
        """Send what is queued (up to `timeout` seconds) and stop accepting records.

        Waits as `flush`. Idempotent. Events left undelivered are counted and
        warned about.
        """
        destination = self._destination
        # Records logged while close runs still go to the engine, which delivers them
        # or counts them (``close_timeout``, ``closed``); only then does emit refuse.
        done = True if destination is None else destination.close(timeout)
        self.shutting_down = True
        if "filters" in self.__dict__:  # else its constructor raised before Handler.__init__
            super().close()
        return done

    def stats(self) -> Dict[str, Any]:
        """Return the delivery engine's counters (sent, retried, dropped, rejected, ...)."""
        if self._destination is None:
            return {}
        return self._destination.stats()

    def __repr__(self) -> str:
        values = {} if self._destination is None else self._destination.values
        return (
            f"{self.__class__.__name__}(log_group_name='{values.get('log_group_name')}',"
            f" log_stream_name='{values.get('log_stream_name')}')"
        )


def _signature() -> inspect.Signature:
    """Watchtower's signature, then the keyword-only options, all from `OPTIONS`."""
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=OPTIONS[n].default) for n in POSITIONAL]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=None) for n in _ALIASES]
    params.append(P("args", P.VAR_POSITIONAL))
    params += [
        P(o.name, P.KEYWORD_ONLY, default=o.default) for o in OPTIONS.values() if not o.watchtower
    ]
    params.append(P("kwargs", P.VAR_KEYWORD))
    return inspect.Signature(params)


CloudWatchLogHandler.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
