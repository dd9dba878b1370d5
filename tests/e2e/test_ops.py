"""Operability as a user meets it (issue 10): watching, reading and debugging a sync.

Each test is a scenario over the CLI as a subprocess (real dbt, real DuckDB, the emulator
over HTTP) that checks several items at once, since every dbt-gainsight start costs seconds.
The project (tests/projects/ops) is built once per module.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    clone_built,
    dbt,
    duckdb_execute,
    duckdb_rows,
    gainsight,
)

KEY = "ops-secret-key-5be1d9a7c3"
REJECTS = "main_gainsight.gainsight_rejects"
SUMMARY_HEADERS = ("model", "status", "rows", "to send", "accepted", "rejected", "failed", "calls")


@pytest.fixture(scope="module")
def built_ops(tmp_path_factory) -> Path:
    """tests/projects/ops built once on DuckDB (each test syncs a private copy)."""
    project = copy_project(PROJECTS / "ops", tmp_path_factory.mktemp("ops") / "ops")
    dbt("build", project, {"DBT_DUCKDB_PATH": str(project / "target" / "ops.duckdb")})
    return project


@pytest.fixture
def ops(built_ops: Path, tmp_path: Path, gainsight_emulator_factory):
    """A private copy of the built project, an emulator and the environment pointing at both."""
    project = clone_built(built_ops, tmp_path / "ops")
    gs = gainsight_emulator_factory(access_key=KEY)
    env = {
        "DBT_DUCKDB_PATH": str(project / "target" / "ops.duckdb"),
        "GAINSIGHT_URL": gs.url,
        "GAINSIGHT_ACCESS_KEY": KEY,
        "COLUMNS": "80",
    }
    return project, gs, env


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line must be one JSON object."""
    events = []
    for line in text.splitlines():
        assert line.strip(), "an empty line in a JSON log"
        events.append(json.loads(line))
    return events


def _faults(gs) -> None:
    """Two 503s and a 429 (Retry-After 1 s) on the next writes to Company (POST or PUT)."""
    company = "/data/objects/Company"
    gs.inject_fault("status", count=2, status=503, path_contains=company)
    gs.inject_fault("rate_limit", count=1, retry_after=1, path_contains=company)


