"""The API budget a run may spend: ``--max-calls`` per run and ``daily_call_budget`` per day.

Gainsight gives a tenant one key and about 50,000 calls a day, shared by every
integration. A run is refused before its first call when its estimate (the dry run's) is
over ``--max-calls``. A model stops before it would pass its connection's
``daily_call_budget`` and leaves its unsent rows for the next run.

Today's calls (UTC) are the run history's (finished runs) plus the call ledger's: each run
with a budget shares the calls it has spent so far with every lease heartbeat (a minute), so
runs at once on one connection see each other's calls, and a killed run's calls still
count. A run's ledger row stops counting once its history rows are written, unless the run
began yesterday: its ledger row holds what it spent today and counts instead of them. The
last beat comes as the run ends, so the ledger holds its final count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from dbt_gainsight.errors import CallBudgetUsed, GainsightSyncError
from dbt_gainsight.sync.state import utc_now

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


def calls_today(store, connection: str, run_id: str) -> int:
    """Calls spent on ``connection`` since 00:00 UTC today by runs other than ``run_id``.

    Finished runs from the run history; running and killed ones from the call ledger (a run
    is in one or the other: its ledger row no longer counts once its history row exists),
    except a run that began before midnight: its history rows (one per model, dated at each
    model's start) cannot tell which of a model's calls came after midnight, so its ledger
    row, which holds the calls it made today, counts instead of them.
    """
    wh = store.wh
    since = f"cast('{_midnight()}' as {wh.macro('type_timestamp')})"
    conn, me = wh.literal(connection), wh.literal(run_id)

    def today(t: str) -> str:
        return (
            f"{t}.connection_name = {conn} and {t}.started_at >= {since} "
            f"and coalesce({t}.run_id, '') <> {me}"
        )

    running = f"select l.calls from {store.ledger} l where {today('l')}"
    parts = [running]
    if RUNS in wh.table_names(store.schema):
        runs = wh.relation(store.schema, RUNS)

        def overnight(run: str) -> str:
            return (
                f"exists (select 1 from {runs} y where y.run_id = {run} and y.started_at < {since})"
            )

        # "not exists", not "not in": a hash anti join, and no NULL trap (NULL run ids).
        parts = [
            f"select coalesce(h.api_calls, 0) + coalesce(h.metadata_calls, 0) as calls "
            f"from {runs} h where {today('h')} and not exists (select 1 from {store.ledger} l "
            f"where {today('l')} and l.run_id = h.run_id and {overnight('h.run_id')})",
            f"{running} and (not exists (select 1 from {runs} r where r.run_id = l.run_id) "
            f"or {overnight('l.run_id')})",
        ]
    rows = wh.execute(
        f"select coalesce(sum(calls), 0) from ({' union all '.join(parts)}) as today",
        fetch=True,
    )
    return int(rows[0][0] or 0)


def _midnight() -> str:
    return datetime.combine(utc_now().date(), datetime.min.time()).isoformat(" ")


class DailyBudget:
    """What is left of one connection's ``daily_call_budget`` while a run goes on.

    The client asks :meth:`take` before each call leaves (``GainsightClient.gate_calls``),
    so the count is exact with calls in flight, queued, or waiting for the rate limiter. A
    run that goes past midnight (UTC) starts the new day's count from zero.
    """

    def __init__(self, connection: str, limit: int, used_before: int):
        """``used_before``: other runs' calls today, before this run."""
        self.connection = connection
        self.limit = limit
        self.used_before = used_before
        self._taken = 0  # this run's calls
        self._before_today = 0  # of which before today's midnight
        self._day = utc_now().date()
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Calls spent today, this run's included."""
        return self.used_before + self._taken - self._before_today

    def _roll_day(self) -> None:
        """At the first call or beat after midnight (UTC): a new day's count (under _lock)."""
        today = utc_now().date()
        if today != self._day:
            self._day, self._before_today, self.used_before = today, self._taken, 0

    @property
    def spent(self) -> bool:
        """Whether no further call fits (today's: a run past midnight has a new budget)."""
        return not self.allows(1)

    def allows(self, calls: int = 1) -> bool:
        """Whether ``calls`` more calls still fit (today's, as ``take`` counts them)."""
        with self._lock:
            self._roll_day()
            return self.used + calls <= self.limit

    def take(self) -> None:
        """Count one call about to leave, or refuse it with CallBudgetUsed."""
        with self._lock:
            self._roll_day()
            if self.used >= self.limit:
                raise CallBudgetUsed(self.message())
            self._taken += 1

    def sharer(self, store, run_id: str) -> Callable[[], None]:
        """What the run's heartbeat calls each beat: share this run's calls, learn the others'.

        Other runs' calls are read again each beat, so runs at once pass the budget by at
        most the calls they make in one heartbeat. The row holds today's calls, from
        ``started_at`` (the run's start, or midnight for a run that began yesterday).
        """
        started_at = utc_now()

        def share() -> None:
            wh = store.wh
            b, me = wh.binding_char(), wh.literal(run_id)
            with self._lock:
                self._roll_day()
                day, calls = self._day, self._taken - self._before_today
                since = max(started_at, datetime.combine(day, datetime.min.time()))
            where = f"run_id = {me} and connection_name = {wh.literal(self.connection)}"
            wh.run_in_transaction(
                [
                    (f"delete from {store.ledger} where {where}", None),
                    (
                        f"insert into {store.ledger} values ({b}, {b}, {b}, {b}, {b})",
                        [run_id, self.connection, calls, since, utc_now()],
                    ),
                ]
            )
            others = calls_today(store, self.connection, run_id)
            with self._lock:  # a read that began before midnight is not the new day's count
                self._roll_day()
                if self._day == day:
                    self.used_before = others

        return share

    def message(self) -> str:
        """Why the model stopped, and what to do, for its result."""
        return (
            f"stopped: the daily call budget of connection '{self.connection}' is used "
            f"({self.used:,} of {self.limit:,} calls today, UTC; gainsight.yml "
            "daily_call_budget). Unsent rows go with the next run after 00:00 UTC, or raise "
            "the budget."
        )


def daily_budgets(
    store, connections: Iterable, clients: Mapping, run_id: str
) -> dict[str, DailyBudget]:
    """A budget per connection that sets ``daily_call_budget``, gating its client's calls."""
    out = {}
    for conn in connections:
        if conn.daily_call_budget and conn.name not in out:
            if not out:
                _forget_old_ledger_rows(store)
            used = calls_today(store, conn.name, run_id)
            budget = DailyBudget(conn.name, conn.daily_call_budget, used)
            clients[conn.name].gate_calls(budget.take)
            out[conn.name] = budget
    return out


def _forget_old_ledger_rows(store) -> None:
    """Rows of runs from before yesterday count against no budget any more."""
    wh = store.wh
    wh.run_in_transaction(
        [
            (
                f"delete from {store.ledger} where updated_at < {wh.binding_char()}",
                [utc_now() - timedelta(days=2)],
            )
        ]
    )


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
