"""The sample project, end to end: `dbt build`, then `dbt-gainsight sync` (the CLI, as a
subprocess) to the emulator over HTTP, on DuckDB and on Postgres.

Every record the emulator holds is compared, field by field, with the row of the model it
came from (read straight from the warehouse), and a second sync must make no API call.
Run with ``-s`` to see the sync summaries.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_gainsight.emulator import Emulator
from tests.e2e.support import (
    dbt,
    duckdb_execute,
    duckdb_rows,
    gainsight,
    gainsight_env,
    norm_date,
    norm_instant,
    postgres_execute,
    postgres_rows,
    results_by_model,
    same_number,
)

MODELS = [
    "gs_companies",
    "gs_relationships",
    "gs_usage_summary",
    "gs_company_people",
    "gs_relationship_people",
]
PG_SCHEMA = "acme_e2e"


class Mismatches:
    """Collects every difference so one failure shows them all (capped per object)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.per_object: Counter[str] = Counter()

    def add(self, obj: str, message: str) -> None:
        self.per_object[obj] += 1
        if self.per_object[obj] <= 10:
            self.items.append(f"{obj}: {message}")

    def check(self, obj: str, key: Any, field: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            self.add(obj, f"{key!r}.{field}: model {expected!r} != Gainsight {actual!r}")

    def number(self, obj: str, key: Any, field: str, expected: Any, actual: Any) -> None:
        if not same_number(expected, actual):
            self.add(obj, f"{key!r}.{field}: model {expected!r} != Gainsight {actual!r}")

    def report(self) -> str:
        totals = ", ".join(f"{o}: {n}" for o, n in self.per_object.items())
        return f"{sum(self.per_object.values())} mismatches ({totals}):\n" + "\n".join(self.items)


def _index(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], obj: str, m):
    """Records by key; a key held twice is a duplicate in Gainsight."""
    out: dict[Any, dict[str, Any]] = {}
    for record in records:
        k = key(record)
        if k in out:
            m.add(obj, f"duplicate record for {k!r}")
        out[k] = record
    return out


def _same_keys(obj: str, expected: set, actual: set, m: Mismatches) -> None:
    for k in sorted(expected - actual, key=repr)[:10]:
        m.add(obj, f"{k!r} is in the model but not in Gainsight")
    for k in sorted(actual - expected, key=repr)[:10]:
        m.add(obj, f"{k!r} is in Gainsight but not in the model")


