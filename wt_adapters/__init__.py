"""Ship Python logs to AWS CloudWatch Logs from stdlib logging, structlog and loguru.

The stdlib front end is re-exported here; `wt_adapters.structlog` and
`wt_adapters.loguru` load their frameworks only when imported.
"""

from typing import Optional

from ._errors import WatchtowerError, WatchtowerWarning
from ._json import json_serialize_default
from ._registry import flush_all as _flush_all
from ._retry import RetryPolicy
from ._serverless import flush_after
from ._signals import flush_on_sigterm
from ._streams import DEFAULT_LOG_STREAM_NAME
from .stdlib import DEFAULT_LOG_GROUP_NAME, CloudWatchLogFormatter, CloudWatchLogHandler

_json_serialize_default = json_serialize_default

__version__ = "0.1.0"


def flush(timeout: Optional[float] = None) -> bool:
    """Send everything every engine in this process has queued.

    Returns whether all of it was delivered within `timeout` seconds.
    """
    return _flush_all(timeout)


__all__ = [
    "DEFAULT_LOG_GROUP_NAME",
    "DEFAULT_LOG_STREAM_NAME",
    "CloudWatchLogFormatter",
    "CloudWatchLogHandler",
    "RetryPolicy",
    "WatchtowerError",
    "WatchtowerWarning",
    "__version__",
    "flush",
    "flush_after",
    "flush_on_sigterm",
    "json_serialize_default",
]