def test_a_sync_can_be_watched_read_and_debugged(ops, tmp_path):
    """Items 1, 7, 8, 9, 10, 11, 12, 14 (path) and issue 9 #17, over three runs and status."""
    project, gs, env = ops

    # Run 1: a text log at 80 columns, no selector, faults on the way.
    _faults(gs)
    text = gainsight("sync", project, env, label="sync (text, COLUMNS=80, faults)")
    assert text.returncode == 1, text.stdout + text.stderr  # gs_ghosts: 8 NOT_FOUND rejects
    assert "Traceback" not in text.stderr

    # 1: the misspelt and misplaced blocks are named with their file and the right place.
    err = text.stderr
    assert re.search(
        r"models/schema.yml: gs_typo: 'config.meta.gainsigth' is not read; did you "
        r"mean 'config.meta.gainsight'\?",
        err,
    ), err
    assert "models/schema.yml: gs_wrong_place: 'gainsight:' sits directly under 'config:'" in err
    assert "config: meta: gainsight:" in err
    # 12: dbt's own manifest was read (the project is unchanged since `dbt build`).
    assert "Manifest: target/manifest.json (left by dbt)" in err

    # 7: each retry and wait has its line: what, how long, attempt n of m.
    out = text.stdout
    flat = re.sub(r"\s+", " ", out)
    assert re.search(
        r"gs_accounts: POST /data/objects/Company: HTTP 503, attempt 1 of \d+; next in \d+\.\ds",
        flat,
    ), out
    assert re.search(r"gs_accounts: Gainsight rate limit \(429\): waiting 1\.0s", flat), out

    # 8: readable at 80 columns, no header cut, a failed column, the reject pointer.
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), [x for x in lines if len(x) > 80]
    [header] = [line for line in lines if line.startswith("model ")]
    names = re.split(r"\s{2,}", header.strip())
    assert names[: len(SUMMARY_HEADERS)] == list(SUMMARY_HEADERS), header  # none cut
    ghosts = next(line for line in lines if line.startswith("gs_ghosts "))
    cells = dict(zip(names, re.split(r"\s{2,}", ghosts.strip()), strict=True))
    assert (cells["status"], cells["to send"], cells["rejected"], cells["failed"]) == (
        "partial",
        "8",
        "8",
        "0",
    ), ghosts
    # Issue 9 #17: codes and counts only; the key values stay in the rejects table.
    assert "Ghost Co" not in out + err
    assert f"gs_ghosts: 8 rejected (NOT_FOUND 8); keys and messages: {REJECTS}" in flat
    # 14: run results' path relative to the project.
    assert "Run results: target/gainsight_run_results.json" in out

    # Run 2: JSON events on stdout and an api log, with faults again.
    _faults(gs)
    api_log = tmp_path / "api.jsonl"
    args = ("--log-format", "json", "--api-log", str(api_log), "--full-refresh")
    js = gainsight("sync", project, env, "-s", "gs_accounts", "gs_ghosts", *args, label="json")
    assert js.returncode == 1, js.stdout + js.stderr
    events = _json_lines(js.stdout)  # 9: every line is an event
    kinds = [e["event"] for e in events]
    for kind in ("run_start", "model_start", "retry", "rate_limit_wait", "reject", "model_end"):
        assert kind in kinds, (kind, kinds)
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert {e["run_id"] for e in events} == {events[0]["run_id"]}
    retry = next(e for e in events if e["event"] == "retry")
    assert (retry["model"], retry["method"], retry["status"]) == ("gs_accounts", "PUT", 503)
    assert retry["attempt"] == 1 and retry["max_attempts"] > 1 and retry["wait_seconds"] >= 0
    ends = {e["model"]: e for e in events if e["event"] == "model_end"}
    assert ends["gs_accounts"]["accepted"] == 30 and ends["gs_ghosts"]["rejected"] == 8
    assert ends["gs_ghosts"]["rejects_by_code"] == {"NOT_FOUND": 8}
    assert events[-1]["exit_code"] == 1 and events[-1]["status"] == "partial"
    rejects = [e for e in events if e["event"] == "reject"]
    assert rejects and all(set(e) >= {"model", "error_code"} for e in rejects)
    assert all("key" not in e for e in rejects)  # issue 9 #17 in JSON too
    assert KEY not in js.stdout + js.stderr and "Ghost Co" not in js.stdout

    # 10: one JSON line per HTTP attempt, the retries among them, never the key or a value.
    log_text = api_log.read_text()
    calls = _json_lines(log_text)
    assert KEY not in log_text and "Ghost Co" not in log_text and "Ops Co" not in log_text
    for call in calls:
        assert set(call) >= {"time", "method", "path", "status", "ms", "records", "attempt"}
    statuses = [c["status"] for c in calls]
    assert statuses.count(503) == 2 and statuses.count(429) == 1, statuses
    assert any(c["retry"] >= 1 and c["status"] == 200 for c in calls)
    writes = [c for c in calls if c["status"] == 200 and c["method"] == "PUT"]
    assert {c["model"] for c in writes} == {"gs_accounts", "gs_ghosts"}, writes
    assert sum(c["records"] for c in writes if c["model"] == "gs_accounts") == 30, writes

    # Run 3: --show-values lists the first rejects and where the rest are.
    shown = gainsight("sync", project, env, "-s", "gs_ghosts", "--show-values", label="values")
    assert shown.returncode == 1
    assert "Ghost Co 01" in shown.stdout and "NOT_FOUND" in shown.stdout
    assert f"and 3 more: see {REJECTS}" in shown.stdout

    # 11: the history has a row per model per run; status reads it back.
    runs = duckdb_rows(
        project / "target" / "ops.duckdb",
        "select * from main_gainsight.gainsight_runs order by started_at",
    )
    assert [r["model_name"] for r in runs].count("gs_ghosts") == 3
    assert [r["model_name"] for r in runs].count("gs_accounts") == 2
    first = next(r for r in runs if r["model_name"] == "gs_accounts")
    assert (first["status"], first["accepted"], first["rate_limited"]) == ("success", 30, 1)
    assert first["api_calls"] >= 2 and first["dbt_invocation_id"]
    st = gainsight("status", project, env, "--output", "json", label="status --output json")
    assert st.returncode == 0, st.stdout + st.stderr
    report = {m["model"]: m for m in json.loads(st.stdout)["models"]}
    assert report["gs_ghosts"]["open_rejects"] == {"NOT_FOUND": 8}
    assert report["gs_ghosts"]["last_success"] is None
    assert report["gs_accounts"]["last_success"] is not None
    assert [r["status"] for r in report["gs_ghosts"]["runs"]] == ["partial"] * 3
    st = gainsight("status", project, env, "-s", "gs_ghosts", label="status -s gs_ghosts")
    assert st.returncode == 0, st.stdout + st.stderr
    assert "last successful sync: never" in st.stdout and "NOT_FOUND 8" in st.stdout
    assert "gs_accounts" not in st.stdout


