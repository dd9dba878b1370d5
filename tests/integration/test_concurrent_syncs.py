"""Two syncs of one model at once (issue 9 #3): one sends, the other exits 2 with one line.

Before leases, both Postgres runs exited 0, created every new key twice in Gainsight and left
6,700 state rows for 5,000 keys; on DuckDB the second run died with an 80-line traceback. The
first sync here is slowed by the emulator (5 s a call, 2 in flight) until the second,
started once the first is writing, has ended; afterwards Gainsight holds each key once, the
state one row per key, and no lease is left behind.
"""

from __future__ import annotations

from collections import Counter

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


MORE = 100  # rows of the run's second model, gs_more (two calls)


@pytest.mark.postgres
def test_a_run_that_lost_a_later_models_lease_never_sends_it(
    tmp_path, gainsight_emulator_factory, pg_database
):
    """A run holds a lease on every model it selected, also on those it has not reached yet.

    Run 1 syncs gs_companies (slow) and then gs_more. While it sends the first, gs_more's lease
    is aged past the stale limit, so run 2 (``-s gs_more``) takes it over and syncs it. Before,
    run 2 also deleted run 1's live gs_companies lease, and run 1 went on to sync gs_more
    beside whoever held it (found by an attack: 2,500 duplicated records of 3,000). Now run 1
    confirms each lease before the model's first write: gs_more fails in run 1 with nothing
    sent, and every gs_more name is in Gainsight once, written by run 2.
    """
    # 5 s a call, one at a time: run 1 sends gs_companies for 100 s, far past run 2 (2 calls).
    gs = gainsight_emulator_factory(latency_ms=5000)
    project = IncProject(
        tmp_path, "postgres", gs, pg_database, extra_env={"GAINSIGHT_MAX_IN_FLIGHT": "1"}
    )
    (project.dir / "models" / "gs_more.sql").write_text(
        "select 'More ' || company_name as company_name, arr\n"
        f"from {{{{ ref('gs_companies') }}}} order by company_name limit {MORE}\n"
    )
    (project.dir / "models" / "gs_more.yml").write_text(
        "version: 2\nmodels:\n  - name: gs_more\n    config:\n      tags: [gainsight]\n"
        "      meta:\n        gainsight:\n          object: Company\n          keys: [Name]\n"
        "          fields: {company_name: Name, arr: Arr}\n"
    )
    project.build(companies(ROWS))
    locks = f"{project.state_schema}.gainsight_locks"
    log = project.dir / "first.log"
    first = start_sync(project, log)
    try:
        wait_for_writes(project, first, 1, log)  # run 1 is sending gs_companies
        [(run_1,)] = project.sql(f"select distinct run_id from {locks}")
        project.execute(
            f"update {locks} set heartbeat_at = heartbeat_at - interval '61 minutes' "
            "where model_name = 'gs_more'"
        )
        second = run(
            ["dbt-gainsight", "sync", "-s", "gs_more", *project.args()],
            env=project.env,
            timeout=120,
        )
        assert second.returncode == 0, second.stdout + second.stderr
        # run 2 took only the lease it needed: run 1 still holds gs_companies
        held = project.sql(f"select model_name, run_id from {locks} order by 1")
        assert held == [("gs_companies", run_1)], held
        gs.set_limits(latency_ms=0)
        first.wait(timeout=SYNC_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
    output = log.read_text()
    assert first.returncode == 1, output
    assert "Traceback" not in output
    results = {m["model"]: m for m in project.report()["results"]}
    assert results["gs_companies"]["status"] == "success", results["gs_companies"]
    more = results["gs_more"]
    assert more["status"] == "error" and more["api_calls"] == 0 and more["accepted"] == 0, more
    assert "lease on gs_more was taken over by another run" in more["message"], more["message"]
    names = Counter(r["Name"] for r in gs.records("Company"))
    assert sorted(names.values()) == [1] * (ROWS + MORE), names.most_common(3)
    assert project.sql(f"select count(*) from {locks}") == [(0,)]
