"""Trace ids for JSON events: the current OpenTelemetry span's, else Lambda's X-Ray one.

CloudWatch indexes a top-level ``traceId`` field in every Standard log group.
With the `trace_id` option each front end's JSON encoder goes through
`with_trace_id`, which adds that field to an event (a dict) when a trace is
active and the event has none. OpenTelemetry is consulted only when the
application imported ``opentelemetry.trace`` itself (no span can be active
otherwise), so the package neither needs nor imports it.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, Optional

#: The field CloudWatch indexes.
TRACE_ID_KEY = "traceId"
#: The variable Lambda sets, per invocation, to the X-Ray trace header.
XRAY_VARIABLE = "_X_AMZN_TRACE_ID"
_OTEL_MODULE = "opentelemetry.trace"

_modules = sys.modules


def _environ_reader(name: str) -> Callable[[], Optional[str]]:
    """Return a function reading variable `name` of `os.environ` now, cheaply when unset.

    ``os.environ.get`` raises and catches a `KeyError` inside for a variable
    that is not set, about a microsecond a call: more than the rest of
    `current_trace_id`. CPython's `os.environ` keeps its variables in a dict
    (``_data``, written through by every change made with `os.environ`); a
    lookup there costs next to nothing.
    """
    environ = os.environ
    data = getattr(environ, "_data", None)
    encodekey = getattr(environ, "encodekey", None)
    decodevalue = getattr(environ, "decodevalue", None)
    if not (isinstance(data, dict) and callable(encodekey) and callable(decodevalue)):
        return lambda: environ.get(name)
    key = encodekey(name)

    def read() -> Optional[str]:
        raw = data.get(key)
        return None if raw is None else decodevalue(raw)

    return read


_xray_header = _environ_reader(XRAY_VARIABLE)


def current_trace_id() -> Optional[str]:
    """Return the active trace's id, or None when no trace is active.

    The current OpenTelemetry span's trace id (32 hex digits), when
    ``opentelemetry.trace`` is imported and a valid span is current; else the
    ``Root`` of ``_X_AMZN_TRACE_ID`` (``1-5759e988-bd862e3fe1be46a994272793``).
    """
    trace = _modules.get(_OTEL_MODULE)
    if trace is not None:
        trace_id = _otel_trace_id(trace)
        if trace_id is not None:
            return trace_id
    header = _xray_header()
    return xray_root(header) if header else None


def _otel_trace_id(trace: Any) -> Optional[str]:
    try:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return f"{context.trace_id:032x}"
    except Exception:  # an API we don't know: no trace id rather than a failed log call
        pass
    return None


@functools.lru_cache(maxsize=16)
def xray_root(header: str) -> Optional[str]:
    """Return the ``Root`` value of an X-Ray trace header, or None if it has none."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "Root" and value:
            return value
    return None


def with_trace_id(event: Any) -> Any:
    """Return `event` with the active trace's ``traceId`` added, if it is a dict without one.

    The event itself is never changed: a copy gets the field. Anything that is
    not a dict (text, a list) is returned as it is.
    """
    if not isinstance(event, dict) or TRACE_ID_KEY in event:
        return event
    trace_id = current_trace_id()
    if trace_id is None:
        return event
    traced = dict(event)
    traced[TRACE_ID_KEY] = trace_id
    return traced


def tracing(encode: Callable[[Any], str]) -> Callable[[Any], str]:
    """Wrap a JSON encoder so that the events it encodes get `with_trace_id`.

    The wrapper is `with_trace_id` and `current_trace_id` written out in one
    function: it runs for every event, and with no trace active it must cost
    next to nothing.
    """
    modules = _modules
    read_header = _xray_header
    root = xray_root
    key = TRACE_ID_KEY

    def encode_with_trace_id(event: Any) -> str:
        if isinstance(event, dict) and key not in event:
            trace = modules.get(_OTEL_MODULE)
            trace_id = None if trace is None else _otel_trace_id(trace)
            if trace_id is None:
                header = read_header()
                trace_id = root(header) if header else None
            if trace_id is not None:
                event = dict(event)
                event[key] = trace_id
        return encode(event)

    return encode_with_trace_id
