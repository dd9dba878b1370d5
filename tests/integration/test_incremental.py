"""Incremental sync, end to end: real dbt on DuckDB and Postgres, the emulator over HTTP,
``dbt-gainsight sync`` as a subprocess.

Every test writes the model's content itself (tests/projects/incremental/seeds/companies.csv,
loaded with ``dbt seed``; the ``gs_companies`` view reads it live) and checks three sources
that do not depend on the sync's own account of itself: the emulator's call counters, the
emulator's records, and the state/rejects tables in the warehouse.
"""

from __future__ import annotations

import pytest
import requests

from tests.integration.incremental_helpers import (
    BACKENDS,
    MODEL,
    IncProject,
    assert_emulator_matches,
    assert_state_in_emulator,
    batches,
    calls_since,
    changed,
    companies,
    company,
    emulator_companies,
)

KEY = "incremental-test-key"


@pytest.fixture(params=BACKENDS)
def project(request, tmp_path, gainsight_emulator_factory) -> IncProject:
    """The incremental project on one backend, with an emulator of its own (limits off)."""
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    gs = gainsight_emulator_factory(access_key=KEY)
    return IncProject(tmp_path, request.param, gs, pg)


def test_only_changed_rows_cross_the_wire(project: IncProject):
    """5,000 rows: a second sync with no change makes 0 calls; 1% (50) changed rows cost
    exactly 1 write call, 120 changed rows exactly 3, and the emulator equals the model."""
    gs = project.gs
    rows = companies(5000)
    project.build(rows)

    first = project.sync()
    assert first.model["new"] == 5000 and first.model["accepted"] == 5000
    assert first.model["status"] == "success"
    assert_emulator_matches(gs, rows)
    assert len(assert_state_in_emulator(project)) == 5000

    # No change: one diff query in the warehouse, zero API calls (not even a describe).
    before = gs.counters()
    again = project.sync()
    assert calls_since(gs, before)["calls"] == 0
    assert again.model["unchanged"] == 5000
    assert again.model["new"] == again.model["changed"] == again.model["sent"] == 0
    assert again.model["api_calls"] == 0

    for n_changed in (50, 120):
        step = 5000 // n_changed
        picked = set(range(0, step * n_changed, step))
        assert len(picked) == n_changed
        rows = [changed(r) if i in picked else r for i, r in enumerate(rows)]
        project.reseed(rows)
        before = gs.counters()
        result = project.sync()
        calls = calls_since(gs, before)
        # Known Gsids go straight to updates: no existence query, ceil(n/50) writes.
        assert calls["writes"] == batches(n_changed), calls
        assert calls["queries"] == 0, calls
        assert calls["calls"] == calls["writes"] + calls["describes"], calls
        assert calls["describes"] == 0, calls  # describes cached in the warehouse state
        m = result.model
        assert (m["changed"], m["unchanged"], m["new"]) == (n_changed, 5000 - n_changed, 0)
        assert (m["sent"], m["accepted"], m["rejected"]) == (n_changed, n_changed, 0)
        assert m["api_calls"] == batches(n_changed)
        assert_emulator_matches(gs, rows)
        assert len(assert_state_in_emulator(project)) == 5000  # replaced, not added


