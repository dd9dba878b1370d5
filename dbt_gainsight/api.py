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
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from dbt_gainsight import interrupts
from dbt_gainsight.build import BuildResult
from dbt_gainsight.build import build as _build
from dbt_gainsight.config import typecheck
from dbt_gainsight.config.connections import GainsightSettings, load_settings
from dbt_gainsight.config.model import SyncConfig, check_columns, parse_models
from dbt_gainsight.errors import (
    ConfigError,
    ConfigProblem,
)
from dbt_gainsight.events import RunObserver
from dbt_gainsight.gainsight.client import GainsightClient, client_for
from dbt_gainsight.one_call import one_at_a_time
from dbt_gainsight.project import DbtArgs, DbtProject, declared_columns, yaml_path_of
from dbt_gainsight.results import CheckResult, ValidateResult
from dbt_gainsight.sync import history
from dbt_gainsight.sync.describes import DescribeCache
from dbt_gainsight.sync.online import online_problems
from dbt_gainsight.sync.plan import ModelPlan, object_rank, resolve_plans
from dbt_gainsight.sync.report import SyncResult
from dbt_gainsight.sync.runner import (
    EventCallback,
    ProgressCallback,
    Runner,
    SyncOptions,
)
from dbt_gainsight.sync.state import StateStore, sync_id_for, tenant_of
from dbt_gainsight.warehouse import Warehouse

__all__ = [
    "BuildResult",
    "CheckResult",
    "SyncOptions",
    "SyncResult",
    "ValidateResult",
    "build",
    "check",
    "sync",
    "validate",
]


#: dbt statuses after which a model is not synced (its table may be stale or half-built).
NOT_BUILT_STATUSES = {"error", "skipped", "fail", "runtime error"}


#: ``dbt build``, then sync what built (dbt_gainsight/build.py), taking its turn.
build = one_at_a_time(_build)


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
        parse: bool | None = None,
        client_hooks: dict[str, Any] | None = None,
    ):
        self.emit = on_event or (lambda level, message: None)
        self.client_hooks = client_hooks or {}  # on_event/on_call for every client (events.py)
        self.args = DbtArgs.from_options(project_dir, profiles_dir, target, None, vars)
        self.project = DbtProject(
            self.args, manifest, parse=parse, on_event=lambda level, text: self.emit(level, text)
        )
        self.settings: GainsightSettings = load_settings(
            self.args.project_dir, self.args.profiles_dir
        )

    def configs(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        selector: str | None = None,
        *,
        need_connections: bool = True,
        failure: str = "The gainsight config has problems; nothing was sent.",
    ) -> list[tuple[SyncConfig, Any]]:
        """Parse and validate the meta of every selected model; all problems at once.

        ``need_connections=False`` (offline validate) checks only that each connection is
        defined and leaves credentials alone, so the check can run in a pull request without
        secrets.
        """
        parsed, problems = parse_models(
            self.project, self.project.select(select, exclude, selector)
        )
        names = {config.connection or "default" for config, _ in parsed}
        defined = {*self.settings.connections, *self.settings.unavailable}
        for name in sorted(names):
            if not need_connections and name in defined:
                continue  # offline: a connection's name must exist, its credentials need not
            try:
                self.settings.connection(name)
            except ConfigError as exc:
                users = [c for c, _ in parsed if (c.connection or "default") == name]
                models = ", ".join(c.model for c in users)
                # A broken connection is fixed in gainsight.yml or the environment: say where.
                at = self.settings.unavailable_at.get(name)
                if at:
                    problems += [ConfigProblem(models, f, key, text) for f, key, text in at]
                    continue
                problems.append(
                    ConfigProblem(models, users[0].yaml_path, "meta.gainsight.connection", str(exc))
                )
        if problems:
            raise ConfigError(failure, problems)
        return parsed

    def plans(
        self,
        configs: list[tuple[SyncConfig, Any]],
        wh: Warehouse,
        *,
        with_connections: bool = True,
    ) -> tuple[list[ModelPlan], list[ConfigProblem]]:
        """Each model's plan (relation, real column names, sync identity) and its problems."""

        def plan_for(config: SyncConfig) -> ModelPlan:
            connection = self.settings.connection(config.connection) if with_connections else None
            name = connection.name if connection else (config.connection or "default")
            tenant = tenant_of(connection.url) if connection else ""
            sync_id = sync_id_for(config.unique_id, config.object, name, tenant)
            return ModelPlan(config=config, connection=connection, sync_id=sync_id)

        return resolve_plans(configs, wh, plan_for)


def _skip_not_built(session: Session, plans: list[ModelPlan]) -> None:
    last = session.project.last_run()
    for plan in plans:
        run = last.get(plan.config.unique_id)
        if run and run.status.lower() in NOT_BUILT_STATUSES and not plan.skip_reason:
            plan.not_built = True  # its data may be stale: the run exits 1
            plan.skip_reason = (
                f"its last dbt {run.command or 'run'} ended '{run.status}' "
                "(pass --ignore-run-results to sync it anyway)"
            )


