"""Gainsight-side truth, end to end (real dbt on DuckDB and Postgres, the emulator over HTTP,
the CLI as a subprocess): audit and repair, mirror deletes and their guard, the API budget.

Each scenario checks the emulator's records and call counters and the warehouse tables, not
only what the command says about itself.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
import requests

from tests.conftest import run
from tests.integration.incremental_helpers import (
    BACKENDS,
    SYNC_TIMEOUT,
    IncProject,
    assert_emulator_matches,
    calls_since,
    companies,
)
from tests.integration.test_crash_safety import start_sync

KEY = "truth-test-key"


@pytest.fixture(params=BACKENDS)
def project(request, tmp_path, gainsight_emulator_factory) -> IncProject:
    """The incremental project on one backend, with an emulator of its own (limits off)."""
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    gs = gainsight_emulator_factory(access_key=KEY)
    return IncProject(tmp_path, request.param, gs, pg)


def gainsight_call(project: IncProject, method: str, path: str, body=None) -> dict:
    """A call to the emulator's public API, as another integration would make it."""
    reply = requests.request(
        method,
        project.gs.url + path,
        json=body,
        headers={"accesskey": KEY, "Accept": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def audit(project: IncProject, *args: str, expect: int) -> dict:
    """``dbt-gainsight audit --output json``; returns the model's entry."""
    proc = run(
        ["dbt-gainsight", "audit", *project.args(), "--output", "json", *args],
        env=project.env,
        timeout=240,
    )
    assert proc.returncode == expect, proc.stdout + proc.stderr
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"not JSON:\n{proc.stdout}\n{proc.stderr}") from None
    assert "Audit read budget: about" in proc.stderr
    assert report["state_schema"] == project.state_schema  # where the drift rows are
    (model,) = report["models"]
    return model


def counts(model: dict) -> tuple[int, int, int, int]:
    return (model["missing"], model["differs"], model["differing_values"], model["orphans"])


def test_audit_finds_drift_and_repair_then_one_sync_makes_it_clean(project: IncProject):
    """300 synced rows. In Gainsight: 2 values edited (one record twice), 1 record deleted,
    1 record created by someone else; in the model: 3 rows removed. Audit reports exactly
    missing 1, differing 2 (3 values), orphans 3, in 1 read call, writes them to
    gainsight_audit, ignores the outside record; --repair then one sync makes it clean."""
    rows = companies(300)
    project.build(rows)
    project.sync()
    gs = project.gs
    by_name = {r["Name"]: r for r in gs.records("Company")}
    # Edited by hand in Gainsight: one value of company 10, two values of company 20.
    edits = [
        {"Name": "Company 00010", "Arr": 1.5},
        {"Name": "Company 00020", "Employees": 7777, "Industry": "Retail"},
    ]
    gainsight_call(project, "PUT", "/v1/data/objects/Company?keys=Name", {"records": edits})
    scratch = project.dir.parent / "tmp"  # where the audit keeps what it reads back (readback.py)
    scratch.mkdir()
    project.env["TMPDIR"] = str(scratch)
    gsid_30 = by_name["Company 00030"]["Gsid"]
    gainsight_call(project, "DELETE", f"/v1/data/objects/Company/{gsid_30}")
    gs.seed_records("Company", [{"Name": "Made elsewhere", "Arr": 5}])
    kept = [r for i, r in enumerate(rows) if i not in (40, 41, 42)]
    project.reseed(kept)

    before = gs.counters()
    model = audit(project, expect=1)
    assert calls_since(gs, before)["calls"] == 1 == model["calls"] == model["estimated_calls"]
    assert model["status"] == "drift" and model["read"] == 300 - 1 + 1
    assert model["rows"] == 297
    assert counts(model) == (1, 2, 3, 3)
    found = {(s["kind"], s["key"]["Name"], s["field"]) for s in model["samples"]}
    assert found == {
        ("missing", "Company 00030", None),
        ("differs", "Company 00010", "Arr"),
        ("differs", "Company 00020", "Employees"),
        ("differs", "Company 00020", "Industry"),
        ("orphan", "Company 00040", None),
        ("orphan", "Company 00041", None),
        ("orphan", "Company 00042", None),
    }
    arr = next(s for s in model["samples"] if s["field"] == "Arr")
    assert (arr["model_value"], arr["gainsight_value"]) == (1102.5, 1.5)
    table = project.sql(
        f"select kind, field_name, model_value, gainsight_value "
        f"from {project.state_schema}.gainsight_audit order by kind, field_name"
    )
    assert sorted(((k, f) for k, f, _, _ in table), key=str) == sorted(
        ((k, f) for k, _, f in found), key=str
    )
    assert ("differs", "Industry", "Manufacturing", "Retail") in table

    # --max-calls below the estimate: refused before any call.
    before = gs.counters()
    proc = run(["dbt-gainsight", "audit", *project.args(), "--max-calls", "0"], env=project.env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gs_companies: about 1 calls" in proc.stderr
    assert calls_since(gs, before)["calls"] == 0

    # The rows come back to the model; repair marks the 2 drifted and the 1 missing row.
    project.reseed(rows)
    repaired = audit(project, "--repair", expect=1)
    assert counts(repaired) == (1, 2, 3, 0) and repaired["repaired"] == 3
    before = gs.counters()
    resent = project.sync()
    assert (resent.model["changed"], resent.model["new"], resent.model["accepted"]) == (2, 1, 3)
    assert calls_since(gs, before)["writes"] == 2  # one update batch, one insert batch
    clean = audit(project, expect=0)
    assert clean["status"] == "clean" and counts(clean) == (0, 0, 0, 0)
    assert project.sql(f"select count(*) from {project.state_schema}.gainsight_audit") == [(0,)]
    stored = assert_emulator_matches(gs, rows, extra_ok=True)
    assert "Made elsewhere" in stored and len(stored) == 301
    assert scratch.is_dir() and not list(scratch.glob("dbt-gainsight-audit-*"))  # removed


DELETES = """          deletes: {enabled: true, max_per_run: 10, max_fraction: 0.2}
"""


def delete_calls(gs, before: dict) -> int:
    """DELETE calls the emulator answered since ``before``."""
    routes = gs.counters()["by_route"]
    route = "DELETE /v1/data/objects/{object}/{gsid}"
    return routes.get(route, 0) - before["by_route"].get(route, 0)


def test_deletes_mirror_only_rows_that_left_the_model_and_the_guard_stops_a_mass_delete(
    project: IncProject,
):
    """deletes: {enabled, max_per_run: 10, max_fraction: 0.2}. 100 rows synced and one
    record made outside the tool. 5 rows leave: the dry run lists 5 planned deletes with 0
    calls, the sync deletes exactly those 5 (5 DELETE calls, state 95). 50 more leave (53%):
    exit 1, nothing deleted, the message says how to allow it; --allow-deletes 50 then
    deletes them. The outside record is never touched."""
    project.edit("models/schema.yml", "          fields:\n", DELETES + "          fields:\n")
    rows = companies(100)
    project.build(rows)
    project.sync()
    gs = project.gs
    gs.seed_records("Company", [{"Name": "Made elsewhere", "Arr": 5}])
    gone = {f"Company {i:05d}" for i in (3, 14, 15, 92, 99)}
    gone_gsids = {r["Gsid"] for r in gs.records("Company") if r["Name"] in gone}
    kept = [r for r in rows if r["name"] not in gone]
    project.reseed(kept)

    before = gs.counters()
    plan = project.sync("--dry-run")
    assert calls_since(gs, before)["calls"] == 0
    assert plan.model["planned_deletes"] == 5 and plan.model["deleted"] == 0
    assert all(gsid in plan.model["message"] for gsid in gone_gsids)
    assert plan.model["planned_calls"] == 6  # 5 deletes and 1 query reading their keys back

    before = gs.counters()
    done = project.sync()
    assert delete_calls(gs, before) == 5 == done.model["deleted"]
    assert done.model["api_calls"] == 6
    names = {r["Name"] for r in gs.records("Company")}
    assert names == {r["name"] for r in kept} | {"Made elsewhere"}
    assert len(project.state()) == 95

    # Half the model disappears (a broken upstream, say): the guard deletes nothing.
    rest = kept[:45]
    project.reseed(rest)
    before = gs.counters()
    stopped = project.sync(expect=1)
    assert delete_calls(gs, before) == 0 and stopped.model["deleted"] == 0
    assert stopped.model["status"] == "error"
    message = stopped.model["message"]
    assert "50 records left the model (53% of the 95 this sync wrote)" in message
    assert "max_per_run 10" in message and "max_fraction 0.2" in message
    assert "--allow-deletes 50" in message
    assert len(gs.records("Company")) == 96 and len(project.state()) == 95

    allowed = project.sync("--allow-deletes", "50")
    assert allowed.model["deleted"] == 50 and allowed.model["status"] == "success"
    names = {r["Name"] for r in gs.records("Company")}
    assert names == {r["name"] for r in rest} | {"Made elsewhere"}
    assert len(project.state()) == 45


NUMBERED_SQL = """-- keyed by a number; --vars '{v2: true}': numeric(12,2), one name too long
select
{% if var('v2', false) %}
    cast(employees as numeric(12,2)) as employees,
    case when employees = 7 then company_name || repeat('x', 300) else company_name end
        as company_name
{% else %}
    cast(employees as integer) as employees,
    company_name
{% endif %}
from {{ ref('gs_companies') }}
"""
NUMBERED_YML = """version: 2
models:
  - name: gs_numbered
    config:
      meta:
        gainsight:
          object: Company
          keys: [Employees]
          fields: {employees: Employees, company_name: Name}
          deletes: {enabled: true, max_per_run: 100, max_fraction: 0.05}
"""


def test_a_record_whose_key_is_still_in_the_model_is_never_deleted(project: IncProject):
    """The key column's type changes (integer -> numeric(12,2), a refactor), so every key
    hash changes (7 -> '7.00') while every row stays. The existence check turns the rows into
    updates of the same records, but one update is rejected (a name past 255 characters): its
    record is in no new state row, and its old state row looked gone. Before, the delete phase
    deleted it (Gainsight: 99 records for 100 rows; found by an attack). Now each candidate's
    key is read back from Gainsight and hashed as the model's: one still in the model is kept.
    """
    gs = project.gs
    (project.dir / "models" / "gs_numbered.sql").write_text(NUMBERED_SQL)
    (project.dir / "models" / "gs_numbered.yml").write_text(NUMBERED_YML)
    project.build(companies(100))  # employees 1..100
    project.sync("-s", "gs_numbered")
    assert len(gs.records("Company")) == 100
    v2 = ("--vars", "{v2: true}")
    project.dbt("build", "-s", "gs_numbered", *v2)
    before = gs.counters()
    project.sync("-s", "gs_numbered", *v2, expect=1)
    (model,) = project.report()["results"]
    assert (model["rejected"], model["deleted"]) == (1, 0), model
    assert delete_calls(gs, before) == 0
    held = {int(r["Employees"]) for r in gs.records("Company")}
    assert held == set(range(1, 101))  # account 7 too
    assert len(gs.records("Company")) == 100


def test_a_ctrl_c_while_deleting_keeps_the_state_equal_to_gainsight(project: IncProject):
    """A Ctrl-C in the delete phase: the deletes in flight finish, every record Gainsight
    deleted leaves the state and no other does, and the run results count the real calls and
    deletes. Before, the state kept every deleted record until a later run's delete answered
    "not found", and the model said ``skipped``, 0 calls, 0 deleted (found by an attack).
    """
    gs = project.gs
    rows = companies(200)
    project.edit("models/schema.yml", "          fields:\n", DELETES + "          fields:\n")
    project.build(rows)
    project.sync()
    project.reseed(rows[:50])  # 150 rows leave the model
    gs.set_limits(latency_ms=300)
    before = gs.counters()
    log = project.dir / "deleting.log"
    proc = start_sync(project, log, "--allow-deletes", "150")
    try:
        deadline = time.monotonic() + SYNC_TIMEOUT
        while delete_calls(gs, before) < 10:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no deletes"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    gs.set_limits(latency_ms=0)
    output = log.read_text()
    assert code == 130 and "Traceback" not in output, output
    deleted = delete_calls(gs, before)
    assert 10 <= deleted < 150, deleted
    held = {r["Gsid"] for r in gs.records("Company")}
    assert len(held) == 200 - deleted
    assert set(project.state_gsids()) == held  # each deleted record left the state, no other
    report = project.report()
    (model,) = report["results"]
    assert report["metadata"]["interrupted"] is True
    assert (model["deleted"], model["api_calls"]) == (deleted, deleted + 1), model
    assert model["status"] == "error" and "interrupted" in model["message"], model

    rest = project.sync("--allow-deletes", "150")
    assert rest.model["deleted"] == 150 - deleted
    assert_emulator_matches(gs, rows[:50])
    assert len(project.state()) == 50


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)
def test_audit_max_calls_counts_its_describes_too(project: IncProject):
    """--max-calls N caps every call an audit makes. The estimate knows the model's rows, not
    the object's: here another integration's 10,001 records make the read 3 query calls
    where 1 was estimated. Before, the describes (asked again once the cache expired) were
    outside the cap: 2 describes + 3 queries for --max-calls 3 (found by an attack)."""
    gs = project.gs
    project.build(companies(10))
    project.sync()
    gs.seed_records("Company", [{"Name": f"Other {i}"} for i in range(10_001)])
    project.execute(f"delete from {project.state_schema}.gainsight_describe_cache")
    before = gs.counters()
    model = audit(project, "--max-calls", "3", expect=1)
    assert calls_since(gs, before)["calls"] == 3
    assert model["status"] == "incomplete" and "stopped reading after 3 calls" in model["message"]


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)
def test_a_429_answering_a_describe_is_counted_as_rate_limited(project: IncProject):
    """Run results and the history count every 429, the describes' too (before: 12 429s on
    describes showed as rate_limited 0; found by an attack)."""
    gs = project.gs
    project.build(companies(5))
    gs.inject_fault("rate_limit", count=2, retry_after=1, path_contains="/describe")
    done = project.sync()
    assert (done.model["rate_limited"], done.model["metadata_calls"]) == (2, 3)
    runs = f"{project.state_schema}.gainsight_runs"
    assert project.sql(f"select rate_limited from {runs}") == [(2,)]


