"""The API budget a run may spend: ``--max-calls`` per run and ``daily_call_budget`` per day.

Gainsight gives a tenant one key and about 50,000 calls a day, shared by every
integration. A run is refused before its first call when its estimate (the dry run's) is
over ``--max-calls``. A model stops before it would pass its connection's
``daily_call_budget``, counted from today's (UTC) rows of the run history plus this run's
calls, and leaves its unsent rows for the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from dbt_gainsight.errors import CallBudgetUsed, GainsightSyncError

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
    if RUNS not in wh.table_names(store.schema):
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
    """What is left of one connection's ``daily_call_budget`` while a run goes on.

    The client asks :meth:`take` before each call leaves (``GainsightClient.gate_calls``),
    so the count is exact with calls in flight, queued, or waiting for the rate limiter.
    """

    def __init__(self, connection: str, limit: int, used_before: int):
        """``used_before``: today's calls from the run history, before this run."""
        self.connection = connection
        self.limit = limit
        self.used_before = used_before
        self._taken = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Calls spent today, this run's included."""
        return self.used_before + self._taken

    @property
    def spent(self) -> bool:
        """Whether no further call fits."""
        return self.used >= self.limit

    def allows(self, calls: int = 1) -> bool:
        """Whether ``calls`` more calls still fit."""
        return self.used + calls <= self.limit

    def take(self) -> None:
        """Count one call about to leave, or refuse it with CallBudgetUsed."""
        with self._lock:
            if self.used >= self.limit:
                raise CallBudgetUsed(self.message())
            self._taken += 1

    def message(self) -> str:
        """Why the model stopped, and what to do, for its result."""
        return (
            f"stopped: the daily call budget of connection '{self.connection}' is used "
            f"({self.used:,} of {self.limit:,} calls today, UTC; gainsight.yml "
            "daily_call_budget). Unsent rows go with the next run after 00:00 UTC, or raise "
            "the budget."
        )


def daily_budgets(store, connections: Iterable, clients: Mapping) -> dict[str, DailyBudget]:
    """A budget per connection that sets ``daily_call_budget``, gating its client's calls."""
    out = {}
    for conn in connections:
        if conn.daily_call_budget and conn.name not in out:
            budget = DailyBudget(conn.name, conn.daily_call_budget, calls_today(store, conn.name))
            clients[conn.name].gate_calls(budget.take)
            out[conn.name] = budget
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
        schema = runner.describes.peek(tenant_of(plan.connection.url), config.fields_object)
        plan.folded_keys = plan.email_key_columns(schema)
        model = ModelResult(config.model, config.unique_id, config.object, config.behavior, "")
        query = plan.diff_query(runner.wh, runner.store, runner._counting_sync_id(plan))
        count_plan(runner.wh, query.counts_sql, model)
        model.planned_calls = estimate_calls(plan, model)
        count_deletes(runner.wh, runner.store, plan, model, query.gone_sql, False)
        estimates[config.model] = model.planned_calls
    return estimates
