"""Bad configuration fails in the constructor with a WatchtowerError naming the argument."""

from __future__ import annotations

from typing import Any

import pytest

from wt_adapters import CloudWatchLogHandler, WatchtowerError
from wt_adapters._rules import RETENTION_DAYS


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"log_group_name": ""}, "log_group_name"),
        ({"log_group_name": "has space"}, "log_group_name"),
        ({"log_group_name": "x" * 513}, "log_group_name"),
        ({"log_group_name": "bad:colon"}, "log_group_name"),
        ({"log_group_name": None}, "log_group_name"),
        ({"log_stream_name": ""}, "log_stream_name"),
        ({"log_stream_name": "a:b"}, "log_stream_name"),
        ({"log_stream_name": "a*b"}, "log_stream_name"),
        ({"log_stream_name": "{strftime:%H:%M}"}, "log_stream_name"),
        ({"log_stream_name": "{unknown_field}"}, "log_stream_name"),
        ({"log_stream_name": "{unclosed"}, "log_stream_name"),
        ({"log_stream_name": "x" * 513}, "log_stream_name"),
        ({"max_batch_size": 1_048_577}, "max_batch_size"),
        ({"max_batch_size": 1000}, "max_batch_size"),  # below the largest message
        ({"max_batch_count": 0}, "max_batch_count"),
        ({"max_batch_count": 10_001}, "max_batch_count"),
        ({"send_interval": -1}, "send_interval"),
        ({"send_interval": "soon"}, "send_interval"),
        ({"max_message_size": 1_048_577}, "max_message_size"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"log_group_retention_days": 2}, "log_group_retention_days"),
        ({"log_group_retention_days": "30"}, "log_group_retention_days"),
        ({"log_group_tags": [("a", "b")]}, "log_group_tags"),
        ({"log_group_tags": {"a": 1}}, "log_group_tags"),
        ({"json_serialize_default": "repr"}, "json_serialize_default"),
        ({"queue_overflow": "explode"}, "queue_overflow"),
        ({"max_queue_events": 0}, "max_queue_events"),
        ({"max_queue_bytes": 10}, "max_queue_bytes"),
        ({"retry_deadline": -5}, "deadline"),
        ({"boto3_client": object()}, "boto3_client"),
    ],
)
def test_bad_options_raise_watchtower_error_naming_the_argument(
    client: Any, options: dict[str, Any], argument: str
) -> None:
    options.setdefault("boto3_client", client)
    with pytest.raises(WatchtowerError, match=argument):
        CloudWatchLogHandler(**options)


def test_a_client_and_a_profile_together_are_refused(client: Any) -> None:
    with pytest.raises(WatchtowerError, match="Either boto3_client or boto3_profile_name"):
        CloudWatchLogHandler(boto3_client=client, boto3_profile_name="default")


def test_an_unknown_profile_is_refused_naming_the_argument() -> None:
    with pytest.raises(WatchtowerError, match="boto3_profile_name"):
        CloudWatchLogHandler(boto3_profile_name="no-such-profile-here")


@pytest.mark.parametrize("days", RETENTION_DAYS)
def test_every_retention_period_cloudwatch_offers_is_accepted(client: Any, days: int) -> None:
    CloudWatchLogHandler(boto3_client=client, log_group_retention_days=days).close()


@pytest.mark.parametrize("name", ["a", "x" * 512, "app/prod_1.web-2#x", "/aws/lambda/fn"])
def test_valid_group_names_are_accepted(client: Any, name: str) -> None:
    CloudWatchLogHandler(boto3_client=client, log_group_name=name).close()


def test_bounds_are_accepted(client: Any) -> None:
    CloudWatchLogHandler(
        boto3_client=client,
        max_batch_size=1_048_576,
        max_batch_count=10_000,
        max_message_size=1_048_576,
        send_interval=0,
    ).close()


def test_an_unknown_option_of_a_keyword_front_end_is_named() -> None:
    from wt_adapters._destination import Destination

    with pytest.raises(WatchtowerError, match="unknown option 'log_grup_name'"):
        Destination.from_options({"log_grup_name": "typo"})


@pytest.mark.parametrize("front_end", ["structlog", "loguru"])
@pytest.mark.parametrize(
    "options",
    [
        {"log_group_name": "bad:name"},
        {"send_interval": "soon"},
        {"max_batch_count": 0},
        {"log_stream_name": "{nope}"},
        {"queue_overflow": "explode"},
        {"log_group_retention_days": 2},
        {"boto3_client": object()},
        {"json_serialize_default": 42},
    ],
)
def test_every_front_end_validates_options_as_the_stdlib_handler_does(
    front_end: str, options: dict[str, Any]
) -> None:
    from wt_adapters.loguru import cloudwatch_sink
    from wt_adapters.structlog import CloudWatchRenderer

    make = {"structlog": CloudWatchRenderer, "loguru": cloudwatch_sink}[front_end]
    with pytest.raises(WatchtowerError) as from_handler:
        CloudWatchLogHandler(**options)
    with pytest.raises(WatchtowerError) as from_front_end:
        make(**options)
    assert str(from_front_end.value) == str(from_handler.value)
    assert next(iter(options)) in str(from_front_end.value)
