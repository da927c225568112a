"""JSON encoding that never fails a log call.

The fast path is one `json.dumps`. When the value cannot be encoded as is
(a circular reference, NaN, a key json refuses, a `default` that raises), it is
rebuilt into something json can encode and the second attempt cannot fail.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any, Callable, Optional

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


def dumps(value: Any, default: Optional[Default] = None) -> str:
    """Encode `value` as JSON text; never raises for any input.

    The output is what `json.dumps(value, default=default)` gives whenever that
    succeeds and is valid JSON; otherwise NaN and infinities become strings,
    cycles become ``"<circular reference>"`` and unencodable objects their repr.
    """
    fn = default or json_serialize_default
    try:
        return json.dumps(value, default=fn, allow_nan=False)
    except Exception:
        return json.dumps(_plain(value, fn, set(), 0), allow_nan=False)
