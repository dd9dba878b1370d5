"""A client-side call budget that keeps Gainsight's fixed per-minute windows from overflowing.

Gainsight counts calls in fixed windows aligned to the clock ("100 requests between 10:00
and 10:01"), at its API gateway, when a request arrives. Two rules follow from that, and the
limiter keeps the first while it holds, the second after any 429:

Fixed windows (the default). Each call counts against the minute(s) it may arrive in: from
``skew`` seconds before it is sent (the client's clock may be behind Gainsight's) to
``skew`` after Gainsight surely saw it. A call starts only while each of those minutes holds
fewer than N. A run then uses the rest of the minute it starts in, not only whole minutes.

Sliding window (after a 429, which says the windows are not where the clock says, or that
another integration shares the key). A call is *live* while in flight and for ``window``
seconds after Gainsight surely saw it, and a call starts only while fewer than N are live:
any N+1 consecutive calls then span more than ``window`` seconds at the server, and no fixed
window holds N+1, wherever it is aligned.

When did Gainsight surely see a call? No later than its reply, and (the one assumption) no
later than ``transit`` seconds after it was sent: the gateway counts on arrival, before the
seconds a write spends on its records, and a request of 50 records is a few kilobytes. So
it is ``min(reply, sent + transit)``: a slow reply does not hold its slot for its whole
reply time. Should the assumption fail, Gainsight answers 429, every call waits for the next
window (transport.py) and the limiter turns to the sliding window; nothing is lost.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from types import TracebackType

#: Seconds within which a request reaches Gainsight once sent (see the module's docstring).
TRANSIT = 1.0
#: Seconds the client's clock may be off Gainsight's (NTP keeps it within milliseconds).
SKEW = 1.0


class Permit:
    """The right to make one call; release it when the reply (or the failure) arrived."""

    __slots__ = ("_limiter", "_released", "_started", "_sent_at", "_windows")

    def __init__(
        self,
        limiter: RateLimiter | None,
        started: float = 0.0,
        sent_at: float = 0.0,
        windows: range = range(0),
    ) -> None:
        self._limiter = limiter
        self._released = False
        self._started = started  # the limiter's clock
        self._sent_at = sent_at  # the wall clock
        self._windows = windows  # the fixed windows it was counted against

    def release(self) -> None:
        """Mark the call complete; its slot frees ``window`` seconds from now. Idempotent."""
        if self._released:
            return
        self._released = True
        if self._limiter is not None:
            self._limiter._complete(self)

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
    ``clock``, ``wall_clock`` and ``sleep`` are injectable so tests run exactly and instantly.
    ``fixed_windows=False`` starts with the sliding window.
    """

    def __init__(
        self,
        calls_per_minute: int | None,
        *,
        window: float = 60.0,
        transit: float = TRANSIT,
        skew: float = SKEW,
        fixed_windows: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls_per_minute is not None and calls_per_minute < 0:
            raise ValueError("calls_per_minute must be positive, or None/0 for unlimited")
        self.limit = calls_per_minute or None
        self.window = window
        self.transit = transit
        self.skew = skew
        self.fixed_windows = fixed_windows
        self._wall_clock = wall_clock
        self._counts: dict[int, int] = {}  # fixed window number -> calls that may arrive in it
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
                elif limit is not None and self.fixed_windows:
                    sent_at = self._wall_clock()
                    windows = self._windows(sent_at, sent_at + self.transit)
                    full = [w for w in windows if self._counts.get(w, 0) >= limit]
                    if full:  # wait until the call cannot arrive in the full minute
                        wait = max(0.001, (full[-1] + 1) * self.window + self.skew - sent_at)
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
                    if limit is None or not self.fixed_windows:
                        return Permit(self, now)
                    for w in windows:
                        self._counts[w] = self._counts.get(w, 0) + 1
                    return Permit(self, now, sent_at, windows)
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
        """After a 429: no call, from any thread, starts before now + ``seconds``.

        From then on the sliding window, which holds wherever Gainsight's windows are.
        """
        with self._cond:
            self._not_before = max(self._not_before, self._clock() + seconds)
            self.fixed_windows = False

    def _windows(self, sent_at: float, seen_by: float) -> range:
        """The fixed windows a call sent at ``sent_at`` and seen by ``seen_by`` may arrive in."""
        first = int((sent_at - self.skew) // self.window)
        return range(first, int((seen_by + self.skew) // self.window) + 1)

    def _complete(self, permit: Permit) -> None:
        with self._cond:
            self._in_flight -= 1
            if self.limit is not None:
                seen_by = min(self._clock(), permit._started + self.transit)
                heapq.heappush(self._seen, seen_by)
                if permit._windows:  # a quick reply narrows where it could have arrived
                    delay = seen_by - permit._started
                    narrowed = self._windows(permit._sent_at, permit._sent_at + delay)
                    for w in permit._windows:
                        if w not in narrowed and w in self._counts:
                            self._counts[w] -= 1
                    self._forget_old_windows(permit._windows[0])
            self._cond.notify_all()

    def _forget_old_windows(self, oldest_in_use: int) -> None:
        """Drop the counts of windows long past (a long call may still release into them)."""
        if len(self._counts) > 8:
            for w in [w for w in self._counts if w < oldest_in_use - 2]:
                del self._counts[w]

    def __repr__(self) -> str:
        mode = "fixed" if self.fixed_windows else "sliding"
        return f"RateLimiter(calls_per_minute={self.limit}, window={self.window}, {mode})"
