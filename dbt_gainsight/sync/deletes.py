"""Mirror deletes (opt-in per model): delete records whose rows have left the model.

Only records this tool wrote are candidates: a state row whose key is no longer in the model
(``DiffQuery.gone_sql``); a record Gainsight holds that the state does not know is never
touched. Two limits guard against a broken model deleting a tenant's data:
``deletes.max_per_run`` and ``deletes.max_fraction`` (of the records this sync wrote). Over
either, nothing is deleted and the model ends with an error; ``--allow-deletes N`` allows up
to N once. A deleted record leaves the state; a delete that failed is tried again next run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dbt_gainsight.gainsight.responses import RecordStatus

SHOWN = 20  # Gsids listed in a dry run's message


@dataclass(frozen=True)
class PlannedDeletes:
    """The records a run would delete, and how many records this sync wrote."""

    rows: tuple[tuple[str, str], ...]  # (key_hash, gsid)
    synced: int

    def __len__(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        """The planned deletes for a dry run: count and the first Gsids."""
        shown = ", ".join(gsid for _, gsid in self.rows[:SHOWN])
        more = f" and {len(self.rows) - SHOWN} more" if len(self.rows) > SHOWN else ""
        return f"would delete {len(self.rows)} records whose rows left the model: {shown}{more}"


def plan_deletes(wh, store, gone_sql: str, sync_id: str) -> PlannedDeletes:
    """State rows whose key left the model (with a Gsid), and this sync's state size."""
    rows = tuple((k, g) for k, g in wh.execute(gone_sql, fetch=True) if g)
    synced = wh.execute(
        f"select count(*) from {store.state} where sync_id = {wh.literal(sync_id)}", fetch=True
    )[0][0]
    return PlannedDeletes(rows=rows, synced=int(synced))


def over_limit(settings, planned: PlannedDeletes, allow: int | None) -> str | None:
    """Why the planned deletes may not run (a limit is passed), or None when they may."""
    n = len(planned)
    if not n or (allow is not None and n <= allow):
        return None
    share = n / planned.synced if planned.synced else 1.0
    passed = []
    if n > settings.max_per_run:
        passed.append(f"deletes.max_per_run {settings.max_per_run}")
    if share > settings.max_fraction:
        passed.append(f"deletes.max_fraction {settings.max_fraction:g}")
    if not passed:
        return None
    return (
        f"{n} records left the model ({share:.0%} of the {planned.synced} this sync wrote), "
        f"over {' and '.join(passed)}; nothing was deleted. If the model is right, allow it "
        f"once with `dbt-gainsight sync --allow-deletes {n}`."
    )


def run_deletes(client, object_name: str, planned: PlannedDeletes, store, sync_id: str, workers):
    """Delete the planned records; drop the deleted ones from the state.

    Returns (deleted, failed, first error). A Gsid Gainsight no longer knows counts as
    deleted (someone removed it already); a failed delete keeps its state row, so the next
    run tries again.
    """
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="gs-delete") as pool:
        results = list(pool.map(lambda row: client.delete(object_name, row[1]), planned.rows))
    gone = [
        key_hash
        for (key_hash, _), res in zip(planned.rows, results, strict=True)
        if res.status in (RecordStatus.ACCEPTED, RecordStatus.NOT_FOUND)
    ]
    errors = [r for r in results if r.status not in (RecordStatus.ACCEPTED, RecordStatus.NOT_FOUND)]
    _forget(store, sync_id, gone)
    first = f"{errors[0].error_code}: {errors[0].error_message}" if errors else None
    return len(gone), len(errors), first


def _forget(store, sync_id: str, key_hashes: list[str]) -> None:
    wh = store.wh
    b = wh.binding_char()
    statements = []
    for start in range(0, len(key_hashes), 1000):
        part = key_hashes[start : start + 1000]
        statements.append(
            (
                f"delete from {store.state} where sync_id = {wh.literal(sync_id)} "
                f"and key_hash in ({', '.join([b] * len(part))})",
                part,
            )
        )
    if statements:
        wh.run_in_transaction(statements)


# The runner's two hooks -------------------------------------------------------------------


def count_deletes(wh, store, plan, model, gone_sql: str, dry_run: bool) -> None:
    """At counting time: how many records this run would delete (a dry run lists them)."""
    config = plan.config
    if not config.deletes.enabled or config.is_people:
        return
    planned = plan_deletes(wh, store, gone_sql, plan.sync_id)
    model.planned_deletes = len(planned)
    model.planned_calls += len(planned)
    if dry_run and planned:
        blocked = over_limit(config.deletes, planned, None)
        model.message = planned.describe() + (f". Blocked: {blocked}" if blocked else "")


def mirror_deletes(wh, store, plan, model, client, gone_sql, allow, budget=None) -> None:
    """After the model's sends: delete what left the model, unless a limit is passed."""
    config = plan.config
    if not config.deletes.enabled or config.is_people:
        return
    planned = plan_deletes(wh, store, gone_sql, plan.sync_id)
    model.planned_deletes = len(planned)
    if not planned:
        return
    blocked = over_limit(config.deletes, planned, allow)
    if not blocked and budget is not None and not budget.allows(len(planned)):
        blocked = budget.message() + f" {len(planned)} deletes wait for the next run."
    if blocked:
        model.status, model.message = "error", _joined(model.message, blocked)
        return
    before = client.stats.snapshot()["calls"]
    deleted, failed, first = run_deletes(
        client, config.object, planned, store, plan.sync_id, plan.connection.max_in_flight
    )
    model.api_calls += client.stats.snapshot()["calls"] - before
    model.deleted += deleted
    model.failed += failed
    if failed:
        model.message = _joined(
            model.message, f"{failed} deletes failed ({first}); they are tried again next run"
        )
        if model.status == "success":
            model.status = "partial"


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second
