"""CloudWatch Logs filter patterns, matched against a message: pure functions, no AWS.

`compile_pattern(text)` returns a predicate on a message string, or raises
`FilterPatternError` for a pattern CloudWatch would refuse. What it knows:

- the empty pattern, which matches everything;
- terms: ``ERROR`` (the message contains it; case matters), several terms
  (all of them), quoted phrases (``"disk full"``), ``?ERROR ?WARN`` (any of
  them), ``-DEBUG`` (none of them), and ``%regex%``;
- JSON patterns: ``{ $.level = "error" }``, ``{ $.n > 5 }``, with ``=``,
  ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``&&``, ``||``, parentheses, selectors
  such as ``$.a.b``, ``$.list[0]``, ``$.list[*]`` and ``$.*``, ``*``
  wildcards in strings, ``%regex%`` values, ``IS TRUE``, ``IS FALSE``,
  ``IS NULL`` and ``NOT EXISTS``.

- space-delimited patterns: ``[ip, user, ..., status = 4*, bytes > 1000]``,
  the message split into fields at spaces (a field in double quotes or square
  brackets is one field), ``...`` for any number of fields, and conditions
  with the same operators (``[..., code = 404 || code = 410, size]``).
"""

from __future__ import annotations

import json
import math
import re
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from ._errors import WatchtowerError

Matcher = Callable[[str], bool]

_MISSING = object()


class FilterPatternError(WatchtowerError, ValueError):
    """A filter pattern CloudWatch Logs would refuse (InvalidParameterException)."""


def compile_pattern(pattern: Optional[str]) -> Matcher:
    """Return a function telling whether a message matches `pattern` (None or "": all)."""
    text = (pattern or "").strip()
    if not text:
        return _match_all
    if text.startswith("{"):
        return _compile_json(text)
    if text.startswith("["):
        return _compile_delimited(text)
    return _compile_terms(text)


def matches(pattern: Optional[str], message: str) -> bool:
    """Tell whether `message` matches `pattern` (compiles it each time: see `compile_pattern`)."""
    return compile_pattern(pattern)(message)


def _match_all(message: str) -> bool:
    return True


# ------------------------------------------------------------------------- terms

