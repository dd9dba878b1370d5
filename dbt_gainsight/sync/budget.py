"""The API budget a run may spend: ``--max-calls`` per run and ``daily_call_budget`` per day.

Gainsight gives a tenant one key and about 50,000 calls a day, shared by every
integration. A run is refused before its first call when its estimate (the dry run's) is
over ``--max-calls``. A model stops before it would pass its connection's
``daily_call_budget``, counted from today's (UTC) rows of the run history plus this run's
calls, and leaves its unsent rows for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone

from dbt_gainsight.errors import GainsightSyncError

RUNS = "gainsight_runs"  # the run history table (sync/history.py)


class OverBudget(GainsightSyncError):
    """The estimated calls are over ``--max-calls``: exit 2, no call was made."""

    exit_code = 2

    def __init__(self, message: str, estimates: Mapping[str, int]):
        self.estimates = dict(estimates)
        lines = "".join(f"\n  - {model}: about {n} calls" for model, n in self.estimates.items())
        super().__init__(message + lines)


def check_max_calls(estimates: Mapping[str, int], max_calls: int | None) -> None:
    """Refuse a run whose estimate is over ``max_calls`` (nothing has been called yet)."""
    total = sum(estimates.values())
    if max_calls is not None and total > max_calls:
        raise OverBudget(
            f"This run would make up to {total} API calls, over --max-calls {max_calls}; "
            "no call was made. Sync fewer models (-s) or raise --max-calls.",
            estimates,
        )


def calls_today(store, connection: str) -> int:
    """Calls the run history records for ``connection`` since 00:00 UTC today (0 if none)."""
    wh = store.wh
    relation = wh.relation(store.schema, RUNS)
    existing = {
        r.identifier.lower() for r in wh.adapter.list_relations(relation.database, store.schema)
    }
    if RUNS not in existing:
        return 0
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    since = midnight.replace(tzinfo=None).isoformat(sep=" ")
    rows = wh.execute(
        f"select coalesce(sum(api_calls), 0) + coalesce(sum(metadata_calls), 0) from {relation} "
        f"where connection_name = {wh.literal(connection)} "
        f"and started_at >= cast('{since}' as {wh.macro('type_timestamp')})",
        fetch=True,
    )
    return int(rows[0][0] or 0)


class DailyBudget:
    """What is left of one connection's ``daily_call_budget`` while a run goes on."""

    def __init__(self, connection: str, limit: int, used_before: int, calls: Callable[[], int]):
        """``calls`` returns the client's calls so far; ``used_before`` today's earlier calls."""
        self.connection = connection
        self.limit = limit
        self.used_before = used_before
        self._calls = calls
        self._start = calls()

    @property
    def used(self) -> int:
        """Calls spent today, this run's included."""
        return self.used_before + self._calls() - self._start

    def allows(self, calls: int = 1) -> bool:
        """Whether ``calls`` more calls (in flight ones included by the caller) still fit."""
        return self.used + calls <= self.limit

    def refuses(self, pending) -> str | None:
        """Why one more call may not start (futures queued but not started count), or None."""
        queued = sum(1 for f in pending if not (f.running() or f.done()))
        return None if self.allows(queued + 1) else self.message()

    def message(self, unsent: int | None = None) -> str:
        """Why the model stopped, for its result."""
        left = "" if unsent is None else f"; {unsent:,} rows left for the next run"
        return (
            f"stopped: the daily call budget of connection '{self.connection}' is used "
            f"({self.used:,} of {self.limit:,} calls today, UTC; gainsight.yml "
            f"daily_call_budget){left}"
        )


def daily_budgets(store, connections: Iterable, clients: Mapping) -> dict[str, DailyBudget]:
    """A budget per connection that sets ``daily_call_budget``."""
    out = {}
    for conn in connections:
        if conn.daily_call_budget and conn.name not in out:
            client = clients[conn.name]
            out[conn.name] = DailyBudget(
                conn.name,
                conn.daily_call_budget,
                calls_today(store, conn.name),
                lambda c=client: c.stats.snapshot()["calls"],
            )
    return out


def preflight(runner, plans) -> dict[str, int]:
    """Each model's estimated calls, counted without any call (for ``--max-calls``).

    Like a dry run: the diff is counted with the describe the warehouse has cached, else
    with Email keys guessed by name, so the check comes before the run's first call.
    """
    from dbt_gainsight.sync.deletes import count_deletes
    from dbt_gainsight.sync.plan import count_plan, estimate_calls
    from dbt_gainsight.sync.report import ModelResult
    from dbt_gainsight.sync.state import tenant_of

    estimates = {}
    for plan in plans:
        if plan.skip_reason or plan.error:
            continue
        config = plan.config
        name = "Person" if config.is_people else config.object
        schema = runner.describes.peek(tenant_of(plan.connection.url), name)
        plan.folded_keys = tuple(
            column
            for column, key in zip(plan.key_columns, config.keys, strict=True)
            if (
                schema.field(key).data_type == "EMAIL"
                if schema is not None and schema.field(key) is not None
                else key.lower().endswith("email")
            )
        )
        model = ModelResult(config.model, config.unique_id, config.object, config.behavior, "")
        query = runner._diff(plan, runner._counting_sync_id(plan))
        count_plan(runner.wh, query.counts_sql, model)
        model.planned_calls = estimate_calls(plan, model)
        count_deletes(runner.wh, runner.store, plan, model, query.gone_sql, False)
        estimates[config.model] = model.planned_calls
    return estimates
