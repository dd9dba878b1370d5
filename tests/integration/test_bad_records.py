"""One bad row among 120: the other 119 land, the bad one is reported, kept and retried.

tests/projects/bad_records builds 120 companies on DuckDB; ``--vars {bad_row: ...}`` spoils
row 77 either in a way only Gainsight notices (a CSM email that is no Gainsight user, so the
Csm lookup fails: GSOBJ_1002) or in a way the client notices before sending (RenewalDate
'soon' in a DATE field). Real dbt, real DuckDB, the emulator over HTTP, the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    calls_by_route,
    dbt,
    duckdb_rows,
    gainsight,
    gainsight_env,
    results_by_model,
)

BAD_NAME = "Bad Records Co 077"
QUERY = "POST /v1/data/objects/query/{object}"
INSERT = "POST /v1/data/objects/{object}"
REJECTS = "select * from main_gainsight.gainsight_rejects"


def _build(tmp_path: Path, gs, bad_row: str) -> tuple[Path, dict[str, str]]:
    project = copy_project(PROJECTS / "bad_records", tmp_path / "bad_records")
    env = {"DBT_DUCKDB_PATH": str(tmp_path / "bad.duckdb"), **gainsight_env(gs)}
    dbt("build", project, env, "--vars", json.dumps({"bad_row": bad_row}))
    return project, env


def _names(gs) -> list[str]:
    return sorted(r["Name"] for r in gs.records("Company"))


def test_record_gainsight_refuses_is_isolated_reported_and_retried(tmp_path, gainsight_emulator):
    gs = gainsight_emulator
    project, env = _build(tmp_path, gs, "lookup")

    proc = gainsight("sync", project, env, label="sync with one row Gainsight refuses")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    names = _names(gs)
    assert len(names) == 119 and len(set(names)) == 119
    assert BAD_NAME not in names

    result = results_by_model(project)["bad_companies"]
    assert result["status"] == "partial"
    assert (result["rows"], result["new"], result["sent"]) == (120, 120, 120)
    assert (result["accepted"], result["rejected"], result["failed"]) == (119, 1, 0)
    [sample] = result["first_rejects"]
    assert sample["key"] == {"Name": BAD_NAME}
    assert sample["error_code"] == "GSOBJ_1002"
    assert "No match found in GsUser" in sample["error_message"]
    # The console says codes and counts; the key values stay in the rejects table.
    assert "bad_companies: 1 rejected (GSOBJ_1002 1)" in proc.stdout
    assert BAD_NAME not in proc.stdout + proc.stderr

    [reject] = duckdb_rows(tmp_path / "bad.duckdb", REJECTS)
    assert json.loads(reject["key_values"]) == {"Name": BAD_NAME}
    assert reject["model_name"] == "bad_companies"
    assert reject["error_code"] == "GSOBJ_1002"
    assert "No match found in GsUser" in reject["error_message"]
    state = duckdb_rows(
        tmp_path / "bad.duckdb", "select * from main_gainsight.gainsight_sync_state"
    )
    assert len(state) == 119
    assert {s["gsid"] for s in state} == {r["Gsid"] for r in gs.records("Company")}

    # Next run: only the rejected record is tried again; it is still bad.
    before = gs.counters()
    proc = gainsight("sync", project, env, label="second sync, row still bad")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = results_by_model(project)["bad_companies"]
    assert (result["retry"], result["unchanged"], result["sent"]) == (1, 119, 1)
    assert (result["accepted"], result["rejected"]) == (0, 1)
    routes = calls_by_route(before, gs.counters())
    sent = {route: n for route, n in routes.items() if "describe" not in route}
    assert sent == {QUERY: 1, INSERT: 1}, routes  # does it exist? then insert: one record
    assert result["api_calls"] == 2
    assert len(duckdb_rows(tmp_path / "bad.duckdb", REJECTS)) == 1
    assert len(_names(gs)) == 119

    # Fixed in the model: the retry lands, the reject is gone, exit 0.
    dbt("build", project, env, "--vars", json.dumps({"bad_row": "none"}))
    proc = gainsight("sync", project, env, label="sync after fixing the row")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = results_by_model(project)["bad_companies"]
    assert (result["retry"], result["accepted"], result["rejected"]) == (1, 1, 0)
    assert duckdb_rows(tmp_path / "bad.duckdb", REJECTS) == []
    names = _names(gs)
    assert len(names) == 120 and BAD_NAME in names
    csm = {u["Email"]: u["Gsid"] for u in gs.records("GsUser")}["ava.patel@example.com"]
    assert {r["Csm"] for r in gs.records("Company")} == {csm}


def test_value_that_cannot_be_converted_is_a_record_reject_not_a_crash(
    tmp_path, gainsight_emulator
):
    gs = gainsight_emulator
    project, env = _build(tmp_path, gs, "date")

    proc = gainsight("sync", project, env, label="sync with RenewalDate 'soon'")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    names = _names(gs)
    assert len(names) == 119 and BAD_NAME not in names
    by_name = {r["Name"]: r for r in gs.records("Company")}
    assert by_name["Bad Records Co 001"]["RenewalDate"] == "2026-01-02"
    assert by_name["Bad Records Co 120"]["RenewalDate"] == "2026-05-01"

    result = results_by_model(project)["bad_companies"]
    assert result["status"] == "partial"
    assert (result["accepted"], result["rejected"], result["failed"]) == (119, 1, 0)
    assert result["sent"] == 119  # refused before sending: never crossed the wire
    [sample] = result["first_rejects"]
    assert sample["key"] == {"Name": BAD_NAME}
    assert sample["error_code"] == "VALUE_CONVERSION"
    assert "RenewalDate" in sample["error_message"] and "'soon'" in sample["error_message"]

    [reject] = duckdb_rows(tmp_path / "bad.duckdb", REJECTS)
    assert json.loads(reject["key_values"]) == {"Name": BAD_NAME}
    assert reject["error_code"] == "VALUE_CONVERSION"
    assert "RenewalDate" in reject["error_message"]
