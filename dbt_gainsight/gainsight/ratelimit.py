"""A client-side call budget that keeps Gainsight's fixed per-minute windows from overflowing.

Gainsight counts calls in fixed wall-clock windows (100 between 10:00 and 10:01) whose
alignment the client does not know exactly, and network jitter moves the moment a call
reaches the server. So the limiter keeps a sliding window: a call is *live* while in flight
and for ``window`` seconds after the moment the server had surely seen it, and a new call
starts only while fewer than N calls are live. Then any N+1 consecutive calls span more than
``window`` seconds at the server, and no fixed window ever holds N+1.

When did the server see a call? No later than its reply arrived, and (the one assumption)
no later than ``transit`` seconds after it was sent: Gainsight counts a call at its gateway,
on arrival, before the seconds it spends writing records, and a request of 50 records is a
few kilobytes. So the moment is ``min(reply, sent + transit)``: a slow reply (1-3 s is
usual for a write) no longer holds its slot for the whole reply time of every call, which
cost about 3% of the budget. Should the assumption fail, the server answers 429 and every
call waits for the next window (transport.py); nothing is lost.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from types import TracebackType

#: Seconds within which a request reaches Gainsight once sent (see the module's docstring).
TRANSIT = 1.0


class Permit:
    """The right to make one call; release it when the reply (or the failure) arrived."""

    __slots__ = ("_limiter", "_released", "_started")

    def __init__(self, limiter: RateLimiter | None, started: float = 0.0) -> None:
        self._limiter = limiter
        self._released = False
        self._started = started

    def release(self) -> None:
        """Mark the call complete; its slot frees ``window`` seconds from now. Idempotent."""
        if self._released:
            return
        self._released = True
        if self._limiter is not None:
            self._limiter._complete(self._started)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RateLimiter:
    """Shared by every thread of one client; ``acquire()`` blocks until a call may start.

    ``calls_per_minute`` None or 0 means unlimited (only ``penalize`` can make it wait).
    ``clock`` and ``sleep`` are injectable so tests run exactly and instantly.
    """

    def __init__(
        self,
        calls_per_minute: int | None,
        *,
        window: float = 60.0,
        transit: float = TRANSIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls_per_minute is not None and calls_per_minute < 0:
            raise ValueError("calls_per_minute must be positive, or None/0 for unlimited")
        self.limit = calls_per_minute or None
        self.window = window
        self.transit = transit
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight = 0
        self._seen: list[float] = []  # a heap: when the server had surely seen each call
        self._not_before = float("-inf")
        self._waited = 0.0

    @property
    def waited_seconds(self) -> float:
        """Total time callers spent blocked in ``acquire`` (all threads added up)."""
        with self._cond:
            return self._waited

    def acquire(self) -> Permit:
        """Block until a call may start, then count it as live and return its permit."""
        limit = self.limit
        started: float | None = None
        cond = self._cond
        cond.acquire()
        try:
            while True:
                now = self._clock()
                if started is None:
                    started = now
                wait: float | None = 0.0
                if now < self._not_before:
                    wait = self._not_before - now
                elif limit is not None:
                    seen = self._seen
                    horizon = now - self.window
                    while seen and seen[0] <= horizon:
                        heapq.heappop(seen)
                    if self._in_flight + len(seen) >= limit:
                        # Only an expiry frees a slot; with none completed yet, wait for a reply.
                        wait = seen[0] + self.window - now if seen else None
                if wait == 0.0:
                    self._in_flight += 1
                    self._waited += now - started
                    return Permit(self, now)
                if wait is None:
                    cond.wait()
                else:
                    cond.release()
                    try:
                        self._sleep(wait)
                    finally:
                        cond.acquire()
        finally:
            cond.release()

    def penalize(self, seconds: float) -> None:
        """After a 429: no call, from any thread, starts before now + ``seconds``."""
        with self._cond:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def _complete(self, started: float) -> None:
        with self._cond:
            self._in_flight -= 1
            if self.limit is not None:
                heapq.heappush(self._seen, min(self._clock(), started + self.transit))
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"RateLimiter(calls_per_minute={self.limit}, window={self.window})"