@one_at_a_time
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
    observer: RunObserver | None = None,
    parse: bool | None = None,
    **option_kwargs: Any,
) -> SyncResult:
    """Sync the selected models; raise ConfigError (nothing sent) or return the result.

    ``manifest``: a dbt Manifest already parsed in this process (``build`` passes its own).
    ``observer`` (dbt_gainsight.events) sees the run live: models, progress, retries.
    ``parse``: None reuses dbt's target/manifest.json when current; True/False force.
    """
    options = options or SyncOptions(**option_kwargs)
    started = time.monotonic()
    session = Session(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        vars=vars,
        on_event=on_event,
        manifest=manifest,
        parse=parse,
        client_hooks=observer.client_hooks() if observer else None,
    )
    result = SyncResult(
        run_id=uuid.uuid4().hex,
        started_at=datetime.now(timezone.utc).isoformat(),
        dry_run=options.dry_run,
        observer=observer,
    )
    configs = session.configs(options.select, options.exclude, options.selector)
    wh = Warehouse(session.args, session.project.manifest)
    clients: dict[str, GainsightClient] = {}
    cancel = threading.Event()  # Ctrl-C sets it: every wait of every client ends at once
    try:
        with interrupts.cancels(cancel), wh.connection("gainsight"):
            plans, problems = session.plans(configs, wh)
            if not options.ignore_run_results:
                _skip_not_built(session, plans)
            if problems:
                raise ConfigError("The gainsight config has problems; nothing was sent.", problems)
            for plan in plans:
                if not (plan.skip_reason or plan.error) and plan.connection.name not in clients:
                    clients[plan.connection.name] = client_for(
                        plan.connection, cancel=cancel, **session.client_hooks
                    )
            store = StateStore(wh, _state_schema(options, session, wh))
            store.ensure()
            result.state_schema = store.schema
            dag = {uid: i for i, uid in enumerate(session.project.dag_order())}
            plans.sort(key=lambda p: (object_rank(p.config), dag.get(p.config.unique_id, 0)))
            runner = Runner(
                wh=wh,
                store=store,
                clients=clients,
                options=options,
                result=result,
                on_progress=on_progress,
                emit=session.emit,
                cancel=cancel,
            )
            try:
                runner.run(plans)
            finally:  # also a run a config error or an outage stopped: its calls count
                history.record(store, result, session)
    except KeyboardInterrupt:  # outside a model (a second Ctrl-C, or before the first)
        cancel.set()
        result.interrupted = True
        raise
    finally:
        for client in clients.values():
            client.close()
        wh.close()
        result.seconds = time.monotonic() - started
        result.write(session.project.target_path)
    return result


def _state_schema(options: SyncOptions, session: Session, wh: Warehouse) -> str:
    return options.state_schema or session.settings.state_schema or f"{wh.target_schema}_gainsight"


@one_at_a_time
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
    on_event: EventCallback | None = None,
    parse: bool | None = None,
) -> ValidateResult:
    """Check the config of the selected models; raise ConfigError listing every problem.

    Columns are checked against the model's YAML when it declares every mapped one (no
    warehouse needed), else against the built relation: YAML may document only some columns.
    A model never built is checked against its YAML's columns, if any, else not at all (a
    warning says so). ``online`` also checks each mapping against Gainsight's describe.
    """
    session = Session(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        vars=vars,
        on_event=on_event,
        parse=parse,
    )
    failure = "The gainsight config has problems."  # validate never sends anything
    session.project.warn_misplaced = False  # a misspelt block fails validate (CI) instead
    configs = session.configs(select, exclude, selector, need_connections=online, failure=failure)
    problems = [
        ConfigProblem(node.name, yaml_path_of(node), "config.meta", hint)
        for node, hint in session.project.misplaced
    ]
    needs_relation = []
    unseen: list[tuple[SyncConfig, Any]] = []  # columns to read from the built relation
    for config, node in configs:
        declared = declared_columns(node)
        if not declared or check_columns(config, declared):
            unseen.append((config, node))
        if not declared or online:
            needs_relation.append((config, node))
    column_types: dict[str, dict[str, str]] = {}
    if needs_relation or unseen:
        wh = Warehouse(session.args, session.project.manifest)
        try:
            with wh.connection("gainsight-validate"):
                plans, found = session.plans(unseen, wh, with_connections=False)
                problems += found
                declared_by_id = {c.unique_id: declared_columns(n) for c, n in unseen}
                for plan in plans:
                    if not plan.error:
                        continue
                    declared = declared_by_id[plan.config.unique_id]
                    if declared:  # never built: its YAML's columns are all there is
                        problems += check_columns(plan.config, declared, declared_only=True)
                    else:  # never built, and no columns in its YAML: say so
                        session.emit("warn", typecheck.not_checked(plan.config))
                if online:
                    column_types = typecheck.column_types(wh, needs_relation)
        finally:
            wh.close()
    if online:
        problems += _online(session, [config for config, _ in configs], column_types)
    if problems:
        raise ConfigError(failure, problems)
    return ValidateResult(models=[config for config, _ in configs], online=online)


def _online(
    session: Session, configs: list[SyncConfig], column_types: dict[str, dict[str, str]]
) -> list[ConfigProblem]:
    """Every mapping against a fresh describe (never the cache: validate must see today's).

    Column types are checked against field types too (config/typecheck.py).
    """
    describes = DescribeCache(fresh=True)
    clients: dict[str, GainsightClient] = {}
    problems: list[ConfigProblem] = []
    try:
        for config in configs:
            connection = session.settings.connection(config.connection)
            if connection.name not in clients:
                clients[connection.name] = client_for(connection)
            describe = describes.describer(connection.name, clients[connection.name])
            names = clients[connection.name].object_names
            problems += online_problems(config, describe, names)
            types = column_types.get(config.unique_id, {})
            problems += typecheck.type_problems(config, types, describe)
    finally:
        for client in clients.values():
            client.close()
    return problems


def check(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    connection: str | None = None,
    on_event: EventCallback | None = None,
) -> CheckResult:
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
    info = info or {}
    if on_event is not None:
        on_event("info", f"connection '{conn.name}' at {conn.url}: access key accepted")
    return CheckResult(
        connection=conn.name,
        url=conn.url,
        objects=info.get("objects"),
        request_id=info.get("request_id"),
        elapsed_ms=info.get("elapsed_ms"),
    )