_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(%[^%]+%)|([^\s"]+))')


def _regex(body: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(body)
    except re.error as e:
        raise FilterPatternError(
            f"filter pattern {pattern!r}: bad regular expression: {e}"
        ) from None


def _compile_terms(text: str) -> Matcher:
    required: List[Matcher] = []
    optional: List[Matcher] = []
    excluded: List[Matcher] = []
    position = 0
    for match in _TERM.finditer(text):
        gap = text[position : match.start()]
        if gap.strip():
            raise FilterPatternError(f"filter pattern {text!r}: unexpected {gap.strip()!r}")
        position = match.end()
        if position < len(text) and not text[position].isspace():
            raise FilterPatternError(
                f"filter pattern {text!r}: terms must be separated by spaces near"
                f" {text[match.start() :]!r}"
            )
        sign, quoted, regex, bare = match.groups()
        if regex is not None:
            found = _regex(regex[1:-1], text).search
            term: Matcher = lambda m, f=found: f(m) is not None  # type: ignore[misc]  # noqa: E731
        else:
            word = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            if word == "" or (bare is not None and bare in ("?", "-")):
                raise FilterPatternError(f"filter pattern {text!r}: an empty term")
            term = lambda m, w=word: w in m  # type: ignore[misc]  # noqa: E731
        {"": required, "?": optional, "-": excluded}[sign].append(term)
    if text[position:].strip():
        raise FilterPatternError(
            f"filter pattern {text!r}: unterminated quote near {text[position:]!r}"
        )

    def match_terms(message: str) -> bool:
        return (
            all(t(message) for t in required)
            and (not optional or any(t(message) for t in optional))
            and not any(t(message) for t in excluded)
        )

    return match_terms


# -------------------------------------------------------------------------- JSON

_TOKENS = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
    | "(?P<string>(?:[^"\\]|\\.)*)"
    | (?P<regex>%[^%]+%)
    | (?P<selector>\$(?:\.(?:[A-Za-z0-9_@-]+|\*)|\[(?:\d+|\*)\])*)
    | (?P<word>[^\s()&|=!<>{}"]+)
    )""",
    re.VERBOSE,
)

Token = Tuple[str, str]


def _tokenize(text: str) -> List[Token]:
    tokens: List[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            raise FilterPatternError(
                f"filter pattern {text!r}: unexpected {text[position:].strip()[:20]!r}"
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


Value = Union[float, str, re.Pattern[str]]


def _select(document: Any, path: Sequence[str]) -> Iterator[Any]:
    """Yield every value `path` reaches in `document` (several with ``*``)."""
    if not path:
        yield document
        return
    step, rest = path[0], path[1:]
    if step == "*" or step == "[*]":
        children = (
            document.values()
            if isinstance(document, dict)
            else document
            if isinstance(document, list)
            else ()
        )
        for child in children:
            yield from _select(child, rest)
    elif step.startswith("["):
        index = int(step[1:-1])
        if isinstance(document, list) and index < len(document):
            yield from _select(document[index], rest)
    elif isinstance(document, dict) and step in document:
        yield from _select(document[step], rest)


def _parse_selector(text: str) -> List[str]:
    return re.findall(r"\[(?:\d+|\*)\]|(?<=\.)(?:[A-Za-z0-9_@-]+|\*)", text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

Predicate = Callable[[Any], bool]


def _comparison(selector: List[str], op: str, value: Value, text: str) -> Predicate:
    if isinstance(value, float):
        compare = _COMPARE[op]

        def number_test(found: Any) -> bool:
            return _is_number(found) and compare(float(found), value)

        test: Predicate = number_test
    else:
        if op not in ("=", "!="):
            raise FilterPatternError(
                f"filter pattern {text!r}: {op} compares numbers; strings take = or !="
            )
        if isinstance(value, str):
            if "*" in value:
                glob = re.compile(".*".join(re.escape(part) for part in value.split("*")), re.S)
                equal: Callable[[str], bool] = lambda s: glob.fullmatch(s) is not None  # noqa: E731
            else:
                equal = lambda s: s == value  # noqa: E731
        else:
            found_in = value.search
            equal = lambda s: found_in(s) is not None  # noqa: E731
        negate = op == "!="

        def string_test(found: Any) -> bool:
            return isinstance(found, str) and equal(found) != negate

        test = string_test
    return lambda document: any(test(found) for found in _select(document, selector))


class _Reader:
    """Tokens of a pattern read one at a time, and errors that quote the pattern."""

    text: str
    tokens: List[Token]
    index: int

    def fail(self, why: str) -> FilterPatternError:
        return FilterPatternError(f"filter pattern {self.text!r}: {why}")

    def peek(self) -> Optional[Token]:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail("it ends too early")
        self.index += 1
        return token

    def value(self) -> Value:
        """Read a value: a quoted string, a %regex%, a number, or a bare word."""
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text)
        if kind == "regex":
            return _regex(text[1:-1], self.text)
        if kind == "word":
            try:
                number = float(text)
            except ValueError:
                return text
            return number if math.isfinite(number) else text
        raise self.fail(f"expected a value, found {text!r}")


class _JsonParser(_Reader):
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def expect(self, op: str) -> None:
        token = self.take()
        if token != ("op", op):
            raise self.fail(f"expected {op!r}, found {token[1]!r}")

    def parse(self) -> Predicate:
        self.expect("{")
        predicate = self.disjunction()
        self.expect("}")
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.take()[1]!r} after the closing brace")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.index += 1
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda document: any(p(document) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.primary()]
        while self.peek() == ("op", "&&"):
            self.index += 1
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        return lambda document: all(p(document) for p in parts)

    def primary(self) -> Predicate:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.disjunction()
            self.expect(")")
            return inner
        if kind != "selector":
            raise self.fail(f"expected a selector such as $.field, found {value!r}")
        if value == "$":
            raise self.fail("a selector needs a field: $.field")
        selector = _parse_selector(value)
        kind, op = self.take()
        if kind == "word" and op.upper() in ("IS", "NOT"):
            return self.keyword_test(op.upper(), selector)
        if kind != "op" or op not in _COMPARE:
            raise self.fail(f"expected an operator after {value}, found {op!r}")
        return _comparison(selector, op, self.value(), self.text)

    def keyword_test(self, first: str, selector: List[str]) -> Predicate:
        word = self.take()[1].upper()
        if first == "NOT":
            if word != "EXISTS":
                raise self.fail(f"expected NOT EXISTS, found NOT {word}")
            return lambda document: next(_select(document, selector), _MISSING) is _MISSING
        wanted: dict[str, Any] = {"TRUE": True, "FALSE": False, "NULL": None}
        if word not in wanted:
            raise self.fail(f"expected IS TRUE, IS FALSE or IS NULL, found IS {word}")
        target = wanted[word]
        return lambda document: any(found is target for found in _select(document, selector))


def _compile_json(text: str) -> Matcher:
    predicate = _JsonParser(text).parse()

    def match_json(message: str) -> bool:
        if message[:1] != "{" and message.lstrip()[:1] != "{":
            return False
        try:
            document = json.loads(message)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return False
        return isinstance(document, dict) and predicate(document)

    return match_json


# ---------------------------------------------------------------- space-delimited

_DELIMITED_TOKENS = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\[|\]|,)
    | (?P<ellipsis>\.\.\.)
    | "(?P<string>(?:[^"\\]|\\.)*)"
    | (?P<regex>%[^%]+%)
    | (?P<word>[^\s,\[\]&|=!<>"]+)
    )""",
    re.VERBOSE,
)
_MESSAGE_FIELD = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ELLIPSIS = "..."

