"""What the client tells its callers besides results: counters, and hooks for logs.

:class:`ClientEvent` and :class:`CallRecord` are handed to ``on_event`` / ``on_call`` (from
worker threads); :class:`ClientStats` feeds the run report. None of them holds the access key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientEvent:
    """Something worth a log line: a retry, a rate-limit wait, a write with an unknown outcome.

    ``attempt`` is the try that failed, of ``max_attempts``; ``wait_seconds`` the pause before
    the next one (0 for ``outcome_unknown``, which is not retried).
    """

    kind: str  # "retry" | "rate_limit_wait" | "outcome_unknown"
    method: str
    path: str
    object: str | None
    attempt: int
    max_attempts: int
    wait_seconds: float
    reason: str
    status: int | None
    error_code: str | None


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, for an API log. Bodies hold record values: log them only when asked."""

    started: float  # epoch seconds
    method: str
    path: str
    status: int | None  # None: no reply
    ms: float
    records: int
    error_code: str | None
    attempt: int
    request_body: bytes | None
    response_body: bytes | None

    def __repr__(self) -> str:
        return (
            f"CallRecord({self.method} {self.path} -> {self.status}, {self.ms:.0f} ms,"
            f" attempt {self.attempt}, {self.records} records, {self.error_code})"
        )


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
