"""One HTTP call to Gainsight, and the one place that decides whether to try it again.

:class:`Transport` owns the sessions, the rate limiter, the in-flight cap and the stats.
``attempt`` makes one request and maps what went wrong on the wire to the error tree;
``call`` retries it by a single rule (:meth:`Transport._retry_wait`):

- a 429 waits for the budget (every thread pauses), without using up the backoff schedule;
- a transient failure where nothing was applied (5xx on a safe call, no connection) backs off;
- a lost reply is retried only for an idempotent call; a POST's is raised as OutcomeUnknown;
- everything else is raised.

The access key is sent only in the ``accesskey`` header; it never appears in a message.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

try:
    from urllib3.exceptions import NameResolutionError
except ImportError:  # urllib3 < 2: DNS failures are plain NewConnectionErrors
    NameResolutionError = ()  # type: ignore[assignment,misc]

from dbt_gainsight import __version__
from dbt_gainsight.errors import (
    ConnectionFailed,
    GainsightAPIError,
    NotConnected,
    OutcomeUnknown,
    RateLimited,
    RetryableError,
    ServerError,
    redact,
)
from dbt_gainsight.gainsight.payloads import dumps
from dbt_gainsight.gainsight.ratelimit import RateLimiter
from dbt_gainsight.gainsight.responses import classify_response
from dbt_gainsight.gainsight.retry import RetryPolicy, backoff_delays, next_window_delay

log = logging.getLogger(__name__)

USER_AGENT = f"dbt-gainsight/{__version__}"
#: 429s one call may wait out before giving up (each waits for the next window).
MAX_RATE_LIMITED_RETRIES = 30
#: A 429 asking to wait longer than this (a daily cap) is raised instead of waited out.
MAX_RATE_LIMIT_WAIT = 900.0


class ClientStats:
    """Thread-safe counters of what the client did, for the run report and benchmarks.

    ``retries`` counts backoff retries of failed calls; ``rate_limited`` counts 429 replies
    (each waited out), which are not retries of a fault.
    """

    FIELDS = (
        "calls",
        "retries",
        "rate_limited",
        "server_errors",
        "timeouts",
        "split_calls",
        "records_sent",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.FIELDS, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """A consistent copy of every counter."""
        with self._lock:
            return dict(self._counts)

    def __getattr__(self, name: str) -> int:
        if name in ClientStats.FIELDS:
            with self._lock:
                return self._counts[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"ClientStats({self.snapshot()})"


class Transport:
    """Calls for one tenant, shared by every thread of a client.

    Each thread gets its own ``requests.Session``; the rate limiter and the stats are shared.
    ``clock``, ``wall_clock``, ``sleep`` and ``rng`` are injectable so retries and rate
    limiting can be tested exactly and without waiting.
    """

    def __init__(
        self,
        base_url: str,
        access_key: str,
        *,
        calls_per_minute: int | None,
        max_in_flight: int,
        timeout: float,
        retry: RetryPolicy,
        verify_tls: bool,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self.base_url = base_url
        self._key = access_key
        self.timeout = timeout
        self.retry = retry
        self.verify_tls = verify_tls
        self._timeouts = (min(timeout, 15.0), timeout)
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.rng = rng
        self.limiter = RateLimiter(calls_per_minute, clock=clock, sleep=sleep)
        self.stats = ClientStats()
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    # --- sessions ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._new_session()
            with self._lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {
                "accesskey": self._key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        # Resolve proxies and the CA bundle from the environment once, not on every call
        # (requests re-reads os.environ and ~/.netrc per request: ~0.2 ms of CPU a call).
        env = session.merge_environment_settings(self.base_url, {}, None, self.verify_tls, None)
        session.proxies.update(env["proxies"])
        session.verify = env["verify"]
        session.trust_env = False
        return session

    # --- one attempt -------------------------------------------------------------------

    def attempt(
        self, method: str, path: str, body: bytes | None, *, idempotent: bool, records: int
    ) -> dict[str, Any]:
        """Send one request and classify the reply; no retries here."""
        session = self._session()
        url = self.base_url + path
        with self._slots, self.limiter.acquire():
            self.stats.add("calls")
            if records:
                self.stats.add("records_sent", records)
            try:
                response = session.request(
                    method, url, data=body, timeout=self._timeouts, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise self._transport_error(exc) from None
        try:
            return classify_response(
                response, idempotent=idempotent, base_url=self.base_url, now=self.wall_clock()
            )
        except RateLimited:
            self.stats.add("rate_limited")
            raise
        except (ServerError, OutcomeUnknown):
            if response.status_code >= 500:
                self.stats.add("server_errors")
            raise

    def _transport_error(self, exc: requests.RequestException) -> GainsightAPIError:
        """Map a requests exception to our tree, by whether anything was sent."""
        where = self.base_url
        detail = redact(_reason(exc), self._key)
        if isinstance(exc, requests.exceptions.SSLError):
            return ConnectionFailed(
                f"cannot reach {where}: TLS failed ({detail}); check GAINSIGHT_URL"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            self.stats.add("timeouts")
            return NotConnected(f"cannot reach {where}: connecting timed out; check GAINSIGHT_URL")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.URLRequired)):
            return ConnectionFailed(f"{where} is not a usable URL ({detail}); check GAINSIGHT_URL")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            self.stats.add("timeouts")
            return OutcomeUnknown(f"no reply from Gainsight within {self.timeout:g}s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = exc.args[0] if exc.args else None
            if isinstance(reason, MaxRetryError):
                reason = reason.reason
            if isinstance(reason, NameResolutionError):
                return ConnectionFailed(
                    f"cannot reach {where}: the host name does not resolve; check GAINSIGHT_URL"
                )
            if isinstance(reason, NewConnectionError) or isinstance(
                exc, requests.exceptions.ProxyError
            ):
                return NotConnected(f"cannot reach {where}: {detail}; check GAINSIGHT_URL")
        return OutcomeUnknown(
            f"the connection to Gainsight dropped before the reply arrived ({detail})"
        )

    # --- one call, with retries --------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotent: bool,
        records: int = 0,
        retry: RetryPolicy | None = None,
        connect_retry: bool = True,
    ) -> dict[str, Any]:
        """One API call, retried by :meth:`_retry_wait`; returns the reply's envelope."""
        payload = None if body is None else dumps(body)
        policy = retry or self.retry
        state = _RetryState(backoff_delays(policy, self.rng), policy.max_attempts)
        while True:
            try:
                return self.attempt(method, path, payload, idempotent=idempotent, records=records)
            except GainsightAPIError as exc:
                wait = self._retry_wait(exc, state, idempotent=idempotent, connect=connect_retry)
                self._log_retry(exc, state, wait, method, path)
                if wait > 0:
                    self.sleep(wait)

    def _retry_wait(
        self, exc: GainsightAPIError, state: _RetryState, *, idempotent: bool, connect: bool
    ) -> float:
        """The retry rule: seconds to wait before trying again, or raise ``exc`` (or worse)."""
        if isinstance(exc, NotConnected) and not connect:
            raise ConnectionFailed(str(exc)) from None
        if isinstance(exc, RateLimited):
            # A 429 waits for the budget, not for a fault to clear: it must not use up the
            # backoff schedule that later 5xx errors of this call need.
            state.rate_limited += 1
            if state.rate_limited > MAX_RATE_LIMITED_RETRIES:
                raise exc
            wait = exc.retry_after
            if wait is None:
                wait = next_window_delay(self.wall_clock())
            if wait > MAX_RATE_LIMIT_WAIT:
                raise RateLimited(
                    f"Gainsight's call limit was reached and it asks to wait {wait:.0f}s"
                    " (the daily limit?); rerun later",
                    retry_after=wait,
                    status=429,
                    error_code=exc.error_code,
                ) from None
            self.limiter.penalize(wait)  # every thread waits, in the limiter
            state.waited = wait
            return 0.0
        retryable = isinstance(exc, RetryableError) or (
            isinstance(exc, OutcomeUnknown) and idempotent
        )
        if not retryable:
            raise exc
        delay = next(state.delays, None)
        if delay is None:
            raise exc
        state.attempt += 1
        self.stats.add("retries")
        return delay

    def _log_retry(
        self, exc: GainsightAPIError, state: _RetryState, wait: float, method: str, path: str
    ) -> None:
        if isinstance(exc, RateLimited):
            log.info("Gainsight rate limit (429): every call waits %.1fs", state.waited)
            return
        log.info(
            "%s %s failed (%s), retry %d/%d in %.1fs",
            method,
            path.split("?")[0],
            type(exc).__name__,
            state.attempt - 1,
            state.max_attempts - 1,
            wait,
        )

    def pause(self, seconds: float) -> None:
        """Wait between calls of one job (a reconcile, a poll)."""
        self.sleep(seconds)


class _RetryState:
    """Where one call is in its retries: the backoff schedule left and the 429s seen."""

    __slots__ = ("delays", "max_attempts", "attempt", "rate_limited", "waited")

    def __init__(self, delays: Iterator[float], max_attempts: int) -> None:
        self.delays = delays
        self.max_attempts = max_attempts
        self.attempt = 1
        self.rate_limited = 0
        self.waited = 0.0


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests exception, without the URL noise."""
    reason: Any = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    text = str(reason)
    if isinstance(reason, NewConnectionError) and ": " in text:
        text = text.rsplit(": ", 1)[-1]
    return text[:200]
