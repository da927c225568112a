"""A FastAPI app logging to CloudWatch Logs with structlog.

    uvicorn examples.fastapi_app:app --host 127.0.0.1 --port 8004
    wt-adapters tail --group example-fastapi --follow --pretty

The renderer is the last structlog processor; it ships each event dict as a
JSON object and returns the JSON text, which structlog still prints. The
lifespan's shutdown closes it: what is queued is delivered before the server
exits.
"""

import os
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from wt_adapters.structlog import CloudWatchRenderer

renderer = CloudWatchRenderer(
    log_group_name=os.environ.get("LOG_GROUP", "example-fastapi"),
    log_stream_name="{machine_name}/fastapi/{process_id}",
    send_interval=5,
)


def configure_logging():
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
    )


configure_logging()
log = structlog.get_logger("example_fastapi")


@asynccontextmanager
async def lifespan(app):
    log.info("started")
    yield
    log.info("stopping")
    renderer.close(timeout=10)


app = FastAPI(lifespan=lifespan)


@app.get("/orders/{order_id}")
async def order(order_id: int):
    structlog.contextvars.bind_contextvars(order_id=order_id)
    try:
        log.info("order viewed")
        return {"order_id": order_id, "status": "shipped"}
    finally:
        structlog.contextvars.clear_contextvars()


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8004)
