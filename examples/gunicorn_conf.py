"""gunicorn settings: the workers' logs (and gunicorn's own) go to CloudWatch Logs.

    gunicorn -c examples/gunicorn_conf.py --chdir examples flask_app:app

gunicorn forks its workers from the master. Each engine notices the fork and
starts afresh in the child (its own thread, its own connections), so a
handler configured before the fork (``preload_app``) works in every worker.
What the workers still have queued when they exit is flushed by
`worker_exit`; the master's by `on_exit`.
"""

import os

import wt_adapters

bind = os.environ.get("BIND", "127.0.0.1:8001")
workers = int(os.environ.get("WORKERS", "2"))
preload_app = True

_GROUP = os.environ.get("LOG_GROUP", "example-gunicorn")

# gunicorn merges this into its own defaults key by key: "handlers" and "root"
# replace its own, so both are given in full.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "cloudwatch": {
            "class": "wt_adapters.CloudWatchLogHandler",
            "log_group_name": _GROUP,
            "log_stream_name": "{machine_name}/{logger_name}/{process_id}",
            "send_interval": 5,
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["cloudwatch"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["cloudwatch"], "level": "INFO", "propagate": False},
        "example_flask": {"handlers": ["cloudwatch"], "level": "INFO", "propagate": False},
    },
}
accesslog = "-"  # gunicorn logs access lines only when this is set


def worker_exit(server, worker):
    """Called in the worker just before it exits: deliver what it logged."""
    wt_adapters.flush(timeout=10)


def on_exit(server):
    """Called in the master at shutdown."""
    wt_adapters.flush(timeout=10)
