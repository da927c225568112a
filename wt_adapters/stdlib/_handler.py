"""`CloudWatchLogHandler`: the stdlib logging front end, a drop-in for watchtower's."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from typing import Any, Callable, Dict, Mapping, Optional, Union

from .._destination import DEFAULT_LOG_GROUP_NAME, Destination
from .._errors import WatchtowerError, WatchtowerWarning
from .._rules import EVENT_OVERHEAD
from .._settings import DROP_OLDEST
from .._streams import DEFAULT_LOG_STREAM_NAME
from .._threads import MAX_NESTING, thread_state
from ._formatter import CloudWatchLogFormatter

_NOISY = ("botocore", "urllib3", "boto3", "s3transfer")


def _boto_debug_filter(record: logging.LogRecord) -> bool:
    """Keep out the AWS SDK's own DEBUG records (they carry request details)."""
    return not (record.levelno <= logging.DEBUG and record.name.startswith(_NOISY))


def _fallback_message(record: logging.LogRecord, error: Exception) -> str:
    """Describe a record whose formatting failed, as well as can be done."""
    try:
        return f"{record.msg!r} % {record.args!r} (formatting failed: {error!r})"
    except Exception:
        return f"<unformattable log record from {record.name}: {type(error).__name__}>"


class CloudWatchLogHandler(logging.Handler):
    """Send log records to AWS CloudWatch Logs.

    Takes watchtower's arguments with watchtower's defaults; see the README
    for each. Records are queued and sent in batches by a background thread
    shared by every handler with the same client, group and options. Nothing
    here makes an AWS call: the group and stream are created when first needed.

    Keyword-only options beyond watchtower's: `endpoint_url`, `max_queue_events`,
    `max_queue_bytes`, `queue_overflow` ("drop_oldest", "drop_newest" or
    "block"), `queue_block_timeout` and `retry_deadline` (seconds).
    """

    END = 1
    FLUSH = 2
    FLUSH_TIMEOUT = 30
    EXTRA_MSG_PAYLOAD_SIZE = EVENT_OVERHEAD

    def __init__(
        self,
        log_group_name: str = DEFAULT_LOG_GROUP_NAME,
        log_stream_name: str = DEFAULT_LOG_STREAM_NAME,
        use_queues: bool = True,
        send_interval: Union[float, timedelta] = 60,
        max_batch_size: int = 1024 * 1024,
        max_batch_count: int = 10000,
        boto3_client: Any = None,
        boto3_profile_name: Optional[str] = None,
        create_log_group: bool = True,
        log_group_tags: Mapping[str, str] = {},
        json_serialize_default: Optional[Callable[[Any], Any]] = None,
        log_group_retention_days: Optional[int] = None,
        create_log_stream: bool = True,
        max_message_size: int = 256 * 1024,
        log_group: Optional[str] = None,
        stream_name: Optional[str] = None,
        *args: Any,
        endpoint_url: Optional[str] = None,
        max_queue_events: int = 100_000,
        max_queue_bytes: int = 64 * 1024 * 1024,
        queue_overflow: str = DROP_OLDEST,
        queue_block_timeout: float = 1.0,
        retry_deadline: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.shutting_down = False  # set first: logging.shutdown() reads it even if we fail below
        if log_group is not None:
            if log_group_name != DEFAULT_LOG_GROUP_NAME:
                raise WatchtowerError(
                    "Both log_group_name and deprecated log_group parameter specified"
                )
            warnings.warn(
                "Please use log_group_name instead of log_group", DeprecationWarning, stacklevel=2
            )
            log_group_name = log_group
        if stream_name is not None:
            if log_stream_name != DEFAULT_LOG_STREAM_NAME:
                raise WatchtowerError(
                    "Both log_stream_name and deprecated stream_name parameter specified"
                )
            warnings.warn(
                "Please use log_stream_name instead of stream_name",
                DeprecationWarning,
                stacklevel=2,
            )
            log_stream_name = stream_name
        self._destination = Destination(
            log_group_name=log_group_name,
            log_stream_name=log_stream_name,
            use_queues=use_queues,
            send_interval=send_interval,
            max_batch_size=max_batch_size,
            max_batch_count=max_batch_count,
            boto3_client=boto3_client,
            boto3_profile_name=boto3_profile_name,
            create_log_group=create_log_group,
            log_group_tags=log_group_tags,
            json_serialize_default=json_serialize_default,
            log_group_retention_days=log_group_retention_days,
            create_log_stream=create_log_stream,
            max_message_size=max_message_size,
            endpoint_url=endpoint_url,
            max_queue_events=max_queue_events,
            max_queue_bytes=max_queue_bytes,
            queue_overflow=queue_overflow,
            queue_block_timeout=queue_block_timeout,
            retry_deadline=retry_deadline,
        )
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.use_queues = use_queues
        self.send_interval = send_interval
        self.max_batch_size = max_batch_size
        self.max_batch_count = max_batch_count
        self.max_message_size = max_message_size
        self.create_log_stream = create_log_stream
        self.log_group_retention_days = log_group_retention_days
        self.json_serialize_default = self._destination.json_default
        self.shutting_down = False
        self._stream_names = self._destination.stream_names
        self._submit = self._destination.submit
        self.setFormatter(CloudWatchLogFormatter(json_serialize_default=json_serialize_default))
        self.addFilter(_boto_debug_filter)

    @property
    def cwl_client(self) -> Any:
        """The boto3 client the handler sends with (made now if no request made it yet)."""
        return self._destination.client

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter and emit `record`, unless it comes from inside the delivery engine.

        The engine is thread-safe, so no handler lock is taken: a record logged
        by botocore while sending can't deadlock against a caller.
        """
        state = thread_state
        if state.in_engine or state.depth >= MAX_NESTING:
            return False
        filters = self.filters
        if len(filters) == 1 and filters[0] is _boto_debug_filter:  # no filter of the user's
            rv: Any = record.levelno > logging.DEBUG or not record.name.startswith(_NOISY)
        else:
            rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace the record
            record = rv
        if rv:
            state.depth += 1
            try:
                self.emit(record)
            finally:
                state.depth -= 1
        return rv

    def emit(self, record: logging.LogRecord) -> None:
        """Queue `record` for CloudWatch; never raises into the caller."""
        try:
            if self.shutting_down:
                warnings.warn(
                    "Received message after logging system shutdown",
                    WatchtowerWarning,
                    stacklevel=2,
                )
                return
            stream = self._stream_names(record.name, record.threadName or "", record.created)
            try:
                message = self.format(record)
                failed = None
            except Exception as e:
                message, failed = _fallback_message(record, e), e
            self._submit(stream, int(record.created * 1000), message)
            if failed is not None:
                self.handleError(record)
        except RecursionError:  # pragma: no cover - as stdlib handlers do
            raise
        except Exception:
            self.handleError(record)

    def flush(self, timeout: Optional[float] = FLUSH_TIMEOUT) -> bool:  # type: ignore[override]
        """Send everything queued so far; return whether that finished within `timeout`."""
        if self.shutting_down:
            return True
        return self._destination.flush(timeout)

    def close(self, timeout: Optional[float] = FLUSH_TIMEOUT) -> bool:  # type: ignore[override]
        """Send what is queued (up to `timeout` seconds) and stop accepting records.

        Idempotent. Events left undelivered are counted and warned about.
        """
        self.shutting_down = True
        done = self._destination.close(timeout) if hasattr(self, "_destination") else True
        super().close()
        return done

    def stats(self) -> Dict[str, Any]:
        """Return the delivery engine's counters (sent, retried, dropped, rejected, ...)."""
        return self._destination.stats()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(log_group_name='{self.log_group_name}',"
            f" log_stream_name='{self.log_stream_name}')"
        )
