"""The engine's options as command-line flags, made from `_options.OPTIONS`.

Every option in the table gets a flag named after it (``max_queue_events`` is
``--max-queue-events``, a boolean ``--x/--no-x``, tags a repeatable
``--log-group-tags KEY=VALUE``), its help from the option's doc line, and its
check from the option's own `parse`, through `_options.resolve`: a command
validates exactly as the front ends do, without building an engine. A command
says only where it spells an option differently (`Spelling`: a shorter name
kept as an alias, its own default) and `EXCLUDED` names the options no command
line offers, so a new option gets a flag, or a deliberate exclusion, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

import click

from .._errors import WatchtowerError
from .._options import OPTIONS, Option, resolve
from ._common import NONE, name_flags, none_given

F = TypeVar("F", bound=Callable[..., Any])

#: The options no command line offers, and why.
EXCLUDED: Dict[str, str] = {
    "boto3_client": "a Python object: a command makes its client from the AWS flags",
    "boto3_profile_name": "--profile, one of the AWS flags every command takes",
    "endpoint_url": "--endpoint-url, one of the AWS flags every command takes",
    "json_serialize_default": "a Python function",
    "json_library": "a command sends lines as text, so the engine encodes no JSON",
    "use_queues": "pipe's own --no-queue",
    "trace_id": "a command reading lines has no trace of its own to add",
    "flush_on_sigterm": "a command stops on SIGTERM itself, then delivers what it read",
    "entity": "a nested dict (or \"auto\"), set in Python: see docs/entity.md",
    "bearer_token": "a secret, which a command line would show to ps: WT_ADAPTERS_BEARER_TOKEN",
    "buffer_level": "a command has no buffer scope: it ships every line it reads",
    "flush_buffer_on": "a command has no buffer scope: it ships every line it reads",
    "buffer_max_bytes": "a command has no buffer scope: it ships every line it reads",
}

#: The metavar a flag of each option kind shows (booleans take no value).
METAVARS = {
    "int": "INTEGER",
    "seconds": "SECONDS",
    "str": "TEXT",
    "path": "PATH",
    "dict": "KEY=VALUE",
    "list": "NAME,NAME",
}
#: The kinds a flag is made for; an option of another kind needs a kind here or an exclusion.
KINDS = frozenset(METAVARS) | {"bool"}

_UNSET: Any = object()
_ARGS = "wt_adapters.args"

#: What the library's messages say of None, which a flag cannot be given (leaving
#: the flag out is how), and of Python types: left out of the messages a command prints.
PYTHON_PHRASES = {" or None": "", "None or ": "", " (str or os.PathLike)": ""}


@dataclass(frozen=True)
class Spelling:
    """How one command spells an option where it differs from the table's."""

    #: Flags that also set it, shown first (today's shorter names: ``("-g", "--group")``).
    aliases: Tuple[str, ...] = ()
    #: The command's own default, when it differs from the library's.
    default: Any = _UNSET
    #: Replaces the option's doc line, where that says something untrue of the command.
    help: Optional[str] = None
    #: Added after the doc line.
    note: str = ""
    #: The default as help shows it, where the value itself would say less.
    shown: Optional[str] = None
    required: bool = False


@dataclass(frozen=True)
class Flag:
    """One option's flag on one command."""

    option: Option
    opts: Tuple[str, ...]
    #: ``--no-...`` forms of a boolean's flags, in the same order.
    negations: Tuple[str, ...] = ()
    default: Any = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.option.name

    def decorator(self) -> Callable[[F], F]:
        decls = (
            [f"{yes}/{no}" for yes, no in zip(self.opts, self.negations)]
            if self.negations
            else list(self.opts)
        )
        return click.option(*decls, self.name, cls=_FlagOption, default=None, **self.extra)


class _FlagOption(click.Option):
    """Shows a boolean's flags as ``--[no-]create-group`` (both forms at half the width)."""

    def get_help_record(self, ctx: click.Context) -> Optional[Tuple[str, str]]:
        record = super().get_help_record(ctx)
        if record is None or not self.secondary_opts:
            return record
        return ", ".join("--[no-]" + o[2:] for o in self.opts), record[1]


def flag_name(option_name: str) -> str:
    """The flag an option gets: its name in lower case with dashes."""
    return "--" + option_name.replace("_", "-")


_OPTION_NAME = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def _help(option: Option, spelling: Spelling, default: Any, excluded: Sequence[str]) -> str:
    """The option's doc line, for a terminal: no backticks, other options named as flags.

    A flag can't be given None: "`None`: off" in a doc line reads "off when not given".
    """

    def to_flag(match: re.Match[str]) -> str:
        name = match.group(0)
        return flag_name(name) if name in OPTIONS and name not in excluded else name

    doc = (spelling.help or option.doc).replace("`None`: off", "off when not given")
    text = _OPTION_NAME.sub(to_flag, doc.replace("`", ""))
    if spelling.note:
        text += " " + spelling.note
    if option.kind == "dict":
        text += " Repeatable."
    if spelling.shown is not None:
        text += f"  [default: {spelling.shown}]"
    elif default is not None and default != ():
        shown = ("yes" if default else "no") if option.kind == "bool" else default
        text += f"  [default: {shown}]"
    return text


