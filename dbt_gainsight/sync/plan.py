"""Plan a run: which models, in which order, what each would send and at what cost in calls.

Everything here happens before the first write, so a config or mapping mistake stops the
run with exit 2 and nothing half-sent, and ``--dry-run`` reports exactly these counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbt_gainsight.config.connections import Connection
from dbt_gainsight.config.model import SyncConfig, check_columns
from dbt_gainsight.errors import ConfigProblem, ModelNotBuiltError
from dbt_gainsight.gainsight.limits import MAX_IN_VALUES
from dbt_gainsight.gainsight.objects import ObjectKind, ObjectSchema
from dbt_gainsight.sync import diff
from dbt_gainsight.sync.fetch import fetch_casts
from dbt_gainsight.sync.records import PARENT_ID_FIELD
from dbt_gainsight.sync.report import ModelResult
from dbt_gainsight.warehouse import Warehouse

if TYPE_CHECKING:
    from dbt_gainsight.sync.state import StateStore

EXISTENCE_CHUNK = MAX_IN_VALUES  # new rows whose keys are looked up in one query


def object_rank(config: SyncConfig) -> int:
    """Gainsight's dependency order: companies and custom objects, people, then links."""
    if config.kind is ObjectKind.DATA:
        return 0 if config.object == "Company" else 1
    if config.kind is ObjectKind.PERSON:
        return 2
    return 3


@dataclass
class ModelPlan:
    """One selected model, resolved against the warehouse and Gainsight."""

    config: SyncConfig
    connection: Connection | None  # None only for offline validation
    sync_id: str
    relation: Any = None
    columns: tuple[str, ...] = ()  # real column names, in config.columns order
    key_columns: tuple[str, ...] = ()
    column_types: Mapping[str, str] = field(default_factory=dict)  # real name -> adapter type
    folded_keys: tuple[str, ...] = ()  # key columns of EMAIL fields: hashed lower-cased
    schemas: Mapping[str, ObjectSchema] | None = None
    skip_reason: str | None = None  # set when the model is not synced this run
    not_built: bool = False  # skipped because its last dbt run failed or skipped it
    error: str | None = None  # set when the model cannot be synced (not built, ...)
    #: This sync's state rows when the run counted the model, before it sent anything: the
    #: base of ``deletes.max_fraction`` (after the sends, a rewrite of every key would halve it).
    records_before: int | None = None

    def email_key_columns(self, schema: ObjectSchema | None) -> tuple[str, ...]:
        """Key columns whose Gainsight field is EMAIL, which the diff hashes lower-cased.

        Gainsight matches EMAIL values ignoring case (``folded_keys``). Without a describe
        (a dry run with nothing cached) the key's name decides.
        """
        out = []
        for column, key in zip(self.key_columns, self.config.keys, strict=True):
            found = schema.field(key) if schema is not None else None
            if found.data_type == "EMAIL" if found else key.lower().endswith("email"):
                out.append(column)
        return tuple(out)

    def diff_query(
        self,
        wh: Warehouse,
        store: StateStore,
        sync_id: str | None = None,
        schemas: Mapping[str, ObjectSchema] | None = None,
    ) -> diff.DiffQuery:
        """The model's diff against its state (``sync_id``: another sync's, when counting).

        One home for sync and audit, so both hash, fold and fetch the rows alike.
        """
        return diff.build_diff_query(
            wh,
            relation=self.relation,
            columns=self.columns,
            key_columns=self.key_columns,
            state_relation=store.state,
            rejects_relation=store.rejects,
            sync_id=sync_id or self.sync_id,
            folded_keys=self.folded_keys,
            fetch_as=fetch_casts(self, wh.adapter_type, schemas),
        )


def resolve_plans(
    configs: Iterable[tuple[SyncConfig, Any]],
    wh: Warehouse,
    plan_for: Callable[[SyncConfig], ModelPlan],
) -> tuple[list[ModelPlan], list[ConfigProblem]]:
    """Find each model's relation and real column names; problems are config errors (exit 2)."""
    plans: list[ModelPlan] = []
    problems: list[ConfigProblem] = []
    for config, node in configs:
        plan = plan_for(config)
        plans.append(plan)
        if not config.enabled:
            plan.skip_reason = "enabled: false"
            continue
        try:
            plan.relation = wh.model_relation(node)
        except ModelNotBuiltError as exc:
            plan.error = str(exc)
            continue
        typed = dict(wh.column_types(plan.relation))
        actual = list(typed)
        found = check_columns(config, actual)
        if found:
            problems += found
            continue
        by_fold = {c.casefold(): c for c in actual}
        plan.columns = tuple(by_fold[c.casefold()] for c in config.columns)
        plan.key_columns = tuple(by_fold[c.casefold()] for c in config.key_columns)
        plan.column_types = {c: typed[c] for c in plan.columns}
    return plans, problems


def count_plan(wh: Warehouse, sql: str, result: ModelResult) -> None:
    """Fill the diff counts (one aggregate query; unchanged rows never leave the warehouse)."""
    counts = {action: int(n) for action, n in wh.execute(sql, fetch=True)}
    result.new = counts.get(diff.NEW, 0)
    result.changed = counts.get(diff.CHANGED, 0)
    result.retry = counts.get(diff.RETRY, 0)
    result.unchanged = counts.get(diff.UNCHANGED, 0)
    result.duplicates = counts.get(diff.DUPLICATE, 0)
    result.null_keys = counts.get(diff.NULL_KEY, 0)
    result.no_longer_in_model = counts.get(diff.GONE, 0)
    result.rows = sum(v for k, v in counts.items() if k != diff.GONE)


def estimate_calls(plan: ModelPlan, result: ModelResult) -> int:
    """API calls a real run would make, at most (existence checks + writes)."""
    config = plan.config
    to_send = result.to_send
    if config.is_people:
        parents = sum(1 for f in config.fields if f.target.split(".")[0] in PARENT_ID_FIELD)
        lookups = math.ceil(to_send / EXISTENCE_CHUNK) * parents
        if config.behavior == "update_only":
            lookups += math.ceil((result.new + result.retry) / EXISTENCE_CHUNK)
        if plan.connection.people_bulk:  # one submit and at least one status poll per 50
            return 2 * math.ceil(to_send / config.batch_size) + lookups
        return to_send + lookups
    writes = math.ceil(result.changed / config.batch_size)
    fresh = result.new + result.retry
    if config.behavior == "upsert":
        return writes + math.ceil(fresh / EXISTENCE_CHUNK) + math.ceil(fresh / config.batch_size)
    return writes + math.ceil(fresh / config.batch_size)