def test_rejected_record_is_kept_retried_and_cleared(project: IncProject):
    """A record Gainsight refuses lands in gainsight_rejects with Gainsight's code and message,
    is retried on every run (counted as retry) and leaves the table, into state, once fixed:
    one fixed in the model, one fixed on Gainsight's side."""
    gs = project.gs
    rows = companies(100)
    a, b = rows[12], rows[16]  # Employees 13 and 17
    assert (a["employees"], b["employees"]) == (13, 17)
    gs.inject_fault("reject_value", field="Employees", value=13)
    gs.inject_fault("reject_value", field="Employees", value=17)
    project.build(rows)

    first = project.sync(expect=1)
    m = first.model
    assert (m["new"], m["sent"], m["accepted"], m["rejected"]) == (100, 100, 98, 2)
    assert m["status"] == "partial"
    sample = {s["key"]["Name"]: s for s in m["first_rejects"]}
    assert sample[a["name"]]["error_code"] == "GSOBJ_1002"
    assert sample[a["name"]]["error_message"] == "Invalid value 13 for field Employees"
    rejects = project.rejects()
    assert [(r["key"], r["code"], r["message"], r["model"]) for r in rejects] == [
        ({"Name": a["name"]}, "GSOBJ_1002", "Invalid value 13 for field Employees", MODEL),
        ({"Name": b["name"]}, "GSOBJ_1002", "Invalid value 17 for field Employees", MODEL),
    ]
    # The console names the code and counts; key values stay off it unless --show-values.
    assert "GSOBJ_1002" in first.output and a["name"] not in first.output
    stored = emulator_companies(gs)
    assert a["name"] not in stored and b["name"] not in stored and len(stored) == 98
    assert len(assert_state_in_emulator(project)) == 98

    # Nothing changed in the model: the two rejects are retried, and refused again.
    second = project.sync(expect=1)
    m = second.model
    assert (m["retry"], m["unchanged"], m["new"], m["changed"]) == (2, 98, 0, 0)
    assert (m["sent"], m["accepted"], m["rejected"]) == (2, 0, 2)
    assert [(r["key"], r["code"]) for r in project.rejects()] == [
        ({"Name": a["name"]}, "GSOBJ_1002"),
        ({"Name": b["name"]}, "GSOBJ_1002"),
    ]

    # Fix A in the model (Employees 13 -> 14): retried, accepted, out of the rejects table.
    rows[12] = a = {**a, "employees": 14}
    project.reseed(rows)
    third = project.sync(expect=1)
    m = third.model
    assert (m["retry"], m["unchanged"], m["accepted"], m["rejected"]) == (2, 98, 1, 1)
    assert [r["key"] for r in project.rejects()] == [{"Name": b["name"]}]
    assert emulator_companies(gs)[a["name"]]["Employees"] == 14
    assert project.state_has_name(a["name"])
    assert not project.state_has_name(b["name"])

    # Fix B on Gainsight's side: the unchanged row is retried once more and now lands.
    gs.clear_faults()
    fourth = project.sync()
    m = fourth.model
    assert (m["retry"], m["unchanged"], m["accepted"], m["rejected"]) == (1, 99, 1, 0)
    assert m["status"] == "success"
    assert project.rejects() == []
    assert len(assert_state_in_emulator(project)) == 100
    assert project.state_has_name(b["name"])
    assert_emulator_matches(gs, rows)


def test_mapping_change_and_full_refresh_resend_everything_once(project: IncProject):
    """Adding a field to meta.gainsight resets the sync's state: every row is sent once (a dry
    run predicts it), then the next run makes 0 calls. --full-refresh does the same."""
    gs = project.gs
    rows = companies(300)
    project.build(rows)
    project.sync()
    assert len(project.state()) == 300

    project.edit(
        "models/schema.yml",
        "            industry: Industry\n",
        "            industry: Industry\n            users: Users\n",
    )
    before = gs.counters()
    plan = project.sync("--dry-run")
    assert calls_since(gs, before)["calls"] == 0
    assert (plan.model["new"], plan.model["unchanged"]) == (300, 0)
    assert len(project.state()) == 300, "a dry run must not reset the state"

    for flags, reason in (((), "mapping changed"), (("--full-refresh",), "full refresh")):
        before = gs.counters()
        result = project.sync(*flags)
        calls = calls_since(gs, before)
        m = result.model
        assert m["state_reset"] == reason
        assert f"state reset ({reason})" in result.output
        assert (m["new"], m["unchanged"], m["sent"], m["accepted"]) == (300, 0, 300, 300)
        # Every record exists already: one existence query, then updates (no duplicate).
        assert calls["writes"] == batches(300), calls
        assert calls["queries"] == 1, calls
        stored = assert_emulator_matches(gs, rows)
        assert all(stored[r["name"]]["Users"] == r["users"] for r in rows)
        assert len(assert_state_in_emulator(project)) == 300

        before = gs.counters()
        after = project.sync()
        assert calls_since(gs, before)["calls"] == 0
        assert after.model["unchanged"] == 300 and after.model["state_reset"] is None


