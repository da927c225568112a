"""JSON encoding that never fails a log call, with orjson when it is installed.

The fast path is one encoder call. When the value cannot be encoded as is (a
circular reference, NaN, a key json refuses, a `default` that raises), it is
rebuilt into something json can encode and the second attempt cannot fail.

Two fast paths:

- the standard library's: its C encoder made once (``_json.make_encoder``, a
  private CPython API), checked at import against `json.dumps` on sample
  values, and left unused if it differs in any way (a CPython change then
  costs speed, not correctness);
- orjson's (``pip install "wt-adapters[fast]"``): non-ASCII text is written
  as UTF-8 rather than ``\\uXXXX`` escapes, UUIDs, dataclasses and enums are
  encoded as orjson encodes them, and float dict keys are written as orjson
  writes floats (``"1e-9"`` where json writes ``"1e-09"``). Values orjson
  refuses (integers beyond 64 bits, lone surrogates, cycles) are rebuilt as
  on the standard library path and encoded again, by orjson or, where it
  still refuses (an integer beyond 64 bits), by the standard library writing
  text as orjson does: one document has one escaping, whichever encoder
  wrote it (non-ASCII as UTF-8; only a lone surrogate, which UTF-8 can't
  hold, as an escape). Dates and datetimes still go through `default`, and
  NaN and infinities still become strings, as on the standard library path.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import date, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, List, Optional

from ._errors import WatchtowerError

try:
    from _json import make_encoder as c_make_encoder
except ImportError:  # pragma: no cover - not CPython
    c_make_encoder = None  # type: ignore[assignment, misc]

try:
    import orjson
except ImportError:  # the fast extra is not installed
    orjson = None  # type: ignore[assignment]

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


def _plain_key(key: Any) -> Any:
    if isinstance(key, float):
        return _float(key)
    return key if isinstance(key, _PLAIN_KEYS) else _safe_repr(key)


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
            return {_plain_key(k): _plain(v, default, active, depth + 1) for k, v in value.items()}
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


#: The types orjson writes as they are, with nothing inside to look at.
_LEAVES = frozenset({str, int, bool, type(None)})


def _has_non_finite(value: Any, keys: bool = True, depth: int = 0) -> bool:
    """Tell whether `value` holds a NaN or an infinity (orjson writes them as null).

    Looks into dicts (their keys too, with `keys`), lists and tuples. Plain
    values are passed over at C speed: a dict of strings, numbers and None
    costs one pass of `frozenset.issuperset`.
    """
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 254:  # deeper than orjson encodes: it refused the value anyway
        return False
    children: Any
    if isinstance(value, dict):
        children = [*value, *value.values()] if keys else value.values()
    elif isinstance(value, (list, tuple)):
        children = value
    else:
        return False
    if _LEAVES.issuperset(map(type, children)):
        return False
    for child in children:
        if type(child) not in _LEAVES and _has_non_finite(child, keys, depth + 1):
            return True
    return False


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as strings; anything else left as it is."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {_finite(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _c_encoder(default: Default) -> Optional[Callable[[Any], str]]:
    """json's own C encoder, made once instead of on every call (None without one).

    Without cycle markers (not thread-safe to share) a cycle raises
    RecursionError instead of ValueError; both fall back to the safe path.
    """
    if c_make_encoder is None:
        return None
    try:
        chunks = c_make_encoder(
            None, default, encode_basestring_ascii, None, ":", ",", False, False, False
        )
    except Exception:  # pragma: no cover - a CPython whose private API changed
        return None
    join = "".join

    def fast(value: Any) -> str:
        return join(chunks(value, 0))

    return fast


class _Sample:
    def __repr__(self) -> str:
        return "<sample>"


#: Values the C encoder must encode exactly as `json.dumps` does before it is used.
PROBES: List[Any] = [
    None, True, False, 0, -1, 2**64 + 1, -(2**70), 0.1, 1e300, -0.0, 1.5e-7, "",
    'héllo ☃ 日本語 🚀\nline\ttab "q" \\ \u2028\x00\x1f\x7f', "\ud800",
    [], {}, [1, [2, [3]]], (1, "a"),
    {"a": 1, "b": [True, None], "c": {"d": {}}},
    {1: "int key", 2.5: "float key", None: "none key"}, {True: "bool key"},
    {"date": date(2020, 1, 2), "datetime": datetime(2020, 1, 2, 3, 4, 5, 6)},
    {"object": _Sample()},
]  # fmt: skip


def c_encoder_agrees(candidate: Callable[[Any], str], default: Default) -> bool:
    """Tell whether `candidate` encodes every probe exactly as `json.dumps` does."""
    try:
        return all(
            candidate(v) == json.dumps(v, default=default, separators=(",", ":"), allow_nan=False)
            for v in PROBES
        )
    except Exception:
        return False


def _probe() -> bool:
    """Tell whether the C encoder, made as `_c_encoder` makes it, may be used."""
    candidate = _c_encoder(json_serialize_default)
    return candidate is not None and c_encoder_agrees(candidate, json_serialize_default)


#: Checked once, at import.
_c_encoder_ok = _probe()


#: A surrogate code point: alone in a str, it is text UTF-8 cannot hold.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _utf8_encoder(default: Default) -> Callable[[Any], str]:
    """The standard library's encoder writing text as orjson does, for what orjson refuses.

    Non-ASCII characters are written as themselves (UTF-8 once sent), control
    characters, quotes and backslashes escaped as both encoders escape them;
    a lone surrogate, which orjson refuses and UTF-8 can't hold, becomes the
    ``\\uXXXX`` escape ``json.dumps`` writes for it.
    """
    encode = json.JSONEncoder(
        default=default, allow_nan=False, separators=(",", ":"), ensure_ascii=False
    ).encode

    def safe(value: Any) -> str:
        return _SURROGATE.sub(_escape_surrogate, encode(value))

    return safe


def orjson_available() -> bool:
    """Tell whether orjson (the fast extra) can be used."""
    return orjson is not None


def _orjson_encoder(default: Default, safe: Callable[[Any], str]) -> Callable[[Any], str]:
    """Encode with orjson; what it refuses is rebuilt and encoded again, never raising.

    The first attempt takes string keys only (orjson's other keys option costs
    more than the whole encoding); a dict with other keys takes the second.
    """
    dumps = orjson.dumps
    first = orjson.OPT_PASSTHROUGH_DATETIME
    again = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

    def encode(value: Any) -> str:
        try:
            text: str = dumps(value, default, first).decode()
            keys = False  # orjson took string keys only
        except Exception:  # a key that isn't a string, a cycle, a huge int, a lone surrogate
            try:
                text = dumps(value, default, again).decode()
                keys = True
            except Exception:
                plain = _plain(value, default, set(), 0)
                try:
                    return dumps(plain, None, again).decode()
                except Exception:
                    return safe(plain)
        if "null" in text and _has_non_finite(value, keys):  # orjson wrote NaN as null
            try:
                return dumps(_finite(value), default, again).decode()
            except Exception:
                return safe(_plain(value, default, set(), 0))
        return text

    return encode


@functools.lru_cache(maxsize=64)
def encoder(
    default: Default = json_serialize_default, library: str = "auto"
) -> Callable[[Any], str]:
    """Return a function that encodes any value as compact JSON text, never raising.

    `library` is "json" (the standard library), "orjson", or "auto" (orjson
    when installed). On the standard library path, the output is what
    ``json.dumps(value, default=default, separators=(",", ":"))`` gives whenever
    that succeeds and is valid JSON; otherwise NaN and infinities become
    strings, cycles become ``"<circular reference>"`` and objects that can't be
    encoded their repr. One encoder is made per `default` and library, and reused.
    """
    use_orjson = library == "orjson" or (library == "auto" and orjson is not None)
    if use_orjson and orjson is None:
        raise WatchtowerError(
            "json_library='orjson' needs orjson: pip install \"wt-adapters[fast]\""
        )
    if use_orjson:
        return _orjson_encoder(default, _utf8_encoder(default))
    safe = json.JSONEncoder(default=default, allow_nan=False, separators=(",", ":")).encode
    first = (_c_encoder(default) if _c_encoder_ok else None) or safe

    def encode(value: Any) -> str:
        try:
            return first(value)
        except Exception:
            return safe(_plain(value, default, set(), 0))

    return encode


def dumps(value: Any, default: Optional[Default] = None, library: str = "auto") -> str:
    """Encode `value` as compact JSON text; never raises (see `encoder`)."""
    return encoder(default or json_serialize_default, library)(value)
