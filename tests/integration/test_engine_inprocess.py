"""The engine in-process: ``ModelSync`` and ``api.sync()`` against the in-process emulator.

One DuckDB project (tests/projects/incremental, 120 companies) is built and parsed once per
session; each test syncs a private copy of its DuckDB file, so the engine runs without a
subprocess and a test takes about a second.
"""

from __future__ import annotations

import csv
import gc
import os
import shutil
import signal
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_gainsight import api, interrupts
from dbt_gainsight.config.connections import load_settings
from dbt_gainsight.config.model import parse_sync_config
from dbt_gainsight.errors import SyncInterrupted
from dbt_gainsight.events import RunObserver
from dbt_gainsight.gainsight import RecordResult, RecordStatus, client_for
from dbt_gainsight.project import META_KEY, DbtArgs, DbtProject, yaml_path_of
from dbt_gainsight.sync import audit as audit_module
from dbt_gainsight.sync import lock
from dbt_gainsight.sync.audit import audit
from dbt_gainsight.sync.describes import DescribeCache
from dbt_gainsight.sync.engine import ModelSync
from dbt_gainsight.sync.plan import ModelPlan, count_plan, resolve_plans
from dbt_gainsight.sync.report import ModelResult
from dbt_gainsight.sync.state import StateStore, sync_id_for, tenant_of, utc_now
from dbt_gainsight.warehouse import Warehouse
from tests.conftest import copy_project
from tests.integration.incremental_helpers import (
    COLUMNS,
    MODEL,
    PROJECT,
    assert_emulator_matches,
    changed,
    companies,
)

ROWS = 120
STATE = "main_gainsight"


@dataclass
class Built:
    """The project, built once: its dir, its DuckDB file, its manifest and the seed rows."""

    dir: Path
    duckdb: Path
    manifest: Any
    rows: list[dict[str, Any]]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """tests/projects/incremental with 120 companies: ``dbt build`` and parse, in-process."""
    from dbt.cli.main import dbtRunner

    root = tmp_path_factory.mktemp("engine")
    project = copy_project(PROJECT, root / "incremental")
    rows = companies(ROWS)
    with open(project / "seeds" / "companies.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    path = root / "built.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_DUCKDB_PATH", str(path))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        dirs = ["--project-dir", str(project), "--profiles-dir", str(project)]
        assert dbtRunner().invoke(["build", "--quiet", *dirs]).success
        manifest = DbtProject(DbtArgs.from_options(project, project)).manifest
    return Built(project, path, manifest, rows)


@dataclass
class Workspace:
    """One test's copy of the built warehouse, pointed at its own emulator."""

    built: Built
    duckdb: Path
    gs: Any

    def sql(self, *statements: str) -> list[tuple]:
        con = duckdb.connect(str(self.duckdb))
        try:
            out: list[tuple] = []
            for statement in statements:
                out = con.execute(statement).fetchall()
            return out
        finally:
            con.close()

    def state_rows(self) -> int:
        return self.sql(f"select count(*) from {STATE}.gainsight_sync_state")[0][0]

    def sync(self, **options: Any):
        return api.sync(
            project_dir=self.built.dir,
            profiles_dir=self.built.dir,
            manifest=self.built.manifest,
            **options,
        )


@pytest.fixture
def ws(built, tmp_path, monkeypatch, gainsight_emulator) -> Workspace:
    """A private DuckDB copy and a fresh emulator; the manifest is the session's."""
    path = tmp_path / built.duckdb.name  # the manifest names the database after the file
    shutil.copyfile(built.duckdb, path)
    wal = built.duckdb.with_name(built.duckdb.name + ".wal")  # dbt may not have checkpointed
    if wal.exists():
        shutil.copyfile(wal, path.with_name(wal.name))
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(path))
    monkeypatch.setenv("GAINSIGHT_URL", gainsight_emulator.url)
    monkeypatch.setenv("GAINSIGHT_ACCESS_KEY", gainsight_emulator.access_key)
    monkeypatch.setenv("GAINSIGHT_CALLS_PER_MINUTE", "6000")
    return Workspace(built, path, gainsight_emulator)