def test_duplicate_and_null_keys_are_rejected_and_the_rest_lands(project: IncProject):
    """Rows sharing a key and rows with a null key are never sent: each is in
    gainsight_rejects with DUPLICATE_KEY / NULL_KEY and a reason; every other row lands.
    Once the model is fixed they are sent and leave the rejects table."""
    gs = project.gs
    good = companies(40)
    dup = [company(900, arr="1.00"), company(900, arr="2.00")]
    null = [company(901, name=None)]
    project.build(good + dup + null)

    result = project.sync(expect=1)
    m = result.model
    assert (m["rows"], m["new"], m["duplicates"], m["null_keys"]) == (43, 40, 2, 1)
    assert (m["accepted"], m["status"]) == (40, "partial")
    assert_emulator_matches(gs, good)
    rejects = {r["code"]: r for r in project.rejects()}
    assert set(rejects) == {"DUPLICATE_KEY", "NULL_KEY"}
    assert rejects["DUPLICATE_KEY"]["key"] == {"Name": dup[0]["name"]}
    assert "2 rows of the model share this key" in rejects["DUPLICATE_KEY"]["message"]
    assert rejects["NULL_KEY"]["key"] == {"Name": None}
    assert "Name is null" in rejects["NULL_KEY"]["message"]
    codes = {s["error_code"] for s in m["first_rejects"]}
    assert codes == {"DUPLICATE_KEY", "NULL_KEY"}

    # Fixed: the duplicate is made unique and the null key gets a name.
    fixed = good + [dup[0], company(901)]
    project.reseed(fixed)
    result = project.sync()
    m = result.model
    assert (m["duplicates"], m["null_keys"], m["rejected"], m["accepted"]) == (0, 0, 0, 2)
    assert project.rejects() == []
    assert_emulator_matches(gs, fixed)
    assert len(assert_state_in_emulator(project)) == 42


def test_dry_run_counts_equal_the_following_real_sync(project: IncProject):
    """--dry-run makes no API call, writes nothing, and its counts (new, changed, unchanged,
    retry, duplicates, null keys, no longer in the model) are what the real sync then does.
    Rows deleted from the model are reported ("N records no longer in the model") and never
    deleted in Gainsight."""
    gs = project.gs
    rows = companies(200)
    gs.inject_fault("reject_value", field="Employees", value=13)  # rows[12]
    project.build(rows)
    project.sync(expect=1)
    gs.clear_faults()

    landed = [changed(r) if i % 20 == 0 else r for i, r in enumerate(rows[:-5])]  # 10 changed
    landed += companies(15, start=1000)  # new
    model = landed + [company(2000), company(2000, arr="5.00")]  # a duplicated key
    model += [company(2001, name=None)]  # a null key
    project.reseed(model)  # and rows[-5:] are gone
    state_before = sorted(project.state())

    before = gs.counters()
    plan = project.sync("--dry-run")
    assert calls_since(gs, before)["calls"] == 0
    assert plan.report["metadata"]["dry_run"] is True
    assert plan.model["status"] == "planned"
    assert "no API call made" in plan.proc.stdout
    assert sorted(project.state()) == state_before

    real = project.sync(expect=1)  # the duplicate and the null key are rejected
    expected = {
        "rows": 213,
        "new": 15,
        "changed": 10,
        "unchanged": 184,
        "retry": 1,
        "duplicates": 2,
        "null_keys": 1,
        "no_longer_in_model": 5,
    }
    assert plan.counts() == expected
    assert real.counts() == expected
    assert real.model["accepted"] == 26
    assert 0 < real.model["api_calls"] <= plan.model["planned_calls"]

    gone = "gs_companies: 5 records no longer in the model (not deleted in Gainsight)"
    assert gone in plan.proc.stdout and gone in real.proc.stdout
    assert "DELETE /v1/data/objects/{object}/{gsid}" not in gs.counters()["by_route"]
    assert_emulator_matches(gs, landed + rows[-5:])  # the 5 gone rows are still there


