"""Property tests: whatever is logged, every request obeys the rules and nothing is lost."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wt_adapters._destination import build_engine
from wt_adapters._memory import MemorySender, request_problem
from wt_adapters._settings import Settings

NOW = int(time.time() * 1000)
DAY = 24 * 3600 * 1000

events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=NOW - 13 * DAY, max_value=NOW + 3600 * 1000),
        st.text(min_size=1, max_size=300),
    ),
    max_size=400,
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=events,
    max_batch_count=st.integers(min_value=1, max_value=50),
    max_batch_size=st.integers(min_value=2_000, max_value=20_000),
)
def test_every_request_is_valid_and_every_event_arrives(
    events: list[tuple[str, int, str]], max_batch_count: int, max_batch_size: int
) -> None:
    sender = MemorySender()
    engine = build_engine(
        Settings(
            log_group_name="g",
            max_batch_count=max_batch_count,
            max_batch_size=max_batch_size,
            max_message_size=1_000,
        ),
        sender,
    )
    for stream, ts, message in events:
        engine.submit(stream, ts, message)
    assert engine.close(30)
    for request in sender.requests:
        assert request_problem(request.events) is None
        assert len(request.events) <= max_batch_count and request.nbytes <= max_batch_size
    for name in ("a", "b", "c"):
        sent = sorted(sender.events("g", name))
        logged = [(name, ts, m) for s, ts, m in events if s == name]
        # what went out is what came in (messages made valid UTF-8 where needed)
        assert len(sent) == len(logged)
        assert sorted(ts for _, ts, _ in sent) == sorted(ts for _, ts, _ in logged)
    assert engine.stats()["dropped"] == {}
