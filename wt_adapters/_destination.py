"""What every front end holds: validated options, a shared engine, stream names."""

from __future__ import annotations

import os
import threading
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, TypedDict, Union

from . import _lifecycle, _registry, _spool
from ._buffer import Buffer
from ._engine import Engine
from ._engine.reach import Reach
from ._json import encoder
from ._json import json_serialize_default as _default_serializer
from ._options import DEFAULT_LOG_GROUP_NAME, resolve
from ._protocol import Transport
from ._registry import FLUSH_DEFAULT, shared_engine, wait_for
from ._report import remember_origin
from ._retry import RetryPolicy
from ._settings import LOG_GROUP_PARAMETERS, Settings
from ._signals import flush_on_sigterm
from ._streams import StreamNamer
from ._trace import tracing
from ._transports import choose

__all__ = ["DEFAULT_LOG_GROUP_NAME", "Destination", "Options", "build_engine"]

def build_engine(
    settings: Settings,
    sender: Transport,
    make_engine_for: Optional[Callable[[str], Engine]] = None,
    reach: Optional[Reach] = None,
) -> Engine:
    """Make an engine, with the spool of its ``spool_dir`` if it has one, known to the process.

    `make_engine_for(group)` gives the engine for another log group's events
    adopted from the spool (the same options, another group); `reach` is shared
    by the engines that send to one endpoint.
    """
    engine = Engine(settings, sender, on_close=_registry.forget, reach=reach)
    if settings.spool_dir is not None:
        spool, first_seq = _spool.attach(
            engine,
            settings.spool_dir,
            settings.spool_max_bytes,
            settings.spool_sync_interval,
            make_engine_for,
            fsync_interval=settings.spool_fsync_interval,
        )
        engine.use_spool(spool, first_seq)
    _lifecycle.register(engine)
    return engine


#: Set by `wt_adapters.testing` to route every new destination somewhere else.
sender_override: Optional[Callable[[], Transport]] = None


class Options(TypedDict, total=False):
    """The keyword options every front end takes, for type checkers.

    `_options.OPTIONS` is what defines and checks them; a test keeps the two in step.
    """

    log_group_name: str
    log_stream_name: str
    use_queues: Union[bool, str]
    send_interval: Union[float, timedelta, str]
    max_batch_size: Union[int, str]
    max_batch_count: Union[int, str]
    boto3_client: Any
    boto3_profile_name: Optional[str]
    create_log_group: Union[bool, str]
    log_group_tags: Optional[Mapping[str, str]]
    json_serialize_default: Optional[Callable[[Any], Any]]
    log_group_retention_days: Union[int, str, None]
    create_log_stream: Union[bool, str]
    max_message_size: Union[int, str]
    endpoint_url: Optional[str]
    transport: str
    bearer_token: Optional[str]
    max_queue_events: Union[int, str]
    max_queue_bytes: Union[int, str]
    queue_overflow: str
    queue_block_timeout: Union[float, timedelta, str]
    retry_deadline: Union[float, timedelta, str]
    max_concurrency: Union[int, str]
    json_library: str
    log_group_class: str
    kms_key_id: Optional[str]
    deletion_protection: Union[bool, str]
    field_indexes: Union[Sequence[str], str, None]
    entity: Union[Mapping[str, Mapping[str, str]], str, None]
    trace_id: Union[bool, str]
    flush_on_sigterm: Union[bool, str]
    metrics_interval: Union[float, timedelta, str, None]
    metrics_namespace: str
    spool_dir: Union[str, os.PathLike[str], None]
    spool_max_bytes: Union[int, str]
    spool_sync_interval: Union[float, timedelta, str]
    spool_fsync_interval: Union[float, timedelta, str, None]
    buffer_level: Union[str, int, None]
    flush_buffer_on: Union[str, int, None]
    buffer_max_bytes: Union[int, str]


_SETTINGS_FIELDS = frozenset(f.name for f in fields(Settings))


