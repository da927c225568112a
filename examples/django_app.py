"""A one-file Django project logging to CloudWatch Logs with the LOGGING setting.

    python examples/django_app.py runserver 127.0.0.1:8003
    wt-adapters tail --group example-django --follow

In a real project, the LOGGING dict below goes in settings.py unchanged.
"""

import logging
import os
import sys

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "cloudwatch": {
            "class": "wt_adapters.CloudWatchLogHandler",
            "log_group_name": os.environ.get("LOG_GROUP", "example-django"),
            "log_stream_name": "{machine_name}/django/{process_id}",
            "send_interval": 5,
        },
    },
    "loggers": {
        # Django's own errors (500s, bad requests) and the app's records.
        "django": {"handlers": ["cloudwatch"], "level": "WARNING"},
        "orders": {"handlers": ["cloudwatch"], "level": "INFO", "propagate": False},
    },
}

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        LOGGING=LOGGING,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()

logger = logging.getLogger("orders")


def order(request, order_id):
    logger.info({"event": "order viewed", "order_id": order_id, "path": request.path})
    return JsonResponse({"order_id": order_id, "status": "shipped"})


def fail(request):
    raise RuntimeError("this 500 is logged by django.request")


urlpatterns = [path("orders/<int:order_id>", order), path("fail", fail)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
