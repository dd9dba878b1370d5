"""When to try a failed call again: backoff delays, Retry-After, the next rate-limit window.

Everything here is pure: the caller passes the random generator and the clock readings,
so tests are exact and nothing sleeps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    ``max_attempts`` counts the first try, so 8 means up to 7 retries.
    """

    max_attempts: int = 8
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("RetryPolicy backoffs must be >= 0 and multiplier >= 1")


def backoff_delays(policy: RetryPolicy, rng: random.Random) -> Iterator[float]:
    """Yield the wait before each retry: ``max_attempts - 1`` delays, then stop.

    Capped exponential backoff with full jitter (a uniform draw in ``[0, ceiling)``), so
    clients that failed together do not retry together. Exhaustion means: give up.
    """
    ceiling = policy.initial_backoff
    for _ in range(policy.max_attempts - 1):
        yield min(ceiling, policy.max_backoff) * rng.random()
        ceiling = min(ceiling * policy.multiplier, policy.max_backoff)


def next_window_delay(wall_clock: float, window: float = 60.0, margin: float = 0.25) -> float:
    """Seconds from ``wall_clock`` until just after the next fixed window boundary.

    Gainsight counts calls per wall-clock minute; after a 429 without Retry-After the budget
    comes back at the next minute. ``margin`` covers a small clock skew with the server.
    """
    return window - math.fmod(wall_clock, window) + margin


def parse_retry_after(header_value: str | None, now: float) -> float | None:
    """Read a Retry-After header (delta seconds or an HTTP date) as seconds from ``now``.

    ``now`` is wall-clock epoch seconds. Returns None when the header is absent or
    unreadable, so the caller falls back to its own rule; never negative.
    """
    if header_value is None:
        return None
    value = header_value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)
