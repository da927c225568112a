"""Every front end's options, each defined once: name, default, check, doc line.

The stdlib handler's signature, the structlog and loguru keyword options,
`Destination`, the engine's `Settings` and the README's table all come from
`OPTIONS`. Adding an option is one `Option(...)` entry below (plus, if the
engine reads it, a `Settings` field of the same name).

One rule for every value: the Python type is taken as is, and so are the
spellings a string from ``fileConfig``, YAML or an environment variable
brings: ``"true"``/``"false"``/``"yes"``/``"no"``/``"on"``/``"off"``/``"1"``/``"0"``
(any case) for a boolean, a numeric string for a number. Anything else is a
`WatchtowerError` naming the argument; nothing is guessed. The options one
front end alone takes (`FRONT_END_OPTIONS`, such as the structlog renderer's
``write_locally``) follow the same rule.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Tuple

from ._entity import parse_entity
from ._errors import WatchtowerError
from ._ingest_token import bearer_token, check_transport
from ._rules import (
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNT,
    MAX_EVENT_BYTES,
    check_log_group_name,
    check_retention_days,
)
from ._streams import DEFAULT_LOG_STREAM_NAME, StreamNamer

DROP_OLDEST = "drop_oldest"
DROP_NEWEST = "drop_newest"
BLOCK = "block"
OVERFLOW_POLICIES = (DROP_OLDEST, DROP_NEWEST, BLOCK)

#: `transport` values: how events reach CloudWatch (see `_transports`).
TRANSPORTS = ("auto", "boto3", "http-ingest")

#: `json_library` values: orjson when installed, orjson (required), the standard library.
JSON_LIBRARIES = ("auto", "orjson", "json")

#: Takes the argument's name and the value given; returns the value to use, or raises.
Parse = Callable[[str, Any], Any]

_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))


@dataclass(frozen=True)
class Option:
    """One option: its name, default, check (`parse`), type and doc line."""

    name: str
    default: Any
    parse: Parse
    kind: str
    doc: str
    #: One of watchtower's positional parameters (kept in watchtower's order).
    watchtower: bool = False


# ------------------------------------------------------------------ parsers


def boolean(name: str, value: Any) -> bool:
    """Take True/False, 1/0, or one of the usual spellings of them in a string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise WatchtowerError(
        f"{name}={value!r} must be True or False (or one of the strings"
        " 'true', 'false', 'yes', 'no', 'on', 'off', '1', '0')"
    )


def _number_from_string(name: str, value: str, integer: bool) -> Any:
    text = value.strip()
    try:
        return int(text) if integer else float(text)
    except ValueError:
        what = "an integer" if integer else "a number"
        raise WatchtowerError(f"{name}={value!r} must be {what}") from None