class Destination:
    """A log group (and stream name template) to deliver to, with every delivery option.

    Takes the options of `_options.OPTIONS` as keywords (all front ends take
    them, with these defaults: watchtower's), and checks them there, before
    any AWS call. `values` holds every option's value as checked.
    """

    def __init__(self, **options: Any) -> None:
        #: Every option's value, checked (defaults filled in).
        values = resolve(options)
        self.values: Dict[str, Any] = values
        if values["flush_on_sigterm"]:
            flush_on_sigterm()
        self.settings = Settings(
            **{k: v for k, v in values.items() if k in _SETTINGS_FIELDS},
            retry=RetryPolicy(deadline=values["retry_deadline"]),
        )
        self.stream_names = StreamNamer(values["log_stream_name"])
        self.use_queues: bool = values["use_queues"]
        self.json_default: Callable[[Any], Any] = (
            values["json_serialize_default"] or _default_serializer
        )
        #: Encodes a value as JSON text, never raising (see `_json.encoder`).
        self.encode: Callable[[Any], str] = encoder(self.json_default, values["json_library"])
        if values["trace_id"]:
            self.encode = tracing(self.encode)
        override = sender_override
        if override is None and self.settings.create_log_group:
            _check_group_parameters(self.settings, values["boto3_client"])
        if override is None and values["transport"] in ("auto", "boto3"):
            _check_api_support(self.settings, values["boto3_client"])
        if override is not None:
            key: Any = ("override", id(override))
            make_sender: Callable[[], Transport] = override
        else:
            key, make_sender = choose(values)

        settings = self.settings
        reach = _reach_of(key)

        def engine_for(group: str) -> Engine:
            """The engine for another log group's events, adopted from the spool."""
            other = replace(settings, log_group_name=group)
            return shared_engine(
                key, other, lambda: build_engine(other, make_sender(), engine_for, reach)
            )

        make_engine_for = engine_for if settings.spool_dir is not None else None
        self.engine: Engine = shared_engine(
            key, settings, lambda: build_engine(settings, make_sender(), make_engine_for, reach)
        )
        remember_origin(self.engine)
        #: True once `close` has returned.
        self.closed = False
        self._closing = False
        #: Queue (or, without queues, send) one event: ``submit(stream, timestamp_ms, message)``.
        #: Chosen once here, since front ends call it for every record.
        self.submit: Callable[[str, int, str], bool] = (
            self.engine.submit if self.use_queues else self.engine.send_now
        )
        #: Where the front end offers each record first, with ``buffer_level`` (else None).
        self.buffer: Optional[Buffer] = None
        if values["buffer_level"] is not None:
            self.buffer = Buffer(values["buffer_level"], values["flush_buffer_on"],
                                 values["buffer_max_bytes"], self.submit)  # fmt: skip

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Destination:
        """Build a destination from a front end's keyword options, naming any unknown one."""
        return cls(**options)

    @property
    def client(self) -> Any:
        """The boto3 client the engine sends with (None for a non-boto3 sender).

        A client the package makes itself is made here if no request made it yet.
        """
        return getattr(self.engine.sender, "client", None)

    def flush(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Send what is queued; return whether it finished within `timeout` seconds.

        Given no timeout, wait up to `FLUSH_TIMEOUT`, less once delivery has been
        impossible for `STALL_WINDOW` (see `_registry.wait_for`); at once False for a
        cause that can't clear.
        """
        timeout, grace = wait_for(timeout)
        return self.engine.flush(timeout, grace=grace)

    def close(self, timeout: Optional[float] = FLUSH_DEFAULT) -> bool:
        """Flush and let go of the engine (the last user closes it); idempotent.

        Waits as `flush`. Returns whether everything queued was delivered (True
        when already closed).
        """
        if self.closed or self._closing:
            return True
        self._closing = True
        timeout, grace = wait_for(timeout)
        try:
            # Events handed in while close runs go to the engine: delivered, or counted.
            return self.engine.release(timeout, grace=grace)
        finally:
            self.closed = True

    def refuse(self) -> None:
        """Count an event handed in after `close` (dropped as ``closed``); the front end warns."""
        self.engine.refuse()

    def describe(self) -> str:
        """Name the group and stream template, for a front end's repr."""
        return (
            f"log_group_name={self.settings.log_group_name!r},"
            f" log_stream_name={self.stream_names.template!r}"
        )

    def stats(self) -> Dict[str, Any]:
        """Return the engine's counters (and the buffer's, under ``"buffered"``)."""
        figures = self.engine.stats()
        if self.buffer is not None:
            figures["buffered"] = self.buffer.stats()
        return figures


#: How reachable each endpoint is (by the key engines are shared by: client, profile,
#: endpoint and region), shared by the engines that send there.
_reaches: Dict[Any, Reach] = {}
_reaches_lock = threading.Lock()


def _reach_of(key: Any) -> Reach:
    with _reaches_lock:
        reach = _reaches.get(key)
        if reach is None:
            if len(_reaches) >= 1024:  # keys of clients long gone
                _reaches.clear()
            reach = _reaches[key] = Reach()
        return reach


def _check_group_parameters(settings: Settings, client: Any) -> None:
    """Fail now if the botocore in use cannot send a CreateLogGroup parameter the options need."""
    sent = settings.log_group_parameters
    parameters = {
        parameter: (option, getattr(settings, option))
        for option, parameter in LOG_GROUP_PARAMETERS.items()
        if parameter in sent
    }
    if parameters:
        from ._boto import check_create_log_group_parameters

        check_create_log_group_parameters(parameters, client)


def _check_api_support(settings: Settings, client: Any) -> None:
    """Fail now if the botocore in use cannot make a call the entity or field index options need."""
    if settings.entity is None and not settings.field_indexes:
        return
    from ._boto import check_api_support

    if settings.entity is not None:
        entity = settings.entity.request()
        check_api_support("entity", entity, "PutLogEvents", "entity", client)
    if settings.field_indexes and settings.create_log_group:
        fields = list(settings.field_indexes)
        check_api_support("field_indexes", fields, "PutIndexPolicy", client=client)
