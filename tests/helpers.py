"""Helpers for the tests: clients for the local endpoint, reading events back, waiting."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import boto3

DUMMY = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


def make_client(url: str, **config: Any) -> Any:
    """A boto3 logs client for `url` with dummy credentials."""
    from botocore.config import Config

    return boto3.client(
        "logs",
        endpoint_url=url,
        region_name=REGION,
        config=Config(**config) if config else None,
        **DUMMY,
    )


def read_events(client: Any, group: str, stream: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every event stored in `group` (or one stream), stream by stream, in stored order."""
    if stream is None:
        names = sorted(
            s["logStreamName"]
            for page in client.get_paginator("describe_log_streams").paginate(logGroupName=group)
            for s in page["logStreams"]
        )
    else:
        names = [stream]
    events: List[Dict[str, Any]] = []
    for name in names:
        kwargs: Dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": name,
            "startFromHead": True,
        }
        while True:
            page = client.get_log_events(**kwargs)
            for event in page["events"]:
                event["logStreamName"] = name
            events.extend(page["events"])
            if not page["events"] or page.get("nextForwardToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextForwardToken"]
    return events


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