def make_flags(
    spellings: Mapping[str, Spelling], excluded: Sequence[str] = tuple(EXCLUDED)
) -> List[Flag]:
    """A flag for every option of the table not `excluded`, in the table's order."""
    unknown = sorted(set(spellings) - set(OPTIONS))
    if unknown:
        raise LookupError(f"no such option: {unknown[0]!r}")
    flags = []
    for option in OPTIONS.values():
        if option.name in excluded:
            continue
        spelling = spellings.get(option.name, Spelling())
        default = option.default if spelling.default is _UNSET else spelling.default
        longs = [a for a in spelling.aliases if a.startswith("--")]
        own = flag_name(option.name)
        opts = (*spelling.aliases, own) if own not in longs else spelling.aliases
        extra: Dict[str, Any] = {
            "help": _help(option, spelling, default, excluded),
            "required": spelling.required,
        }
        negations: Tuple[str, ...] = ()
        if option.kind == "bool":
            opts = tuple(o for o in opts if o.startswith("--"))
            negations = tuple("--no-" + o[2:] for o in opts)
        else:
            choices = getattr(option.parse, "choices", None)
            extra["metavar"] = (
                "[" + "|".join(choices) + "]" if choices else METAVARS.get(option.kind, "TEXT")
            )
            extra["multiple"] = option.kind == "dict"
        flags.append(Flag(option, tuple(opts), negations, default, extra))
    return flags


def add_flags(flags: Sequence[Flag]) -> Callable[[F], F]:
    """Add `flags` to a command, each as a keyword argument named after its option."""

    def decorate(fn: F) -> F:
        for flag in reversed(flags):
            fn = flag.decorator()(fn)
        return fn

    return decorate


class RememberArgs(click.Command):
    """A command that keeps its arguments, so that messages name the flags as typed."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        ctx.meta[_ARGS] = list(args)
        return super().parse_args(ctx, args)


def typed(flag: Flag, args: Sequence[str]) -> Tuple[str, str]:
    """The flag (and its ``--no-`` form) the user typed last for `flag`, else its first.

    A short flag typed (``-g``) is named by the flag's first long one: messages
    write ``--group='x'``, which ``-g='x'`` would not mean.
    """
    first = next((o for o in flag.opts if o.startswith("--")), flag.opts[0])
    yes = first
    no = flag.negations[flag.opts.index(yes)] if flag.negations else ""
    pairs = list(zip(flag.opts, flag.negations or flag.opts))
    for arg in args:
        if arg == "--":
            break
        for opt, negation in pairs:
            if _is(arg, opt) or (flag.negations and _is(arg, negation)):
                yes, no = (opt, negation) if opt.startswith("--") else (first, no)
    return yes, no


def _is(arg: str, opt: str) -> bool:
    if opt.startswith("--"):
        return arg == opt or arg.startswith(opt + "=")
    return arg.startswith(opt) and not arg.startswith("--")


class Speaker:
    """Rewrites the library's messages to name the flags typed.

    ``max_batch_count=0`` becomes ``--max-batch-count=0``, a bare option name
    its flag, and ``create_log_group is False`` ``--no-create-group was given``.
    """

    def __init__(self, flags: Sequence[Flag], args: Sequence[str]) -> None:
        self.flags: Dict[str, str] = {}
        self.phrases: Dict[str, str] = {}
        #: A boolean's ``--no-`` flag, as typed.
        self.negations: Dict[str, str] = {}
        for flag in flags:
            yes, no = typed(flag, args)
            self.flags[flag.name] = yes
            if no:
                self.negations[flag.name] = no
                self.phrases[f"{flag.name} is False"] = f"{no} was given"

    def __call__(self, text: str) -> str:
        text = name_flags(text, self.flags, self.phrases)
        return _OPTION_NAME.sub(lambda m: self.flags.get(m.group(0), m.group(0)), text)


def resolve_flags(
    ctx: click.Context,
    flags: Sequence[Flag],
    given: Mapping[str, Any],
    fixed: Optional[Mapping[str, Any]] = None,
    phrases: Optional[Mapping[str, str]] = None,
) -> Tuple[Dict[str, Any], Speaker]:
    """Check the flags' values by the options' own definitions; return them, and a `Speaker`.

    `given` holds the command's keyword arguments (None for a flag not given);
    `fixed`, options the command sets by other means (checked with the rest,
    not returned); `phrases`, how messages are to say those. The values
    returned are the options' parsed values, for every flag (the command's
    default where none was given). A bad value is a `click.UsageError` naming
    the flag as the user typed it; so is the word None, for any flag.
    """
    speaker = Speaker(flags, ctx.meta.get(_ARGS, ()))
    speaker.phrases.update(PYTHON_PHRASES)
    speaker.phrases.update(phrases or {})
    raw: Dict[str, Any] = dict(fixed or {})
    for flag in flags:
        value = given.get(flag.name)
        if value == NONE:
            named = speaker.flags[flag.name]
            instead = (
                "give the log group's name"
                if flag.name == "log_group_name"
                else f"leave {named} out for its default"
            )
            raise click.UsageError(none_given(named, instead), ctx)
        if flag.option.kind == "dict":
            value = _pairs(value or (), speaker.flags[flag.name]) if value else None
        raw[flag.name] = flag.default if value is None else value
    try:
        values = resolve(raw)
    except WatchtowerError as e:
        raise click.UsageError(speaker(str(e)), ctx) from None
    return {flag.name: values[flag.name] for flag in flags}, speaker


def _pairs(items: Sequence[str], typed_flag: str) -> Dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=f"'{typed_flag}'")
        pairs[key] = value
    return pairs
