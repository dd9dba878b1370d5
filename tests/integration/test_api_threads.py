"""The Python API from an orchestrator's worker threads: two projects synced at once.

dbt keeps its adapters and flags in process globals, so before, a second ``api.sync``
starting beside a running one closed the first's connections: "connection never acquired
for thread", state not written for records Gainsight had accepted (sent again next run),
leases left behind, and a raw dbt error (a query of the other project's database). Now the
calls take turns (dbt_gainsight/one_call.py). Real dbt, DuckDB and Postgres in one process,
the in-process emulator; the records Gainsight holds are checked, not only the results.
"""

from __future__ import annotations

import threading

from dbt_gainsight import api
from tests.integration.incremental_helpers import (
    IncProject,
    assert_emulator_matches,
    companies,
)

ROWS = 1000


def test_two_projects_synced_at_once_from_two_threads_both_land(
    tmp_path, pg_database, gainsight_emulator_factory, monkeypatch
):
    gs = gainsight_emulator_factory(latency_ms=100)  # the two runs overlap
    (tmp_path / "duck").mkdir()
    (tmp_path / "pg").mkdir()
    duck = IncProject(tmp_path / "duck", "duckdb", gs)
    pg = IncProject(tmp_path / "pg", "postgres", gs, pg_database)
    duck_rows, pg_rows = companies(ROWS), companies(ROWS, start=ROWS)
    duck.build(duck_rows)
    pg.build(pg_rows)
    for name in ("GAINSIGHT_URL", "GAINSIGHT_ACCESS_KEY", "GAINSIGHT_CALLS_PER_MINUTE"):
        monkeypatch.setenv(name, duck.env[name])
    monkeypatch.setenv("DBT_DUCKDB_PATH", duck.env["DBT_DUCKDB_PATH"])
    for name, value in {**pg_database, "DBT_PG_SCHEMA": pg.env["DBT_PG_SCHEMA"]}.items():
        monkeypatch.setenv(name, value)

    def both_at_once() -> dict:
        results: dict = {}
        waits: list[str] = []

        def run(project: IncProject) -> None:
            try:
                results[project.backend] = api.sync(
                    project_dir=project.dir,
                    profiles_dir=project.dir,
                    target=project.backend,
                    on_event=lambda level, message: waits.append(message),
                )
            except BaseException as exc:  # noqa: BLE001 - reported below
                results[project.backend] = exc

        threads = [threading.Thread(target=run, args=(p,)) for p in (duck, pg)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert all(isinstance(r, api.SyncResult) for r in results.values()), results
        assert any("Waiting for another dbt-gainsight call" in m for m in waits), waits
        return results

    first = both_at_once()
    for result in first.values():
        assert result.exit_code == 0, result
        assert sum(m.accepted for m in result.models) == ROWS
    assert_emulator_matches(gs, duck_rows + pg_rows)
    for project in (duck, pg):
        assert len(project.state()) == ROWS
        assert project.sql(f"select count(*) from {project.state_schema}.gainsight_locks") == [(0,)]

    calls = gs.counters()["calls"]
    again = both_at_once()  # unchanged: no call, from either thread
    assert all(r.exit_code == 0 for r in again.values())
    assert gs.counters()["calls"] == calls
