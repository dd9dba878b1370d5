"""Odd Postgres values: each bad row is a VALUE_CONVERSION reject; good rows land exactly.

tests/projects/odd_values selects real Postgres column types: bytea, jsonb, numeric 1e5000 and
'NaN', float8 'Infinity' and 'NaN', timestamptz '9999-12-31 20:00-05' (read in New York,
Python holds it and UTC does not; read in UTC, Python cannot hold it), numerics beyond a
double's precision, an array of an enum. Real dbt, real Postgres, the CLI as a subprocess, the
emulator over HTTP.
"""

from __future__ import annotations

import json

from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    dbt,
    gainsight,
    gainsight_env,
    postgres_rows,
    results_by_model,
)

OBJECT = "Odd_Value__gc"
REJECTS = "select * from odd_gainsight.gainsight_rejects order by key_values"

# key -> words the reject's reason must contain (the field, and what is wrong)
BAD = {
    "bad-bytea": ["Blob__gc", "UTF-8"],
    "bad-jsonb": ["Doc__gc", "dict"],
    "bad-huge": ["Amount__gc", "range"],
    "bad-nan": ["Amount__gc", "NaN"],
    "bad-inf": ["Ratio__gc", "inf"],
    "bad-end-of-time": ["Happened__gc", "range"],
    "bad-precision": ["Big__gc", "exactly"],
    "bad-tiny": ["Big__gc", "exactly"],
    "bad-text-nan": ["Score_Text__gc", "nan"],
    # psycopg2 reads Postgres's infinities as date.max/min: they were sent as 9999-12-31 and
    # 0001-01-01 (found by an attack); now they arrive as their text and are rejected.
    "bad-infinite-time": ["Happened__gc", "-infinity"],
    "bad-infinite-day": ["Day__gc", "infinity"],
}


def test_odd_postgres_values_are_rejected_per_record_and_good_rows_land_exactly(
    tmp_path, pg_database, gainsight_emulator_factory
):
    project = copy_project(PROJECTS / "odd_values", tmp_path / "odd_values")
    gs = gainsight_emulator_factory(objects_file=project / "gainsight_objects.yml")
    env = {**pg_database, "PGTZ": "America/New_York", **gainsight_env(gs)}
    dbt("build", project, env)

    proc = gainsight("sync", project, env, label="sync odd values")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    assert "<memory at" not in output

    # The good rows, exactly as the warehouse held them.
    stored = {r["Key__gc"]: r for r in gs.records(OBJECT)}
    assert sorted(stored) == ["good-1", "good-2"]
    good1, good2 = stored["good-1"], stored["good-2"]
    assert (good1["Label__gc"], good1["Blob__gc"], good1["Doc__gc"]) == ("alpha", "héllo", None)
    assert json.loads(good1["Doc_Text__gc"]) == {"plan": "pro"}
    assert (good1["Amount__gc"], good1["Big__gc"], good1["Ratio__gc"]) == (1234.5, 2**53 - 1, 0.1)
    assert good1["Score_Text__gc"] == "1.5"
    assert good1["Happened__gc"] == "2026-11-27T12:45:00.123Z"
    assert (good1["Day__gc"], good1["Flag__gc"]) == ("2026-11-27", True)
    assert good1["Tags__gc"] == "Software;Retail"
    assert good1["Ident__gc"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    # psycopg2 hands an enum array over as one text, '{Retail,Software}': it was sent as one
    # label and rejected (found by an attack); it is read as the list it is.
    assert good1["Segments__gc"] == "Retail;Software"
    assert good1["Segment_Codes__gc"] == "Software"  # an array of a domain over the enum
    assert (good2["Label__gc"], good2["Blob__gc"]) == ("Zoë ☃", None)
    assert (good2["Amount__gc"], good2["Big__gc"], good2["Ratio__gc"]) == (0.1, 10**20, -2.5)
    assert type(good2["Big__gc"]) is int  # sent digit for digit, not 1e+20
    assert good2["Score_Text__gc"] == "-0.25"
    assert good2["Happened__gc"] == "9999-12-31T23:00:00.000Z"
    assert (good2["Day__gc"], good2["Flag__gc"]) == ("0001-01-01", False)
    assert (good2["Tags__gc"], good2["Segments__gc"]) == ("Finance", "Finance")
    assert good2["Segment_Codes__gc"] == "Finance;Retail"

    # Each bad row: one VALUE_CONVERSION reject naming the field and the problem; never sent.
    result = results_by_model(project)["odd_values"]
    assert result["status"] == "partial"
    assert (result["rows"], result["accepted"], result["rejected"]) == (13, 2, 11)
    assert (result["sent"], result["failed"]) == (2, 0)
    samples = {s["key"]["Key__gc"]: s for s in result["first_rejects"]}
    assert sorted(samples) == sorted(BAD)
    rejects = postgres_rows(pg_database, REJECTS)
    assert sorted(json.loads(r["key_values"])["Key__gc"] for r in rejects) == sorted(BAD)
    for row in rejects:
        key = json.loads(row["key_values"])["Key__gc"]
        assert row["error_code"] == "VALUE_CONVERSION"
        assert samples[key]["error_code"] == "VALUE_CONVERSION"
        assert samples[key]["error_message"] == row["error_message"]
        field, words = BAD[key][0], BAD[key][1:]
        assert row["error_message"].startswith(f"{field}: "), row["error_message"]
        for word in words:
            assert word.lower() in row["error_message"].lower(), (key, row["error_message"])

    # Next run, in a UTC session: psycopg2 cannot hold year 10000, so the driver hands the
    # timestamp over as text; still one reject, never a failed read. Exit 1 again.
    proc = gainsight("sync", project, {**env, "PGTZ": "UTC"}, label="sync again in UTC")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    result = results_by_model(project)["odd_values"]
    assert (result["retry"], result["rejected"], result["failed"]) == (11, 11, 0)
    assert result["accepted"] == result["sent"] <= 2  # good rows only (hashes follow the zone)
    rejects = {
        json.loads(r["key_values"])["Key__gc"]: r for r in postgres_rows(pg_database, REJECTS)
    }
    assert sorted(rejects) == sorted(BAD)
    message = rejects["bad-end-of-time"]["error_message"]
    assert message.startswith("Happened__gc: cannot read '10000-01-01 01:00:00+00'"), message
    assert "range" in message
    again = {r["Key__gc"]: r for r in gs.records(OBJECT)}
    assert {k: _fields(r) for k, r in again.items()} == {k: _fields(r) for k, r in stored.items()}


def _fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k.endswith("__gc")}
