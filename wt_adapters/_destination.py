"""What every front end holds: validated options, a shared engine, stream names."""

from __future__ import annotations

import inspect
import os
from datetime import timedelta
from typing import Any, Callable, Dict, Mapping, Optional, TypedDict, Union

from ._engine import Engine
from ._errors import WatchtowerError
from ._json import json_serialize_default as _default_serializer
from ._protocol import Sender
from ._registry import FLUSH_TIMEOUT, shared_engine
from ._retry import RetryPolicy
from ._settings import DROP_OLDEST, Settings
from ._streams import DEFAULT_LOG_STREAM_NAME, StreamNamer

#: The default log group name (watchtower's, so that a switch keeps the same group).
DEFAULT_LOG_GROUP_NAME = "watchtower"

#: The environment variables botocore reads for a CloudWatch Logs endpoint, in order
#: (it also reads the ``services`` section of ~/.aws/config).
BOTOCORE_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL")
#: Read by wt_adapters alone (boto3 does not), when none of botocore's variables is set.
FALLBACK_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LOGS"
#: Every variable that can point the clients wt_adapters makes at an endpoint, in order.
ENDPOINT_VARIABLES = (*BOTOCORE_ENDPOINT_VARIABLES, FALLBACK_ENDPOINT_VARIABLE)


def _ignoring_configured_endpoints() -> bool:
    return os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true"


def endpoint_from_env() -> Optional[str]:
    """Return the endpoint URL wt_adapters itself must pass to botocore, if any.

    botocore resolves its own variables and ~/.aws/config; this returns only
    the `FALLBACK_ENDPOINT_VARIABLE`, when botocore has no variable of its own
    and configured endpoints are not being ignored.
    """
    if _ignoring_configured_endpoints():
        return None
    if any(os.environ.get(name) for name in BOTOCORE_ENDPOINT_VARIABLES):
        return None
    return os.environ.get(FALLBACK_ENDPOINT_VARIABLE) or None


def configured_endpoint() -> Optional[str]:
    """The endpoint URL an environment variable names for clients made now, if any."""
    if _ignoring_configured_endpoints():
        return None
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _endpoint_key() -> Any:
    """What in the environment decides the endpoint of a client made now (for sharing)."""
    return (
        _ignoring_configured_endpoints(),
        tuple(os.environ.get(name) for name in ENDPOINT_VARIABLES),
    )


#: Set by `wt_adapters.testing` to route every new destination somewhere else.
sender_override: Optional[Callable[[], Sender]] = None


class Options(TypedDict, total=False):
    """The keyword options every front end takes (see `Destination` and the README)."""

    log_group_name: str
    log_stream_name: str
    use_queues: bool
    send_interval: Union[float, timedelta]
    max_batch_size: int
    max_batch_count: int
    boto3_client: Any
    boto3_profile_name: Optional[str]
    create_log_group: bool
    log_group_tags: Optional[Mapping[str, str]]
    json_serialize_default: Optional[Callable[[Any], Any]]
    log_group_retention_days: Optional[int]
    create_log_stream: bool
    max_message_size: int
    endpoint_url: Optional[str]
    max_queue_events: int
    max_queue_bytes: int
    queue_overflow: str
    queue_block_timeout: float
    retry_deadline: float


def _seconds(name: str, value: Union[float, timedelta]) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WatchtowerError(f"{name}={value!r} must be a number of seconds or a timedelta")
    return float(value)