def test_calls_of_a_run_stopped_by_a_config_error_count_against_the_daily_budget(
    project: IncProject,
):
    """A mapping Gainsight refuses (a field Company lacks) stops each run at its online check,
    after the describe call. Those runs were never recorded, so a scheduled job with one bad
    mapping spent calls all day past daily_call_budget (found by an attack: 12 calls against
    a budget of 3). Now each is in the history, and once the budget is spent no call is made."""
    project.edit(
        "gainsight.yml", "    max_in_flight:", "    daily_call_budget: 2\n    max_in_flight:"
    )
    project.edit("models/schema.yml", "industry: Industry\n", "industry: Industri\n")
    project.build(companies(10))
    gs = project.gs
    made = []
    for _ in range(3):
        before = gs.counters()
        proc = run(["dbt-gainsight", "sync", *project.args()], env=project.env)
        assert proc.returncode != 0, proc.stdout + proc.stderr
        made.append(calls_since(gs, before)["calls"])
    assert made == [1, 1, 0], made  # a describe each, then the budget is spent
    assert "the daily call budget of connection 'default' is used (2 of 2" in proc.stderr
    runs = f"{project.state_schema}.gainsight_runs"
    [(recorded,)] = project.sql(f"select sum(metadata_calls) + sum(api_calls) from {runs}")
    assert int(recorded) == sum(made)
    assert len(gs.records("Company")) == 0


