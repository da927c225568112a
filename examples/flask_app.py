"""A Flask app logging to CloudWatch Logs through the stdlib handler.

Run it (against `wt-adapters local`, with its environment set)::

    python examples/flask_app.py            # http://127.0.0.1:5001/orders/1
    wt-adapters tail --group example-flask --follow

In production, run it under gunicorn: see examples/gunicorn_conf.py.
"""

import logging
import os

from flask import Flask, jsonify

from wt_adapters import CloudWatchLogHandler


def create_app():
    """Build the app and attach the CloudWatch handler to its logger (once)."""
    app = Flask("example_flask")
    if not any(isinstance(h, CloudWatchLogHandler) for h in app.logger.handlers):
        app.logger.addHandler(
            CloudWatchLogHandler(
                log_group_name=os.environ.get("LOG_GROUP", "example-flask"),
                log_stream_name="{machine_name}/flask/{process_id}",
                send_interval=5,
            )
        )
    app.logger.setLevel(logging.INFO)

    @app.get("/orders/<int:order_id>")
    def order(order_id):
        app.logger.info({"event": "order viewed", "order_id": order_id})
        return jsonify(order_id=order_id, status="shipped")

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5001)
