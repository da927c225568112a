"""The stdlib `logging` front end: a drop-in for watchtower's handler and formatter."""

from .._destination import DEFAULT_LOG_GROUP_NAME
from .._errors import WatchtowerError, WatchtowerWarning
from .._json import json_serialize_default
from .._streams import DEFAULT_LOG_STREAM_NAME
from ._formatter import CloudWatchLogFormatter
from ._handler import CloudWatchLogHandler

_json_serialize_default = json_serialize_default

__all__ = [
    "DEFAULT_LOG_GROUP_NAME",
    "DEFAULT_LOG_STREAM_NAME",
    "CloudWatchLogFormatter",
    "CloudWatchLogHandler",
    "WatchtowerError",
    "WatchtowerWarning",
    "json_serialize_default",
]
