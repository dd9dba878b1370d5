from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from dbt_gainsight.gainsight.retry import (
    RetryPolicy,
    backoff_delays,
    next_window_delay,
    parse_retry_after,
)


def test_backoff_is_capped_exponential_with_full_jitter():
    policy = RetryPolicy(max_attempts=8, initial_backoff=1.0, max_backoff=10.0, multiplier=2.0)
    got = list(backoff_delays(policy, random.Random(42)))
    draws = random.Random(42)
    ceilings = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert got == [c * draws.random() for c in ceilings]
    assert len(got) == policy.max_attempts - 1
    assert all(0 <= d < c for d, c in zip(got, ceilings, strict=True))


def test_backoff_same_seed_same_delays_and_single_attempt_has_none():
    policy = RetryPolicy()
    assert list(backoff_delays(policy, random.Random(7))) == list(
        backoff_delays(policy, random.Random(7))
    )
    assert list(backoff_delays(RetryPolicy(max_attempts=1), random.Random(7))) == []


def test_backoff_without_jitter_source_bounds():
    class Top(random.Random):
        def random(self):
            return 0.999999

    delays = list(backoff_delays(RetryPolicy(max_attempts=10, max_backoff=60.0), Top()))
    assert delays[-1] == pytest.approx(60.0, rel=1e-5)
    assert max(delays) < 60.0


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (1_800_000_000.0, 60.25),  # exactly on a boundary: the whole next window
        (1_800_000_010.0, 50.25),
        (1_800_000_059.5, 0.75),
    ],
)
def test_next_window_delay(wall, expected):
    assert 1_800_000_000 % 60 == 0
    assert next_window_delay(wall) == pytest.approx(expected)


def test_next_window_delay_custom_window_and_margin():
    assert next_window_delay(125.0, window=10.0, margin=0.0) == pytest.approx(5.0)


def test_retry_after_seconds():
    assert parse_retry_after("7", now=0) == 7.0
    assert parse_retry_after(" 1.5 ", now=0) == 1.5
    assert parse_retry_after("0", now=0) == 0.0


def test_retry_after_http_date():
    now = 1_800_000_000.0
    header = formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    past = formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("bad", [None, "", "soon", "-3", "nan", "inf"])
def test_retry_after_unreadable(bad):
    assert parse_retry_after(bad, now=0) is None
