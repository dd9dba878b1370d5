"""Fault injection: make the next API calls fail the ways real networks and gateways do.

Kinds: ``status`` (5xx, nothing applied), ``timeout`` (reply late, nothing applied), ``drop``
(close without a reply, nothing applied), ``rate_limit`` (429), ``lost_reply`` (apply, then
close without a reply), ``html`` (a 200 HTML page, as Gainsight sends without Accept), and the
persistent ``reject_value`` (a write containing field=value fails like a validation error).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "timeout", "drop", "rate_limit", "lost_reply", "html", "reject_value")


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` matching API calls."""

    kind: str
    count: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a call (``method`` / ``path_contains`` filters)."""
        m = self.params.get("method")
        p = self.params.get("path_contains")
        return (not m or m.upper() == method) and (not p or p in path)


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
        if kind == "status" and int(params.get("status", 500)) not in (500, 502, 503, 504):
            raise ValueError("status faults use status=500, 502, 503 or 504")
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
        with self._lock:
            self.random_rate = float(rate)
            self.random_kinds = tuple(kinds)
            self.random_params = params
            self._rng = random.Random(seed)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this call, if any (consumes one use of a queued fault)."""
        with self._lock:
            for f in self.pending:
                if f.matches(method, path):
                    f.count -= 1
                    if f.count <= 0:
                        self.pending.remove(f)
                    return f
            if self.random_rate and self._rng.random() < self.random_rate:
                return Fault(self._rng.choice(self.random_kinds), 1, dict(self.random_params))
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
