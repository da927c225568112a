"""`_report.report`: a warning at the user's code, also from threads that run none of it."""

from __future__ import annotations

import logging
import threading

import pytest

from wt_adapters import CloudWatchLogHandler, WatchtowerWarning
from wt_adapters._report import report
from wt_adapters.testing import capture_events


def test_a_report_from_a_thread_without_user_code_is_still_a_warning() -> None:
    with pytest.warns(WatchtowerWarning, match="from a bare thread") as caught:
        thread = threading.Thread(target=report, args=("from a bare thread",))
        thread.start()
        thread.join()
    assert caught[0].filename == "<wt_adapters delivery thread>"


def test_a_log_call_made_by_a_thread_directly_still_warns(logger: logging.Logger) -> None:
    with capture_events():
        logger.addHandler(CloudWatchLogHandler(log_group_name="g"))
        with pytest.warns(WatchtowerWarning, match="Received empty message"):
            thread = threading.Thread(target=logger.warning, args=("",))  # no user frame
            thread.start()
            thread.join()
