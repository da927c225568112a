"""`Ledger`: an engine's counters and the warnings they call for, without an engine."""

from __future__ import annotations

from wt_adapters._ledger import Ledger
from wt_adapters._rejections import read_rejections


def test_a_batch_is_counted_as_sent_less_what_cloudwatch_rejected() -> None:
    ledger = Ledger("g")
    info = {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 8}
    ledger.sent(10, read_rejections(info, 10), 0)
    figures = ledger.figures()
    assert figures["sent"] == 7 and figures["batches_sent"] == 1
    assert figures["rejected"] == {"too_old": 1, "too_new": 2}
    assert [n.split(":")[0] for n in ledger.take_notices()] == [
        "CloudWatch rejected log events as too old",
        "CloudWatch rejected log events as too new",
    ]
    assert ledger.take_notices() == []


def test_a_batch_that_may_have_been_stored_before_counts_its_duplicates() -> None:
    ledger = Ledger("g")
    ledger.sent(5, [], 2)
    assert ledger.figures()["possible_duplicates"] == 10


def test_counting_drops_keeps_the_real_cause_as_last_error() -> None:
    ledger = Ledger("g")
    ledger.note("unreachable", "EndpointConnectionError: Could not connect")
    ledger.drop("close_timeout", 3)
    assert ledger.last_error == "EndpointConnectionError: Could not connect"
    assert ledger.figures()["dropped"] == {"close_timeout": 3}


def test_the_same_kind_of_warning_is_queued_once_a_minute() -> None:
    ledger = Ledger("g")
    for _ in range(5):
        ledger.drop("queue_full", 1)
    notices = ledger.take_notices()
    assert len(notices) == 1 and "1 so far because of queue full" in notices[0]
    assert ledger.figures()["dropped"] == {"queue_full": 5}