Condition = Callable[[Dict[str, str]], bool]


def _field_test(op: str, value: Value, text: str) -> Callable[[str], bool]:
    """A test on one field's text: numeric when `value` is a number, else on the string."""
    if isinstance(value, float):
        compare = _COMPARE[op]

        def number_test(found: str) -> bool:
            try:
                number = float(found)
            except ValueError:
                return False
            return math.isfinite(number) and compare(number, value)

        return number_test
    string_test = _comparison([], op, value, text)
    return lambda found: string_test(found)


class _DelimitedParser(_Reader):
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: List[Token] = []
        position = 0
        while text[position:].strip():
            match = _DELIMITED_TOKENS.match(text, position)
            if match is None or match.end() == position:
                raise self.fail(f"unexpected {text[position:].strip()[:20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0
        #: The field names the conditions mention (each must be a field).
        self.mentioned: List[str] = []

    def parse(self) -> Tuple[List[str], List[Tuple[FrozenSet[str], Condition]]]:
        if self.take() != ("op", "["):
            raise self.fail("expected '['")
        fields: List[str] = []
        conditions: List[Tuple[FrozenSet[str], Condition]] = []
        while True:
            kind, value = self.take()
            if kind == "ellipsis":
                fields.append(_ELLIPSIS)
            elif kind == "word" and _NAME.match(value):
                if value in fields:
                    raise self.fail(f"the field {value!r} is named twice")
                fields.append(value)
                following = self.peek()
                if following is not None and following[0] == "op" and following[1] in _COMPARE:
                    before = len(self.mentioned)
                    test = self.condition(value)
                    conditions.append((frozenset(self.mentioned[before:]), test))
            else:
                raise self.fail(f"expected a field name or '...', found {value!r}")
            kind, value = self.take()
            if (kind, value) == ("op", "]"):
                break
            if (kind, value) != ("op", ","):
                raise self.fail(f"expected ',' or ']', found {value!r}")
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.take()[1]!r} after ']'")
        names = set(fields)
        for name in self.mentioned:
            if name not in names:
                raise self.fail(f"the condition names {name!r}, which is not a field")
        if not any(f != _ELLIPSIS for f in fields):
            raise self.fail("a pattern needs at least one field")
        return fields, conditions

    def condition(self, name: str) -> Condition:
        """`op value` for `name`, then more comparisons joined by && (binding first) and ||."""
        self.mentioned.append(name)
        alternatives: List[List[Tuple[str, Callable[[str], bool]]]] = [[]]
        while True:
            kind, op = self.take()
            if kind != "op" or op not in _COMPARE:
                raise self.fail(f"expected an operator after {name}, found {op!r}")
            alternatives[-1].append((name, _field_test(op, self.value(), self.text)))
            token = self.peek()
            if token not in (("op", "&&"), ("op", "||")):
                break
            self.index += 1
            if token == ("op", "||"):
                alternatives.append([])
            kind, name = self.take()
            if kind != "word" or not _NAME.match(name):
                raise self.fail(f"expected a field name after {token[1]}, found {name!r}")
            self.mentioned.append(name)

        def test(fields: Dict[str, str]) -> bool:
            return any(
                all(field in fields and check(fields[field]) for field, check in group)
                for group in alternatives
            )

        return test


