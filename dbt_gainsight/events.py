"""What a run tells whoever watches it: one stream of events, shown as text or as JSON lines.

The engine, the report and the client only state facts (a model started, a record was
rejected, a call is retried); a ``RunObserver`` decides what to show. So the terminal, a CI
log and ``--log-format json`` tell the same story, and the Python API shows nothing unless
given an observer. Event names and fields are a contract: docs/events.md lists them.

The client calls ``client_event`` and ``call`` from its worker threads: observers lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from dbt_gainsight import __version__
from dbt_gainsight.sync.report import ModelResult, RejectSample, SyncResult

#: A retry line per model at most this often; the ones in between are counted in the next.
RETRY_LINE_SECONDS = 5.0
#: A progress line (CI log, JSON) per model at most this often.
PROGRESS_SECONDS = 10.0
#: Counts a model_end event carries (the run results hold every field).
MODEL_COUNTS = (
    "rows",
    "new",
    "changed",
    "unchanged",
    "retry",
    "duplicates",
    "null_keys",
    "no_longer_in_model",
    "sent",
    "accepted",
    "rejected",
    "failed",
    "api_calls",
    "metadata_calls",
    "retries",
    "rate_limited",
)
CLIENT_KINDS = ("retry", "rate_limit_wait", "outcome_unknown")


def now_iso(epoch: float | None = None) -> str:
    """UTC time to the millisecond, as every event and api-log line spells it."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_status(result: SyncResult) -> str:
    """One word for a whole run: success, partial (something rejected/failed), interrupted."""
    if result.interrupted:
        return "interrupted"
    return "success" if result.success else "partial"


@dataclass
class _Throttle:
    """Lets one line through per ``seconds`` per key; counts the ones it held back."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    last: dict[Any, float] = field(default_factory=dict)
    held: dict[Any, int] = field(default_factory=dict)

    def allow(self, key: Any, *, first: bool = True) -> tuple[bool, int]:
        """(show this one?, how many were held back since the last one shown).

        ``first=False`` holds back the first one too (a progress line only after a while).
        """
        now = self.clock()
        if not first and key not in self.last:
            self.last[key] = now
            return False, 0
        if key in self.last and now - self.last[key] < self.seconds:
            self.held[key] = self.held.get(key, 0) + 1
            return False, 0
        self.last[key] = now
        return True, self.held.pop(key, 0)


class RunObserver:
    """Receives the events of one sync run. This base shows nothing (the Python API default).

    Subclasses override ``emit`` (a JSON-shaped event) or the individual methods.
    """

    def __init__(self, *, show_values: bool = False, clock: Callable[[], float] = time.monotonic):
        self.show_values = show_values
        self.run_id: str | None = None
        self.current: ModelResult | None = None  # the model the client is working for
        self.lock = threading.RLock()
        self.retry_throttle = _Throttle(RETRY_LINE_SECONDS, clock)
        self.progress_throttle = _Throttle(PROGRESS_SECONDS, clock)
        self.started: set[str] = set()
        self.ended: set[str] = set()
        self.on_call: Callable[[Any], None] | None = None  # e.g. ApiLog.call

    def __enter__(self) -> RunObserver:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    # Hooks for the client (PROTOCOL 4): thread-safe ------------------------------------

    def client_hooks(self) -> dict[str, Callable[[Any], None]]:
        """``on_event`` (retries and waits) and, with an api log, ``on_call`` for the client."""
        hooks: dict[str, Callable[[Any], None]] = {"on_event": self.client_event}
        if self.on_call is not None:
            hooks["on_call"] = self.on_call
        return hooks

    def client_event(self, event: Any) -> None:
        """A retry, a rate-limit wait or an unknown outcome, from a client worker thread."""
        kind = getattr(event, "kind", "retry")
        model = self.current
        with self.lock:
            show, held = self.retry_throttle.allow((model.unique_id if model else None, kind))
        if not show:
            return
        payload = {
            "model": model.model if model else None,
            "method": getattr(event, "method", None),
            "path": _path_only(getattr(event, "path", None)),
            "object": getattr(event, "object", None),
            "attempt": getattr(event, "attempt", None),
            "max_attempts": getattr(event, "max_attempts", None),
            "wait_seconds": _rounded(getattr(event, "wait_seconds", None)),
            "reason": getattr(event, "reason", None),
            "status": getattr(event, "status", None),
            "error_code": getattr(event, "error_code", None),
            "held_back": held,
        }
        self.emit(kind if kind in CLIENT_KINDS else "retry", payload)

    # Lifecycle (called by SyncResult and the engine's progress callback) ---------------

    def run_start(self, result: SyncResult) -> None:
        """The run has an id; nothing is sent yet."""
        self.run_id = result.run_id
        self.emit(
            "run_start",
            {"version": __version__, "started_at": result.started_at, "dry_run": result.dry_run},
        )

    def model_start(self, model: ModelResult) -> None:
        """The engine starts on a model (its diff counts are known)."""
        with self.lock:
            self.current = model
            self.started.add(model.unique_id)
        self.emit("model_start", {**_model_id(model), "to_send": model.to_send, "rows": model.rows})

    def progress(self, model: ModelResult, read: int) -> None:
        """Called by the engine as batches are answered (throttled here)."""
        with self.lock:
            show, _ = self.progress_throttle.allow(model.unique_id, first=False)
        if show:
            self.emit(
                "progress",
                {
                    "model": model.model,
                    "read": read,
                    "to_send": model.to_send,
                    "sent": model.sent,
                    "accepted": model.accepted,
                    "rejected": model.rejected,
                    "failed": model.failed,
                },
            )

    def reject(self, model: ModelResult, sample: RejectSample) -> None:
        """A refused record: its code always; its key and message only with --show-values."""
        if model.rejected > len(model.first_rejects):
            return  # past the samples kept; model_end counts every code
        payload: dict[str, Any] = {"model": model.model, "error_code": sample.error_code}
        if self.show_values:
            payload.update(key=sample.key, error_message=sample.error_message)
        self.emit("reject", payload)

    def model_end(self, model: ModelResult) -> None:
        """A model's counts are final."""
        with self.lock:
            if self.current is model:
                self.current = None
            self.started.add(model.unique_id)
            self.ended.add(model.unique_id)
        payload = {**_model_id(model), "status": model.status, "message": model.message}
        payload.update({name: getattr(model, name) for name in MODEL_COUNTS})
        payload["rejects_by_code"] = dict(model.rejects_by_code)
        payload["seconds"] = round(model.seconds, 3)
        self.emit("model_end", payload)

    def run_end(self, result: SyncResult, results_path: str | None) -> None:
        """After the run: close models never started (skipped, failed early, planned)."""
        for model in result.models:
            if model.unique_id not in self.ended:
                if model.unique_id not in self.started:
                    self.model_start(model)
                self.model_end(model)
        totals = {
            name: sum(getattr(m, name) for m in result.models)
            for name in ("sent", "accepted", "rejected", "failed", "api_calls", "rate_limited")
        }
        self.emit(
            "run_end",
            {
                "status": run_status(result),
                "exit_code": result.exit_code,
                "models": len(result.models),
                **totals,
                "seconds": round(result.seconds, 3),
                "run_results": results_path,
                "state_schema": result.state_schema,
            },
        )

    def message(self, level: str, text: str) -> None:
        """A warning or note from the engine or the project (level: info, warn, error)."""
        self.emit("message", {"level": level, "text": text})

    def failed(self, exit_code: int, message: str, problems: list[dict[str, str]]) -> None:
        """The command stopped before or instead of a run (config error, lock held, ...)."""
        self.emit("error", {"exit_code": exit_code, "message": message, "problems": problems})

    # Output ------------------------------------------------------------------------------

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Show one event; the base class shows nothing."""


class JsonLogObserver(RunObserver):
    """``--log-format json``: one JSON object per line, every event, nothing else on stdout."""

    def __init__(self, out: IO[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.out = out

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Write ``{"event", "time", "run_id", ...payload}`` as one line."""
        line = json.dumps(
            {"event": event, "time": now_iso(), "run_id": self.run_id, **payload},
            default=str,
            ensure_ascii=False,
        )
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()