def test_max_calls_refuses_and_the_daily_budget_stops_a_run_the_next_day_continues(
    project: IncProject,
):
    """500 new rows need 1 describe + 1 existence check + 10 inserts. --max-calls 5: exit 2
    naming the estimate, 0 calls. daily_call_budget 10 (max_in_flight 1): the first run
    stops at exactly 10 calls with 400 accepted; a second run the same day makes 0 calls;
    with that history moved to yesterday, the next run sends the other 100 (3 calls)."""
    project.edit(
        "gainsight.yml",
        "    max_in_flight:",
        "    daily_call_budget: 10\n    max_in_flight:",
    )
    project.env["GAINSIGHT_MAX_IN_FLIGHT"] = "1"
    rows = companies(500)
    project.build(rows)
    gs = project.gs

    before = gs.counters()
    proc = run(["dbt-gainsight", "sync", *project.args(), "--max-calls", "5"], env=project.env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "up to 11 API calls, over --max-calls 5" in proc.stderr
    assert "gs_companies: about 11 calls" in proc.stderr
    assert calls_since(gs, before)["calls"] == 0

    before = gs.counters()
    first = project.sync(expect=1)
    assert calls_since(gs, before)["calls"] == 10
    assert first.model["accepted"] == 400 and len(project.state()) == 400
    assert "daily call budget" in first.model["message"]
    assert "10 of 10 calls today" in first.model["message"]

    before = gs.counters()
    again = project.sync(expect=1)
    assert calls_since(gs, before)["calls"] == 0 and again.model["accepted"] == 0

    # The next day: the runs' history and their call ledger rows are yesterday's.
    for table in ("gainsight_runs", "gainsight_call_ledger"):
        relation = f"{project.state_schema}.{table}"
        project.execute(f"update {relation} set started_at = started_at - interval '1 day'")
    before = gs.counters()
    nextday = project.sync()
    assert calls_since(gs, before)["calls"] == 3  # 1 existence check + 2 inserts
    assert nextday.model["accepted"] == 100 and len(project.state()) == 500
    assert_emulator_matches(gs, rows)
