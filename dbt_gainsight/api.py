"""The Python API: what the CLI does, callable from Airflow, Dagster or a test.

    from dbt_gainsight.api import sync
    result = sync(project_dir="analytics", select=["tag:gainsight"])
    assert result.exit_code == 0

Stages run in one direction: project -> config -> plan -> warehouse diff -> Gainsight ->
state and report. Every config, mapping and connection problem is found before the first
write, and raised as one ``ConfigError`` listing them all.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dbt_gainsight.config.connections import Connection, GainsightSettings, load_settings
from dbt_gainsight.config.model import SyncConfig, check_columns, parse_sync_config
from dbt_gainsight.errors import (
    AuthError,
    ConfigError,
    ConfigProblem,
    GainsightSyncError,
    ModelNotBuiltError,
    SyncInterrupted,
)
from dbt_gainsight.gainsight.client import GainsightClient, client_for
from dbt_gainsight.project import META_KEY, DbtArgs, DbtProject, yaml_path_of
from dbt_gainsight.sync import diff
from dbt_gainsight.sync.engine import ModelSync, count_plan, estimate_calls
from dbt_gainsight.sync.plan import ModelPlan, describe_for, object_rank, online_problems
from dbt_gainsight.sync.report import ERROR, PLANNED, SKIPPED, ModelResult, SyncResult
from dbt_gainsight.sync.state import StateStore, sync_id_for
from dbt_gainsight.warehouse import Warehouse

#: dbt statuses after which a model is not synced (its table may be stale or half-built).
NOT_BUILT_STATUSES = {"error", "skipped", "fail", "runtime error"}

ProgressCallback = Callable[[ModelResult, int], None]
EventCallback = Callable[[str, str], None]  # (level, message)


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


class Session:
    """One invocation's project, settings, selection and configs (shared by every command)."""

    def __init__(
        self,
        *,
        project_dir: str | os.PathLike | None = None,
        profiles_dir: str | os.PathLike | None = None,
        target: str | None = None,
        vars: str | dict | None = None,
        on_event: EventCallback | None = None,
        manifest: Any = None,
    ):
        self.args = DbtArgs.from_options(project_dir, profiles_dir, target, None, vars)
        self.project = DbtProject(self.args, manifest)
        self.settings: GainsightSettings = load_settings(
            self.args.project_dir, self.args.profiles_dir
        )
        self.emit = on_event or (lambda level, message: None)

    def configs(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        selector: str | None = None,
        *,
        need_connections: bool = True,
    ) -> list[tuple[SyncConfig, Any]]:
        """Parse and validate the meta of every selected model; all problems at once.

        ``need_connections=False`` (offline validate) leaves credentials alone, so the check
        can run in a pull request without secrets.
        """
        problems: list[ConfigProblem] = []
        parsed: list[tuple[SyncConfig, Any]] = []
        for uid in self.project.select(select, exclude, selector):
            node = self.project.node(uid)
            try:
                config = parse_sync_config(
                    node.config.meta[META_KEY],
                    model=node.name,
                    unique_id=uid,
                    yaml_path=yaml_path_of(node),
                )
            except ConfigError as exc:
                problems += exc.problems
                continue
            parsed.append((config, node))
        names = {config.connection or "default" for config, _ in parsed} if need_connections else ()
        for name in sorted(names):
            try:
                self.settings.connection(name)
            except ConfigError as exc:
                users = [c for c, _ in parsed if (c.connection or "default") == name]
                problems.append(
                    ConfigProblem(
                        ", ".join(c.model for c in users),
                        users[0].yaml_path,
                        "meta.gainsight.connection",
                        str(exc),
                    )
                )
        if problems:
            raise ConfigError("The gainsight config has problems; nothing was sent.", problems)
        return parsed

    def client(self, connection: Connection) -> GainsightClient:
        """A client for one named connection."""
        return client_for(connection)


def _plans(
    session: Session,
    configs: list[tuple[SyncConfig, Any]],
    wh: Warehouse,
    *,
    with_connections: bool = True,
) -> tuple[list[ModelPlan], list[ConfigProblem]]:
    """Resolve each model's relation and columns; problems are config errors (exit 2)."""
    plans: list[ModelPlan] = []
    problems: list[ConfigProblem] = []
    for config, node in configs:
        connection = session.settings.connection(config.connection) if with_connections else None
        name = connection.name if connection else (config.connection or "default")
        plan = ModelPlan(
            config=config,
            node=node,
            connection=connection,
            sync_id=sync_id_for(config.unique_id, config.object, name),
        )
        plans.append(plan)
        if not config.enabled:
            plan.skip_reason = "enabled: false"
            continue
        try:
            plan.relation = wh.model_relation(node)
        except ModelNotBuiltError as exc:
            plan.error = str(exc)
            continue
        actual = wh.columns_of(plan.relation)
        found = check_columns(config, actual)
        if found:
            problems += found
            continue
        by_fold = {c.casefold(): c for c in actual}
        plan.columns = tuple(by_fold[c.casefold()] for c in config.columns)
        plan.key_columns = tuple(by_fold[c.casefold()] for c in config.key_columns)
    return plans, problems