def _split_message(message: str) -> List[str]:
    return [str(match.group(match.lastindex or 0)) for match in _MESSAGE_FIELD.finditer(message)]


class _GiveUp(Exception):
    pass


#: Most steps spent placing a pattern's fields over one message (several ``...``
#: over a long message could otherwise take very long); past it, no match.
MAX_STEPS = 100_000


def _placements(
    fields: Sequence[str],
    own: Sequence[Optional[Callable[[str], bool]]],
    values: Sequence[str],
) -> Iterator[Dict[str, str]]:
    """Every way the pattern's fields can take the message's values in order.

    A field's own condition is checked as it is placed, so that hopeless
    placements are cut short; raises `_GiveUp` after `MAX_STEPS` steps.
    """
    count = len(fields)
    needed = [0] * (count + 1)  # fields (not ...) from i on
    open_after = [False] * (count + 1)  # a ... from i on
    for i in range(count - 1, -1, -1):
        needed[i] = needed[i + 1] + (fields[i] != _ELLIPSIS)
        open_after[i] = open_after[i + 1] or fields[i] == _ELLIPSIS
    steps = 0
    assigned: Dict[str, str] = {}

    def place(i: int, j: int) -> Iterator[Dict[str, str]]:
        nonlocal steps
        steps += 1
        if steps > MAX_STEPS:
            raise _GiveUp
        left = len(values) - j
        if left < needed[i] or (not open_after[i] and left != needed[i]):
            return
        if i == count:
            yield dict(assigned)
            return
        name = fields[i]
        if name == _ELLIPSIS:
            for k in range(j, len(values) - needed[i + 1] + 1):
                yield from place(i + 1, k)
            return
        test = own[i]
        if test is not None and not test(values[j]):
            return
        assigned[name] = values[j]
        yield from place(i + 1, j + 1)
        del assigned[name]

    yield from place(0, 0)


def _compile_delimited(text: str) -> Matcher:
    fields, conditions = _DelimitedParser(text).parse()
    own: List[Optional[Callable[[str], bool]]] = [None] * len(fields)
    across: List[Condition] = []
    for names, test in conditions:
        if len(names) == 1:
            (name,) = names
            index = fields.index(name)
            own[index] = lambda value, n=name, t=test: t({n: value})  # type: ignore[misc]
        else:
            across.append(test)

    def match_delimited(message: str) -> bool:
        values = _split_message(message)
        try:
            return any(
                all(test(placed) for test in across) for placed in _placements(fields, own, values)
            )
        except _GiveUp:
            return False

    return match_delimited
