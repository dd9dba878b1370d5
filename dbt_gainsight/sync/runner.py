"""Run a sync of planned models: count, validate against Gainsight, prepare state, send.

The order is the point. Counting every model first means an unchanged project costs one
query per model and no API call (not even a describe); validating every model with work
before the first write means a mapping mistake stops the run with nothing half-sent.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dbt_gainsight import interrupts
from dbt_gainsight.config.model import identity, key_change
from dbt_gainsight.errors import (
    AuthError,
    ConfigError,
    ConfigProblem,
    GainsightAPIError,
    GainsightSyncError,
    SyncInterrupted,
)
from dbt_gainsight.gainsight.client import GainsightClient
from dbt_gainsight.sync.budget import check_max_calls, daily_budgets, preflight
from dbt_gainsight.sync.deletes import count_deletes, mirror_deletes
from dbt_gainsight.sync.describes import DescribeCache
from dbt_gainsight.sync.engine import ModelSync
from dbt_gainsight.sync.lock import LOCK_HELP, Leases
from dbt_gainsight.sync.online import online_problems
from dbt_gainsight.sync.plan import ModelPlan, count_plan, estimate_calls
from dbt_gainsight.sync.report import (
    ERROR,
    PLANNED,
    SKIPPED,
    SUCCESS,
    ModelResult,
    SyncResult,
)
from dbt_gainsight.sync.state import StateStore, tenant_of
from dbt_gainsight.warehouse import Warehouse

ProgressCallback = Callable[[ModelResult, int], None]
EventCallback = Callable[[str, str], None]  # (level, message)

#: The sync id a model is counted against when its state is about to be reset.
NO_STATE = "dry-run-without-state"


@dataclass(frozen=True)
class SyncOptions:
    """What to sync and how; the CLI's flags."""

    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    selector: str | None = None
    dry_run: bool = False
    full_refresh: bool = False
    state_schema: str | None = None
    ignore_run_results: bool = False
    max_calls: int | None = None  # refuse a run estimated over this many calls (exit 2)
    allow_deletes: int | None = None  # allow this many mirror deletes past the model's limits