def test_selection_and_parse_mistakes_are_usage_errors(ops):
    """Items 2, 12 (--parse/--no-parse, stale manifest) and 13 (dbt errors once, no ANSI)."""
    project, gs, env = ops

    proc = gainsight("sync", project, env, "-s", "does_not_exist", label="-s does_not_exist")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--select does_not_exist matches no model" in proc.stderr
    proc = gainsight("sync", project, env, "-s", "gs_accounts", "gs_acounts", label="one typo")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--select gs_acounts matches no model" in proc.stderr
    proc = gainsight("sync", project, env, "-s", "not_for_gs", "--no-parse", label="no block")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "The selection --select not_for_gs matches 1 model(s), none with a config.meta.gainsight "
        "block (not_for_gs); nothing to sync." in proc.stderr
    )
    assert gs.counters()["calls"] == 0

    # A model edited after `dbt build`: the manifest is stale, so dbt parses (and says why).
    time.sleep(0.05)
    model = project / "models" / "not_for_gs.sql"
    model.write_text("select 2 as id\n")
    os.utime(model, (time.time() + 5, time.time() + 5))
    manifest = project / "target" / "manifest.json"
    before = manifest.stat().st_mtime
    proc = gainsight("sync", project, env, "-s", "not_for_gs", label="stale manifest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Manifest: dbt parse (models/not_for_gs.sql is newer than target/manifest.json)" in (
        proc.stderr
    )
    assert manifest.stat().st_mtime == before  # dbt's artifact is left as dbt wrote it

    # A broken project: dbt's error once, on one line, without colour codes or "..".
    model.write_text("select {{ ref('nowhere') }}\n")
    os.utime(model, (time.time() + 10, time.time() + 10))
    proc = gainsight("sync", project, env, "-s", "not_for_gs", "--parse", label="parse error")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "\x1b[" not in output and ".." not in output and "Traceback" not in output
    assert output.count("nowhere") == 1, output
    assert "dbt could not parse the project" in output


BAD_TYPES_YML = """
version: 2
models:
  - name: gs_unbuilt
    config:
      meta:
        gainsight:
          object: Company
          keys: [Name]
          fields: {company_name: Name}
  - name: gs_bad_types
    config:
      meta:
        gainsight:
          object: Company
          keys: [Name]
          fields:
            company_name: Name
            employees: RenewalDate
            arr: Arrr
          lookups:
            Csm: {object: GsUsr, match: {company_name: Email}}
"""


PARTLY_DOCUMENTED_YML = """
version: 2
models:
  - name: gs_documented
    columns: [{name: company_name, data_tests: [not_null]}]
    config:
      meta:
        gainsight:
          object: Company
          keys: [Name]
          fields: {company_name: Name, employees: Employees}
  - name: gs_documented_unbuilt
    columns: [{name: company_name}]
    config:
      meta:
        gainsight:
          object: Company
          keys: [Name]
          fields: {company_name: Name, employees: Employees}
"""


def test_validate_checks_a_partly_documented_model_against_what_dbt_built(ops):
    """YAML that documents some of a model's columns is no reason to refuse the others: a
    built model's columns are read from the warehouse (before, `employees` was "not in the
    model" while sync sent it; a new-user walkthrough). Unbuilt, the YAML's columns are all
    there is, and the message says the real ones were not seen."""
    project, gs, env = ops
    (project / "models" / "documented.yml").write_text(PARTLY_DOCUMENTED_YML)
    for name in ("gs_documented", "gs_documented_unbuilt"):
        (project / "models" / f"{name}.sql").write_text(
            "select 'x' as company_name, 1 as employees\n"
        )
    duckdb_execute(
        project / "target" / "ops.duckdb",
        "create table main.gs_documented as select 'x' as company_name, 1 as employees",
    )
    built = gainsight("validate", project, env, "-s", "gs_documented", label="documented")
    assert built.returncode == 0, built.stdout + built.stderr
    unbuilt = gainsight("validate", project, env, "-s", "gs_documented_unbuilt", label="unbuilt")
    assert unbuilt.returncode == 2, unbuilt.stdout + unbuilt.stderr
    assert (
        "gs_documented_unbuilt: meta.gainsight.fields.employees: column 'employees' is not among "
        "the columns its YAML declares (company_name); the model was never built, so its real "
        "columns were not checked"
    ) in unbuilt.stderr, unbuilt.stderr
    # A misspelt block fails validate, the CI gate (before: a warning, "valid", exit 0, and the
    # model silently never synced; a new-user walkthrough). Sync only warns (the test above).
    everything = gainsight("validate", project, env, label="validate everything")
    assert everything.returncode == 2, everything.stdout + everything.stderr
    err = everything.stderr
    assert (
        "models/schema.yml: gs_typo: config.meta: 'config.meta.gainsigth' is not read; "
        "did you mean 'config.meta.gainsight'?"
    ) in err, err
    assert "models/schema.yml: gs_wrong_place: config.meta: 'gainsight:' sits directly" in err
    assert err.count("gs_typo") == 1, err  # a problem, not also a warning


def test_validate_says_what_it_could_not_check_and_checks_types_online(ops):
    """Items 5 (where errors point), 6 (not built, column types, did-you-mean online), 13."""
    project, gs, env = ops
    (project / "models" / "more.yml").write_text(BAD_TYPES_YML)
    for name in ("gs_unbuilt", "gs_bad_types"):
        (project / "models" / f"{name}.sql").write_text("select 'x' as company_name\n")
    # As if dbt had built gs_bad_types with an integer column (no second `dbt build`).
    duckdb_execute(
        project / "target" / "ops.duckdb",
        "create table main.gs_bad_types as select 'x' as company_name, 1 as employees, 1.5 as arr",
    )

    offline = gainsight("validate", project, env, "-s", "gs_unbuilt", label="validate unbuilt")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert (
        "models/more.yml: gs_unbuilt: its columns were not checked: the model was never built"
        in offline.stderr
    )
    assert "Manifest: dbt parse (models/" in offline.stderr  # new files: the manifest is stale

    online = gainsight("validate", project, env, "-s", "gs_bad_types", "--online", label="types")
    assert online.returncode == 2, online.stdout + online.stderr
    err = online.stderr
    assert "Config error: The gainsight config has problems.\n" in err, err
    assert "nothing was sent" not in err
    assert re.search(
        r"models/more.yml: gs_bad_types: meta.gainsight.fields.employees: column 'employees' is "
        r"INTEGER in the warehouse but Company.RenewalDate is a DATE field",
        err,
    ), err
    assert re.search(
        r"meta.gainsight.fields.arr: Company has no field 'Arrr'.*did you mean "
        r"'Arr'\?",
        err,
    ), err
    # 5: an unknown lookup object is reported at its lookup, not at meta.gainsight.object.
    assert re.search(
        r"gs_bad_types: meta.gainsight.lookups.Csm.object: .*GsUsr.*did you mean 'GsUser'\?", err
    ), err
    assert "meta.gainsight.object:" not in err
    assert gs.counters()["by_route"].get("POST /v1/data/objects/{object}", 0) == 0

    # 5: gainsight.yml problems point at gainsight.yml's key paths, all of them at once.
    (project / "gainsight.yml").write_text(
        "connections:\n  default:\n    url: \"{{ env_var('OPS_NO_SUCH_URL') }}\"\n"
        "    access_key: \"{{ env_var('GAINSIGHT_ACCESS_KEY') }}\"\n    max_in_flight: many\n"
    )
    bad = gainsight("validate", project, env, "-s", "gs_unbuilt", "--online", label="bad yml")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    yml = f"{project}/gainsight.yml: gs_unbuilt: connections.default."
    assert f"{yml}url: environment variable 'OPS_NO_SUCH_URL' is not set" in bad.stderr
    assert f"{yml}max_in_flight: expected an integer" in bad.stderr
    assert "meta.gainsight.connection" not in bad.stderr and KEY not in bad.stderr