def compare_sample(gs: Emulator, rows: dict[str, list[dict[str, Any]]]) -> Mismatches:
    """Compare the emulator's records with the five models' rows, field by field."""
    m = Mismatches()

    users = {u["Email"]: u["Gsid"] for u in gs.records("GsUser")}
    types = {t["Name"]: t["Gsid"] for t in gs.records("Relationship_Type")}

    # Company -------------------------------------------------------------------------
    companies = _index(gs.records("Company"), lambda r: r["Name"], "Company", m)
    model = {r["company_name"]: r for r in rows["gs_companies"]}
    assert len(model) == len(rows["gs_companies"]) == 210
    _same_keys("Company", set(model), set(companies), m)
    for name, row in model.items():
        rec = companies.get(name)
        if rec is None:
            continue
        for column, field in [
            ("arr", "Arr"),
            ("mrr", "Mrr"),
            ("employees", "Employees"),
            ("active_users", "Users"),
        ]:
            m.number("Company", name, field, row[column], rec[field])
        for column, field in [("industry", "Industry"), ("stage", "Stage"), ("status", "Status")]:
            m.check("Company", name, field, row[column], rec[field])
        for column, field in [
            ("renewal_date", "RenewalDate"),
            ("contract_start_date", "OriginalContractDate"),
        ]:
            m.check("Company", name, field, norm_date(row[column]), norm_date(rec[field]))
        m.check("Company", name, "Csm", users[row["csm_email"]], rec["Csm"])
    company_gsid = {name: rec["Gsid"] for name, rec in companies.items()}

    # Relationship --------------------------------------------------------------------
    rels = _index(gs.records("Relationship"), lambda r: r["Name"], "Relationship", m)
    model = {r["relationship_name"]: r for r in rows["gs_relationships"]}
    assert len(model) == len(rows["gs_relationships"]) > 0
    _same_keys("Relationship", set(model), set(rels), m)
    for name, row in model.items():
        rec = rels.get(name)
        if rec is None:
            continue
        m.number("Relationship", name, "Arr", row["arr"], rec["Arr"])
        m.check("Relationship", name, "Status", row["status"], rec["Status"])
        m.check(
            "Relationship", name, "RenewalDate", norm_date(row["renewal_date"]),
            norm_date(rec["RenewalDate"]),
        )  # fmt: skip
        m.check(
            "Relationship", name, "CompanyId", company_gsid.get(row["company_name"]),
            rec["CompanyId"],
        )  # fmt: skip
        m.check("Relationship", name, "TypeId", types[row["relationship_type"]], rec["TypeId"])
    rel_gsid = {name: rec["Gsid"] for name, rec in rels.items()}
    rel_company = {name: rec["CompanyId"] for name, rec in rels.items()}

    # Usage_Summary__gc ---------------------------------------------------------------
    usage = _index(
        gs.records("Usage_Summary__gc"), lambda r: r["Usage_Id__gc"], "Usage_Summary__gc", m
    )
    model = {r["usage_id"]: r for r in rows["gs_usage_summary"]}
    assert len(model) == len(rows["gs_usage_summary"]) > 0
    _same_keys("Usage_Summary__gc", set(model), set(usage), m)
    for uid, row in model.items():
        rec = usage.get(uid)
        if rec is None:
            continue
        obj = "Usage_Summary__gc"
        m.check(obj, uid, "Month__gc", norm_date(row["month"]), norm_date(rec["Month__gc"]))
        for column, field in [
            ("active_users", "Active_Users__gc"),
            ("logins", "Logins__gc"),
            ("feature_adoption", "Feature_Adoption__gc"),
        ]:
            m.number(obj, uid, field, row[column], rec[field])
        m.check(
            obj, uid, "Last_Active_At__gc", norm_instant(row["last_active_at"]),
            norm_instant(rec["Last_Active_At__gc"]),
        )  # fmt: skip
        m.check(obj, uid, "Company__gc", company_gsid.get(row["company_name"]), rec["Company__gc"])

    # Person (from both people models; every email once) ------------------------------
    people = _index(gs.records("Person"), lambda r: r["Email"], "Person", m)
    expected_people: dict[str, dict[str, Any]] = {}
    for model_name in ("gs_company_people", "gs_relationship_people"):
        for row in rows[model_name]:
            expected_people.setdefault(row["email"], row)
            seen = expected_people[row["email"]]
            assert (seen["first_name"], seen["last_name"]) == (row["first_name"], row["last_name"])
    _same_keys("Person", set(expected_people), set(people), m)
    for email, row in expected_people.items():
        rec = people.get(email)
        if rec is not None:
            m.check("Person", email, "FirstName", row["first_name"], rec["FirstName"])
            m.check("Person", email, "LastName", row["last_name"], rec["LastName"])
    person_email = {rec["Gsid"]: email for email, rec in people.items()}

    # Company_Person ------------------------------------------------------------------
    company_name = {gsid: name for name, gsid in company_gsid.items()}
    links = _index(
        gs.records("Company_Person"),
        lambda r: (person_email.get(r["Person_ID"]), company_name.get(r["Company_ID"])),
        "Company_Person",
        m,
    )
    model = {(r["email"], r["company_name"]): r for r in rows["gs_company_people"]}
    assert len(model) == len(rows["gs_company_people"]) > 0
    _same_keys("Company_Person", set(model), set(links), m)
    for key, row in model.items():
        rec = links.get(key)
        if rec is None:
            continue
        m.check("Company_Person", key, "Title", row["title"], rec["Title"])
        m.check("Company_Person", key, "Role", row["role"], rec["Role"])
        m.check(
            "Company_Person", key, "IsPrimaryCompany", row["is_primary"], rec["IsPrimaryCompany"]
        )
        m.check("Company_Person", key, "Company_ID", company_gsid[key[1]], rec["Company_ID"])

    # Relationship_Person -------------------------------------------------------------
    rel_name = {gsid: name for name, gsid in rel_gsid.items()}
    rlinks = _index(
        gs.records("Relationship_Person"),
        lambda r: (person_email.get(r["Person_ID"]), rel_name.get(r["Relationship_ID"])),
        "Relationship_Person",
        m,
    )
    model = {(r["email"], r["relationship_name"]): r for r in rows["gs_relationship_people"]}
    assert len(model) == len(rows["gs_relationship_people"]) > 0
    _same_keys("Relationship_Person", set(model), set(rlinks), m)
    for key, row in model.items():
        rec = rlinks.get(key)
        if rec is None:
            continue
        m.check("Relationship_Person", key, "Title", row["title"], rec["Title"])
        m.check(
            "Relationship_Person", key, "Company_ID", rel_company.get(key[1]), rec["Company_ID"]
        )
    return m


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path: Path) -> dict[str, Any]:
    """The target to build and sync: its dbt --target, env, and a reader of model rows."""
    if request.param == "duckdb":
        path = tmp_path / "acme.duckdb"
        return {
            "name": "duckdb",
            "target": None,
            "env": {"DBT_DUCKDB_PATH": str(path)},
            "rows": lambda model: duckdb_rows(path, f"select * from main.{model}"),
            "sql": lambda sql: duckdb_rows(path, sql.format(state="main_gainsight")),
            "execute": lambda sql: duckdb_execute(path, sql.format(schema="main")),
        }
    pg = request.getfixturevalue("pg_database")
    return {
        "name": "postgres",
        "target": "postgres",
        "env": {**pg, "DBT_PG_SCHEMA": PG_SCHEMA},
        "rows": lambda model: postgres_rows(pg, f"select * from {PG_SCHEMA}.{model}"),
        "sql": lambda sql: postgres_rows(pg, sql.format(state=f"{PG_SCHEMA}_gainsight")),
        "execute": lambda sql: postgres_execute(pg, sql.format(schema=PG_SCHEMA)),
    }