class Runner:
    """One run over planned models, in the order given; fills ``result``."""

    def __init__(
        self,
        *,
        wh: Warehouse,
        store: StateStore,
        clients: dict[str, GainsightClient],
        options: SyncOptions,
        result: SyncResult,
        on_progress: ProgressCallback | None = None,
        emit: EventCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.wh = wh
        self.store = store
        self.clients = clients
        self.options = options
        self.result = result
        self.on_progress = on_progress
        self.emit = emit or (lambda level, message: None)
        self.cancel = cancel or threading.Event()
        self.finished: set[int] = set()  # ids of the ModelResults this run has completed
        self.describes = DescribeCache(store, fresh=options.full_refresh)
        self.leases = Leases(store, result.run_id)
        self.budgets: dict = {}  # connection name -> DailyBudget (daily_call_budget)
        self._fingerprints: dict[str, str | None] = {}  # sync id -> as the run found it

    def run(self, plans: list[ModelPlan]) -> None:
        """Lease the models, count, then (unless a dry run) validate those with work, send."""
        try:
            if not self.options.dry_run:  # in the try: a Ctrl-C as they are taken frees them
                active = [p for p in plans if not (p.skip_reason or p.error)]
                self.leases.acquire([(p.sync_id, p.config.model) for p in active])
            if not self.options.dry_run:  # before the run's first call (a describe, maybe)
                if self.options.max_calls is not None:
                    check_max_calls(preflight(self, plans), self.options.max_calls)
                connections = [p.connection for p in plans if not (p.skip_reason or p.error)]
                run_id = self.result.run_id
                self.budgets = daily_budgets(self.store, connections, self.clients, run_id)
                for budget in self.budgets.values():  # runs at once see each other's calls
                    self.leases.on_beat(budget.sharer(self.store, run_id))
            counted = map(self._count, plans)
            work = [(plan, model) for plan, model in counted if model is not None]
            estimates = {m.model: m.planned_calls for m in self.result.models if m.planned_calls}
            check_max_calls(estimates, self.options.max_calls)  # before the first call
            if not self.options.dry_run:
                self._stop_if_cancelled()
                self._validate(work)
                self._send(work)
        except (KeyboardInterrupt, SyncInterrupted) as exc:
            again = isinstance(exc, KeyboardInterrupt) and self.cancel.is_set()
            self.cancel.set()
            self.result.interrupted = True
            self._abandon("the run was interrupted")
            if again:  # a second Ctrl-C: the caller leaves without waiting for anything
                raise
        except AuthError:
            self._abandon("the access key was refused")
            raise
        except Exception as exc:  # a config error online, an unreachable tenant, a budget
            self._abandon(f"the run stopped ({type(exc).__name__})")
            raise
        finally:
            try:
                self.leases.release()
            except Exception as exc:  # noqa: BLE001 - the run's own outcome matters more
                self.emit("warn", f"could not release the sync lease ({exc}); see {LOCK_HELP}")

    def _send(self, work: list[tuple[ModelPlan, ModelResult]]) -> None:
        with _frozen_heap():
            self._send_each(work)

    def _send_each(self, work: list[tuple[ModelPlan, ModelResult]]) -> None:
        for plan, model in work:
            self._stop_if_cancelled()  # the models not started are skipped, not failed
            try:
                self.result.model_started(model)
                with self._talking_to(plan):
                    self._sync(plan, model)
            except (SyncInterrupted, KeyboardInterrupt):  # also after its sends (deletes)
                model.status, model.message = ERROR, "interrupted"
                self.finished.add(id(model))
                self.emit("error", f"{plan.config.model}: interrupted")
                raise
            except AuthError as exc:  # the key is wrong for every model: one message, exit 1
                model.status, model.message = ERROR, str(exc)
                self.finished.add(id(model))
                raise
            except GainsightSyncError as exc:
                model.status, model.message = ERROR, str(exc)
            self.finished.add(id(model))
            if model.status == ERROR:
                self.emit("error", f"{plan.config.model}: {model.message}")
            self.result.model_finished(model)

    def _stop_if_cancelled(self) -> None:
        """End the run at a step's edge once a Ctrl-C set the cancel event.

        The KeyboardInterrupt may never have reached this code: a library can drop it
        (interrupts.py), but not the event the signal handler set.
        """
        interrupts.stop_if_cancelled(self.cancel)

    def _abandon(self, why: str) -> None:
        """The run ends early: models it did not finish say so (never "success").

        One it had started may have sent records: an error, not "skipped".
        """
        for model in self.result.models:
            if model.status in (SUCCESS, PLANNED) and id(model) not in self.finished:
                if model.started_at:
                    model.status, model.message = ERROR, f"stopped: {why}"
                else:
                    model.status, model.message = SKIPPED, f"not synced: {why}"

    @contextmanager
    def _talking_to(self, plan: ModelPlan) -> Iterator[None]:
        """Name the connection in an AuthError: the fix is its key, not the model's YAML."""
        try:
            yield
        except AuthError as exc:
            if str(exc).startswith("connection "):
                raise
            connection = plan.connection
            raise AuthError(
                f"connection {connection.name!r} ({connection.url}): {exc}",
                status=exc.status,
                error_code=exc.error_code,
                request_id=exc.request_id,
            ) from None

    def _count(self, plan: ModelPlan) -> tuple[ModelPlan, ModelResult | None]:
        """Start the model's result and count its diff; None when it has no work to do."""
        self._stop_if_cancelled()
        model = self._start_model(plan)
        if model.status in (ERROR, SKIPPED):
            self.finished.add(id(model))
            return plan, None
        refused = self._key_change(plan)
        if refused:  # before anything is counted or sent: the run would duplicate records
            model.status, model.message = ERROR, refused
            self.emit("error", f"{plan.config.model}: {refused}")
            self.finished.add(id(model))
            return plan, None
        plan.folded_keys = self._email_keys(plan, model)
        query = plan.diff_query(self.wh, self.store, self._counting_sync_id(plan))
        count_plan(self.wh, query.counts_sql, model)
        model.planned_calls = estimate_calls(plan, model)
        dry_run, allow = self.options.dry_run, self.options.allow_deletes
        count_deletes(self.wh, self.store, plan, model, query.gone_sql, dry_run, allow)
        if self.options.dry_run:
            model.status = PLANNED
            self.finished.add(id(model))
            return plan, None
        return plan, model

    def _validate(self, work: list[tuple[ModelPlan, ModelResult]]) -> None:
        """Check every mapping with rows to send against Gainsight; ConfigError lists all."""
        problems: list[ConfigProblem] = []
        for plan, model in work:
            if not model.to_send:
                continue
            client = self.clients[plan.connection.name]
            tenant = tenant_of(plan.connection.url)  # describes differ per tenant, not per name
            with self._talking_to(plan), _metadata_calls(model, client):
                describe = self.describes.describer(tenant, client)
                found = online_problems(plan.config, describe, client.object_names)
                if not found:
                    plan.schemas = self.describes.schemas_for(plan.config, tenant, client)
            problems += found
        if problems:
            raise ConfigError("The gainsight config has problems; nothing was sent.", problems)
        self.describes.save()

    def _sync(self, plan: ModelPlan, model: ModelResult) -> None:
        config = plan.config
        self.leases.confirm(plan.sync_id, config.model)  # still ours, hours after the run took it?
        model.state_reset = self.store.prepare_sync(
            sync_id=plan.sync_id,
            model_unique_id=config.unique_id,
            object_name=config.object,
            connection=plan.connection.name,
            fingerprint=config.fingerprint(),
            full_refresh=self.options.full_refresh,
            identity=identity(config),
        )
        if model.state_reset:
            self.emit("info", f"{config.model}: state reset ({model.state_reset}); all rows resent")
        query = plan.diff_query(self.wh, self.store)
        client, budget = self.clients[plan.connection.name], self.budgets.get(plan.connection.name)
        ModelSync(
            plan,
            wh=self.wh,
            store=self.store,
            client=client,
            run_id=self.result.run_id,
            result=model,
            on_progress=self.on_progress,
            cancel=self.cancel,
            budget=budget,
            lease_lost=self.leases.lost,
        ).run(query)
        if model.status != ERROR:  # a model that failed deletes nothing
            allow = self.options.allow_deletes
            if plan.schemas is None and model.planned_deletes:  # nothing was sent
                self._describe(plan, model, client)
            mirror_deletes(
                self.wh,
                self.store,
                plan,
                model,
                client,
                query,
                allow,
                self.cancel,
                budget,
                lease_lost=self.leases.lost,
            )

    def _describe(self, plan: ModelPlan, model: ModelResult, client: GainsightClient) -> None:
        """The describes of the model's objects, for a model that sends nothing but deletes."""
        with _metadata_calls(model, client):
            tenant = tenant_of(plan.connection.url)
            plan.schemas = self.describes.schemas_for(plan.config, tenant, client)
        self.describes.save()

    def _start_model(self, plan: ModelPlan) -> ModelResult:
        config = plan.config
        model = ModelResult(
            model=config.model,
            unique_id=config.unique_id,
            object=config.object,
            behavior=config.behavior,
            connection=plan.connection.name,
        )
        self.result.add_model(model)
        if plan.skip_reason:
            model.status, model.message = SKIPPED, plan.skip_reason
            model.not_built = plan.not_built
            self.emit("warn", f"{config.model}: skipped: {plan.skip_reason}")
        elif plan.error:
            model.status, model.message = ERROR, plan.error
            self.emit("error", f"{config.model}: {plan.error}")
        return model

    def _email_keys(self, plan: ModelPlan, model: ModelResult) -> tuple[str, ...]:
        """Key columns whose Gainsight field is EMAIL (Gainsight matches them ignoring case).

        The type comes from describe: the cached one, else asked now (a real run describes
        before sending anyway); a dry run never calls, so without a cache it goes by name.
        """
        name = plan.config.fields_object
        tenant = tenant_of(plan.connection.url)
        schema = self.describes.peek(tenant, name)
        if schema is None and not self.options.dry_run:
            client = self.clients[plan.connection.name]
            try:
                with self._talking_to(plan), _metadata_calls(model, client):
                    schema = self.describes.describe(tenant, client, name)
            except AuthError:
                raise
            except GainsightAPIError:
                schema = None  # an unknown object: validation reports it before any write
        return plan.email_key_columns(schema)

    def _key_change(self, plan: ModelPlan) -> str | None:
        """Why this model's mapping change may not reset its state (``key_change``), or None."""
        if self.options.full_refresh or not self._mapping_changed(plan):
            return None
        before = self.store.identity(plan.sync_id)
        if before is None:
            return None  # a state written before identities were: nothing to compare
        return key_change(before, plan.config, self.store.records(plan.sync_id))

    def _counting_sync_id(self, plan: ModelPlan) -> str:
        """The sync id to count against: none when the state is about to be reset.

        Counting happens before ``prepare_sync`` resets anything, so a dry run never writes
        and its counts equal what the real run then does.
        """
        if self.options.full_refresh or self._mapping_changed(plan):
            return NO_STATE
        return plan.sync_id

    def _mapping_changed(self, plan: ModelPlan) -> bool:
        """Whether the model's state was built with another mapping (read once a run)."""
        if plan.sync_id not in self._fingerprints:
            self._fingerprints[plan.sync_id] = self.store.fingerprint(plan.sync_id)
        previous = self._fingerprints[plan.sync_id]
        return previous is not None and previous != plan.config.fingerprint()


#: Allocations between young collections while sending (Python's default is 700).
YOUNG_OBJECTS_PER_COLLECTION = 10_000


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the garbage collector off what was loaded before the send: dbt's manifest above all.

    The manifest is some 150,000 objects, and every full collection walked them all: 17 times
    in a 300,000-row first sync, 1.6 s of CPU. Frozen, a full collection walks only the rows in
    flight (0.3 s). Young collections every 10,000 allocations instead of 700 took the
    collector's CPU in that sync from 0.8 s to 0.4 s. Both are undone afterwards, so a host of
    the Python API keeps its collector as it was.
    """
    gc.collect()  # what is garbage now must not be frozen with the rest
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def _metadata_calls(model: ModelResult, client: GainsightClient) -> Iterator[None]:
    """Count the describes made inside as the model's metadata calls.

    Their 429s count as its rate-limited answers too; counted even when interrupted.
    """
    before = client.stats.snapshot()
    try:
        yield
    finally:
        after = client.stats.snapshot()
        model.metadata_calls += after["calls"] - before["calls"]
        model.rate_limited += after["rate_limited"] - before["rate_limited"]
