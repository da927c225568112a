"""An AWS Lambda handler whose logs reach CloudWatch Logs before Lambda freezes it.

Deploy with the handler ``lambda_function.handler``. Try it locally against
the endpoint `wt-adapters local` runs (its environment set)::

    python examples/lambda_function.py
    wt-adapters tail --group example-lambda
"""

import logging
import os

import wt_adapters

logger = logging.getLogger("orders")
logger.setLevel(logging.INFO)
logger.addHandler(
    wt_adapters.CloudWatchLogHandler(
        log_group_name=os.environ.get("LOG_GROUP", "example-lambda"),
        # One stream per sandbox, like Lambda's own: set by the Lambda runtime.
        log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local/{process_id}"),
    )
)


@wt_adapters.flush_after
def handler(event, context):
    """Handle an order event; every log event is delivered before this returns."""
    logger.info({"event": "order received", "order_id": event.get("order_id")})
    if not event.get("order_id"):
        logger.error({"event": "order rejected", "reason": "no order_id"})
        return {"statusCode": 400}
    return {"statusCode": 200}


class LocalContext:
    """Stands in for Lambda's context object when run by hand."""

    def get_remaining_time_in_millis(self):
        return 30_000


if __name__ == "__main__":
    print(handler({"order_id": 42}, LocalContext()))