def model_syncs(ws: Workspace, runs: int, wrap=lambda client: client) -> list[ModelResult]:
    """Run ModelSync ``runs`` times on the model, as the runner would (counts, then send)."""
    built = ws.built
    args = DbtArgs.from_options(built.dir, built.dir)
    connection = load_settings(built.dir, built.dir).connection(None)
    node = next(n for n in built.manifest.nodes.values() if n.name == MODEL)
    config = parse_sync_config(
        node.config.meta[META_KEY],
        model=node.name,
        unique_id=node.unique_id,
        yaml_path=yaml_path_of(node),
    )
    wh = Warehouse(args, built.manifest)
    client = client_for(connection)
    results = []
    try:
        with wh.connection("test"):
            store = StateStore(wh, STATE)
            store.ensure()
            tenant = tenant_of(connection.url)
            sync_id = sync_id_for(config.unique_id, config.object, connection.name, tenant)
            [plan], problems = resolve_plans(
                [(config, node)],
                wh,
                lambda c: ModelPlan(config=c, connection=connection, sync_id=sync_id),
            )
            assert problems == [] and plan.error is None, plan.error
            plan.schemas = DescribeCache(store).schemas_for(config, tenant, client)
            for _ in range(runs):
                result = ModelResult(MODEL, config.unique_id, "Company", "upsert", "default")
                query = plan.diff_query(wh, store, sync_id)  # as the runner builds it
                count_plan(wh, query.counts_sql, result)
                engine = ModelSync(
                    plan, wh=wh, store=store, client=wrap(client), run_id="r", result=result
                )
                results.append(engine.run(query))
    finally:
        client.close()
        wh.close()
    return results


def test_model_sync_sends_every_new_row_once_and_saves_state(ws: Workspace):
    first, second = model_syncs(ws, runs=2)
    assert_emulator_matches(ws.gs, ws.built.rows)
    # One existence query for 120 new keys, then 3 inserts of <= 50; nothing rejected.
    assert (first.new, first.sent, first.accepted, first.rejected, first.failed) == (
        ROWS,
        ROWS,
        ROWS,
        0,
        0,
    )
    assert first.api_calls == 4 and first.status == "success"
    assert (second.unchanged, second.sent, second.api_calls) == (ROWS, 0, 0)
    assert ws.state_rows() == ROWS


