"""One HTTP call to Gainsight, and the one place that decides whether to try it again.

:class:`Transport` owns the sessions, the rate limiter, the in-flight cap and the stats.
``attempt`` makes one request within a wall-clock deadline and maps what went wrong on the
wire to the error tree; ``call`` retries it by a single rule (:meth:`Transport._retry_wait`):

- a 429 waits for the budget (every thread pauses), without using up the backoff schedule;
- a transient failure where nothing was applied (5xx on a safe call, 503, no connection)
  backs off and tries again;
- a lost reply is retried only for an idempotent call; a POST's is raised as OutcomeUnknown;
- everything else is raised.

Every wait goes through :meth:`Transport.pause`, which a cancel event ends at once. The access
key is sent only in the ``accesskey`` header; it never appears in a message or a hook.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

try:
    from urllib3.exceptions import NameResolutionError
except ImportError:  # urllib3 < 2: DNS failures are plain NewConnectionErrors
    NameResolutionError = ()  # type: ignore[assignment,misc]

from dbt_gainsight import interrupts
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
from dbt_gainsight.gainsight.events import CallRecord, ClientEvent, ClientStats
from dbt_gainsight.gainsight.payloads import dumps
from dbt_gainsight.gainsight.ratelimit import RateLimiter
from dbt_gainsight.gainsight.responses import classify_response
from dbt_gainsight.gainsight.retry import RetryPolicy, backoff_delays, next_window_delay
from dbt_gainsight.gainsight.sessions import (
    DeadlineExpired,
    Reply,
    ReplyTooLarge,
    Session,
    SessionPool,
    new_session,
    send,
)

log = logging.getLogger(__name__)

#: 429s one call may wait out before giving up (each waits for the next window).
MAX_RATE_LIMITED_RETRIES = 30
#: A 429 asking to wait longer than this (a daily cap) is raised instead of waited out.
MAX_RATE_LIMIT_WAIT = 900.0


class Transport:
    """Calls for one tenant, shared by every thread of a client.

    Sessions come from a pool (at most one per call in flight); the rate limiter and the stats
    are shared. ``clock``, ``wall_clock``, ``sleep`` and ``rng`` are injectable so retries and
    rate limiting can be tested exactly; ``sleep=None`` waits in real time on ``cancel``.
    """

    def __init__(
        self,
        base_url: str,
        access_key: str,
        *,
        calls_per_minute: int | None,
        max_in_flight: int,
        timeout: float,
        call_deadline: float | None,
        max_reply_bytes: int,
        retry: RetryPolicy,
        verify_tls: bool,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None] | None,
        rng: random.Random,
        cancel: threading.Event | None,
        on_event: Callable[[ClientEvent], None] | None,
        on_call: Callable[[CallRecord], None] | None,
    ) -> None:
        self.base_url = base_url
        self._key = access_key
        self.timeout = timeout
        # connect + read + body: a server trickling bytes cannot hold a call longer than this.
        self.call_deadline = call_deadline or 2 * timeout
        self.max_reply_bytes = max_reply_bytes
        self.retry = retry
        self.verify_tls = verify_tls
        self._timeouts = (min(timeout, 15.0), timeout)
        self.clock = clock
        self.wall_clock = wall_clock
        self._sleep = sleep
        self.rng = rng
        self.cancel = cancel
        self._on_event = on_event
        self._on_call = on_call
        self.limiter = RateLimiter(
            calls_per_minute, clock=clock, wall_clock=wall_clock, sleep=self.pause
        )
        self.stats = ClientStats()
        # Whether the tenant answered any call yet: until it has, a refused connection is a
        # wrong URL or a tenant that is down, not a blip, and is not retried.
        self.reached = False
        # Asked before every call leaves (e.g. the daily call budget); raises to refuse it.
        self.gate: Callable[[], None] | None = None
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._sessions = SessionPool(
            lambda: new_session(base_url, access_key, verify_tls=verify_tls)
        )

    # --- waiting and cancelling --------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Every wait of the client (backoff, rate limit, polling); a cancel ends it at once."""
        self.check_cancel()
        if self._sleep is not None:
            self._sleep(seconds)
        elif self.cancel is None:
            time.sleep(seconds)
        else:
            self.cancel.wait(seconds)
        self.check_cancel()

    def check_cancel(self) -> None:
        """Raise SyncInterrupted once the cancel event is set: no new call, no more waiting."""
        interrupts.stop_if_cancelled(
            self.cancel, "interrupted: no further call to Gainsight was started"
        )

    # --- sessions ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled session (and, when given back, those in use)."""
        self._sessions.close()

    # --- one attempt -------------------------------------------------------------------

    def attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        idempotent: bool,
        records: int,
        attempt: int = 1,
    ) -> dict[str, Any]:
        """Send one request and classify the reply; no retries here."""
        self.check_cancel()
        status: int | None = None
        content: bytes | None = None
        error_code: str | None = None
        with self._slots, self.limiter.acquire(), self._sessions.lend() as session:
            self.check_cancel()
            if self.gate is not None:
                self.gate()
            self.stats.add("calls")
            if records:
                self.stats.add("records_sent", records)
            started, t0 = self.wall_clock(), time.perf_counter()
            try:
                response = self._send(session, method, path, body, idempotent)
                self.reached = True
                status, content = response.status_code, response.content
                envelope = classify_response(
                    response, idempotent=idempotent, base_url=self.base_url, now=self.wall_clock()
                )
            except GainsightAPIError as exc:
                error_code = exc.error_code
                self._count(exc)
                raise
            finally:
                if self._on_call is not None:
                    ms = (time.perf_counter() - t0) * 1000
                    record = CallRecord(
                        started,
                        method,
                        path,
                        status,
                        ms,
                        records,
                        error_code,
                        attempt,
                        body,
                        content,
                    )
                    self._hook(self._on_call, record)
        return envelope

    def _send(
        self,
        session: Session,
        method: str,
        path: str,
        body: bytes | None,
        idempotent: bool,
    ) -> Reply:
        """The request and its whole reply, mapped to the error tree when it fails."""
        try:
            return send(
                session,
                method,
                path,
                body=body,
                timeouts=self._timeouts,
                deadline=self.call_deadline,
                max_bytes=self.max_reply_bytes,
            )
        except DeadlineExpired:
            self.stats.add("timeouts")
            raise OutcomeUnknown(
                f"no complete reply from Gainsight within {self.call_deadline:g}s"
            ) from None
        except ReplyTooLarge:
            cls = GainsightAPIError if idempotent else OutcomeUnknown
            raise cls(
                f"Gainsight's reply is larger than {self.max_reply_bytes:,} bytes; refused"
            ) from None
        except HTTPError as exc:
            raise self._transport_error(exc) from None

    def _count(self, exc: GainsightAPIError) -> None:
        if isinstance(exc, RateLimited):
            self.stats.add("rate_limited")
        elif isinstance(exc, (ServerError, OutcomeUnknown)) and (exc.status or 0) >= 500:
            self.stats.add("server_errors")

    def _hook(self, hook: Callable[[Any], None], value: Any) -> None:
        try:
            hook(value)
        except Exception:  # a broken log consumer must not break the sync
            log.warning("a client hook failed", exc_info=True)

    def _transport_error(self, exc: HTTPError) -> GainsightAPIError:
        """Map a urllib3 exception to our tree, by whether anything was sent."""
        where = self.base_url
        detail = redact(_reason(exc), self._key)
        if isinstance(exc, SSLError):
            return ConnectionFailed(
                f"cannot reach {where}: TLS failed ({detail}); check GAINSIGHT_URL"
            )
        if isinstance(exc, NameResolutionError):
            return ConnectionFailed(
                f"cannot reach {where}: the host name does not resolve; check GAINSIGHT_URL"
            )
        if isinstance(exc, (NewConnectionError, ProxyError)):  # nothing was sent
            return NotConnected(f"cannot reach {where}: {detail}; check GAINSIGHT_URL")
        if isinstance(exc, ConnectTimeoutError):
            self.stats.add("timeouts")
            return NotConnected(f"cannot reach {where}: connecting timed out; check GAINSIGHT_URL")
        if isinstance(exc, LocationValueError):
            return ConnectionFailed(f"{where} is not a usable URL ({detail}); check GAINSIGHT_URL")
        if isinstance(exc, ReadTimeoutError) or "Read timed out" in detail:
            self.stats.add("timeouts")
            return OutcomeUnknown(f"no reply from Gainsight within {self.timeout:g}s")
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
        obj: str | None = None,
    ) -> dict[str, Any]:
        """One API call, retried by :meth:`_retry_wait`; returns the reply's envelope.

        ``obj`` names the object the call is about, for events.
        """
        payload = body if body is None or isinstance(body, bytes) else dumps(body)
        policy = retry or self.retry
        state = _RetryState(backoff_delays(policy, self.rng), policy.max_attempts)
        tries = 0
        while True:
            tries += 1
            try:
                return self.attempt(
                    method, path, payload, idempotent=idempotent, records=records, attempt=tries
                )
            except GainsightAPIError as exc:
                where = (method, path, obj)
                wait = self._retry_wait(
                    exc, state, where, idempotent=idempotent, connect=connect_retry
                )
                if wait > 0:
                    self.pause(wait)

    def _retry_wait(
        self,
        exc: GainsightAPIError,
        state: _RetryState,
        where: tuple[str, str, str | None],
        *,
        idempotent: bool,
        connect: bool,
    ) -> float:
        """The retry rule: seconds to wait before trying again, or raise ``exc`` (or worse)."""
        if isinstance(exc, NotConnected) and not connect:
            raise ConnectionFailed(str(exc)) from None
        if isinstance(exc, NotConnected) and not self.reached:
            raise ConnectionFailed(
                f"{exc} (Gainsight has not answered yet in this run, so this is not retried)"
            ) from None
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
            self._emit("rate_limit_wait", exc, state, where, wait)
            log.info("Gainsight rate limit (429): every call waits %.1fs", wait)
            self.limiter.penalize(wait)  # every thread waits, in the limiter
            return 0.0
        unknown = isinstance(exc, OutcomeUnknown)
        if not (isinstance(exc, RetryableError) or (unknown and idempotent)):
            if unknown:
                self._emit("outcome_unknown", exc, state, where, 0.0)
            raise exc
        delay = next(state.delays, None)
        if delay is None:  # an idempotent call (a read, an update) is not checked: it fails
            raise exc
        self._emit("retry", exc, state, where, delay)
        method, path, _ = where
        log.info(
            "%s %s failed (%s), retry %d/%d in %.1fs",
            method,
            path.split("?")[0],
            type(exc).__name__,
            state.attempt,
            state.max_attempts - 1,
            delay,
        )
        state.attempt += 1
        self.stats.add("retries")
        return delay

    def _emit(
        self,
        kind: str,
        exc: GainsightAPIError,
        state: _RetryState,
        where: tuple[str, str, str | None],
        wait: float,
    ) -> None:
        if self._on_event is None:
            return
        method, path, obj = where
        event = ClientEvent(
            kind=kind,
            method=method,
            path=path,
            object=obj,
            attempt=state.attempt,
            max_attempts=state.max_attempts,
            wait_seconds=wait,
            reason=redact(str(exc), self._key)[:300],
            status=exc.status,
            error_code=exc.error_code,
        )
        self._hook(self._on_event, event)


class _RetryState:
    """Where one call is in its retries: the backoff schedule left and the 429s seen."""

    __slots__ = ("delays", "max_attempts", "attempt", "rate_limited")

    def __init__(self, delays: Iterator[float], max_attempts: int) -> None:
        self.delays = delays
        self.max_attempts = max_attempts
        self.attempt = 1
        self.rate_limited = 0


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a urllib3 exception, without the URL noise."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    text = str(exc)
    if isinstance(exc, NewConnectionError) and ": " in text:
        text = text.rsplit(": ", 1)[-1]
    return text[:200]