def test_sample_project_syncs_every_row_field_by_field(
    warehouse: dict[str, Any], sample_project: Path, gainsight_emulator_factory
):
    gs = gainsight_emulator_factory(objects_file=str(sample_project / "gainsight_objects.yml"))
    env = {**warehouse["env"], **gainsight_env(gs)}
    target = warehouse["target"]
    dbt("build", sample_project, env, target=target)

    first = gainsight(
        "sync", sample_project, env, target=target, label=f"first sync ({warehouse['name']})"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    results = results_by_model(sample_project)
    rows = {model: warehouse["rows"](model) for model in MODELS}

    assert set(results) == set(MODELS)
    for model in MODELS:
        r = results[model]
        n = len(rows[model])
        assert r["status"] == "success", r
        assert (r["rows"], r["new"], r["sent"], r["accepted"]) == (n, n, n, n), r
        assert (r["changed"], r["unchanged"], r["rejected"], r["failed"]) == (0, 0, 0, 0), r
        assert r["duplicates"] == r["null_keys"] == 0, r
        assert r["api_calls"] > 0, r

    calls = gs.counters()["calls"]
    assert sum(r["api_calls"] for r in results.values()) <= calls  # + describes
    mismatches = compare_sample(gs, rows)
    assert not mismatches.items, mismatches.report()

    # The state, in the user's warehouse: one row per accepted record, nothing rejected.
    state = warehouse["sql"]("select count(*) as n from {state}.gainsight_sync_state")
    assert state[0]["n"] == sum(len(r) for r in rows.values())
    company_state = warehouse["sql"](
        "select s.gsid from {state}.gainsight_sync_state s "
        "join {state}.gainsight_syncs y on y.sync_id = s.sync_id "
        "where y.model_unique_id = 'model.acme_cs.gs_companies'"
    )
    assert sorted(r["gsid"] for r in company_state) == sorted(
        r["Gsid"] for r in gs.records("Company")
    )
    assert warehouse["sql"]("select count(*) as n from {state}.gainsight_rejects")[0]["n"] == 0

    second = gainsight(
        "sync", sample_project, env, target=target, label=f"second sync ({warehouse['name']})"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert gs.counters()["calls"] == calls, "an unchanged project must make no API call"
    for model, r in results_by_model(sample_project).items():
        n = len(rows[model])
        assert (r["status"], r["rows"], r["unchanged"], r["sent"]) == ("success", n, n, 0), r
        assert r["api_calls"] == 0, r

    # Read back: every model, people included, matches Gainsight.
    audited = _audit(sample_project, env, target, expect=0)
    for model in MODELS:
        n = len(rows[model])
        a = audited[model]
        assert (a["status"], a["rows"], a["read"], a["unsendable"]) == ("clean", n, n, 0), a

    # Edited by another integration: one person's first name, one link's title, and one
    # company link deleted (three different people).
    person_rows = rows["gs_company_people"]
    edited = person_rows[0]
    retitled, unlinked = [r for r in person_rows if r["email"] != edited["email"] and r["title"]][
        :2
    ]
    body = {"Email": edited["email"], "FirstName": "Edited by hand"}
    _gainsight_call(gs, "PUT", "/v1/peoplemgmt/v1.0/people", body)
    person_gsid = {p["Email"].lower(): p["Gsid"] for p in gs.records("Person")}
    links = {r["Person_ID"]: r["Gsid"] for r in gs.records("Company_Person")}
    title = {"records": [{"Gsid": links[person_gsid[retitled["email"].lower()]], "Title": "CEO?"}]}
    _gainsight_call(gs, "PUT", "/v1/data/objects/Company_Person?keys=Gsid", title)
    gone = links[person_gsid[unlinked["email"].lower()]]
    _gainsight_call(gs, "DELETE", f"/v1/data/objects/Company_Person/{gone}")
    # The first name differs in every link row of that person, in both people models.
    per_model = {
        m: sum(r["email"] == edited["email"] for r in rows[m])
        for m in ("gs_company_people", "gs_relationship_people")
    }
    expected = {  # missing, differing records
        "gs_company_people": (1, per_model["gs_company_people"] + 1),
        "gs_relationship_people": (0, per_model["gs_relationship_people"]),
    }
    drift = _audit(sample_project, env, target, "--repair", expect=1)
    for model, (missing, differs) in expected.items():
        a = drift[model]
        assert (a["missing"], a["differs"], a["differing_values"]) == (missing, differs, differs)
        assert a["repaired"] == missing + differs and a["orphans"] == 0, a
        samples = {(s["kind"], s["key"]["Email"], s["field"]) for s in a["samples"]}
        if missing:
            assert ("missing", unlinked["email"], None) in samples, samples
        if differs:
            assert ("differs", edited["email"], "FirstName") in samples, samples
        if model == "gs_company_people":
            assert ("differs", retitled["email"], "Company_Person.Title") in samples, samples
    assert {m for m, a in drift.items() if a["status"] != "clean"} == {
        m for m, (missing, differs) in expected.items() if missing or differs
    }

    # One sync puts both back; the next audit is clean and Gainsight holds the model again.
    resent = gainsight("sync", sample_project, env, target=target, label="sync after --repair")
    assert resent.returncode == 0, resent.stdout + resent.stderr
    for model, r in results_by_model(sample_project).items():
        missing, differs = expected.get(model, (0, 0))
        assert (r["new"], r["changed"], r["accepted"]) == (missing, differs, missing + differs), r
    assert _audit(sample_project, env, target, expect=0).keys() == set(MODELS)
    mismatches = compare_sample(gs, rows)
    assert not mismatches.items, mismatches.report()

    # A contact leaves one company: their link is an orphan (found by its key's hash, since
    # the state keeps the person's Gsid), while their other links and the person stay.
    moved = next(r for r in person_rows if r["email"] != edited["email"])
    warehouse["execute"](
        f"delete from {{schema}}.gs_company_people where email = '{moved['email']}' "
        f"and company_name = '{moved['company_name']}'"
    )
    left = _audit(sample_project, env, target, "-s", "gs_company_people", expect=1)
    a = left["gs_company_people"]
    assert (a["status"], a["rows"], a["read"]) == ("drift", len(person_rows) - 1, len(person_rows))
    assert (a["missing"], a["differs"], a["orphans"]) == (0, 0, 1), a
    (orphan,) = a["samples"]
    assert orphan["key"] == {"Email": moved["email"], "Company.Name": moved["company_name"]}
    link = next(r for r in gs.records("Company_Person") if r["Gsid"] == orphan["gsid"])
    assert link["Person_ID"] == person_gsid[moved["email"].lower()]


def _audit(project: Path, env: dict[str, str], target: str | None, *args: str, expect: int):
    """``dbt-gainsight audit --output json``: each model's entry, by name."""
    proc = gainsight("audit", project, env, "--output", "json", *args, target=target)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return {m["model"]: m for m in json.loads(proc.stdout)["models"]}


def _gainsight_call(gs: Emulator, method: str, path: str, body: Any = None) -> None:
    """A call to the emulator's public API, as another integration would make it."""
    reply = requests.request(
        method, gs.url + path, json=body, headers={"accesskey": gs.access_key}, timeout=10
    )
    assert reply.status_code == 200 and reply.json().get("result"), reply.text
