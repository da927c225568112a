"""`wt-adapters local`: a CloudWatch Logs endpoint on loopback until Ctrl-C."""

from __future__ import annotations

import sys

import click

from .._errors import WatchtowerError
from ._common import EXIT_OK, AwsProblem, echo_err
from ._stop_signals import Stop, stop_on_signals


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 to listen on  [default: a free one]",
)
def local(port: int) -> int:
    """Run a local CloudWatch Logs endpoint (moto's server) on 127.0.0.1 until Ctrl-C.

    Prints the environment that points apps (and the other commands) at it:
    the endpoint URL, dummy credentials and a region. Everything is kept in
    memory and forgotten when it stops. Needs the 'local' extra:
    pip install 'wt-adapters[local]'.

    \b
    Example, in another terminal:
      export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:PORT AWS_REGION=us-east-1 \\
             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
      wt-adapters demo
    """
    from .._local import LocalEndpoint

    endpoint = LocalEndpoint(port)
    try:
        endpoint.start()
    except WatchtowerError as e:
        raise AwsProblem(str(e).replace(f"port={port}:", f"--port {port}:")) from None
    stop = Stop()
    try:
        with stop_on_signals(stop):
            echo_err(f"A local CloudWatch Logs endpoint is listening on {endpoint.url}")
            echo_err("Point apps at it with this environment (Ctrl-C stops it):")
            for name, value in endpoint.environment.items():
                click.echo(f"export {name}={value}")
            sys.stdout.flush()
            while not stop.event.wait(0.5):
                pass
    finally:
        endpoint.stop()
    echo_err("Stopped the local CloudWatch Logs endpoint.")
    return EXIT_OK