class Destination:
    """A log group (and stream name template) to deliver to, with every delivery option.

    All front ends accept these options with these defaults (watchtower's), and
    validate them here, before any AWS call.
    """

    def __init__(
        self,
        *,
        log_group_name: str = DEFAULT_LOG_GROUP_NAME,
        log_stream_name: str = DEFAULT_LOG_STREAM_NAME,
        use_queues: bool = True,
        send_interval: Union[float, timedelta] = 60,
        max_batch_size: int = 1024 * 1024,
        max_batch_count: int = 10000,
        boto3_client: Any = None,
        boto3_profile_name: Optional[str] = None,
        create_log_group: bool = True,
        log_group_tags: Optional[Mapping[str, str]] = None,
        json_serialize_default: Optional[Callable[[Any], Any]] = None,
        log_group_retention_days: Optional[int] = None,
        create_log_stream: bool = True,
        max_message_size: int = 256 * 1024,
        endpoint_url: Optional[str] = None,
        max_queue_events: int = 100_000,
        max_queue_bytes: int = 64 * 1024 * 1024,
        queue_overflow: str = DROP_OLDEST,
        queue_block_timeout: float = 1.0,
        retry_deadline: float = 300.0,
    ) -> None:
        if boto3_client is not None and boto3_profile_name is not None:
            raise WatchtowerError(
                "Either boto3_client or boto3_profile_name can be specified, but not both"
            )
        if boto3_client is not None and not callable(getattr(boto3_client, "put_log_events", None)):
            raise WatchtowerError(
                f"boto3_client={boto3_client!r} is not a CloudWatch Logs client"
                " (make one with boto3.client('logs'))"
            )
        if json_serialize_default is not None and not callable(json_serialize_default):
            raise WatchtowerError(
                f"json_serialize_default={json_serialize_default!r} must be callable"
            )
        if log_group_tags is not None and not isinstance(log_group_tags, Mapping):
            raise WatchtowerError(f"log_group_tags={log_group_tags!r} must be a dict")
        self.settings = Settings(
            log_group_name=log_group_name,
            send_interval=_seconds("send_interval", send_interval),
            max_batch_size=max_batch_size,
            max_batch_count=max_batch_count,
            max_message_size=max_message_size,
            create_log_group=bool(create_log_group),
            create_log_stream=bool(create_log_stream),
            log_group_retention_days=log_group_retention_days,
            log_group_tags=tuple(sorted((log_group_tags or {}).items())),
            max_queue_events=max_queue_events,
            max_queue_bytes=max_queue_bytes,
            queue_overflow=queue_overflow,
            queue_block_timeout=_seconds("queue_block_timeout", queue_block_timeout),
            retry=RetryPolicy(deadline=_seconds("retry_deadline", retry_deadline)),
        )
        self.stream_names = StreamNamer(log_stream_name)
        self.use_queues = bool(use_queues)
        self.json_default: Callable[[Any], Any] = json_serialize_default or _default_serializer
        override = sender_override
        if override is not None:
            key: Any = ("override", id(override))
            make_sender: Callable[[], Sender] = override
        elif boto3_client is not None:
            key = ("client", id(boto3_client))
            make_sender = lambda: _boto_sender(boto3_client)  # noqa: E731
        else:
            if boto3_profile_name is not None:
                from ._boto import check_profile

                check_profile(boto3_profile_name)
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            key = ("profile", boto3_profile_name, endpoint_url, _endpoint_key(), region)

            def make_sender() -> Sender:
                # The client is made on the first request: constructing needs no region.
                from ._boto import BotoSender, make_client

                return BotoSender(
                    client_factory=lambda: make_client(
                        profile_name=boto3_profile_name, endpoint_url=endpoint_url
                    )
                )

        settings = self.settings
        self.engine: Engine = shared_engine(key, settings, lambda: Engine(settings, make_sender()))
        #: True once `close` was called.
        self.closed = False
        #: Queue (or, without queues, send) one event: ``submit(stream, timestamp_ms, message)``.
        #: Chosen once here, since front ends call it for every record.
        self.submit: Callable[[str, int, str], bool] = (
            self.engine.submit if self.use_queues else self.engine.send_now
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Destination:
        """Build a destination from a front end's keyword options, naming any unknown one."""
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise WatchtowerError(
                f"unknown option {unknown[0]!r}; the options are: "
                + ", ".join(sorted(_OPTION_NAMES))
            )
        return cls(**options)

    @property
    def client(self) -> Any:
        """The boto3 client the engine sends with (None for a non-boto3 sender).

        A client the package makes itself is made here if no request made it yet.
        """
        return getattr(self.engine.sender, "client", None)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send what is queued; return whether it finished within `timeout` seconds."""
        return self.engine.flush(timeout)

    def close(self, timeout: Optional[float] = FLUSH_TIMEOUT) -> bool:
        """Flush and let go of the engine (the last user closes it); idempotent.

        Returns whether everything queued was delivered (True when already closed).
        """
        if self.closed:
            return True
        self.closed = True
        return self.engine.release(timeout)

    def describe(self) -> str:
        """Name the group and stream template, for a front end's repr."""
        return (
            f"log_group_name={self.settings.log_group_name!r},"
            f" log_stream_name={self.stream_names.template!r}"
        )

    def stats(self) -> Dict[str, Any]:
        """Return the engine's counters."""
        return self.engine.stats()


def _boto_sender(client: Any) -> Sender:
    """A sender for the user's own client, which it uses as it is (no body hook)."""
    from ._boto import BotoSender

    return BotoSender(client)


_OPTION_NAMES = frozenset(inspect.signature(Destination.__init__).parameters) - {"self"}