def _skip_not_built(session: Session, plans: list[ModelPlan]) -> None:
    last = session.project.last_run()
    for plan in plans:
        run = last.get(plan.config.unique_id)
        if run and run.status.lower() in NOT_BUILT_STATUSES and not plan.skip_reason:
            plan.skip_reason = (
                f"its last dbt {run.command or 'run'} ended '{run.status}' "
                "(pass --ignore-run-results to sync it anyway)"
            )


def sync(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
    options: SyncOptions | None = None,
    on_progress: ProgressCallback | None = None,
    on_event: EventCallback | None = None,
    manifest: Any = None,
    **option_kwargs: Any,
) -> SyncResult:
    """Sync the selected models; raise ConfigError (nothing sent) or return the result.

    ``manifest``: a dbt Manifest already parsed in this process (``build`` passes its own).
    """
    options = options or SyncOptions(**option_kwargs)
    started = time.monotonic()
    result = SyncResult(
        run_id=uuid.uuid4().hex,
        started_at=datetime.now(timezone.utc).isoformat(),
        dry_run=options.dry_run,
    )
    session = Session(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        vars=vars,
        on_event=on_event,
        manifest=manifest,
    )
    emit = session.emit
    configs = session.configs(options.select, options.exclude, options.selector)
    if not configs:
        emit("warn", "No selected model has a config.meta.gainsight block; nothing to sync.")
    manifest = session.project.manifest
    wh = Warehouse(session.args, manifest)
    clients: dict[str, GainsightClient] = {}
    try:
        with wh.connection("gainsight"):
            plans, problems = _plans(session, configs, wh)
            if not options.ignore_run_results:
                _skip_not_built(session, plans)
            active = [p for p in plans if not (p.skip_reason or p.error)]
            for plan in active:
                if plan.connection.name not in clients:
                    clients[plan.connection.name] = session.client(plan.connection)
            if problems:
                raise ConfigError("The gainsight config has problems; nothing was sent.", problems)
            store = StateStore(wh, _state_schema(options, session, wh))
            store.ensure()
            dag = {uid: i for i, uid in enumerate(session.project.dag_order())}
            plans.sort(key=lambda p: (object_rank(p.config), dag.get(p.config.unique_id, 0)))
            _run_plans(plans, result, options, wh, store, clients, on_progress, emit)
    finally:
        for client in clients.values():
            client.close()
        wh.close()
        result.seconds = time.monotonic() - started
        result.write(session.project.target_path)
    return result


def _state_schema(options: SyncOptions, session: Session, wh: Warehouse) -> str:
    return options.state_schema or session.settings.state_schema or f"{wh.target_schema}_gainsight"


def _run_plans(
    plans: list[ModelPlan],
    result: SyncResult,
    options: SyncOptions,
    wh: Warehouse,
    store: StateStore,
    clients: dict[str, GainsightClient],
    on_progress: ProgressCallback | None,
    emit: EventCallback,
) -> None:
    """Count every model, validate the ones with work against Gainsight, then send.

    Counting first means an unchanged project costs one query per model and no API call
    (not even a describe), and every mapping is checked before the first write.
    """
    work: list[tuple[ModelPlan, ModelResult]] = []
    for plan in plans:
        model = _start_model(plan, result, emit)
        if model.status == ERROR or model.status == SKIPPED:
            continue
        query = _diff(wh, store, plan, _counting_sync_id(store, plan, options))
        count_plan(wh, query.counts_sql, model)
        model.planned_calls = estimate_calls(plan, model)
        if options.dry_run:
            model.status = PLANNED
        else:
            work.append((plan, model))
    if options.dry_run:
        return
    problems: list[ConfigProblem] = []
    cached: dict[str, dict[str, dict]] = {}  # connection -> describes loaded from the state
    for plan, model in work:
        if model.to_send:
            client = clients[plan.connection.name]
            if plan.connection.name not in cached and not options.full_refresh:
                cached[plan.connection.name] = store.cached_describes(plan.connection.name)
                for name, entry in cached[plan.connection.name].items():
                    client.remember_describe(name, entry)
            before = client.stats.snapshot()["calls"]
            problems += online_problems(plan.config, client)
            if not problems:
                plan.schemas = describe_for(plan.config, client)  # cached by the client
            model.metadata_calls = client.stats.snapshot()["calls"] - before
    if problems:
        raise ConfigError("The gainsight config has problems; nothing was sent.", problems)
    for name, client in clients.items():
        known = cached.get(name, {})
        fetched = {k: v for k, v in client.describe_entries.items() if known.get(k) != v}
        store.save_describes(name, fetched)
    auth_failed: str | None = None
    for plan, model in work:
        config = plan.config
        if auth_failed:
            model.status, model.message = ERROR, auth_failed
            continue
        model.state_reset = store.prepare_sync(
            sync_id=plan.sync_id,
            model_unique_id=config.unique_id,
            object_name=config.object,
            connection=plan.connection.name,
            fingerprint=config.fingerprint(),
            full_refresh=options.full_refresh,
        )
        if model.state_reset:
            emit("info", f"{config.model}: state reset ({model.state_reset}); all rows resent")
        try:
            ModelSync(
                plan,
                wh=wh,
                store=store,
                client=clients[plan.connection.name],
                run_id=result.run_id,
                result=model,
                on_progress=on_progress,
            ).run(_diff(wh, store, plan, plan.sync_id))
        except SyncInterrupted:
            result.interrupted = True
            model.status, model.message = ERROR, "interrupted"
            break
        except AuthError as exc:
            auth_failed = str(exc)
            model.status, model.message = ERROR, auth_failed
        except GainsightSyncError as exc:
            model.status, model.message = ERROR, str(exc)
        if model.status == ERROR:
            emit("error", f"{config.model}: {model.message}")


