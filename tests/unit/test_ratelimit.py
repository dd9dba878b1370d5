from __future__ import annotations

import threading
import time

import pytest

from dbt_gainsight.gainsight.ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def make(n, t, **kw):
    """A limiter on fake time; the sliding window unless ``fixed_windows=True``."""
    kw.setdefault("fixed_windows", False)
    return RateLimiter(n, clock=t.clock, wall_clock=t.clock, sleep=t.sleep, **kw)


def test_n_calls_then_blocks_until_the_server_surely_saw_the_first_plus_window():
    """A call is live until min(reply, sent + transit) + window: a reply slower than the
    transit bound (1 s) holds its slot only for the transit bound."""
    t = FakeTime()
    lim = make(3, t)
    for latency in (0.5, 2.0, 3.0):  # sent at 1000, 1000.5, 1002.5; replies 1000.5, 1002.5, 1005.5
        with lim.acquire():
            t.advance(latency)  # surely seen at 1000.5, 1001.5 (not 1002.5), 1003.5 (not 1005.5)
    assert t.sleeps == []
    lim.acquire().release()
    assert t.now == pytest.approx(1060.5)  # the first reply + 60
    lim.acquire().release()
    assert t.now == pytest.approx(1061.5)  # the second call's send + 1 s + 60, not its reply + 60
    assert lim.waited_seconds == pytest.approx(61.5 - 5.5)


def test_no_fixed_window_ever_sees_more_than_n_calls():
    """Whatever the server's window alignment, and wherever in [sent, min(reply, sent +
    transit)] each call reaches it, N+1 consecutive arrivals span at least the window."""
    t = FakeTime(start=0.0)
    n = 5
    lim = make(n, t)
    starts, latest_arrivals = [], []
    for i in range(40):
        with lim.acquire():
            starts.append(t.now)
            latency = 0.5 + (i % 3) * 0.7  # jitter, some replies slower than the transit bound
            latest_arrivals.append(t.now + min(latency, lim.transit))
            t.advance(latency)
    for i in range(len(starts) - n):
        # the earliest the later call can arrive minus the latest the earlier one can
        assert starts[i + n] - latest_arrivals[i] >= 60.0 - 1e-9  # windows are half-open
    # ... and the budget is still used: 40 calls in well under 8 full minutes + latency
    assert starts[-1] < 8 * 60 + 10


def test_in_flight_calls_count_as_live():
    t = FakeTime()
    lim = make(2, t)
    a = lim.acquire()
    b = lim.acquire()
    got = []

    def third():
        with lim.acquire():
            got.append(t.clock())

    th = threading.Thread(target=third)
    th.start()
    time.sleep(0.05)
    assert got == []  # two in flight, none completed: waits for a reply, not a time
    t.advance(5.0)
    a.release()  # replied at 1005, sent at 1000: seen by 1001; the slot frees at 1001 + 60
    th.join(2)
    assert not th.is_alive()
    assert got == [pytest.approx(1061.0)]
    b.release()


def test_penalize_delays_every_next_call():
    t = FakeTime()
    lim = make(100, t)
    lim.acquire().release()
    lim.penalize(30.0)
    lim.penalize(10.0)  # a shorter penalty never shortens a longer one
    lim.acquire().release()
    assert t.now == pytest.approx(1030.0)
    lim.acquire().release()
    assert t.now == pytest.approx(1030.0)


@pytest.mark.parametrize("limit", [None, 0])
def test_unlimited_returns_immediately_but_honours_penalty(limit):
    t = FakeTime()
    lim = make(limit, t)
    for _ in range(1000):
        lim.acquire().release()
    assert t.sleeps == [] and lim.waited_seconds == 0
    lim.penalize(2.0)
    lim.acquire().release()
    assert t.now == pytest.approx(1002.0)


def test_release_is_idempotent():
    t = FakeTime()
    lim = make(1, t)
    p = lim.acquire()
    p.release()
    p.release()
    assert lim._in_flight == 0
    assert len(lim._seen) == 1


def test_threads_share_one_budget():
    t = FakeTime(start=0.0)
    lim = make(4, t)
    starts = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            with lim.acquire():
                with lock:
                    starts.append(t.clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(5)
    assert len(starts) == 20
    starts.sort()
    for i in range(len(starts) - 4):
        assert starts[i + 4] - starts[i] >= 60.0


def test_negative_limit_rejected():
    with pytest.raises(ValueError):
        RateLimiter(-1)


# --- fixed windows (the default until a 429) ------------------------------------------------


def test_fixed_windows_use_the_rest_of_the_minute_the_run_starts_in():
    """Started 30 s into a minute, 10 a minute: 10 calls now, 10 just after the next minute
    starts (plus the 1 s skew guard), 5 after the one after; no wait for a reply."""
    t = FakeTime(start=60 * 1000 + 30.0)
    lim = make(10, t, fixed_windows=True)
    starts = []
    for _ in range(25):
        with lim.acquire():
            starts.append(t.now)
            t.advance(2.0)  # slow replies, longer than the transit bound
    assert starts[9] == pytest.approx(60 * 1000 + 48.0)  # ten calls, 2 s apart
    assert starts[10] == pytest.approx(60 * 1001 + 1.0)
    assert starts[20] == pytest.approx(60 * 1002 + 1.0)
    assert starts[-1] == pytest.approx(60 * 1002 + 9.0)


@pytest.mark.parametrize("offset", [-1.0, -0.4, 0.0, 0.7, 1.0])
@pytest.mark.parametrize("arrive", ["sent", "seen"])
def test_fixed_windows_never_overflow_within_the_skew_and_transit_bounds(offset, arrive):
    """Gainsight's clock up to 1 s off ours, each call arriving anywhere between being sent
    and min(reply, sent + transit): no minute of Gainsight's ever holds more than N."""
    t = FakeTime(start=60 * 5000 + 57.3)
    n = 7
    lim = make(n, t, fixed_windows=True)
    arrivals = []
    for i in range(120):
        with lim.acquire():
            sent = t.now
            latency = (0.1, 0.6, 1.4, 2.9, 0.05)[i % 5]
            seen = min(sent + latency, sent + lim.transit)
            arrivals.append((sent if arrive == "sent" else seen) + offset)
            t.advance(latency)
    per_minute = {}
    for a in arrivals:
        per_minute[a // 60] = per_minute.get(a // 60, 0) + 1
    assert max(per_minute.values()) <= n
    assert len(per_minute) <= 120 // n + 3  # and the budget is used, minute after minute


def test_a_429_turns_the_limiter_to_the_sliding_window():
    t = FakeTime(start=60 * 1000 + 30.0)
    lim = make(3, t, fixed_windows=True)
    for _ in range(3):
        lim.acquire().release()
    lim.penalize(31.0)  # Gainsight disagrees: wait for its next minute
    assert not lim.fixed_windows
    lim.acquire().release()
    # the sliding window counts the three calls at :30 until :30 + 60, past the penalty
    assert t.now == pytest.approx(60 * 1001 + 30.0)
