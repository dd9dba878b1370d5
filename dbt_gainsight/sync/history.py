"""Run history in the warehouse: one row per model per run in ``<state schema>.gainsight_runs``.

target/gainsight_run_results.json holds only the last run, on a disk that CI throws away;
the history lives beside the state, so ``dbt-gainsight status`` (and any SQL) can say when
each model last synced and how runs went. Rows older than ``history_days`` (gainsight.yml,
default 90) are deleted as each run is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from dbt_gainsight.sync.report import SUCCESS, SyncResult

RUNS = "gainsight_runs"
DEFAULT_HISTORY_DAYS = 90
#: Runs per model that ``status`` shows.
STATUS_RUNS = 5
#: The counts of a ModelResult kept per row (every count of the run results).
COUNTS = (
    "rows",
    "new",
    "changed",
    "unchanged",
    "retry",
    "duplicates",
    "null_keys",
    "no_longer_in_model",
    "planned_deletes",
    "deleted",
    "sent",
    "accepted",
    "rejected",
    "failed",
    "api_calls",
    "metadata_calls",
    "planned_calls",
    "retries",
    "rate_limited",
)
_TEXT = (
    "run_id",
    "model_name",
    "model_unique_id",
    "object_name",
    "connection_name",
    "status",
    "message",
    "state_reset",
    "rejects_by_code",
    "dbt_invocation_id",
)


def _columns(wh) -> list[tuple[str, str]]:
    text, ts, big = wh.macro("type_string"), wh.macro("type_timestamp"), wh.macro("type_bigint")
    return [
        *[(name, text) for name in _TEXT],
        ("started_at", ts),
        ("ended_at", ts),
        *[(name, big) for name in COUNTS],
        ("seconds", wh.macro("type_float")),
    ]


def ensure(store) -> Any:
    """Create gainsight_runs beside the state tables when absent; return its relation."""
    wh = store.wh
    relation = wh.relation(store.schema, RUNS)
    if RUNS not in wh.table_names(store.schema):
        cols = ", ".join(f"{name} {kind}" for name, kind in _columns(wh))
        try:
            wh.run_in_transaction([(f"create table if not exists {relation} ({cols})", None)])
        except Exception:
            # Runs ending at once on a new schema race to create it: the loser fails once
            # the winner commits ("if not exists" notwithstanding), and finds it made.
            if RUNS not in wh.table_names(store.schema):
                raise
    return relation


def record(store, result: SyncResult, session, clients: dict | None = None) -> None:
    """Append this run's rows and drop the ones past retention. Never fails the sync.

    A dry run is not a run of the sync and is not recorded.
    """
    if result.dry_run or not result.models:
        return
    try:
        days = getattr(session.settings, "history_days", None) or DEFAULT_HISTORY_DAYS
        relation = ensure(store)
        wh = store.wh
        b = wh.binding_char()
        names = [name for name, _ in _columns(wh)]
        insert = (
            f"insert into {relation} ({', '.join(names)}) values ({', '.join([b] * len(names))})"
        )
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        run_started = _parse_time(result.started_at) or now
        invocation = getattr(session.project, "dbt_invocation_id", None)
        cutoff = now - timedelta(days=days)
        statements: list[tuple[str, Sequence | None]] = [
            (f"delete from {relation} where started_at < {b}", [cutoff])
        ]
        for m in result.models:
            values = {
                "run_id": result.run_id,
                "model_name": m.model,
                "model_unique_id": m.unique_id,
                "object_name": m.object,
                "connection_name": m.connection,
                "status": "interrupted" if m.message == "interrupted" else m.status,
                "message": m.message,
                "state_reset": m.state_reset,
                "rejects_by_code": json.dumps(m.rejects_by_code, sort_keys=True),
                "dbt_invocation_id": invocation,
                "started_at": _parse_time(m.started_at) or run_started,
                "ended_at": _parse_time(m.ended_at) or now,
                **{name: int(getattr(m, name)) for name in COUNTS},
                "seconds": round(float(m.seconds), 3),
            }
            statements.append((insert, [values[name] for name in names]))
        wh.run_in_transaction(statements)
    except Exception as exc:  # the data is in Gainsight and the state: say so, carry on
        session.emit("warn", f"could not record the run in {store.schema}.{RUNS}: {exc}")


def _parse_time(text: str | None) -> datetime | None:
    """An ISO time as naive UTC (how the state tables store timestamps)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