def integer(low: int, high: Optional[int] = None, *, optional: bool = False) -> Parse:
    """An integer (or a string of one) between `low` and `high`; None too if `optional`."""

    def parse(name: str, value: Any) -> Optional[int]:
        if value is None and optional:
            return None
        if isinstance(value, str):
            value = _number_from_string(name, value, integer=True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise WatchtowerError(f"{name}={value!r} must be an integer >= {low}")
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            raise WatchtowerError(f"{name}={value!r} must be an integer {bounds}")
        return value

    return parse


def seconds(name: str, value: Any) -> float:
    """A duration: a number of seconds >= 0 (or a string of one), or a `timedelta`."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, str):
        value = _number_from_string(name, value, integer=False)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WatchtowerError(f"{name}={value!r} must be a number of seconds or a timedelta")
    if math.isnan(value) or value < 0:
        raise WatchtowerError(f"{name}={value!r} must be a number of seconds >= 0")
    return float(value)


@dataclass(frozen=True)
class Choice:
    """Parses one of `choices`, exactly (the command line lists them)."""

    choices: Tuple[str, ...]

    def __call__(self, name: str, value: Any) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        words = ", ".join(map(repr, self.choices))
        raise WatchtowerError(f"{name}={value!r} must be one of {words}")


def choice(*choices: str) -> Parse:
    """One of `choices`, exactly."""
    return Choice(choices)


def json_library(name: str, value: Any) -> str:
    """One of `JSON_LIBRARIES`; "orjson" only if it is installed."""
    library: str = choice(*JSON_LIBRARIES)(name, value)
    if library == "orjson" and importlib.util.find_spec("orjson") is None:
        raise WatchtowerError(f"{name}='orjson' needs orjson: pip install \"wt-adapters[fast]\"")
    return library


def optional_text(name: str, value: Any) -> Optional[str]:
    """A non-empty string, or None."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise WatchtowerError(f"{name}={value!r} must be a non-empty string or None")


def endpoint_url(name: str, value: Any) -> Optional[str]:
    """An ``http://`` or ``https://`` URL with a host (and a port, if any, in range), or None.

    boto3 takes a malformed URL as it is and fails only on the first request
    ("Invalid endpoint"), so it is refused here, at construction.
    """
    if value is None:
        return None
    if isinstance(value, str) and value:
        try:
            parts = urllib.parse.urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        host = parts.hostname if parts is not None else None
        if port_ok and parts is not None and parts.scheme in ("http", "https") and host and (
            not any(c.isspace() for c in value)
        ):
            return value
        hint = ""
        if re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", value):
            hint = f" (did you mean 'http://{value}'?)"
        raise WatchtowerError(
            f"{name}={value!r} is not an endpoint URL: it must be http:// or https:// and a"
            f" host, like 'https://logs.us-east-1.amazonaws.com' or 'http://localhost:4566'{hint}"
        )
    raise WatchtowerError(f"{name}={value!r} must be an endpoint URL (a string) or None")


#: `log_group_class` values (CreateLogGroup's ``logGroupClass``).
LOG_GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+\Z")


def kms_key_arn(name: str, value: Any) -> Optional[str]:
    """A KMS key ARN (``arn:aws:kms:REGION:ACCOUNT:key/ID``), or None."""
    if value is None or (isinstance(value, str) and _KMS_KEY_ARN.match(value)):
        return value
    raise WatchtowerError(
        f"{name}={value!r} must be the ARN of a KMS key"
        " (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID) or None"
    )


#: The shortest `metrics_interval` taken (seconds).
MIN_METRICS_INTERVAL = 1.0


def metrics_interval(name: str, value: Any) -> Optional[float]:
    """None (no metrics), or a duration of at least `MIN_METRICS_INTERVAL` seconds."""
    if value is None:
        return None
    interval = seconds(name, value)
    if interval < MIN_METRICS_INTERVAL:
        raise WatchtowerError(
            f"{name}={value!r} must be None or at least {MIN_METRICS_INTERVAL:g} second"
        )
    return interval


def fsync_interval(name: str, value: Any) -> Optional[float]:
    """None or 0 (fsync a segment only when it is sealed), or a duration in seconds."""
    if value is None:
        return None
    interval = seconds(name, value)
    return interval or None


def metric_namespace(name: str, value: Any) -> str:
    """A CloudWatch metric namespace: 1-255 ASCII characters, no control character,
    not starting with ':' or with ``AWS/`` (kept for AWS's own)."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 255
        or not value.isascii()
        or not value.isprintable()
        or value.startswith((":", "AWS/"))
    ):
        raise WatchtowerError(
            f"{name}={value!r} is not a metric namespace CloudWatch takes: 1 to 255 ASCII"
            " characters, no control characters, not starting with ':' or 'AWS/'"
        )
    return value


def group_name(name: str, value: Any) -> str:
    """A log group name CloudWatch accepts."""
    return check_log_group_name(value, name)


def stream_template(name: str, value: Any) -> str:
    """A stream name template that gives names CloudWatch accepts."""
    StreamNamer(value, name)
    return str(value)


def retention(name: str, value: Any) -> Optional[int]:
    """A retention period CloudWatch offers, in days (or a string of one), or None."""
    if isinstance(value, str):
        value = _number_from_string(name, value, integer=True)
    return check_retention_days(value, name)


def tags(name: str, value: Any) -> Tuple[Tuple[str, str], ...]:
    """A dict of strings to strings (or None), kept as sorted pairs."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)  # the form this returns: already checked once
    if not isinstance(value, Mapping):
        raise WatchtowerError(f"{name}={value!r} must be a dict")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise WatchtowerError(f"{name}: {key!r}: {item!r} must map strings to strings")
    return tuple(sorted(value.items()))


#: PutIndexPolicy's limits: fields per policy, characters per field name.
MAX_FIELD_INDEXES = 20
MAX_FIELD_NAME = 100


def field_indexes(name: str, value: Any) -> Tuple[str, ...]:
    """Field names to index (a list, or a comma-separated string), or None: kept in order."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)):
        raise WatchtowerError(f"{name}={value!r} must be a list of field names")
    for field in value:
        if not isinstance(field, str) or not 1 <= len(field) <= MAX_FIELD_NAME:
            raise WatchtowerError(
                f"{name}: {field!r} must be a field name of 1-{MAX_FIELD_NAME} characters"
            )
    if len(value) > MAX_FIELD_INDEXES:
        raise WatchtowerError(
            f"{name} names {len(value)} fields: an index policy takes at most {MAX_FIELD_INDEXES}"
        )
    seen = set()
    for field in value:
        if field in seen:
            raise WatchtowerError(f"{name} names {field!r} twice (names are case-sensitive)")
        seen.add(field)
    return tuple(value)


def function(name: str, value: Any) -> Optional[Callable[[Any], Any]]:
    """A callable, or None."""
    if value is None or callable(value):
        return value  # type: ignore[no-any-return]
    raise WatchtowerError(f"{name}={value!r} must be callable")


def directory(name: str, value: Any) -> Optional[str]:
    """A directory path (a non-empty string or an `os.PathLike`), or None; checked on disk later."""
    if value is None:
        return None
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if isinstance(path, str) and path and "\0" not in path:
        return path
    raise WatchtowerError(f"{name}={value!r} must be a directory path (str or os.PathLike) or None")


#: Level names, any case: stdlib logging's, loguru's and structlog's method names.
LEVELS: Dict[str, int] = {
    "notset": 0, "trace": 5, "debug": 10, "info": 20, "success": 25, "warn": 30,
    "warning": 30, "error": 40, "exception": 40, "critical": 50, "fatal": 50,
}  # fmt: skip


def level(optional: bool) -> Parse:
    """A level: a name of `LEVELS` (any case) or a number >= 0 (or a string of one)."""

    def parse(name: str, value: Any) -> Optional[int]:
        if value is None and optional:
            return None
        if isinstance(value, str):
            word = value.strip().lower()
            if word in LEVELS:
                return LEVELS[word]
            if word.isdigit():
                return int(word)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        names = ", ".join(sorted(LEVELS, key=LEVELS.__getitem__))
        extra = " or None" if optional else ""
        raise WatchtowerError(
            f"{name}={value!r} must be a level name ({names}; any case) or a number >= 0{extra}"
        )

    return parse


def logs_client(name: str, value: Any) -> Any:
    """A boto3 CloudWatch Logs client, or None."""
    if value is None or callable(getattr(value, "put_log_events", None)):
        return value
    raise WatchtowerError(
        f"{name}={value!r} is not a CloudWatch Logs client (make one with boto3.client('logs'))"
    )


# ------------------------------------------------------------------ the table

#: The default log group name (watchtower's, so that a switch keeps the same group).
DEFAULT_LOG_GROUP_NAME = "watchtower"

OPTIONS: Dict[str, Option] = {
    o.name: o
    for o in (
        # watchtower's positional parameters, in watchtower's order
        Option("log_group_name", DEFAULT_LOG_GROUP_NAME, group_name, "str",
               "Log group (1-512 of `[.-_/#A-Za-z0-9]`), created with the first batch"
               " if missing.", watchtower=True),
        Option("log_stream_name", DEFAULT_LOG_STREAM_NAME, stream_template, "str",
               "Stream name template: `{machine_name}` `{program_name}` `{logger_name}`"
               " `{process_id}` `{thread_name}` `{strftime:%Y-%m-%d}` (the event's UTC"
               " time).", watchtower=True),
        Option("use_queues", True, boolean, "bool",
               "`False` sends each record on the caller's thread, before the log call"
               " returns.", watchtower=True),
        Option("send_interval", 60.0, seconds, "seconds",
               "Longest an event waits before it is sent (a full batch goes at once).",
               watchtower=True),
        Option("max_batch_size", MAX_BATCH_BYTES, integer(1, MAX_BATCH_BYTES), "int",
               "Most bytes per PutLogEvents request (26 bytes per event included).",
               watchtower=True),
        Option("max_batch_count", MAX_BATCH_COUNT, integer(1, MAX_BATCH_COUNT), "int",
               "Most events per PutLogEvents request.", watchtower=True),
        Option("boto3_client", None, logs_client, "client",
               "A `boto3.client(\"logs\")` to send with.", watchtower=True),
        Option("boto3_profile_name", None, optional_text, "str",
               "AWS profile to make the client from (not with `boto3_client`).", watchtower=True),
        Option("create_log_group", True, boolean, "bool",
               "Create the log group if it does not exist.", watchtower=True),
        Option("log_group_tags", None, tags, "dict",
               "Tags (`{str: str}`) for a log group this creates.", watchtower=True),
        Option("json_serialize_default", None, function, "callable",
               "`default=` for JSON encoding; `None`: dates by `isoformat()`, the rest by"
               " `repr()`.", watchtower=True),
        Option("log_group_retention_days", None, retention, "int",
               "Retention in days (one CloudWatch offers) for a log group this creates.",
               watchtower=True),
        Option("create_log_stream", True, boolean, "bool",
               "Create the log stream if it does not exist.", watchtower=True),
        Option("max_message_size", 256 * 1024, integer(1, MAX_EVENT_BYTES), "int",
               "Longer messages are cut at a character boundary, with a warning (26 bytes"
               " of overhead included; at most 1048576).",
               watchtower=True),
        # wt_adapters' own, keyword-only
        Option("endpoint_url", None, endpoint_url, "str",
               "CloudWatch Logs endpoint for the client this makes; by default what boto3"
               " resolves (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL`,"
               " `~/.aws/config`), then `AWS_ENDPOINT_URL_LOGS`."),
        Option("transport", "auto", choice(*TRANSPORTS), "str",
               "How events reach CloudWatch: `\"auto\"` (PutLogEvents written, signed and"
               " sent directly, with the boto3 client's credentials and HTTP session),"
               " `\"boto3\"` (every call through boto3) or `\"http-ingest\"` (the HTTP"
               " ingestion endpoint, with a bearer token)."),
        Option("bearer_token", None, bearer_token, "str",
               "CloudWatch Logs API key for `transport=\"http-ingest\"` (only there); by"
               " default `WT_ADAPTERS_BEARER_TOKEN`. Never shown in reprs or messages."),
        Option("max_queue_events", 100_000, integer(1), "int",
               "Most events held in memory waiting to be sent."),
        Option("max_queue_bytes", 64 * 1024 * 1024, integer(MAX_BATCH_BYTES), "int",
               "Most bytes held in memory waiting to be sent."),
        Option("queue_overflow", DROP_OLDEST, choice(*OVERFLOW_POLICIES), "str",
               "When the queue is full: `\"drop_oldest\"`, `\"drop_newest\"` or `\"block\"`"
               " (the caller waits up to `queue_block_timeout`)."),
        Option("queue_block_timeout", 1.0, seconds, "seconds",
               "With `\"block\"`, the longest a log call waits for room before dropping."),
        Option("retry_deadline", 300.0, seconds, "seconds",
               "Drop (and count) a batch that keeps failing after this long."),
        Option("max_concurrency", 10, integer(1), "int",
               "Most requests in flight at once; the engine starts at 2, adds one per"
               " success and halves on throttling or slower round trips."),
        Option("json_library", "auto", json_library, "str",
               "JSON encoder: `\"auto\"` (orjson when installed), `\"orjson\"` or `\"json\"`"
               " (the standard library's)."),
        Option("log_group_class", "STANDARD", choice(*LOG_GROUP_CLASSES), "str",
               "Class of a log group this creates: `\"STANDARD\"` or `\"INFREQUENT_ACCESS\"`"
               " (about half the ingestion price, fewer features)."),
        Option("kms_key_id", None, kms_key_arn, "str",
               "ARN of the KMS key to encrypt a log group this creates with."),
        Option("deletion_protection", False, boolean, "bool",
               "Create the log group with deletion protection on."),
        Option("field_indexes", None, field_indexes, "list",
               "Fields (at most 20) a log group this creates indexes for Logs Insights"
               " (PutIndexPolicy); Standard class only (see docs/log-groups.md)."),
        Option("entity", None, parse_entity, "dict",
               "The service the logs come from, sent with every PutLogEvents for"
               " CloudWatch's \"Explore related\": `{\"keyAttributes\": {...},"
               " \"attributes\": {...}}`, or `\"auto\"` (from `OTEL_SERVICE_NAME` and the"
               " platform; see docs/entity.md)."),
        Option("trace_id", False, boolean, "bool",
               "Add `traceId` (the current OpenTelemetry trace, else Lambda's X-Ray one)"
               " to JSON events when a trace is active; never replaces one already there."),
        Option("flush_on_sigterm", False, boolean, "bool",
               "On SIGTERM, deliver what every engine holds (up to 5 s), then end as SIGTERM"
               " would have; process-wide, set up from the main thread (see"
               " `wt_adapters.flush_on_sigterm`)."),
        Option("metrics_interval", None, metrics_interval, "seconds",
               "Every this many seconds (at least 1), put the delivery counters in the log"
               " group as an Embedded Metric Format event (see \"Loss you can alarm on\");"
               " `None`: off."),
        Option("metrics_namespace", "wt_adapters", metric_namespace, "str",
               "CloudWatch namespace of those metrics."),
        Option("spool_dir", None, directory, "path",
               "Keep accepted events in files in this directory until CloudWatch has them,"
               " for the next process to send after a crash or a long outage (see"
               " \"Surviving crashes\")."),
        Option("spool_max_bytes", 512 * 1024 * 1024, integer(1024 * 1024), "int",
               "Most bytes the spool holds on disk; past it the overflow policy applies."),
        Option("spool_sync_interval", 0.2, seconds, "seconds",
               "How often accepted events are written to the spool (a kill loses at most"
               " this much)."),
        Option("spool_fsync_interval", 1.0, fsync_interval, "seconds",
               "At most how often the spool thread fsyncs the segment being written (a"
               " power loss loses about this much more); `None` or 0: only when sealed."),
        Option("buffer_level", None, level(optional=True), "level",
               "Inside a `wt_adapters.buffer_scope()`, hold records at or below this level"
               " (`\"DEBUG\"`, a number, ...) and ship them only if `flush_buffer_on` or an"
               " exception follows (see docs/buffering.md); `None`: no buffering."),
        Option("flush_buffer_on", "ERROR", level(optional=True), "level",
               "A record at or above this level ships the scope's held records, then"
               " itself; `None`: only an exception escaping the scope does."),
        Option("buffer_max_bytes", 20480, integer(1), "int",
               "Most bytes of held records per scope (26 bytes per event included); past"
               " it the oldest are evicted, counted in `stats()[\"buffered\"]`."),
    )
}  # fmt: skip

#: Options that one front end alone takes: not engine settings, so neither in `OPTIONS`
#: nor in the README's table, but checked by the same rules (a string means what it spells).
FRONT_END_OPTIONS: Dict[str, Option] = {
    o.name: o
    for o in (
        Option("write_locally", True, boolean, "bool",
               "structlog's renderer: return the JSON text for the configured logger to"
               " write too; `False` raises `DropEvent` instead."),
    )
}  # fmt: skip


def front_end_option(name: str, value: Any) -> Any:
    """Check `value` for the front-end option `name`; return the value to use."""
    return FRONT_END_OPTIONS[name].parse(name, value)


#: Watchtower's positional parameters, in order (the stdlib handler takes them so).
POSITIONAL = tuple(o.name for o in OPTIONS.values() if o.watchtower)


def resolve(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Check `options` (a front end's keywords); return every option's value.

    Raises `WatchtowerError` naming an unknown option or a bad value. Pure: no
    client, no engine, no I/O.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise WatchtowerError(
            f"unknown option {unknown[0]!r}; the options are: " + ", ".join(sorted(OPTIONS))
        )
    values = {
        name: option.parse(name, options.get(name, option.default))
        for name, option in OPTIONS.items()
    }
    check_together(values)
    return values


def check_together(values: Mapping[str, Any]) -> None:
    """Check what no option can check alone (`resolve` and `Settings` call this)."""
    if values.get("boto3_client") is not None and values.get("boto3_profile_name") is not None:
        raise WatchtowerError(
            "Either boto3_client or boto3_profile_name can be specified, but not both"
        )
    if values.get("metrics_interval") is not None and values.get("use_queues") is False:
        raise WatchtowerError(
            "metrics_interval needs use_queues=True: the metrics are sent by the"
            " engine's background threads"
        )
    fields = values.get("field_indexes")
    group_class = values.get("log_group_class")
    if fields and group_class is not None and group_class != "STANDARD":
        raise WatchtowerError(
            f"field_indexes needs a Standard class log group, not"
            f" log_group_class={group_class!r}: only Standard groups take an index policy"
        )
    if fields and values.get("create_log_group") is False:
        raise WatchtowerError(
            "field_indexes is applied to a log group the package creates, and"
            " create_log_group=False creates none"
        )
    check_transport(values)
    hold, flush = values.get("buffer_level"), values.get("flush_buffer_on")
    if hold is not None and flush is not None and hold >= flush:
        raise WatchtowerError(
            f"buffer_level={hold} is not below flush_buffer_on={flush}: a record that"
            " should ship the buffer would be held instead"
        )
    batch, message = values.get("max_batch_size"), values.get("max_message_size")
    if batch is not None and message is not None and batch < message:
        raise WatchtowerError(
            f"max_batch_size={batch} is below max_message_size={message}:"
            " the largest message would not fit in a batch"
        )


def markdown_table() -> str:
    """The README's options table, made from `OPTIONS`."""
    rows = ["| Option | Type | Default | What it does |", "| --- | --- | --- | --- |"]
    for o in OPTIONS.values():
        default = repr(o.default)
        doc = o.doc.replace("|", "\\|")
        rows.append(f"| `{o.name}` | {o.kind} | `{default}` | {doc} |")
    return "\n".join(rows)
