"""Two syncs of one model at once (issue 9 #3): one sends, the other exits 2 with one line.

Before leases, both Postgres runs exited 0, created every new key twice in Gainsight and left
6,700 state rows for 5,000 keys; on DuckDB the second run died with an 80-line traceback. The
first sync here is slowed by the emulator (5 s a call, 2 in flight) until the second,
started once the first is writing, has ended; afterwards Gainsight holds each key once, the
state one row per key, and no lease is left behind.
"""

from __future__ import annotations

import pytest

from tests.conftest import run
from tests.integration.incremental_helpers import (
    BACKENDS,
    SYNC_TIMEOUT,
    IncProject,
    assert_emulator_matches,
    companies,
)
from tests.integration.test_crash_safety import start_sync, wait_for_writes

ROWS = 1000  # 20 inserts of 50


@pytest.fixture(params=BACKENDS)
def project(request, tmp_path, gainsight_emulator_factory) -> IncProject:
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    gs = gainsight_emulator_factory(latency_ms=5000)
    p = IncProject(tmp_path, request.param, gs, pg, extra_env={"GAINSIGHT_MAX_IN_FLIGHT": "2"})
    p.build(companies(ROWS))
    return p


def test_a_second_sync_of_the_same_model_exits_2_with_one_line(project: IncProject):
    log = project.dir / "first.log"
    first = start_sync(project, log)
    try:
        wait_for_writes(project, first, 1, log)
        second = run(["dbt-gainsight", "sync", *project.args()], env=project.env, timeout=120)
        project.gs.set_limits(latency_ms=0)
        first.wait(timeout=SYNC_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, log.read_text()
    output = second.stdout + second.stderr
    assert second.returncode == 2, output
    assert "Traceback" not in output
    errors = [line for line in second.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    [line] = errors
    if project.backend == "postgres":  # the lease: which model, which run, how to clear it
        assert "gs_companies is being synced by run" in line and " since " in line
        assert "delete from" in line and "gainsight_locks" in line
    else:  # DuckDB lets one process open the file
        assert "is in use by process" in line and "nothing was sent" in line

    assert_emulator_matches(project.gs, companies(ROWS))  # each key once
    state = project.state()
    assert len(state) == len({key for key, _, _ in state}) == ROWS
    assert project.sql(f"select count(*) from {project.state_schema}.gainsight_locks") == [(0,)]