# --- reading: dbt-gainsight status -----------------------------------------------------


def _exists(wh, schema: str, name: str) -> bool:
    try:
        return name in wh.table_names(schema)
    except Exception:  # noqa: BLE001 - the schema itself may not exist yet
        return False


def wrote_since(store, model_unique_id: str, since: datetime) -> list[str]:
    """Runs of the model that sent or deleted records and ended at or after ``since``.

    What a reader that takes no lease (the audit) checks after it read: such a run may have
    changed Gainsight under it.
    """
    wh = store.wh
    if not _exists(wh, store.schema, RUNS):
        return []
    b = wh.binding_char()
    rows = wh.fetch(
        f"select run_id from {wh.relation(store.schema, RUNS)} where model_unique_id = {b} "
        f"and ended_at >= {b} and (sent > 0 or deleted > 0) order by ended_at",
        [model_unique_id, since],
    )
    return [run_id for (run_id,) in rows]


def status(wh, schema: str, model_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per model: its last runs, when it last synced successfully, and its open rejects.

    ``model_ids`` limits it to a selection; None means every model the history knows.
    """
    from dbt_gainsight.sync.state import REJECTS

    models: dict[str, dict[str, Any]] = {}
    if _exists(wh, schema, RUNS):
        relation = wh.relation(schema, RUNS)
        where = ""
        if model_ids is not None:
            ids = ", ".join(wh.literal(uid) for uid in model_ids) or "''"
            where = f" where model_unique_id in ({ids})"
        cols = ("run_id", "model_name", "model_unique_id", "object_name", "status", "message")
        cols += ("started_at", "ended_at", "sent", "accepted", "rejected", "failed")
        cols += ("api_calls", "rate_limited", "seconds", "dbt_invocation_id")
        rows = wh.execute(
            f"select {', '.join(cols)} from {relation}{where} order by started_at desc",
            fetch=True,
        )
        for row in rows:
            run = dict(zip(cols, row, strict=True))
            entry = models.setdefault(
                run["model_unique_id"],
                {
                    "model": run["model_name"],
                    "unique_id": run["model_unique_id"],
                    "object": run["object_name"],
                    "last_success": None,
                    "open_rejects": {},
                    "runs": [],
                },
            )
            if run["status"] == SUCCESS and entry["last_success"] is None:
                entry["last_success"] = _iso(run["ended_at"])
            if len(entry["runs"]) < STATUS_RUNS:
                entry["runs"].append(
                    {
                        k: _iso(v) if k.endswith("_at") else _plain(v)
                        for k, v in run.items()
                        if k not in ("model_name", "model_unique_id", "object_name")
                    }
                )
    if _exists(wh, schema, REJECTS):
        by_name = {e["model"]: e for e in models.values()}
        rows = wh.execute(
            f"select model_name, error_code, count(*) from {wh.relation(schema, REJECTS)} "
            "group by model_name, error_code",
            fetch=True,
        )
        for name, code, count in rows:
            if name in by_name:
                by_name[name]["open_rejects"][code or "UNKNOWN"] = int(count)
    return sorted(models.values(), key=lambda e: e["model"])


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    return str(value)


def _plain(value: Any) -> Any:
    """Warehouse numbers (Decimal, numpy) as JSON numbers."""
    if value is None or isinstance(value, str | bool | int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.is_integer() else round(number, 3)
