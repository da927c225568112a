"""The loguru front end: `cloudwatch_sink`, for ``logger.add(cloudwatch_sink(...))``.

The sink is duck-typed (``write``/``stop``); loguru itself is not imported here,
and ``import wt_adapters`` does not import this module.
"""

from ._sink import STANDARD_KEYS, CloudWatchSink, cloudwatch_sink

__all__ = ["STANDARD_KEYS", "CloudWatchSink", "cloudwatch_sink"]
