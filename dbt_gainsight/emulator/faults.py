"""Fault injection: make the next API calls fail the ways real networks and gateways do.

Nothing applied: ``status`` (5xx), ``timeout`` (reply late), ``drop`` (close without a
reply), ``rate_limit`` (429, optional ``retry_after``), ``html`` (a 200 HTML page, as Gainsight
sends without Accept). Applied, reply lost or late: ``lost_reply`` (apply, then close),
``slow_apply`` (apply ``apply_after`` s after arrival, reply at ``reply_after`` s or never),
``trickle`` (apply, then send the body one byte every ``interval`` s). ``people_pending`` keeps
the next async people job PENDING for ``seconds``. ``reject_value`` lasts until reset: a write
holding field=value fails like a validation error. See docs/gainsight-api.md, "Emulator faults".
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "status",
    "timeout",
    "drop",
    "rate_limit",
    "lost_reply",
    "html",
    "slow_apply",
    "trickle",
    "people_pending",
    "reject_value",
)
# Kinds that only hit some routes (templates of app.ROUTES); the others hit any API call.
WRITE_ROUTES = frozenset(
    {
        "POST /v1/data/objects/{object}",
        "PUT /v1/data/objects/{object}",
        "DELETE /v1/data/objects/{object}/{gsid}",
        "PUT /v1/peoplemgmt/v1.0/people",
        "PUT /v1/peoplemgmt/v1.0/people/async",
    }
)
ROUTES_OF_KIND = {
    "slow_apply": WRITE_ROUTES,
    "people_pending": frozenset({"PUT /v1/peoplemgmt/v1.0/people/async"}),
}


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` matching API calls."""

    kind: str
    count: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str, route: str = "") -> bool:
        """Whether this fault applies to a call (``method`` / ``path_contains`` filters)."""
        m = self.params.get("method")
        p = self.params.get("path_contains")
        routes = ROUTES_OF_KIND.get(self.kind)
        return (
            (not m or m.upper() == method)
            and (not p or p in path)
            and (routes is None or route in routes)
        )


def _seconds(params: dict[str, Any], name: str, default: float | None) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    value = float(value)
    if not 0 <= value <= 86400:
        raise ValueError(f"{name} must be between 0 and 86400 seconds")
    return value


def _check(kind: str, params: dict[str, Any]) -> None:
    """Refuse bad parameters when a fault is injected, not when it fires."""
    if kind == "status" and int(params.get("status", 500)) not in (500, 502, 503, 504):
        raise ValueError("status faults use status=500, 502, 503 or 504")
    if kind == "slow_apply":
        apply_after = _seconds(params, "apply_after", 1.0) or 0.0
        reply_after = _seconds(params, "reply_after", None)
        if reply_after is not None and reply_after < apply_after:
            raise ValueError("slow_apply: reply_after must not be before apply_after")
    if kind == "trickle" and not _seconds(params, "interval", 0.5):
        raise ValueError("trickle: interval must be more than 0 seconds")
    if kind == "people_pending":
        _seconds(params, "seconds", 60.0)
    if kind == "rate_limit" and params.get("retry_after") not in (None, "auto"):
        _seconds(params, "retry_after", None)


class Faults:
    """Pending faults, persistent value rejections and seeded random faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: list[Fault] = []
        self.rejects: list[tuple[str, Any]] = []
        self.random_rate = 0.0
        self.random_kinds: tuple[str, ...] = ()
        self.random_params: dict[str, Any] = {}
        self._rng = random.Random(0)

    def inject(self, kind: str, count: int = 1, **params: Any) -> None:
        """Queue a fault; ``reject_value`` needs ``field`` and ``value`` and lasts until reset."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
        if kind == "reject_value":
            if "field" not in params or "value" not in params:
                raise ValueError("reject_value needs field=... and value=...")
            with self._lock:
                self.rejects.append((params["field"], params["value"]))
            return
        _check(kind, params)
        with self._lock:
            self.pending.append(Fault(kind, max(1, int(count)), params))

    def set_random(
        self,
        rate: float = 0.05,
        kinds: tuple[str, ...] = ("status", "rate_limit"),
        seed: int | None = 1,
        **params: Any,
    ) -> None:
        """Fail a seeded random fraction ``rate`` of calls with one of ``kinds``."""
        for k in kinds:
            if k not in KINDS or k == "reject_value":
                raise ValueError(f"random faults cannot use kind {k!r}")
            _check(k, params)
        with self._lock:
            self.random_rate = float(rate)
            self.random_kinds = tuple(kinds)
            self.random_params = params
            self._rng = random.Random(seed)

    def take(self, method: str, path: str, route: str = "") -> Fault | None:
        """The fault for this call, if any (consumes one use of a queued fault)."""
        with self._lock:
            for f in self.pending:
                if f.matches(method, path, route):
                    f.count -= 1
                    if f.count <= 0:
                        self.pending.remove(f)
                    return f
            if self.random_rate and self._rng.random() < self.random_rate:
                fault = Fault(self._rng.choice(self.random_kinds), 1, dict(self.random_params))
                if fault.matches(method, path, route):
                    return fault
        return None

    def rejected_field(self, record: dict[str, Any]) -> str | None:
        """The field name of a persistent rejection this record triggers, if any."""
        if not self.rejects:
            return None
        for name, value in self.rejects:
            if name in record and record[name] == value:
                return name
        return None

    def reset(self) -> None:
        """Clear every fault, including random ones and value rejections."""
        with self._lock:
            self.pending.clear()
            self.rejects.clear()
            self.random_rate = 0.0
            self.random_kinds = ()