def _start_model(plan: ModelPlan, result: SyncResult, emit: EventCallback) -> ModelResult:
    config = plan.config
    model = ModelResult(
        model=config.model,
        unique_id=config.unique_id,
        object=config.object,
        behavior=config.behavior,
        connection=plan.connection.name,
    )
    result.models.append(model)
    if plan.skip_reason:
        model.status, model.message = SKIPPED, plan.skip_reason
        emit("warn", f"{config.model}: skipped: {plan.skip_reason}")
    elif plan.error:
        model.status, model.message = ERROR, plan.error
        emit("error", f"{config.model}: {plan.error}")
    return model


def _diff(wh: Warehouse, store: StateStore, plan: ModelPlan, sync_id: str) -> diff.DiffQuery:
    return diff.build_diff_query(
        wh,
        relation=plan.relation,
        columns=plan.columns,
        key_columns=plan.key_columns,
        state_relation=store.state,
        rejects_relation=store.rejects,
        sync_id=sync_id,
    )


def _counting_sync_id(store: StateStore, plan: ModelPlan, options: SyncOptions) -> str:
    """The sync id to count against: none when the state is about to be reset.

    Counting happens before ``prepare_sync`` resets anything, so a dry run never writes and
    its counts equal what the real run then does.
    """
    if options.full_refresh:
        return "dry-run-without-state"
    rows = store.wh.execute(
        f"select fingerprint from {store.syncs} where sync_id = {store.wh.literal(plan.sync_id)}",
        fetch=True,
    )
    if rows and rows[0][0] != plan.config.fingerprint():
        return "dry-run-without-state"
    return plan.sync_id


def validate(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    online: bool = False,
) -> list[SyncConfig]:
    """Check the config of the selected models; raise ConfigError listing every problem.

    Columns are checked against the model's YAML when it declares them, else against the
    built relation. ``online`` also checks each mapping against Gainsight's describe.
    """
    session = Session(project_dir=project_dir, profiles_dir=profiles_dir, target=target, vars=vars)
    configs = session.configs(select, exclude, selector, need_connections=online)
    problems: list[ConfigProblem] = []
    needs_relation = []
    for config, node in configs:
        declared = list((node.columns or {}).keys())
        if declared:
            problems += check_columns(config, declared)
        else:
            needs_relation.append((config, node))
    if needs_relation:
        wh = Warehouse(session.args, session.project.manifest)
        try:
            with wh.connection("gainsight-validate"):
                _, found = _plans(session, needs_relation, wh, with_connections=False)
                problems += found
        finally:
            wh.close()
    if online:
        clients: dict[str, GainsightClient] = {}
        for config, _ in configs:
            connection = session.settings.connection(config.connection)
            client = clients.setdefault(connection.name, session.client(connection))
            problems += online_problems(config, client)
        for client in clients.values():
            client.close()
    if problems:
        raise ConfigError("The gainsight config has problems.", problems)
    return [config for config, _ in configs]


def check(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """Test a connection's URL and access key with one cheap call."""
    project = os.fspath(project_dir or os.environ.get("DBT_PROJECT_DIR") or ".")
    profiles = profiles_dir or os.environ.get("DBT_PROFILES_DIR")
    settings = load_settings(project, profiles)
    conn = settings.connection(connection)
    client = client_for(conn)
    try:
        info = client.check()
    finally:
        client.close()
    return {"connection": conn.name, "url": conn.url, **(info or {})}