class NoAnswer:
    """A client whose inserts are never known to be applied: every result FAILED."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def insert(self, object_name, records, **kwargs):
        return [RecordResult(RecordStatus.FAILED, error_message="no reply") for _ in records]


def test_failed_results_are_counted_failed_and_stop_the_model_after_three_calls(ws: Workspace):
    """RecordStatus.FAILED is "failed" (not rejected, not accepted, not saved); a batch whose
    results are all FAILED is one failed call, and the third in a row stops the model."""
    [result] = model_syncs(ws, runs=1, wrap=NoAnswer)
    assert (result.accepted, result.rejected, result.failed) == (0, 0, ROWS)
    assert result.status == "error" and "stopped after 3 failed calls" in result.message
    assert ws.state_rows() == 0 and ws.gs.records("Company") == []


def test_api_sync_sends_only_changes_and_reuses_cached_describes(ws: Workspace):
    collector = gc.get_threshold()
    frozen_while_sending: list[int] = []
    first = ws.sync(on_progress=lambda *_: frozen_while_sending.append(gc.get_freeze_count()))
    assert first.exit_code == 0
    # The manifest is kept from the collector while rows stream, and a host's collector is
    # as it was afterwards (runner._frozen_heap).
    assert frozen_while_sending and min(frozen_while_sending) > 10_000
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, collector)
    [model] = first.models
    assert (model.new, model.accepted, model.metadata_calls) == (ROWS, ROWS, 1)

    edited = [changed(r) if i % 24 == 0 else r for i, r in enumerate(ws.built.rows)]
    names = ", ".join(f"'{r['name']}'" for r in ws.built.rows[::24])
    ws.sql(f"update main.companies set arr = arr + 1 where name in ({names})")

    dry = ws.sync(dry_run=True)
    [planned] = dry.models
    assert (planned.status, planned.changed, planned.unchanged) == ("planned", 5, ROWS - 5)
    second = ws.sync()
    [model] = second.models
    assert second.exit_code == 0
    # Five changed rows are one PUT; the describe came from the state, not from Gainsight.
    assert (model.changed, model.sent, model.accepted) == (5, 5, 5)
    assert (model.api_calls, model.metadata_calls) == (1, 0)
    assert_emulator_matches(ws.gs, edited)
    assert ws.state_rows() == ROWS


def swallowed_ctrl_c() -> None:
    """A Ctrl-C that lands inside a library which drops the KeyboardInterrupt (DuckDB now and
    then does so in a query; CI caught a sync that went on sending after one)."""
    try:
        signal.raise_signal(signal.SIGINT)  # the handler runs here, before it returns
    except KeyboardInterrupt:
        pass


class SwallowsCtrlC(RunObserver):
    def model_start(self, model: ModelResult) -> None:
        super().model_start(model)
        swallowed_ctrl_c()


def test_a_ctrl_c_that_a_library_swallows_still_stops_the_sync(ws: Workspace):
    """The signal handler notes the Ctrl-C where the run looks: nothing more is sent, what was
    accepted is in the state, and the run is interrupted (exit 130), not finished."""
    with interrupts.handling_signals():
        result = ws.sync(observer=SwallowsCtrlC())
        assert interrupts.tripped()
    assert not interrupts.tripped()  # noted per run of the handler, not for the process
    assert result.interrupted and result.exit_code == 130
    [model] = result.models
    assert (model.status, model.message) == ("error", "interrupted")
    assert ws.gs.records("Company") == [] and ws.state_rows() == 0
    # The describe went before the model started; after the Ctrl-C not even the existence query
    assert list(ws.gs.counters()["by_route"]) == ["GET /v1/meta/services/objects/{name}/describe"]
    assert ws.sync().exit_code == 0  # a later run in the same process is not cancelled
    assert ws.state_rows() == ROWS


def test_an_audit_of_an_emptied_tenant_counts_keeps_and_repairs_every_row(ws, monkeypatch):
    """Every row is missing (the tenant was emptied): the count and --repair cover them all,
    the audit table keeps MAX_AUDIT_ROWS of them, and the next sync sends them again."""
    assert ws.sync().exit_code == 0
    ws.gs.reset()  # the tenant emptied behind the tool's back
    monkeypatch.setattr(audit_module, "MAX_AUDIT_ROWS", 7)
    result = audit(project_dir=ws.built.dir, profiles_dir=ws.built.dir, repair=True)
    [model] = result.models
    assert (model.status, model.missing, model.differs, model.orphans) == ("drift", ROWS, 0, 0)
    assert model.repaired == ROWS and ws.state_rows() == 0
    assert ws.sql(f"select count(*), min(kind), max(kind) from {STATE}.gainsight_audit") == [
        (7, "missing", "missing")
    ]
    resent = ws.sync()
    assert resent.exit_code == 0 and resent.models[0].accepted == ROWS
    assert_emulator_matches(ws.gs, ws.built.rows)


def test_an_audit_says_when_a_sync_of_the_model_wrote_while_it_read(ws):
    """An audit takes no lease: a sync running beside it (its lease, a live pid) or one that
    ended while it read (the run history) may have sent what the audit saw missing. The audit
    still counts what it saw, names the run, and --repair marks nothing (the state is that
    run's); with no sync beside it, the audit says nothing of the kind and the repair goes
    through, taking and releasing the model's lease."""
    assert ws.sync().exit_code == 0
    ws.gs.reset()
    [(sync_id,)] = ws.sql(f"select sync_id from {STATE}.gainsight_syncs")
    [(run_id,)] = ws.sql(f"select run_id from {STATE}.gainsight_runs")

    def audited(repair: bool = False):
        [model] = audit(project_dir=ws.built.dir, profiles_dir=ws.built.dir, repair=repair).models
        return model

    quiet = audited()
    assert (quiet.status, quiet.missing, quiet.message) == ("drift", ROWS, None)

    now = f"'{utc_now().isoformat(sep=' ')}'"
    ws.sql(
        f"insert into {STATE}.gainsight_locks values ('{sync_id}', '{MODEL}', 'another-run', "
        f"'{socket.gethostname()}', '{os.getpid()}', {now}, {now})"
    )
    raced = audited()
    assert (raced.status, raced.missing) == ("drift", ROWS)
    assert "another-run" in raced.message and "audit again once it is done" in raced.message
    raced = audited(repair=True)  # the state is the running sync's
    assert (raced.status, raced.missing, raced.repaired) == ("drift", ROWS, 0)
    assert "another-run" in raced.message and "--repair marked nothing" in raced.message
    assert ws.state_rows() == ROWS
    ws.sql(f"delete from {STATE}.gainsight_locks")

    # A run that ended after the audit began: its history row, moved into the future.
    ws.sql(f"update {STATE}.gainsight_runs set ended_at = ended_at + interval 1 hour")
    ended = audited(repair=True)
    assert (ended.status, ended.missing, ended.repaired) == ("drift", ROWS, 0)
    assert run_id in ended.message and "--repair marked nothing" in ended.message
    assert ws.state_rows() == ROWS  # nothing marked
    ws.sql(f"update {STATE}.gainsight_runs set sent = 0")  # a run that wrote nothing
    alone = audited(repair=True)
    assert (alone.message, alone.repaired) == (None, ROWS) and ws.state_rows() == 0
    assert ws.sql(f"select count(*) from {STATE}.gainsight_locks") == [(0,)]  # released


def test_an_audit_stops_at_a_ctrl_c_a_library_swallowed(ws: Workspace):
    assert ws.sync().exit_code == 0
    calls = ws.gs.counters()["calls"]

    def on_event(level: str, message: str) -> None:
        if level == "info":  # the read's estimate, shown before the first call
            swallowed_ctrl_c()

    with interrupts.handling_signals(), pytest.raises(SyncInterrupted):
        audit(project_dir=ws.built.dir, profiles_dir=ws.built.dir, on_event=on_event)
    assert ws.gs.counters()["calls"] == calls  # not one read


def test_a_run_that_cannot_renew_its_lease_stops_sending_before_another_run_may_take_it(
    ws: Workspace, monkeypatch
):
    """A lease is taken over once its heartbeat is an hour old; a run whose renewals fail (a
    lost warehouse connection) went on sending for hours beside the run that took it. It now
    stops starting calls once no renewal landed for ``LOST_AFTER``: what was accepted is in the
    state, the rest stays unsent, and the next run sends exactly that."""
    monkeypatch.setenv("GAINSIGHT_MAX_IN_FLIGHT", "1")  # two calls pending at most
    monkeypatch.setattr(lock, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(lock, "LOST_AFTER", timedelta(seconds=0.5))
    renew = lock.Leases.renew

    def fails_once_records_land(self):
        if ws.gs.records("Company"):  # the warehouse is gone from the first insert on
            raise RuntimeError("server closed the connection unexpectedly")
        renew(self)

    monkeypatch.setattr(lock.Leases, "renew", fails_once_records_land)
    # The first insert lands at once and answers after 1.5 s: the second is already sent, the
    # third waits for that answer, and by then the lease has gone 0.5 s without a renewal.
    ws.gs.inject_fault("slow_apply", method="POST", apply_after=0, reply_after=1.5)
    first = ws.sync()
    [model] = first.models
    assert first.exit_code == 1 and model.status == "error"
    assert "could not renew the sync lease" in model.message
    assert (model.sent, model.accepted, model.failed) == (100, 100, ROWS - 100)
    assert len(ws.gs.records("Company")) == 100 and ws.state_rows() == 100
    monkeypatch.setattr(lock.Leases, "renew", renew)
    second = ws.sync()
    [model] = second.models
    assert (second.exit_code, model.new, model.accepted) == (0, ROWS - 100, ROWS - 100)
    assert_emulator_matches(ws.gs, ws.built.rows)
