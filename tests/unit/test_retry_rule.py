"""The one retry rule (Transport._retry_wait), decided without a server or a real clock."""

from __future__ import annotations

import random

import pytest

from dbt_gainsight.errors import (
    ConnectionFailed,
    NotConnected,
    OutcomeUnknown,
    RateLimited,
    RecordRejected,
    ServerError,
)
from dbt_gainsight.gainsight.retry import RetryPolicy, backoff_delays
from dbt_gainsight.gainsight.transport import MAX_RATE_LIMITED_RETRIES, Transport, _RetryState

WHERE = ("POST", "/v1/data/objects/Company", "Company")


@pytest.fixture
def transport():
    events = []
    tr = Transport(
        "https://acme.gainsightcloud.com",
        "secret-key",
        calls_per_minute=None,
        max_in_flight=1,
        timeout=1.0,
        call_deadline=None,
        max_reply_bytes=1000,
        retry=RetryPolicy(max_attempts=3),
        verify_tls=True,
        clock=lambda: 0.0,
        wall_clock=lambda: 1_800_000_030.0,  # half a minute into a window
        sleep=lambda s: None,
        rng=random.Random(1),
        cancel=None,
        on_event=events.append,
        on_call=None,
    )
    tr.events = events
    return tr


def state(transport):
    return _RetryState(backoff_delays(transport.retry, transport.rng), transport.retry.max_attempts)


def decide(transport, exc, st, *, idempotent=True, connect=True):
    return transport._retry_wait(exc, st, WHERE, idempotent=idempotent, connect=connect)


def test_transient_failures_back_off_until_attempts_run_out(transport):
    st = state(transport)
    waits = [decide(transport, ServerError("503", status=503), st) for _ in range(2)]
    assert all(0 <= w < 2 for w in waits)
    with pytest.raises(ServerError):
        decide(transport, ServerError("503", status=503), st)
    assert [(e.kind, e.attempt, e.max_attempts) for e in transport.events] == [
        ("retry", 1, 3),
        ("retry", 2, 3),
    ]
    assert transport.stats.retries == 2


def test_a_lost_reply_is_retried_only_when_idempotent(transport):
    st = state(transport)
    assert decide(transport, OutcomeUnknown("reset"), st, idempotent=True) >= 0
    with pytest.raises(OutcomeUnknown):
        decide(transport, OutcomeUnknown("reset"), st, idempotent=False)
    assert transport.events[-1].kind == "outcome_unknown"


def test_a_read_whose_replies_are_all_lost_fails_without_saying_it_is_checked(transport):
    """An insert whose reply is lost is checked, not resent; a read or an update whose every
    reply was lost simply fails (the log said "checked" for the deletes' read-back query)."""
    st = state(transport)
    for _ in range(2):
        decide(transport, OutcomeUnknown("reset"), st, idempotent=True)
    with pytest.raises(OutcomeUnknown):
        decide(transport, OutcomeUnknown("reset"), st, idempotent=True)
    assert [e.kind for e in transport.events] == ["retry", "retry"]


def test_429_waits_in_the_limiter_without_using_the_backoff(transport):
    st = state(transport)
    assert decide(transport, RateLimited("429", status=429), st) == 0.0
    assert transport.events[-1].wait_seconds == pytest.approx(30.25)  # the next minute
    assert decide(transport, RateLimited("429", retry_after=7.0, status=429), st) == 0.0
    assert transport.events[-1].wait_seconds == 7.0
    assert st.attempt == 1 and transport.stats.retries == 0
    with pytest.raises(RateLimited, match="daily limit"):
        decide(transport, RateLimited("429", retry_after=3600.0, status=429), st)
    st.rate_limited = MAX_RATE_LIMITED_RETRIES
    with pytest.raises(RateLimited):
        decide(transport, RateLimited("429", retry_after=1.0, status=429), st)


def test_final_answers_are_raised_at_once(transport):
    st = state(transport)
    with pytest.raises(RecordRejected):
        decide(transport, RecordRejected("bad", error_code="GSOBJ_1001"), st)
    with pytest.raises(ConnectionFailed):  # check(): an unreachable URL is not retried
        decide(transport, NotConnected("refused"), st, connect=False)
    # Nor is a tenant that never answered this run: a wrong URL fails in a second, not after
    # 2.5 minutes of backoff (a new-user walkthrough); once it has answered, a refused
    # connection is a blip and is retried.
    with pytest.raises(ConnectionFailed, match="has not answered yet"):
        decide(transport, NotConnected("refused"), st)
    transport.reached = True
    assert decide(transport, NotConnected("refused"), st) >= 0
    assert all("secret-key" not in repr(e) for e in transport.events)
