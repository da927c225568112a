"""The formatter that turns stdlib log records into CloudWatch messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Callable, Optional, Tuple

from .. import _json
from .._options import OPTIONS
from .._trace import tracing


class CloudWatchLogFormatter(logging.Formatter):
    """Format records for CloudWatch: a dict message becomes a JSON object.

    With `add_log_record_attrs` (a class attribute, an instance attribute or a
    keyword argument), those `LogRecord` attributes are added to the JSON
    object; a message that isn't a dict then goes under the ``msg`` key.
    Records are never modified. `json_library` is the `json_library` option
    ("auto": orjson when installed). With `trace_id`, JSON objects get the
    active trace's ``traceId`` (see the `trace_id` option); text is left alone.
    """

    add_log_record_attrs: Tuple[str, ...] = ()

    def __init__(
        self,
        *args: Any,
        json_serialize_default: Optional[Callable[[Any], Any]] = None,
        add_log_record_attrs: Optional[Tuple[str, ...]] = None,
        json_library: str = "auto",
        trace_id: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._json_library = OPTIONS["json_library"].parse("json_library", json_library)
        self._trace_id = OPTIONS["trace_id"].parse("trace_id", trace_id)
        # With the default format the message is the whole text: skip the templating.
        self._message_only = type(self._style) is logging.PercentStyle and (
            self._style._fmt == "%(message)s"
        )
        self.json_serialize_default = json_serialize_default or _json.json_serialize_default
        if add_log_record_attrs is not None:
            self.add_log_record_attrs = add_log_record_attrs

    def format(self, record: logging.LogRecord) -> str:
        """Return the CloudWatch message for `record`: JSON text for dict messages."""
        msg = record.msg
        attrs = self.add_log_record_attrs
        if type(msg) is dict and not attrs and not record.exc_info:  # the common cases first
            return self._encode(msg)
        if type(msg) is str and not attrs:
            if self._message_only and not (record.exc_info or record.exc_text or record.stack_info):
                text: str = msg % record.args if record.args else msg
                record.message = text
                return text
            return super().format(record)
        if attrs:
            data = dict(msg) if isinstance(msg, Mapping) else {"msg": record.getMessage()}
            for name in attrs:
                if name != "msg":
                    data[name] = getattr(record, name, None)
        elif isinstance(msg, Mapping):
            data = msg  # type: ignore[assignment]
        else:
            return super().format(record)
        if record.exc_info and "exc_info" not in data:
            data = dict(data)
            data["exc_info"] = self.formatException(record.exc_info)
        return self._encode(data)

    @property
    def json_serialize_default(self) -> Callable[[Any], Any]:
        """The `default=` function for JSON encoding (may be replaced at any time)."""
        return self._json_default

    @json_serialize_default.setter
    def json_serialize_default(self, value: Callable[[Any], Any]) -> None:
        self._json_default = value
        encode = _json.encoder(value, self._json_library)
        self._encode = tracing(encode) if self._trace_id else encode
