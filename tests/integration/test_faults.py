"""Network and gateway faults during a sync: 429 bursts, 503s, an insert whose reply is lost.

The emulator injects the faults over real HTTP; the CLI must still land every one of the 120
companies of tests/projects/bad_records (built clean), exactly once, exit 0, and count the
retries and 429s in its run results. 429s carry ``Retry-After: 1`` so the test waits
seconds, not a minute window.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    calls_by_route,
    clone_built,
    dbt,
    duckdb_rows,
    gainsight,
    gainsight_env,
    results_by_model,
)

ROWS = 120
DATA_CALLS = "/v1/data/objects/"  # the existence query and the writes, not describe
COMPANY_WRITES = "/v1/data/objects/Company"  # insert/update; not a substring of the query path
INSERT = "POST /v1/data/objects/{object}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The bad_records project built once with no bad row (each test syncs a copy)."""
    root = tmp_path_factory.mktemp("faults")
    project = copy_project(PROJECTS / "bad_records", root / "project")
    dbt("build", project, {"DBT_DUCKDB_PATH": str(project / "target" / "faults.duckdb")})
    return project


@pytest.fixture
def setup(built: Path, tmp_path: Path, gainsight_emulator_factory):
    """A private copy of the built project, an emulator whose 429s say Retry-After: 1."""
    project = clone_built(built, tmp_path / "project")
    gs = gainsight_emulator_factory(retry_after=1)
    env = {"DBT_DUCKDB_PATH": str(project / "target" / "faults.duckdb"), **gainsight_env(gs)}
    return project, gs, env


def _assert_all_landed_once(project: Path, gs) -> dict:
    names = [r["Name"] for r in gs.records("Company")]
    assert len(names) == ROWS, f"{len(names)} records in Gainsight"
    assert len(set(names)) == ROWS, "duplicates in Gainsight"
    state = duckdb_rows(
        project / "target" / "faults.duckdb", "select gsid from main_gainsight.gainsight_sync_state"
    )
    assert sorted(s["gsid"] for s in state) == sorted(r["Gsid"] for r in gs.records("Company"))
    result = results_by_model(project)["bad_companies"]
    assert result["status"] == "success", result
    assert (result["sent"], result["accepted"]) == (ROWS, ROWS), result
    assert (result["rejected"], result["failed"]) == (0, 0), result
    return result


def _no_calls_next_time(project: Path, gs, env) -> None:
    calls = gs.counters()["calls"]
    proc = gainsight("sync", project, env, label="sync again (nothing changed)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gs.counters()["calls"] == calls
    assert results_by_model(project)["bad_companies"]["unchanged"] == ROWS


def test_429_bursts_are_waited_out(setup):
    project, gs, env = setup
    gs.inject_fault("rate_limit", count=3, path_contains=DATA_CALLS)

    proc = gainsight("sync", project, env, label="sync through three 429s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _assert_all_landed_once(project, gs)
    assert gs.counters()["rate_limited"] == 3
    assert result["rate_limited"] == 3, result
    assert result["retries"] == 0, result  # a 429 wait is not a retry of a fault


def test_503s_are_retried(setup):
    project, gs, env = setup
    gs.inject_fault("status", count=3, status=503, path_contains=DATA_CALLS)

    proc = gainsight("sync", project, env, label="sync through three 503s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _assert_all_landed_once(project, gs)
    assert gs.counters()["by_status"].get("503") == 3
    assert result["retries"] >= 3, result
    assert result["rate_limited"] == 0, result


def test_insert_whose_reply_is_lost_is_not_duplicated(setup):
    project, gs, env = setup
    gs.inject_fault("lost_reply", count=1, method="POST", path_contains=COMPANY_WRITES)

    before = gs.counters()
    proc = gainsight("sync", project, env, label="sync with a lost insert reply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_all_landed_once(project, gs)
    # The lost batch was applied; it was found by its keys (not a retry), not posted again.
    inserts = calls_by_route(before, gs.counters())[INSERT]
    assert inserts == 3, f"{inserts} insert calls for 3 batches of <= 50"
    _no_calls_next_time(project, gs, env)


def test_all_faults_at_once(setup):
    project, gs, env = setup
    # The existence query gets the 429s; the inserts the lost reply, then the 503s. (Six
    # faults on one call would wait out a long backoff: 429s use up its first steps.)
    gs.inject_fault("lost_reply", count=1, method="POST", path_contains=COMPANY_WRITES)
    gs.inject_fault("rate_limit", count=3, path_contains=DATA_CALLS)
    gs.inject_fault("status", count=3, status=503, path_contains=COMPANY_WRITES)

    proc = gainsight("sync", project, env, label="sync through 429s, 503s and a lost reply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _assert_all_landed_once(project, gs)
    assert result["rate_limited"] == gs.counters()["rate_limited"] == 3, result
    assert gs.counters()["by_status"].get("503") == 3
    assert result["retries"] == 3, result  # the 503s; 429 waits and the key check apart
    _no_calls_next_time(project, gs, env)
