"""What a run did, per model: counts for the terminal and target/gainsight_run_results.json.

The report carries key values and Gainsight's messages for the first rejects (they may be
personal data, like any model output) but never a URL's credentials or an access key. The
console shows only codes and counts of them unless asked (``--show-values``).

``SyncResult`` also tells a ``RunObserver`` (dbt_gainsight.events) as models start, end and
collect rejects, so a watcher sees the run live without the engine knowing who watches.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbt_gainsight.events import RunObserver

MAX_REJECT_SAMPLES = 20

# Model statuses.
SUCCESS = "success"  # every record sent was accepted
PARTIAL = "partial"  # some records rejected
ERROR = "error"  # the model could not be synced
SKIPPED = "skipped"  # not synced this run (disabled, failed in dbt, ...)
PLANNED = "planned"  # --dry-run


@dataclass
class RejectSample:
    """One refused record as reported."""

    key: dict[str, Any]
    error_code: str
    error_message: str


@dataclass
class ModelResult:
    """Counts and outcome for one model."""

    model: str
    unique_id: str
    object: str
    behavior: str
    connection: str
    status: str = SUCCESS
    message: str | None = None
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    retry: int = 0
    duplicates: int = 0
    null_keys: int = 0
    no_longer_in_model: int = 0
    planned_deletes: int = 0  # records whose rows left the model, to delete (deletes: enabled)
    deleted: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0  # could not be sent (retries exhausted); retried next run
    api_calls: int = 0  # data calls: existence queries and writes
    metadata_calls: int = 0  # describe calls that validated the mapping before sending
    planned_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    started_at: str | None = None  # when the engine started on it (ISO, UTC)
    ended_at: str | None = None
    state_reset: str | None = None
    not_built: bool = False  # skipped because its last dbt run failed: the run exits 1
    rejects_by_code: dict[str, int] = field(default_factory=dict)
    first_rejects: list[RejectSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Not a field: never serialised. Set by SyncResult.add_model.
        self.observer: RunObserver | None = None

    @property
    def to_send(self) -> int:
        """Rows the diff selected for sending."""
        return self.new + self.changed + self.retry

    def add_reject(self, sample: RejectSample) -> None:
        """Count a rejected record; keep the first few for the report."""
        self.rejected += 1
        code = sample.error_code or "UNKNOWN"
        self.rejects_by_code[code] = self.rejects_by_code.get(code, 0) + 1
        if len(self.first_rejects) < MAX_REJECT_SAMPLES:
            self.first_rejects.append(sample)
        if self.observer is not None:
            self.observer.reject(self, sample)

    def finish(self) -> None:
        """Derive the status from the counts (unless already skipped or failed)."""
        if self.status in (ERROR, SKIPPED, PLANNED):
            return
        self.status = PARTIAL if (self.rejected or self.failed) else SUCCESS


@dataclass
class SyncResult:
    """Everything one ``dbt-gainsight sync`` did."""

    run_id: str
    started_at: str
    dry_run: bool = False
    models: list[ModelResult] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    state_schema: str | None = None  # where gainsight_rejects and gainsight_runs live
    observer: RunObserver | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.results_path: Path | None = None  # set by write()
        if self.observer is not None:
            self.observer.run_start(self)

    def add_model(self, model: ModelResult) -> None:
        """Add a model to the run (it reports its rejects to the run's observer)."""
        model.observer = self.observer
        self.models.append(model)

    def model_started(self, model: ModelResult) -> None:
        """The engine starts sending this model."""
        model.started_at = _now()
        if self.observer is not None:
            self.observer.model_start(model)

    def model_finished(self, model: ModelResult) -> None:
        """The engine is done with this model (its status and counts are final)."""
        model.ended_at = _now()
        if self.observer is not None:
            self.observer.model_end(model)

    @property
    def success(self) -> bool:
        """True when every model synced (or was disabled) and nothing was rejected."""
        return not self.interrupted and all(
            m.status in (SUCCESS, PLANNED) or (m.status == SKIPPED and not m.not_built)
            for m in self.models
        )

    @property
    def exit_code(self) -> int:
        """0 all accepted; 1 something rejected or failed; 130 interrupted."""
        if self.interrupted:
            return 130
        return 0 if self.success else 1

    def write(self, target_path: Path) -> Path:
        """Write target/gainsight_run_results.json and return its path."""
        target_path.mkdir(parents=True, exist_ok=True)
        path = target_path / "gainsight_run_results.json"
        payload = {
            "metadata": {
                "generated_at": datetime.now(timezone.utc).isoformat(),
                "run_id": self.run_id,
                "started_at": self.started_at,
                "dry_run": self.dry_run,
                "interrupted": self.interrupted,
                "seconds": round(self.seconds, 3),
                "state_schema": self.state_schema,
            },
            "results": [_model_dict(m) for m in self.models],
        }
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        self.results_path = path
        return path


def _model_dict(result: ModelResult) -> dict[str, Any]:
    data = asdict(result)
    data["seconds"] = round(result.seconds, 3)
    return data


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
