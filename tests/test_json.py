"""`_json`: the same text as `json.dumps` wherever that succeeds, and never an exception.

Unit tests of the pure functions (hypothesis where the input space is large),
both encoders (the standard library's, orjson's), the import-time probe of
CPython's private C encoder, and the two paths through the stdlib handler.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import re
import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterator, List

import pytest
from helpers import Opaque, messages
from hypothesis import given, settings
from hypothesis import strategies as st

from wt_adapters import CloudWatchLogHandler, WatchtowerError, _json
from wt_adapters._json import dumps, encoder, json_serialize_default

orjson = pytest.importorskip("orjson")

LIBRARIES = ("json", "orjson")


def reference(value: Any, default: Callable[[Any], Any] = json_serialize_default) -> str:
    return json.dumps(value, default=default, separators=(",", ":"), allow_nan=False)


def strict_loads(text: str) -> Any:
    """json.loads, refusing NaN and Infinity (not JSON)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


keys = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**80),
    st.floats(),
    st.text(),
    st.text(st.characters(codec=None, categories=["Cs", "Lo", "So", "Cc"])),
    st.dates(),
    st.datetimes(),
    st.builds(Opaque),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=20,
)


@pytest.fixture
def without_orjson(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if the fast extra were not installed."""
    monkeypatch.setattr(_json, "orjson", None)
    encoder.cache_clear()
    yield
    encoder.cache_clear()


# -------------------------------------------------------------- equivalence


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_standard_library_path_gives_json_dumps_text_wherever_that_succeeds(
    value: Any,
) -> None:
    try:
        expected = reference(value)
    except ValueError:  # NaN or infinity: json.dumps refuses them with allow_nan=False
        return
    assert dumps(value, library="json") == expected


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_orjson_path_gives_the_same_json_value_wherever_json_dumps_succeeds(
    value: Any,
) -> None:
    try:
        expected = strict_loads(reference(value))
    except ValueError:
        return
    assert same_keys(strict_loads(dumps(value, library="orjson"))) == same_keys(expected)


def same_keys(value: Any) -> Any:
    """`value` with keys that spell a number as that number: orjson writes float keys its own
    way (``"1e-9"`` where json writes ``"1e-09"``), a documented difference."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            try:
                number: Any = float(k)
            except ValueError:
                number = k
            out[number if number == number else k] = same_keys(v)
        return out
    if isinstance(value, list):
        return [same_keys(v) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(values)
@pytest.mark.parametrize("library", LIBRARIES)
def test_any_value_gives_valid_json(library: str, value: Any) -> None:
    strict_loads(dumps(value, library=library))


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_orjson_path_gives_the_standard_library_paths_json_value_for_any_value(
    value: Any,
) -> None:
    # NaN and infinities included: both write them as the same strings.
    orjson_value = same_keys(strict_loads(dumps(value, library="orjson")))
    assert orjson_value == same_keys(strict_loads(dumps(value, library="json")))


#: One escape in JSON text: ``\uXXXX`` (its code point in the group) or a short one (``\\``).
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")


def escaped_code_points(text: str) -> List[int]:
    """The code points JSON `text` writes as ``\\uXXXX`` escapes."""
    return [int(m.group(1), 16) for m in _ESCAPE.finditer(text) if m.group(1)]


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_orjson_path_writes_text_one_way_whichever_encoder_wrote_the_document(
    value: Any,
) -> None:
    """What orjson refuses (an integer beyond 64 bits, a cycle, a key) changes no string:
    a character is escaped only where orjson escapes it too (a control character below
    U+0020) or UTF-8 can't hold it (a lone surrogate)."""
    text = dumps(value, library="orjson")
    text.encode("utf-8")  # no lone surrogate written as itself
    assert [c for c in escaped_code_points(text) if 0x20 <= c < 0xD800 or c > 0xDFFF] == []


@pytest.mark.parametrize("refused", [2**64, -(2**63) - 1, 2**200])
def test_an_integer_orjson_refuses_leaves_the_rest_of_the_text_as_orjson_writes_it(
    refused: int,
) -> None:
    text = 'héllo ☃ 日本語 🚀\n"q" \\ \x00\x7f\u2028'
    written = dumps({"text": text, "n": 1, "nested": [{"t": text}]}, library="orjson")
    refused_too = dumps({"text": text, "n": refused, "nested": [{"t": text}]}, library="orjson")
    assert refused_too == written.replace('"n":1,', f'"n":{refused},')


def test_a_lone_surrogate_is_the_only_text_the_orjson_path_escapes() -> None:
    assert dumps({"t": "é", "s": "\ud800"}, library="orjson") == '{"t":"é","s":"\\ud800"}'


def naive_has_non_finite(value: Any, keys: bool) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        children = [*value, *value.values()] if keys else list(value.values())
        return any(naive_has_non_finite(c, keys) for c in children)
    if isinstance(value, (list, tuple)):
        return any(naive_has_non_finite(c, keys) for c in value)
    return False


class Number(float):
    pass


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(scalars, st.floats().map(Number)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(st.one_of(keys, st.floats()), inner, max_size=4),
        ),
        max_leaves=20,
    ),
    st.booleans(),
)
def test_the_non_finite_check_finds_every_nan_and_infinity(value: Any, keys: bool) -> None:
    assert _json._has_non_finite(value, keys) is naive_has_non_finite(value, keys)


