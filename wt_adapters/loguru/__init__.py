"""The loguru front end: `cloudwatch_sink`, for ``logger.add(cloudwatch_sink(...))``.

Each record arrives as a JSON object. Give a dict as keyword arguments
(``logger.info("login", **fields)``) or bind it (``logger.bind(**fields)``):
its items arrive at the top level with their structure. loguru makes the
message itself text before any sink sees it, so a dict passed as the message
arrives as that text.

The sink is duck-typed (``write``/``stop``): loguru itself is not imported
here, only looked for, so that importing this module without loguru installed
is an `ImportError` that says what to install (the ``loguru`` extra).
``import wt_adapters`` does not import this module.
"""

from importlib.util import find_spec as _find_spec

if _find_spec("loguru") is None:
    raise ImportError(
        'wt_adapters.loguru needs loguru: pip install "wt-adapters[loguru]"', name="loguru"
    )

from ._sink import STANDARD_KEYS, CloudWatchSink, cloudwatch_sink

__all__ = ["STANDARD_KEYS", "CloudWatchSink", "cloudwatch_sink"]