class ApiLog:
    """``--api-log FILE``: every HTTP attempt as one JSON line, from the client's on_call hook.

    The access key is never in a CallRecord (it travels in a header the client does not
    report); record values (the bodies) are written only when ``bodies`` is asked for.
    """

    def __init__(self, path: str, *, bodies: bool = False, observer: RunObserver | None = None):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.bodies = bodies
        self.observer = observer
        self.lock = threading.Lock()

    def call(self, record: Any) -> None:
        """Write one call (thread-safe: the client calls from its workers)."""
        started = getattr(record, "started", None)
        attempt = getattr(record, "attempt", 1) or 1
        model = self.observer.current if self.observer else None
        line: dict[str, Any] = {
            "time": now_iso(started),
            "method": getattr(record, "method", None),
            "path": _path_only(getattr(record, "path", None)),
            "status": getattr(record, "status", None),
            "ms": _rounded(getattr(record, "ms", None)),
            "records": getattr(record, "records", None),
            "error_code": getattr(record, "error_code", None),
            "attempt": attempt,
            "retry": attempt - 1,
            "model": model.model if model else None,
            "run_id": self.observer.run_id if self.observer else None,
        }
        if self.bodies:
            line["request_body"] = _body(getattr(record, "request_body", None))
            line["response_body"] = _body(getattr(record, "response_body", None))
        text = json.dumps(line, default=str, ensure_ascii=False)
        with self.lock:
            if not self.file.closed:
                self.file.write(text + "\n")
                self.file.flush()

    def close(self) -> None:
        """Close the file."""
        with self.lock:
            self.file.close()


def _model_id(model: ModelResult) -> dict[str, Any]:
    return {
        "model": model.model,
        "unique_id": model.unique_id,
        "object": model.object,
        "behavior": model.behavior,
        "connection": model.connection,
    }


def _path_only(path: str | None) -> str | None:
    """A path without its query string (a query may carry anything)."""
    return path.split("?", 1)[0] if isinstance(path, str) else path


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _body(raw: Any) -> Any:
    """A request/response body as JSON when it parses, else text; None stays None."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text