@pytest.mark.parametrize("where", ["value", "nested", "list", "key"])
def test_a_nan_beside_none_still_becomes_a_string(where: str) -> None:
    nan = math.nan
    value: Any = {
        "value": {"none": None, "x": nan},
        "nested": {"none": None, "a": {"b": [1, {"c": nan}]}},
        "list": [None, "s", 1, [nan]],
        "key": {None: 1, nan: "v"},
    }[where]
    assert "NaN" in dumps(value, library="orjson")
    assert strict_loads(dumps(value, library="orjson")) == strict_loads(
        dumps(value, library="json")
    )


# ------------------------------------------------------------- hard values


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_cycle_becomes_a_marker(library: str) -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    items: list[Any] = [1]
    items.append(items)
    assert strict_loads(dumps({"d": loop, "l": items}, library=library)) == {
        "d": {"a": 1, "self": "<circular reference>"},
        "l": [1, "<circular reference>"],
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_nan_and_infinities_become_strings(library: str) -> None:
    value = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "none": None, "f": 1.5}
    assert strict_loads(dumps(value, library=library)) == {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "none": None,
        "f": 1.5,
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_keys_json_takes_are_kept_and_others_named_by_repr(library: str) -> None:
    value = {1: "int", 2.5: "float", None: "none", (1, 2): "tuple", "s": "str", math.inf: "inf"}
    assert strict_loads(dumps(value, library=library)) == {
        "1": "int",
        "2.5": "float",
        "null": "none",
        "(1, 2)": "tuple",
        "s": "str",
        "Infinity": "inf",
    }
    assert dumps({True: "bool"}, library=library) == '{"true":"bool"}'


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_default_that_raises_leaves_the_repr(library: str) -> None:
    def failing(o: Any) -> Any:
        raise RuntimeError("no")

    assert dumps({"o": Opaque(), "n": 1}, failing, library) == '{"o":"<Opaque>","n":1}'


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_default_that_returns_its_argument_leaves_the_repr(library: str) -> None:
    assert dumps([Opaque()], lambda o: o, library) == '["<Opaque>"]'


@pytest.mark.parametrize("library", LIBRARIES)
def test_an_object_whose_repr_raises_is_named_by_its_type(library: str) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert dumps([Hostile()], library=library) == '["<unrepresentable Hostile>"]'


@pytest.mark.parametrize("library", LIBRARIES)
def test_dates_go_through_the_default_on_both_paths(library: str) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert dumps({"at": when, "on": date(2024, 5, 6)}, library=library) == (
        '{"at":"2024-05-06T07:08:09.123456+00:00","on":"2024-05-06"}'
    )
    assert dumps({"at": when}, lambda o: "custom", library) == '{"at":"custom"}'


def test_a_value_nested_too_deep_for_either_encoder_is_cut() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    for library in LIBRARIES:
        assert "<too deep>" in dumps(deep, library=library)


# ------------------------------------------------- orjson's documented differences


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_orjson_writes_non_ascii_as_utf8_and_json_as_escapes() -> None:
    assert dumps({"t": "héllo ☃"}, library="orjson") == '{"t":"héllo ☃"}'
    assert dumps({"t": "héllo ☃"}, library="json") == '{"t":"h\\u00e9llo \\u2603"}'


def test_orjson_encodes_uuids_dataclasses_and_enums_itself() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {"id": ident, "p": Point(1, 2), "c": Colour.RED}
    assert dumps(value, library="orjson") == (
        '{"id":"12345678-1234-5678-1234-567812345678","p":{"x":1,"y":2},"c":"red"}'
    )
    assert strict_loads(dumps(value, library="json")) == {
        "id": repr(ident),
        "p": "Point(x=1, y=2)",
        "c": "<Colour.RED: 'red'>",
    }


def test_orjson_falls_back_for_what_it_refuses() -> None:
    value = {"big": 2**70, "surrogate": "\ud800"}
    assert dumps(value, library="orjson") == reference(value)


def test_auto_uses_orjson_when_installed() -> None:
    assert dumps("é") == '"é"'


def test_auto_uses_the_standard_library_without_orjson(without_orjson: None) -> None:
    assert dumps("é") == '"\\u00e9"'
    with pytest.raises(WatchtowerError, match="json_library"):
        encoder(json_serialize_default, "orjson")


# ------------------------------------------------------ the C encoder's probe


def test_the_c_encoder_agrees_with_json_dumps_here() -> None:
    assert _json._c_encoder_ok  # on this CPython the fast path is in use


def test_a_c_encoder_that_differs_in_any_way_is_refused() -> None:
    fast = _json._c_encoder(json_serialize_default)
    assert fast is not None
    assert _json.c_encoder_agrees(fast, json_serialize_default)
    assert not _json.c_encoder_agrees(lambda v: fast(v).replace(",", ", "), json_serialize_default)
    assert not _json.c_encoder_agrees(lambda v: fast(v) if v != 0.1 else "0.10", repr)

    def raising(v: Any) -> str:
        raise TypeError("a changed private API")

    assert not _json.c_encoder_agrees(raising, json_serialize_default)


def test_without_the_c_encoder_the_output_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"a": [1, 2.5, None, True], "b": "é", "o": Opaque()}
    with_c = dumps(value, library="json")
    monkeypatch.setattr(_json, "_c_encoder_ok", False)
    encoder.cache_clear()
    try:
        assert dumps(value, library="json") == with_c == reference(value)
    finally:
        encoder.cache_clear()


# ------------------------------------------------------ through the stdlib handler


def test_the_handler_ships_utf8_with_orjson(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(boto3_client=client, log_group_name=group)
    logger.addHandler(handler)
    logger.info({"text": "日本語", "nan": math.nan, "id": uuid.UUID(int=1)})
    assert handler.flush(10)
    assert messages(client, group) == [
        '{"text":"日本語","nan":"NaN","id":"00000000-0000-0000-0000-000000000001"}'
    ]


def test_the_handler_ships_escapes_without_orjson(
    without_orjson: None, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(boto3_client=client, log_group_name=group)
    logger.addHandler(handler)
    logger.info({"text": "日本語", "nan": math.nan, "id": uuid.UUID(int=1)})
    assert handler.flush(10)
    assert messages(client, group) == [
        '{"text":"\\u65e5\\u672c\\u8a9e","nan":"NaN",'
        '"id":"UUID(\'00000000-0000-0000-0000-000000000001\')"}'
    ]


def test_json_library_json_is_the_standard_library_even_with_orjson(
    client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(boto3_client=client, log_group_name=group, json_library="json")
    logger.addHandler(handler)
    logger.info({"text": "é"})
    assert handler.flush(10)
    assert messages(client, group) == ['{"text":"\\u00e9"}']
