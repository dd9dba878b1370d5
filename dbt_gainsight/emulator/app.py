"""The emulator's request handling, independent of the socket server.

One API call goes: count it -> check the access key -> count it against the fixed windows
(429 when over) -> apply an injected fault, if any -> route -> validate and apply -> envelope.
Inspection routes under ``/__emulator__/`` skip all of that: no key, no limit, no counting.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dbt_gainsight.emulator import inspection, writes
from dbt_gainsight.emulator import query as query_mod
from dbt_gainsight.emulator.faults import Fault, Faults
from dbt_gainsight.emulator.limits import FixedWindows
from dbt_gainsight.emulator.objects import ObjectDef
from dbt_gainsight.emulator.people import AsyncJobs, upsert_person
from dbt_gainsight.emulator.routes import (
    BULK_ROUTE,
    REASONS,
    Reply,
    envelope,
    json_bytes,
    match_route,
)
from dbt_gainsight.emulator.store import Store
from dbt_gainsight.emulator.validation import ApiError, _short, display_value

LOG_SIZE = 50_000
# Faults whose call is applied (only the reply is lost, late or slow).
APPLIED_FAULTS = frozenset({"lost_reply", "slow_apply", "trickle", "people_pending"})
HOLD_SECONDS = 86400.0  # "never": held until the emulator stops
_now = time.monotonic


@dataclass
class Settings:
    """Everything configurable at runtime (POST /__emulator__/limits)."""

    access_key: str
    rate_limit_per_minute: int | None = 100
    daily_limit: int | None = 50_000
    bulk_limit_per_hour: int | None = 10
    bulk_daily_limit: int | None = 100
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    query_data_shape: str = "list"
    query_empty_result: str = "empty"
    retry_after: float | str | None = None


class Core:
    """Request handling, counters and the request log of one emulator."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], float],
        rng: Any,
        stopping: threading.Event,
    ):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rng = rng
        self.stopping = stopping
        self.faults = Faults()
        self.jobs = AsyncJobs(self._count_written)
        s = settings
        self.limits = FixedWindows([(60, s.rate_limit_per_minute), (86400, s.daily_limit)], clock)
        self.bulk_limits = FixedWindows(
            [(3600, s.bulk_limit_per_hour), (86400, s.bulk_daily_limit)], clock
        )
        self._lock = threading.Lock()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._reset_counters()

    # -- counters ------------------------------------------------------------------------
    def _reset_counters(self) -> None:
        with self._lock:
            self.calls = 0
            self.by_route: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.records_written = 0
            self.records_deleted = 0
            self.rate_limited = 0
            self.inflight = 0
            self.max_concurrent = 0
            self.log.clear()

    def _count_written(self, n: int) -> None:
        with self._lock:
            self.records_written += n

    def counters(self) -> dict[str, Any]:
        """Totals since start or the last reset."""
        with self._lock:
            return {
                "calls": self.calls,
                "by_route": dict(self.by_route),
                "by_status": dict(self.by_status),
                "records_written": self.records_written,
                "records_deleted": self.records_deleted,
                "rate_limited": self.rate_limited,
                "max_concurrent": self.max_concurrent,
            }

    def request_log(self) -> list[dict[str, Any]]:
        """The request log, oldest first (the last 50,000 API calls)."""
        with self._lock:
            return list(self.log)

    def reset(self, data: bool = True, counters: bool = True) -> None:
        """Forget records (reseeding built-ins) and/or counters, limits' windows, faults, jobs."""
        if data:
            self.store.reset()
            self.jobs.clear()
            self.faults.reset()
        if counters:
            self._reset_counters()
            self.limits.reset()
            self.bulk_limits.reset()

    def set_limits(self, **kw: Any) -> None:
        """Change limits, latency, query shape or Retry-After at runtime."""
        for name, value in kw.items():
            if not hasattr(self.settings, name) or name == "access_key":
                raise ValueError(f"unknown setting {name!r}")
            setattr(self.settings, name, value)
        s = self.settings
        self.limits.set_limit(60, s.rate_limit_per_minute)
        self.limits.set_limit(86400, s.daily_limit)
        self.bulk_limits.set_limit(3600, s.bulk_limit_per_hour)
        self.bulk_limits.set_limit(86400, s.bulk_daily_limit)

    # -- API calls -----------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        """Answer one HTTP request (API or inspection)."""
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/__emulator__/") or path == "/__emulator__":
            return inspection.inspect(self, method, path, headers, body)
        started = time.perf_counter()
        with self._lock:
            self.calls += 1
            self.inflight += 1
            self.max_concurrent = max(self.max_concurrent, self.inflight)
        route = match_route(method, path)
        template = route[0] if route else "unknown"
        count = 0
        written = 0
        try:
            reply, count, written = self._api(method, path, parts.query, headers, body, route)
        except Exception as exc:  # a bug in the emulator must still answer with an envelope
            reply = Reply(500, json_bytes(envelope(False, None, None, f"Emulator error: {exc!r}")))
        with self._lock:
            self.inflight -= 1
            self.by_route[template] += 1
            status = "dropped" if reply.drop and reply.status != 200 else str(reply.status)
            self.by_status[status] += 1
            self.records_written += written
            if reply.status == 429:
                self.rate_limited += 1
            self.log.append(
                {
                    "time": self.clock(),
                    "method": method,
                    "path": path,
                    "route": template,
                    "status": reply.status,
                    "dropped": reply.drop,
                    "records": count,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
        s = self.settings
        if s.latency_ms or s.latency_jitter_ms:
            reply.delay += (s.latency_ms + self.rng.uniform(0, s.latency_jitter_ms)) / 1000
        return reply

    def _api(
        self,
        method: str,
        path: str,
        query: str,
        headers: Any,
        body: bytes,
        route: tuple[str, tuple[str, ...]] | None,
    ) -> tuple[Reply, int, int]:
        arrived = _now()
        key = headers.get("accesskey")
        if key != self.settings.access_key:
            env = envelope(False, None, "GS_APIG_2401", "Unauthorized", "Unauthorized")
            return Reply(401, json_bytes(env)), 0, 0
        limiter = self.bulk_limits if route and route[0] == BULK_ROUTE else self.limits
        refused = limiter.hit(key)
        if refused is not None:
            return self._too_many(refused), 0, 0
        fault = self.faults.take(method, path, route[0] if route else "")
        if fault is not None and fault.kind not in APPLIED_FAULTS:
            return self._fault_reply(fault), 0, 0
        if route is None:
            env = envelope(False, None, "GS_APIG_1000", f"No route for {method} {path}")
            return Reply(404, json_bytes(env)), 0, 0
        template, params = route
        fp = fault.params if fault is not None else {}
        kind = fault.kind if fault is not None else None
        if kind == "slow_apply":  # the write lands late, after the client may have given up
            self.stopping.wait(max(0.0, arrived + float(fp.get("apply_after", 1)) - _now()))
            if self.stopping.is_set():
                return Reply(0, drop=True), 0, 0
        pending = float(fp.get("seconds", 60)) if kind == "people_pending" else 0.0
        try:
            payload = self._payload(method, headers, body)
            data, count, written = self._dispatch(template, params, query, payload, pending)
            env = self._success(template, data)
            reply = Reply(200, json_bytes(env))
        except ApiError as err:
            env = envelope(False, err.data, err.code, err.desc)
            reply, count, written = Reply(err.status, json_bytes(env)), 0, 0
        if kind == "lost_reply":  # the write happened, the client never hears
            reply.drop = True
        elif kind == "slow_apply":
            reply_after = fp.get("reply_after")
            if reply_after is None:  # never: hold the connection, then close it unanswered
                reply.drop, reply.delay = True, HOLD_SECONDS
            else:
                reply.delay = max(0.0, arrived + float(reply_after) - _now())
        elif kind == "trickle":
            reply.trickle = float(fp.get("interval", 0.5))
        return reply, count, written

    def _too_many(self, wait: float, retry_after: float | str | None = None) -> Reply:
        env = envelope(False, None, "GS_APIG_2404", "API rate limit exceeded", "Too many requests")
        headers = []
        ra = self.settings.retry_after if retry_after is None else retry_after
        if ra is not None:
            seconds = math.ceil(wait) if ra == "auto" else ra
            headers.append(("Retry-After", str(int(math.ceil(float(seconds))))))
        return Reply(429, json_bytes(env), headers=headers)

    def _fault_reply(self, fault: Fault) -> Reply:
        kind = fault.kind
        if kind == "status":
            status = int(fault.params.get("status", 500))
            desc = str(fault.params.get("desc") or REASONS[status])
            env = envelope(False, None, fault.params.get("code"), desc)
            return Reply(status, json_bytes(env))
        if kind == "rate_limit":
            params = fault.params
            return self._too_many(float(params.get("wait", 60)), params.get("retry_after"))
        if kind == "drop":
            return Reply(0, drop=True)
        if kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>"
            return Reply(200, page, content_type="text/html; charset=utf-8")
        # timeout: hold the reply, then answer as a gateway would
        seconds = float(fault.params.get("seconds", 30))
        self.stopping.wait(seconds)
        return Reply(504, json_bytes(envelope(False, None, None, "Gateway Timeout")))

    @staticmethod
    def _payload(method: str, headers: Any, body: bytes) -> Any:
        if method not in ("POST", "PUT"):
            return None
        ctype = (headers.get("Content-Type") or "").lower()
        if "application/json" not in ctype:
            raise ApiError(None, "Content-Type must be application/json", status=415)
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise ApiError("GSOBJ_1002", "The request body is not valid JSON") from None

    def _object(self, name: str) -> ObjectDef:
        obj = self.store.object(name)
        if obj is None:  # docs/gainsight-api.md: an unknown object is an invalid API path
            raise ApiError(
                "GSOBJ_1023",
                "Invalid API called, please refer to API documentation "
                f"(object {_short(name)} not found)",
            )
        return obj

    def _reject(self, record: dict[str, Any]) -> None:
        name = self.faults.rejected_field(record)
        if name is not None:
            raise ApiError("GSOBJ_1002", f"Invalid value {_short(record[name])} for field {name}")

    def _dispatch(
        self, template: str, params: tuple[str, ...], query: str, payload: Any, pending: float = 0
    ) -> tuple[Any, int, int]:
        """Run a matched route; returns (data, records in the call, records written)."""
        store = self.store
        if template == "POST /v1/data/objects/{object}":
            data, written = writes.insert(store, self._object(params[0]), payload, self._reject)
            return data, written, written
        if template == "PUT /v1/data/objects/{object}":
            keys = ",".join(parse_qs(query).get("keys", []))
            obj = self._object(params[0])
            data, written = writes.update(store, obj, payload, keys, self._reject)
            return data, len(payload["records"]), written
        if template == "POST /v1/data/objects/query/{object}":
            rows = query_mod.run_query(store, self._object(params[0]), payload)
            return rows, len(rows), 0
        if template == "DELETE /v1/data/objects/{object}/{gsid}":
            data, written = writes.delete(store, self._object(params[0]), params[1])
            with self._lock:
                self.records_deleted += written
            return data, 1, written
        if template == "PUT /v1/peoplemgmt/v1.0/people":
            data, written = upsert_person(store, payload, self._reject)
            return data, 1, written
        if template == BULK_ROUTE:
            data, written = self.jobs.submit(store, payload, self._reject, pending)
            return data, len(payload), written
        if template == "GET /v1/peoplemgmt/v1.0/people/async/{statusId}":
            return self.jobs.status(params[0]), 0, 0
        if template == "GET /v1/meta/services/objects/list":
            return [o.list_entry() for o in store.objects.values()], 0, 0
        if template == "GET /v1/meta/services/objects/{name}/describe":
            return self._describe([params[0]]), 0, 0
        if template == "POST /v1/meta/services/objects/describe":
            names = payload.get("objectNames") if isinstance(payload, dict) else None
            if not isinstance(names, list) or not names:
                raise ApiError("GSOBJ_1002", "The body must hold a non-empty 'objectNames' list")
            return self._describe(names), 0, 0
        raise ApiError("GS_APIG_1000", f"No route for {template}", status=404)

    def _describe(self, names: list[Any]) -> list[dict[str, Any]]:
        out = []
        for name in names:
            obj = self.store.object(str(name))
            if obj is None:
                raise ApiError(None, "Requested object not found.", status=200)
            out.append(obj.describe())
        return out

    def _success(self, template: str, data: Any) -> dict[str, Any]:
        if template == "POST /v1/data/objects/query/{object}":
            s = self.settings
            if not data and s.query_empty_result == "error":
                return envelope(False, None, None, "No data found for given criteria")
            if s.query_data_shape == "records":
                data = {"records": data}
        return envelope(True, data)

    # -- inspection ----------------------------------------------------------------------
    def records(self, object_name: str) -> list[dict[str, Any]]:
        """Every stored record of an object, values as stored (labels, ISO datetimes)."""
        obj = self._object(object_name)
        with self.store.lock:
            table = self.store.table(obj.name)
            return [self.store.record_dict(obj.name, s, display_value) for s in table.scan()]

    def seed_records(self, object_name: str, records: Iterable[dict[str, Any]]) -> list[str]:
        """Insert records in the API's write form, validated, without HTTP or limits."""
        obj = self._object(object_name)
        store = self.store
        with store.lock:
            return writes.insert_records(store, obj, records, [])
