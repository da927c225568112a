"""A WSGI app for uWSGI (see examples/uwsgi.ini), logging to CloudWatch Logs.

uWSGI doesn't run Python's ``atexit`` handlers in workers reliably; the
``uwsgi.atexit`` hook below flushes instead. It only exists under uWSGI.
"""

import logging
import os

import wt_adapters

logger = logging.getLogger("example_uwsgi")
logger.setLevel(logging.INFO)
logger.addHandler(
    wt_adapters.CloudWatchLogHandler(
        log_group_name=os.environ.get("LOG_GROUP", "example-uwsgi"),
        log_stream_name="{machine_name}/uwsgi/{process_id}",
        send_interval=5,
    )
)


def application(environ, start_response):
    logger.info({"event": "request", "path": environ.get("PATH_INFO", "/")})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


def flush_at_exit():
    wt_adapters.flush(timeout=10)


try:
    import uwsgi  # only importable inside uWSGI

    uwsgi.atexit = flush_at_exit
except ImportError:
    pass
