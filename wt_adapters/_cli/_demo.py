"""`wt-adapters demo`: log through every front end, then show what CloudWatch stored."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import click

from .._endpoints import configured_endpoint
from .._errors import WatchtowerError
from .._local import DUMMY_ENVIRONMENT
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    AwsOptions,
    AwsProblem,
    aws_errors,
    aws_from,
    aws_options,
    check_reachable,
    counted,
    echo_err,
    log_group_param,
    make_session,
)
from ._tail_format import decode
from ._tail_time import format_time

DEMO_GROUP = "wt-adapters-demo"
FLUSH_TIMEOUT = 30.0
#: Most GetLogEvents pages read per stream.
MAX_PAGES = 100


def _dummy_session(region: Optional[str]) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=DUMMY_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        region_name=region or DUMMY_ENVIRONMENT["AWS_REGION"],
    )


@contextlib.contextmanager
def _target(
    aws: AwsOptions, force_local: bool, use_aws: bool, port: int
) -> Iterator[Tuple[Any, AwsOptions, str]]:
    """Yield (session, where, description): the endpoint to use, started here if local.

    Local unless asked otherwise: an endpoint the user set (flag or environment),
    or AWS itself with --aws. Credentials alone never send the demo to AWS.
    """
    endpoint = None if force_local else aws.endpoint_url or configured_endpoint()
    if endpoint:
        import boto3

        session = boto3.session.Session(
            profile_name=aws.profile, region_name=aws.region or DUMMY_ENVIRONMENT["AWS_REGION"]
        )
        if session.get_credentials() is None:  # a local endpoint takes any credentials
            session = _dummy_session(aws.region)
        where = AwsOptions(profile=aws.profile, region=aws.region, endpoint_url=endpoint)
        yield session, where, f"the endpoint {endpoint}"
        return
    if use_aws:
        session = make_session(aws)
        where = AwsOptions(profile=aws.profile, region=session.region_name)
        yield session, where, f"CloudWatch Logs in {session.region_name} (your AWS account)"
        return
    from .._local import LocalEndpoint

    local = LocalEndpoint(port)
    try:
        url = local.start()
    except WatchtowerError as e:
        raise AwsProblem(str(e).replace(f"port={port}:", f"--port {port}:")) from None
    try:
        where = AwsOptions(region=DUMMY_ENVIRONMENT["AWS_REGION"], endpoint_url=url)
        yield _dummy_session(None), where, f"a local CloudWatch Logs endpoint at {url}"
    finally:
        local.stop()


def _log_with_stdlib(options: Dict[str, Any], stream: str) -> Callable[[], None]:
    from ..stdlib import CloudWatchLogHandler

    handler = CloudWatchLogHandler(log_stream_name=stream, **options)
    logger = logging.getLogger(f"{PROG}.demo")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.info({"event": "user signed in", "user": "ada", "plan": "pro"})
    logger.warning({"event": "payment declined", "order_id": 1001, "amount": 12.5})
    logger.info("a plain text line, formatted by %s", "logging")

    def close() -> None:
        logger.removeHandler(handler)
        handler.close()

    return close


def _log_with_structlog(options: Dict[str, Any], stream: str) -> Callable[[], None]:
    import structlog

    from ..structlog import CloudWatchRenderer

    renderer = CloudWatchRenderer(log_stream_name=stream, **options)
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
    )
    log.info("user signed in", user="grace", plan="free")
    log.warning("payment declined", order_id=1002, amount=7.25, retry_in_s=30)
    log.bind(request_id="r-42").info("request done", status=200, duration_ms=12.3)

    def close() -> None:
        renderer.close(FLUSH_TIMEOUT)

    return close


def _log_with_loguru(options: Dict[str, Any], stream: str) -> Callable[[], None]:
    from loguru import logger

    from ..loguru import cloudwatch_sink

    # This process is ours: the demo's records go to CloudWatch, not to stderr.
    logger.remove()
    handler_id = logger.add(cloudwatch_sink(log_stream_name=stream, **options), level="DEBUG")
    logger.bind(user="linus", plan="team").info("user signed in")
    logger.warning("payment declined for order {order_id}", order_id=1003, amount=99.0)
    logger.bind(request_id="r-43").info("request done", status=201, duration_ms=8.1)

    def close() -> None:
        logger.remove(handler_id)

    return close


FRONT_ENDS: List[Tuple[str, str, Callable[[Dict[str, Any], str], Callable[[], None]]]] = [
    ("stdlib", "", _log_with_stdlib),
    ("structlog", "structlog", _log_with_structlog),
    ("loguru", "loguru", _log_with_loguru),
]
EXPECTED_PER_FRONT_END = 3


def _read_back(client: Any, group: str, prefix: str) -> Dict[str, List[Dict[str, Any]]]:
    """Every stored event of the streams named `prefix`..., stream by stream, in stored order."""
    names = sorted(
        s["logStreamName"]
        for page in client.get_paginator("describe_log_streams").paginate(
            logGroupName=group, logStreamNamePrefix=prefix
        )
        for s in page["logStreams"]
    )
    stored: Dict[str, List[Dict[str, Any]]] = {}
    for name in names:
        events: List[Dict[str, Any]] = []
        request: Dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": name,
            "startFromHead": True,
        }
        for _ in range(MAX_PAGES):
            page = client.get_log_events(**request)
            events.extend(
                {"time": format_time(e["timestamp"]), "message": decode(e["message"])}
                for e in page["events"]
            )
            token = page.get("nextForwardToken")
            if not page["events"] or not token or token == request.get("nextToken"):
                break
            request["nextToken"] = token
        stored[name] = events
    return stored


@click.command()
@click.option(
    "--group",
    "-g",
    default=DEMO_GROUP,
    show_default=True,
    callback=log_group_param,
    help="Log group to use.",
)
@click.option(
    "--local",
    "force_local",
    is_flag=True,
    help="Start a local endpoint even if an endpoint is configured.",
)
@click.option(
    "--aws",
    "use_aws",
    is_flag=True,
    help="Send to CloudWatch Logs in your AWS account (credentials and region needed).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port for the local endpoint  [default: a free one]",
)
@aws_options
def demo(
    group: str,
    force_local: bool,
    use_aws: bool,
    port: int,
    profile: Optional[str],
    region: Optional[str],
    endpoint_url: Optional[str],
) -> int:
    """Log a few structured records through each front end and print what CloudWatch stored.

    \b
    Where it sends them:
      by default, or with --local        a local endpoint it starts and stops itself
      --endpoint-url URL, or an endpoint in AWS_ENDPOINT_URL_CLOUDWATCH_LOGS or
      AWS_ENDPOINT_URL                   that endpoint
      --aws                              CloudWatch Logs in your AWS account, in the log
                                         group wt-adapters-demo (1-day retention)

    Prints the stored events, grouped by stream, as JSON on stdout. Exits with
    1 if any event did not arrive.
    """
    aws = aws_from(profile, region, endpoint_url)
    run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"
    if force_local and use_aws:
        raise click.UsageError("--local and --aws cannot be used together")
    with _target(aws, force_local, use_aws, port) as (session, where, description):
        import botocore.config

        from .._boto import CLIENT_CONFIG

        client = session.client("logs", endpoint_url=where.endpoint_url, config=CLIENT_CONFIG)
        reader = session.client(
            "logs",
            endpoint_url=where.endpoint_url,
            config=botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        check_reachable(client, where, group)
        echo_err(f"{PROG} demo: logging through each front end to {description} ...")
        options: Dict[str, Any] = {"log_group_name": group, "boto3_client": client}
        if where.endpoint_url is None:
            options["log_group_retention_days"] = 1  # a demo in a real account: keep it a day
        logged: List[str] = []
        skipped: Dict[str, str] = {}
        closers = []
        for name, module, log in FRONT_ENDS:
            if module:
                try:
                    __import__(module)
                except ImportError:
                    skipped[name] = (
                        f"{module} is not installed: pip install 'wt-adapters[{module}]'"
                    )
                    continue
            closers.append(log(options, f"{run}/{name}"))
            logged.append(name)
        for close in closers:
            close()
        with aws_errors(where, group):
            stored = _read_back(reader, group, f"{run}/")
    in_order = [f"{run}/{name}" for name in logged]
    stored = {n: stored[n] for n in in_order if n in stored} | {
        n: v for n, v in stored.items() if n not in in_order
    }
    output = {"endpoint": description, "log_group": group, "streams": stored}
    click.echo(json.dumps(output, indent=2, ensure_ascii=False))
    for name, why in skipped.items():
        echo_err(f"{PROG} demo: skipped {name}: {why}")
    missing = [
        name for name in logged if len(stored.get(f"{run}/{name}", ())) < EXPECTED_PER_FRONT_END
    ]
    if missing:
        echo_err(
            f"{PROG} demo: error: events from {', '.join(missing)} did not all arrive in"
            f" {description}"
        )
        return EXIT_FAILED
    total = sum(len(v) for v in stored.values())
    echo_err(
        f"{PROG} demo: {counted(total, 'event')} from {counted(len(logged), 'front end')}"
        f" ({', '.join(logged)})"
        f" stored in log group {group!r} at {description}."
    )
    if where.endpoint_url and not aws.endpoint_url:
        echo_err(
            f"That endpoint has stopped. Keep one running with `{PROG} local`, then try"
            f" `{PROG} pipe` and `{PROG} tail` against it."
        )
    return EXIT_OK
