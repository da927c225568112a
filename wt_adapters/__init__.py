"""Ship Python logs to AWS CloudWatch Logs from stdlib logging, structlog and loguru.

The stdlib front end is re-exported here; `wt_adapters.structlog` and
`wt_adapters.loguru` load their frameworks only when imported.

Every name but the errors loads on first use (PEP 562): ``import wt_adapters``
alone, as the pytest plugin and ``import wt_adapters.structlog`` do, loads
neither the engine nor boto3; ``wt_adapters.CloudWatchLogHandler`` loads them.
"""

import typing

from ._errors import WatchtowerError, WatchtowerWarning
from ._lazy import lazy_names as _lazy_names

if typing.TYPE_CHECKING:
    from ._buffer import buffer_scope
    from ._json import json_serialize_default
    from ._retry import RetryPolicy
    from ._serverless import flush_after
    from ._signals import flush_on_sigterm
    from ._streams import DEFAULT_LOG_STREAM_NAME
    from .stdlib import DEFAULT_LOG_GROUP_NAME, CloudWatchLogFormatter, CloudWatchLogHandler

    _json_serialize_default = json_serialize_default

__version__ = "0.1.0"

#: Each name loaded on first use: (module, name in it).
_LAZY: typing.Dict[str, typing.Tuple[str, str]] = {
    "CloudWatchLogFormatter": (".stdlib", "CloudWatchLogFormatter"),
    "CloudWatchLogHandler": (".stdlib", "CloudWatchLogHandler"),
    "DEFAULT_LOG_GROUP_NAME": (".stdlib", "DEFAULT_LOG_GROUP_NAME"),
    "DEFAULT_LOG_STREAM_NAME": ("._streams", "DEFAULT_LOG_STREAM_NAME"),
    "RetryPolicy": ("._retry", "RetryPolicy"),
    "buffer_scope": ("._buffer", "buffer_scope"),
    "flush_after": ("._serverless", "flush_after"),
    "flush_on_sigterm": ("._signals", "flush_on_sigterm"),
    "json_serialize_default": ("._json", "json_serialize_default"),
    # watchtower's private name, which some users import
    "_json_serialize_default": ("._json", "json_serialize_default"),
}


__getattr__, __dir__ = _lazy_names(globals(), _LAZY)


def flush(timeout: typing.Optional[float] = None) -> bool:
    """Send everything every engine in this process has queued.

    Returns whether all of it was delivered within `timeout` seconds.
    """
    from ._registry import flush_all

    return flush_all(timeout)


__all__ = [
    "DEFAULT_LOG_GROUP_NAME",
    "DEFAULT_LOG_STREAM_NAME",
    "CloudWatchLogFormatter",
    "CloudWatchLogHandler",
    "RetryPolicy",
    "WatchtowerError",
    "WatchtowerWarning",
    "__version__",
    "buffer_scope",
    "flush",
    "flush_after",
    "flush_on_sigterm",
    "json_serialize_default",
]