def test_models_that_dbt_did_not_build_are_skipped(project: IncProject):
    """When target/run_results.json says the model errored or was skipped in the last dbt
    run, sync skips it with a warning, makes no call and exits 1 (its data may be stale);
    --ignore-run-results syncs it."""
    gs = project.gs
    rows = companies(3)
    project.build(rows)

    # The model itself fails in dbt (its old view is still in the warehouse).
    failed = project.dbt("build", "--vars", "{break_gs: true}", check=False)
    assert failed.returncode == 1
    before = gs.counters()
    result = project.sync("-s", "tag:gainsight", expect=1)  # selection must not hide it
    assert calls_since(gs, before)["calls"] == 0
    warning = (
        "gs_companies: skipped: its last dbt build ended 'error' "
        "(pass --ignore-run-results to sync it anyway)"
    )
    assert warning in " ".join(result.proc.stderr.split())
    assert result.model["status"] == "skipped"
    assert result.model["sent"] == 0 and emulator_companies(gs) == {}

    forced = project.sync("--ignore-run-results")
    assert (forced.model["status"], forced.model["accepted"]) == ("success", 3)
    assert_emulator_matches(gs, rows)

    # An upstream model fails: dbt skips gs_companies, and so does the sync.
    project.write_companies([changed(r) for r in rows])
    failed = project.dbt("build", "--vars", "{break_upstream: true}", check=False)
    assert failed.returncode == 1
    before = gs.counters()
    result = project.sync(expect=1)
    assert calls_since(gs, before)["calls"] == 0
    assert "its last dbt build ended 'skipped'" in " ".join(result.proc.stderr.split())
    assert result.model["status"] == "skipped"
    assert_emulator_matches(gs, rows)  # the changed seed was not sent


# Regressions for product bugs found while writing these tests (diagnosis in the docstrings).


def test_upsert_recreates_records_deleted_in_gainsight(project: IncProject):
    """behavior upsert means "update or create": synced records that someone deleted in
    Gainsight are created again when their rows change (60 of 200: more than one batch of
    re-routed records), no duplicate, new Gsids in state, and the next run makes 0 calls.

    Found as a bug (dbt_gainsight/sync/engine.py): a row whose state holds a Gsid went
    straight to an update, the PUT answered GSOBJ_1011 "No entity matches the given
    criteria", ``_collect`` rejected it (not_found only mattered for update_only), and every
    retry carried the state's Gsid again: rejected forever (only --full-refresh recovered).
    """
    gs = project.gs
    rows = companies(200)
    project.build(rows)
    project.sync()
    stored = emulator_companies(gs)
    victims = {r["name"] for r in rows[::3][:60]}
    with requests.Session() as http:
        for name in victims:
            reply = http.delete(
                f"{gs.url}/v1/data/objects/Company/{stored[name]['Gsid']}",
                headers={"accesskey": gs.access_key},
            )
            assert reply.status_code == 200, reply.text
    assert len(emulator_companies(gs)) == 140

    rows = [changed(r) for r in rows]
    project.reseed(rows)
    result = project.sync(expect=None)
    assert project.rejects() == [], result.model["first_rejects"]
    assert result.proc.returncode == 0, result.output
    assert (result.model["changed"], result.model["accepted"]) == (200, 200)
    stored = assert_emulator_matches(gs, rows)
    state = assert_state_in_emulator(project)
    assert sorted(state) == sorted(r["Gsid"] for r in stored.values())

    before = gs.counters()
    again = project.sync()
    assert calls_since(gs, before)["calls"] == 0 and again.model["unchanged"] == 200


def test_rejects_leave_the_table_when_their_row_leaves_the_model(project: IncProject):
    """Fixing a rejected row by deleting it from the model clears its reject: afterwards
    gainsight_rejects lists no record the model does not have (a NULL_KEY reject and a
    Gainsight GSOBJ_1002 reject, in a run that has nothing else to send).

    Found as a bug (dbt_gainsight/sync/engine.py, state.py): own-code rejects (NULL_KEY,
    DUPLICATE_KEY) were only cleared when a run streamed rows, so a run with nothing to send
    kept them while reporting null_keys 0; and a Gainsight reject was only removed when its
    key was accepted, so once its row left the model (or its key was renamed) it stayed in
    gainsight_rejects forever (until a mapping change or --full-refresh).
    """
    gs = project.gs
    rows = companies(10)
    gs.inject_fault("reject_value", field="Employees", value=3)  # rows[2]
    project.build(rows + [company(50, name=None)])
    first = project.sync(expect=1)
    assert (first.model["rejected"], first.model["null_keys"]) == (2, 1)
    assert sorted(r["code"] for r in project.rejects()) == ["GSOBJ_1002", "NULL_KEY"]

    kept = [r for i, r in enumerate(rows) if i != 2]  # both offending rows deleted
    project.reseed(kept)
    result = project.sync()
    assert (result.model["null_keys"], result.model["retry"], result.model["rows"]) == (0, 0, 9)
    left = [(r["key"], r["code"]) for r in project.rejects()]
    assert left == [], f"rejects of rows no longer in the model: {left}"
