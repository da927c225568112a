"""A Celery app whose workers and tasks log to CloudWatch Logs.

    celery -A examples.celery_app worker --loglevel INFO

Celery sets up logging itself when a worker starts; the handler is added in
its ``after_setup_logger``/``after_setup_task_logger`` signals. The prefork
pool forks child processes: the engine starts afresh in each, and
``worker_process_shutdown`` flushes a child's queue before it exits.
"""

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_shutdown
from celery.utils.log import get_task_logger

import wt_adapters

app = Celery("example_celery", broker=os.environ.get("CELERY_BROKER_URL", "memory://"))
logger = get_task_logger(__name__)


@after_setup_logger.connect
@after_setup_task_logger.connect
def add_cloudwatch_handler(logger, **kwargs):
    """Give Celery's loggers a CloudWatch handler (worker and task loggers)."""
    logger.addHandler(
        wt_adapters.CloudWatchLogHandler(
            log_group_name=os.environ.get("LOG_GROUP", "example-celery"),
            log_stream_name="{machine_name}/celery/{process_id}",
            send_interval=5,
        )
    )
    logger.setLevel(logging.INFO)


@worker_process_shutdown.connect
def flush_cloudwatch(**kwargs):
    """A pool process is exiting: deliver what it logged."""
    wt_adapters.flush(timeout=10)


@app.task
def charge(order_id, amount):
    logger.info({"event": "charged", "order_id": order_id, "amount": amount})
    return {"order_id": order_id, "charged": amount}
