"""Debug logs only for the requests that fail: error-triggered buffering.

Each request runs in a `wt_adapters.buffer_scope()`: its DEBUG records wait
in memory and ship only if the request logs an ERROR or raises; a request
that goes well ships its INFO record alone. Try it against the endpoint
`wt-adapters local` runs (its environment set)::

    python examples/buffered_requests.py
    wt-adapters tail --group example-buffering
"""

import logging
import os

import wt_adapters

logger = logging.getLogger("shop")
logger.setLevel(logging.DEBUG)
handler = wt_adapters.CloudWatchLogHandler(
    log_group_name=os.environ.get("LOG_GROUP", "example-buffering"),
    log_stream_name="requests",
    buffer_level="DEBUG",  # held inside a scope; shipped on ERROR or an exception
)
logger.addHandler(handler)


@wt_adapters.buffer_scope
def handle(order):
    """Place an order; its debug records reach CloudWatch only if it fails."""
    logger.debug({"event": "cart loaded", "order_id": order["id"], "items": order["items"]})
    if not order["items"]:
        logger.error({"event": "order rejected", "order_id": order["id"], "reason": "empty cart"})
        return 400
    if order.get("card") == "expired":
        raise ValueError("card expired")  # escapes the scope: its records ship
    logger.info({"event": "order placed", "order_id": order["id"]})
    return 200


def main():
    statuses = [handle({"id": 1, "items": ["book"]}), handle({"id": 2, "items": []})]
    try:
        handle({"id": 3, "items": ["pen"], "card": "expired"})
    except ValueError:
        statuses.append(500)
    delivered = handler.flush(10)
    return statuses, handler.stats()["buffered"], delivered


if __name__ == "__main__":
    print(main())
