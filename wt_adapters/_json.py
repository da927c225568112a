"""JSON encoding that never fails a log call.

The fast path is one `json.dumps`. When the value cannot be encoded as is
(a circular reference, NaN, a key json refuses, a `default` that raises), it is
rebuilt into something json can encode and the second attempt cannot fail.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import date, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, Optional

try:
    from _json import make_encoder as c_make_encoder
except ImportError:  # pragma: no cover
    c_make_encoder = None  # type: ignore[assignment, misc]

Default = Callable[[Any], Any]

_PLAIN_KEYS = (str, int, float, bool, type(None))


def json_serialize_default(o: Any) -> Any:
    """Serialize what json can't: dates and datetimes by `isoformat()`, the rest by `repr()`."""
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    return repr(o)


def _safe_repr(o: Any) -> str:
    try:
        return repr(o)
    except Exception:
        return f"<unrepresentable {type(o).__name__}>"


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _plain(value: Any, default: Default, active: set[int], depth: int) -> Any:
    """Rebuild `value` from types json encodes, breaking cycles and naming oddities."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _float(value)
    if depth > 100:
        return "<too deep>"
    marker = id(value)
    if marker in active:
        return "<circular reference>"
    active.add(marker)
    try:
        if isinstance(value, dict):
            return {
                (k if isinstance(k, _PLAIN_KEYS) else _safe_repr(k)): _plain(
                    v, default, active, depth + 1
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [_plain(v, default, active, depth + 1) for v in value]
        try:
            converted = default(value)
        except Exception:
            return _safe_repr(value)
        if converted is value:
            return _safe_repr(value)
        return _plain(converted, default, active, depth + 1)
    finally:
        active.discard(marker)


@functools.lru_cache(maxsize=64)
def encoder(default: Default = json_serialize_default) -> Callable[[Any], str]:
    """Return a function that encodes any value as compact JSON text, never raising.

    Its output is what ``json.dumps(value, default=default, separators=(",", ":"))``
    gives whenever that succeeds and is valid JSON; otherwise NaN and infinities
    become strings, cycles become ``"<circular reference>"`` and objects that
    can't be encoded their repr. One encoder is made per `default` and reused.
    """
    safe = json.JSONEncoder(default=default, allow_nan=False, separators=(",", ":")).encode
    fast: Callable[[Any], str] = safe
    if c_make_encoder is not None:
        # json's own C encoder, made once instead of on every call. Without cycle
        # markers (not thread-safe to share) a cycle raises RecursionError instead.
        chunks = c_make_encoder(
            None, default, encode_basestring_ascii, None, ":", ",", False, False, False
        )
        join = "".join

        def fast(value: Any) -> str:
            return join(chunks(value, 0))

    def encode(value: Any) -> str:
        try:
            return fast(value)
        except Exception:
            return safe(_plain(value, default, set(), 0))

    return encode


def dumps(value: Any, default: Optional[Default] = None) -> str:
    """Encode `value` as compact JSON text; never raises (see `encoder`)."""
    return encoder(default or json_serialize_default)(value)
