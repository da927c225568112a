"""The stdlib handler as a drop-in for watchtower 3.4.0, side by side, over HTTP.

Each behaviour watchtower documents (and its own test suite exercises) is run
with watchtower's handler and with ours against the same local endpoint, and
what CloudWatch stored, the warnings and what the caller saw are compared.
Where we differ on purpose (compact JSON; the group is created with the first
batch, not in the constructor), the README's "Coming from watchtower" says so.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from contextlib import redirect_stderr
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List

import pytest
from helpers import Opaque, messages, read_events, wait_for

import wt_adapters

watchtower = pytest.importorskip("watchtower")

IMPLEMENTATIONS = {"watchtower": watchtower, "wt_adapters": wt_adapters}

Make = Callable[..., logging.Handler]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def package(request: pytest.FixtureRequest) -> Any:
    """watchtower, then wt_adapters: each test runs once with each."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def make(package: Any, client: Any, group: str, logger: logging.Logger) -> Iterator[Make]:
    """Make a handler of `package` for this test's group, attached to `logger`."""
    made: List[logging.Handler] = []

    def make(**options: Any) -> logging.Handler:
        options.setdefault("boto3_client", client)
        options.setdefault("log_group_name", group)
        options.setdefault("log_stream_name", "stream")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # watchtower's own utcnow()
            handler: logging.Handler = package.CloudWatchLogHandler(**options)
        logger.addHandler(handler)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        logger.removeHandler(handler)
        handler.close()


def flush(handler: logging.Handler) -> None:
    """Both packages' flush: ours returns whether it finished, watchtower's returns None."""
    assert handler.flush() is not False


def stream_names(client: Any, group: str) -> List[str]:
    return [
        s["logStreamName"] for s in client.describe_log_streams(logGroupName=group)["logStreams"]
    ]


def creations(client: Any) -> List[str]:
    """Record every CreateLogStream call made with `client`."""
    calls: List[str] = []
    client.meta.events.register(
        "before-call.cloudwatch-logs.CreateLogStream", lambda **kwargs: calls.append("create")
    )
    return calls


