"""Fixtures for the HTTP ingestion transport: the local endpoint with its ``/ingest/bulk`` stand-in.

A test module imports the fixtures it uses (``from ingest_support import ingest``):
`ingest` is a `LocalEndpoint` (moto's server plus the stand-in) whose state is
reset for the test, taking the bearer token `TOKEN` alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from helpers import ROOT, make_client, reset_endpoint

from wt_adapters._local import LocalEndpoint

#: The one token the stand-in takes in these tests (shaped like a real one).
TOKEN = "ACWLtestTOKEN0123456789abcdefSECRETxyz"
#: A token it does not take.
WRONG_TOKEN = "ACWLwrongTOKEN9876543210zyxwvuSECRETabc"


@pytest.fixture(scope="session")
def ingest_server() -> Iterator[LocalEndpoint]:
    """The local endpoint on a free loopback port, for the whole session."""
    with LocalEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def ingest(ingest_server: LocalEndpoint) -> Iterator[LocalEndpoint]:
    """The local endpoint, reset for this test: no groups, the stand-in taking `TOKEN` alone."""
    reset_endpoint(ingest_server.url)
    stand_in = ingest_server.ingest
    stand_in.reset()
    stand_in.tokens = {TOKEN}
    stand_in.strict = True  # a line that is not JSON fails the test instead of vanishing
    yield ingest_server
    stand_in.reset()


@pytest.fixture
def ingest_client(ingest: LocalEndpoint) -> Any:
    """A boto3 client for the local endpoint (to set up groups and read events back)."""
    return make_client(ingest.url)


def make_stream(client: Any, group: str, stream: str = "s") -> None:
    """Create `group` (if missing) and `stream`, as a user must before sending with a token."""
    try:
        client.create_log_group(logGroupName=group)
    except client.exceptions.ResourceAlreadyExistsException:
        pass
    client.create_log_stream(logGroupName=group, logStreamName=stream)


def ingest_options(endpoint: LocalEndpoint, group: str, **options: Any) -> Dict[str, Any]:
    """A front end's options for sending to `endpoint` with the good token, quickly."""
    options.setdefault("log_stream_name", "s")
    options.setdefault("send_interval", 0.05)
    options.setdefault("bearer_token", TOKEN)
    return {
        "log_group_name": group,
        "transport": "http-ingest",
        "endpoint_url": endpoint.url,
        **options,
    }


def objects(client: Any, group: str, stream: str = "s") -> List[Dict[str, Any]]:
    """Each stored event of the stream as the JSON object its message holds."""
    events = client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    return [json.loads(e["message"]) for e in events["events"]]


def bare_env(home: Path, **extra: str) -> Dict[str, str]:
    """An environment with no AWS_* variable at all and an empty home: no credentials anywhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "WT_ADAPTERS_")) and k != "PYTHONUNBUFFERED"
    }
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def without(text: Optional[str], secret: str = TOKEN) -> bool:
    """Whether `text` holds no part of the token worth a leak (its secret middle included)."""
    return text is None or (secret not in text and secret[4:20] not in text)