def test_the_stream_is_created_on_the_first_emit(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make(log_stream_name="{logger_name}-first")
    logger.info("hello")
    flush(handler)
    assert stream_names(client, group) == [f"{logger.name}-first"]
    assert messages(client, group) == ["hello"]


def test_a_deleted_stream_is_created_again(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make()
    logger.info("before")
    flush(handler)
    client.delete_log_stream(logGroupName=group, logStreamName="stream")
    logger.info("after")
    flush(handler)
    assert messages(client, group, "stream") == ["after"]


def test_an_existing_stream_is_kept_and_not_created_again(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="stream")
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    client.put_log_events(
        logGroupName=group, logStreamName="stream", logEvents=[{"timestamp": now, "message": "old"}]
    )
    calls = creations(client)
    handler = make()
    logger.info("new")
    flush(handler)
    assert messages(client, group, "stream") == ["old", "new"]
    assert calls in ([], ["create"])  # at most an attempt that CloudWatch answers "exists"


def test_an_oversized_message_is_cut_with_a_warning(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make(max_message_size=1026)
    with pytest.warns(Warning, match="Log message size exceeds CWL max payload size") as caught:
        logger.info("é" * 800)  # 1,600 bytes of UTF-8
    assert {type(w.message).__name__ for w in caught} == {"WatchtowerWarning"}
    flush(handler)
    assert messages(client, group) == ["é" * 500]  # 1,000 bytes: 1,026 less 26


def test_messages_over_the_batch_size_are_split_into_several_requests(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    requests: List[str] = []
    client.meta.events.register(
        "before-call.cloudwatch-logs.PutLogEvents", lambda **kwargs: requests.append("put")
    )
    handler = make(max_batch_size=10_000, max_message_size=2_000, send_interval=60)
    lines = [f"{i:04d}" + "x" * 1_000 for i in range(30)]
    for line in lines:
        logger.info(line)
    flush(handler)
    assert sorted(messages(client, group)) == lines  # requests may go in parallel
    assert len(requests) >= 30 // (10_000 // (1_004 + 26))  # at most 9 events per request


def test_an_empty_message_is_warned_of_and_not_sent(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    with pytest.warns(Warning, match="Received empty message") as caught:
        logger.info("")
        logger.info("%s", "")
    assert len(caught) == 2
    logger.info("then this")
    flush(handler)
    assert messages(client, group) == ["INFO then this"]


def test_emit_errors_never_reach_the_caller(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    class Failing(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if record.msg == "fails":
                raise ValueError("a formatter that fails")
            return super().format(record)

    handler = make()
    handler.setFormatter(Failing())
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        logger.info("fails")
    assert "a formatter that fails" in stderr.getvalue()  # logging's handleError reports it
    logger.info("next")
    flush(handler)
    assert "next" in messages(client, group)


def test_a_message_that_cannot_be_formatted_does_not_reach_the_caller_either(
    client: Any, group: str, logger: logging.Logger
) -> None:
    """watchtower 3.4.0 raises this one into the caller (getMessage() outside its try)."""
    handler = wt_adapters.CloudWatchLogHandler(boto3_client=client, log_group_name=group)
    logger.addHandler(handler)
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        logger.info("%d items", "not a number")
    assert "Traceback" in stderr.getvalue()
    assert handler.flush(10)
    assert messages(client, group) == [
        "'%d items' % ('not a number',) (formatting failed: TypeError("
        "'%d format: a real number is required, not str'))"
    ]


def test_the_formatter_adds_log_record_attrs(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make()
    assert handler.formatter is not None
    handler.formatter.add_log_record_attrs = ("levelname", "funcName")  # type: ignore[attr-defined]
    logger.warning("plain %s", "text")
    logger.error({"already": "a dict"})
    flush(handler)
    function = "test_the_formatter_adds_log_record_attrs"
    assert [json.loads(m) for m in messages(client, group)] == [
        {"msg": "plain text", "levelname": "WARNING", "funcName": function},
        {"already": "a dict", "levelname": "ERROR", "funcName": function},
    ]


def test_json_serialize_default_none_means_isoformat_then_repr(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make(json_serialize_default=None)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    logger.info({"at": when, "obj": Opaque(), "n": 1})
    flush(handler)
    assert [json.loads(m) for m in messages(client, group)] == [
        {"at": "2024-01-02T03:04:05+00:00", "obj": "<Opaque>", "n": 1}
    ]


def test_a_custom_json_serialize_default_is_used(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make(json_serialize_default=lambda o: "custom")
    logger.info({"obj": Opaque()})
    flush(handler)
    assert [json.loads(m) for m in messages(client, group)] == [{"obj": "custom"}]


def test_a_message_after_close_is_warned_of(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make()
    logger.info("sent")
    handler.close()
    with pytest.warns(Warning, match="Received message after logging system shutdown"):
        logger.info("late")
    assert messages(client, group) == ["sent"]


def test_use_queues_false_sends_before_the_call_returns(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    make(use_queues=False)
    logger.info("at once")
    assert messages(client, group) == ["at once"]


def test_the_sdk_debug_records_are_left_out(
    make: Make, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = make()
    logging.getLogger("botocore.endpoint").addHandler(handler)
    try:
        logging.getLogger("botocore.endpoint").debug("request details")
        logging.getLogger("botocore.endpoint").warning("a real problem")
    finally:
        logging.getLogger("botocore.endpoint").removeHandler(handler)
    flush(handler)
    assert messages(client, group) == ["a real problem"]


def test_the_repr_names_group_and_stream(make: Make, group: str) -> None:
    handler = make(log_stream_name="s")
    assert repr(handler) == f"CloudWatchLogHandler(log_group_name='{group}', log_stream_name='s')"


def test_dict_config_builds_either_handler(package: Any, client: Any, group: str) -> None:
    import logging.config

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "cw": {
                    "class": f"{package.__name__}.CloudWatchLogHandler",
                    "log_group_name": group,
                    "log_stream_name": "dict",
                    "boto3_client": client,
                }
            },
            "loggers": {"wt_test.compat_dict": {"handlers": ["cw"], "propagate": False}},
        }
    )
    log = logging.getLogger("wt_test.compat_dict")
    (handler,) = log.handlers
    try:
        log.warning("configured")
        flush(handler)
        assert messages(client, group, "dict") == ["configured"]
    finally:
        log.removeHandler(handler)
        handler.close()


# --------------------------------------------------------------- on purpose


def test_differences_on_purpose(client: Any, group: str, logger: logging.Logger) -> None:
    """Compact JSON, and no AWS call in the constructor (the README says both)."""
    calls: List[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **kw: calls.append(model.name))
    handler = wt_adapters.CloudWatchLogHandler(boto3_client=client, log_group_name=group)
    assert calls == []  # watchtower calls CreateLogGroup here
    logger.addHandler(handler)
    logger.info({"a": 1, "b": [1, 2]})
    assert handler.flush(10)
    assert messages(client, group) == ['{"a":1,"b":[1,2]}']  # watchtower: '{"a": 1, "b": [1, 2]}'
    wait_for(lambda: read_events(client, group))
    assert "CreateLogGroup" in calls


def _stored_by(package: Any, client: Any, group: str, records: List[Dict[str, Any]]) -> List[Any]:
    log = logging.getLogger(f"wt_test.side_by_side.{package.__name__}")
    log.propagate = False
    log.setLevel(logging.INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = package.CloudWatchLogHandler(
            boto3_client=client, log_group_name=group, log_stream_name="s"
        )
    log.addHandler(handler)
    try:
        for record in records:
            log.info(record)
        handler.flush()
    finally:
        log.removeHandler(handler)
        handler.close()
    return [json.loads(m) for m in messages(client, group)]


def test_dict_messages_decode_to_the_same_objects_as_watchtowers(client: Any, group: str) -> None:
    records: List[Dict[str, Any]] = [
        {"text": "héllo ☃", "n": 2**64, "f": 0.1, "none": None, "list": [True, {"x": []}]},
        {"when": datetime(2024, 1, 2, tzinfo=timezone.utc), "obj": Opaque(), 1: "int key"},
    ]
    theirs = _stored_by(watchtower, client, group + "-w", records)
    ours = _stored_by(wt_adapters, client, group + "-o", records)
    assert ours == theirs and len(ours) == 2


def test_what_watchtower_does_where_we_differ(
    client: Any, group: str, logger: logging.Logger
) -> None:
    """The other side of the README's list: watchtower calls AWS in its constructor,
    raises into the caller for a message that can't be formatted, and takes the string
    "false" as true."""
    calls: List[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **kw: calls.append(model.name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = watchtower.CloudWatchLogHandler(
            boto3_client=client, log_group_name=group, use_queues="false"
        )
    try:
        assert "CreateLogGroup" in calls
        assert handler.use_queues == "false" and bool(handler.use_queues) is True
        logger.addHandler(handler)
        with pytest.raises(TypeError):
            logger.info("%d items", "not a number")
    finally:
        logger.removeHandler(handler)
        handler.close()
