"""Odd DuckDB values: each bad row is a VALUE_CONVERSION reject; good rows land exactly.

tests/projects/odd_values_duckdb selects real DuckDB column types: HUGEINT beyond a double's
exact range, DECIMAL(38,10), DOUBLE NaN/-inf/-0.0, REAL, TIMESTAMPTZ at the end of time,
TIMESTAMP_NS, TIMESTAMP/DATE 'infinity' and '-infinity', dates DuckDB holds and Python does
not (year 10000, BC), TIME, INTERVAL, UUID, BLOB, ENUM, LIST, LIST of ENUM, STRUCT, MAP, and
text with an emoji and a combining mark. Real dbt, real DuckDB, the CLI as a subprocess, the
emulator over HTTP.

One ``dbt build`` and two syncs are shared by the module (``synced``), so each value has a
test of its own: a value handled wrongly fails its own test and no other.

Decisions (what Gainsight would store, README: "any value either converts to what Gainsight
stores or is rejected with a reason"):

- A number is sent only if Gainsight's double holds it exactly: HUGEINT 2**53 - 1 and 1e20
  land digit for digit; 2**53 + 1, 2**63 + 1 and a DECIMAL(38,10) of 30 digits are rejected,
  never rounded. NaN and infinities are rejected.
- DOUBLE -0.0 lands as zero: -0.0 and 0 are the same number to Gainsight (equal in every
  comparison and filter), so either is what it stores.
- REAL (float4) 0.1 is the value 0.1 in DuckDB (``cast(x as varchar)`` is '0.1'); it must
  land as 0.1, not as the widened double 0.10000000149011612, in a NUMBER and a STRING field.
- DATE/TIMESTAMP 'infinity' and '-infinity' are no dates: rejected naming the value, never
  sent as 9999-12-31 or 0001-01-01 (Postgres's infinities are rejected so since an attack).
  A real 9999-12-31 23:59:59.999 or 0001-01-01 lands as itself.
- Dates beyond year 9999 or BC are out of range (dates.py: "rejected as out of range").
- TIMESTAMP_NS lands at millisecond precision, truncated, as every other timestamp.
- INTERVAL has no Gainsight type and no standard text (DuckDB's '1 day 02:00:00' is not
  ISO 8601's 'P1DT2H'): rejected, the model casts it to the text it wants.
- STRUCT and MAP into a text field are rejected like Postgres's jsonb (cast it to text).
- TIME into a STRING field is sent as its ISO text; BOOLEAN into STRING as 'true'/'false';
  an integer into a BOOLEAN field is true for 1, false for 0 and rejected otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbt_gainsight.emulator.emulator import Emulator
from dbt_gainsight.emulator.pytest_plugin import LIMITS_OFF
from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    calls_by_route,
    dbt,
    duckdb_rows,
    gainsight,
    gainsight_env,
    results_by_model,
    run_results,
)

OBJECT = "Odd_Duck__gc"
MODEL = "odd_duck_values"

# key -> field -> what Gainsight stores (gs.records: dates "YYYY-MM-DD", datetimes ISO UTC,
# picklists by label). None: the column is null, nothing is sent.
GOOD: dict[str, dict[str, Any]] = {
    "good-1": {
        "Label__gc": "alpha",
        "Huge__gc": 2**53 - 1,
        "Precise__gc": 1234.5,
        "Ratio__gc": 0.1,
        "Real__gc": 0.1,
        "Real_Text__gc": "0.1",
        "Happened__gc": "2026-11-27T12:45:00.123Z",
        "Happened_Ns__gc": "2026-11-27T13:45:00.123Z",
        "Happened_At__gc": "2026-01-02T03:04:05.000Z",
        "Day__gc": "2026-11-27",
        "Flag__gc": True,
        "Bool_Text__gc": "true",
        "Clock__gc": "13:45:00.500000",
        "Span__gc": None,
        "Ident__gc": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "Blob__gc": "héllo",
        "Segment__gc": "Retail",
        "Tags__gc": "Software;Retail",
        "Segments__gc": "Retail;Software",
        "Doc__gc": None,
        "Attrs__gc": None,
        "Happened_S__gc": "2026-01-02T03:04:05.000Z",
        "Happened_Tz_Ns__gc": "2026-11-27T12:45:00.123Z",
    },
    "good-2": {
        "Label__gc": "Zoë 🎉 e\u0301 ☃",
        "Huge__gc": 10**20,
        "Precise__gc": -1e-10,
        "Ratio__gc": 0,
        "Real__gc": -2.5,
        "Real_Text__gc": "-2.5",
        "Happened__gc": "9999-12-31T23:00:00.000Z",
        "Happened_Ns__gc": "2262-04-11T23:47:16.854Z",
        "Happened_At__gc": "9999-12-31T23:59:59.999Z",
        "Day__gc": "0001-01-01",
        "Flag__gc": False,
        "Bool_Text__gc": "false",
        "Clock__gc": "00:00:00",
        "Span__gc": None,
        "Ident__gc": None,
        "Blob__gc": None,
        "Segment__gc": "Finance",
        "Tags__gc": "Finance",
        "Segments__gc": "Finance",
        "Doc__gc": None,
        "Attrs__gc": None,
        # A TIMESTAMP_S past 2262 failed the model's query once (DuckDB formats it with the
        # nanosecond strftime); it is an ordinary end of time.
        "Happened_S__gc": "9999-12-31T00:00:00.000Z",
        "Happened_Tz_Ns__gc": None,
    },
}

# key -> the field its reject must name, then words its reason must contain.
BAD: dict[str, list[str]] = {
    "bad-huge-2p63": ["Huge__gc", "exactly"],
    "bad-huge-2p53": ["Huge__gc", "exactly"],
    "bad-decimal": ["Precise__gc", "exactly"],
    "bad-nan": ["Ratio__gc", "finite"],
    "bad-inf": ["Ratio__gc", "finite"],
    "bad-end-of-time": ["Happened__gc", "range"],
    # DuckDB's cursor hands infinities over as datetime.max/min (a real date's value): they were
    # sent as 9999-12-31 and 0001-01-01 (found by an attack); now fetched as ISO text, rejected.
    "bad-infinite-time": ["Happened__gc", "infinity"],
    "bad-infinite-ns": ["Happened_Ns__gc", "infinity"],
    "bad-minus-infinite-at": ["Happened_At__gc", "infinity"],
    "bad-infinite-day": ["Day__gc", "infinity"],
    "bad-minus-infinite-day": ["Day__gc", "infinity"],
    "bad-year-10000": ["Day__gc", "10000-01-01", "range"],
    "bad-bc-day": ["Day__gc", "BC", "range"],
    "bad-blob": ["Blob__gc", "UTF-8"],
    "bad-interval": ["Span__gc", "cannot read", "STRING"],
    "bad-struct": ["Doc__gc", "dict", "to_json()"],
    "bad-map": ["Attrs__gc", "dict", "to_json()"],
    "bad-tag": ["Tags__gc", "Mining", "not an option"],
    "bad-flag": ["Flag__gc", "true/false"],
    "bad-infinite-tz-ns": ["Happened_Tz_Ns__gc", "infinity"],
}
ROWS = len(GOOD) + len(BAD)


@dataclass
class Sync:
    """What one ``dbt-gainsight sync`` did and left behind."""

    returncode: int
    output: str
    result: dict[str, Any]
    stored: dict[str, dict[str, Any]]  # Key__gc -> record, as the emulator holds it
    rejects: dict[str, dict[str, Any]]  # Key__gc -> row of gainsight_rejects
    calls: dict[str, int]  # API calls by route during the sync


@dataclass
class Synced:
    first: Sync
    second: Sync


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Synced:
    """The project built once on DuckDB, then synced twice to one emulator."""
    root = tmp_path_factory.mktemp("odd_duckdb")
    project = copy_project(PROJECTS / "odd_values_duckdb", root / "odd_values_duckdb")
    db = root / "odd.duckdb"
    objects = project / "gainsight_objects.yml"
    with Emulator(access_key="test-key", objects_file=objects, **LIMITS_OFF) as gs:
        # DuckDB's session zone is the process's: New York, where Python holds 9999-12-31
        # 18:00-05 as a local time and UTC still holds it; 20:00-05 is year 10000 in UTC,
        # which DuckDB hands over as text. The same zone for both syncs (hashes follow it).
        env = {"DBT_DUCKDB_PATH": str(db), "TZ": "America/New_York", **gainsight_env(gs)}
        dbt("build", project, env)
        first = _sync(project, db, gs, env, "sync odd DuckDB values")
        second = _sync(project, db, gs, env, "sync again, nothing changed")
    return Synced(first, second)


def _sync(project: Path, db: Path, gs: Emulator, env: dict[str, str], label: str) -> Sync:
    before = gs.counters()
    proc = gainsight("sync", project, env, label=label)
    calls = calls_by_route(before, gs.counters())
    output = proc.stdout + proc.stderr
    results = results_by_model(project)
    assert MODEL in results, output  # the model was synced, well or badly
    state_schema = run_results(project)["metadata"]["state_schema"]
    rejects = duckdb_rows(db, f"select * from {state_schema}.gainsight_rejects")
    return Sync(
        returncode=proc.returncode,
        output=output,
        result=results[MODEL],
        stored={r["Key__gc"]: r for r in gs.records(OBJECT)},
        rejects={json.loads(r["key_values"])["Key__gc"]: r for r in rejects},
        calls=calls,
    )


# --- the run -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["first", "second"])
def test_odd_values_reject_records_never_the_run(synced: Synced, which: str):
    sync: Sync = getattr(synced, which)
    assert sync.returncode == 1, sync.output  # rejects: exit 1, not 2 (config) or a crash
    assert "Traceback" not in sync.output
    assert "<memory at" not in sync.output and " at 0x" not in sync.output
    assert sync.result["status"] == "partial", sync.result
    assert sync.result["failed"] == 0
    assert sync.result["rows"] == ROWS
    assert list(sync.result["rejects_by_code"]) == ["VALUE_CONVERSION"], sync.result


def test_first_sync_counts(synced: Synced):
    result = synced.first.result
    assert result["rejects_by_code"] == {"VALUE_CONVERSION": len(BAD)}
    assert (result["new"], result["changed"], result["retry"]) == (ROWS, 0, 0)
    assert (result["accepted"], result["rejected"]) == (len(GOOD), len(BAD))
    assert result["sent"] == len(GOOD)  # a value that does not convert is never sent


# --- good rows land exactly --------------------------------------------------------------


def test_only_the_good_rows_reach_gainsight(synced: Synced):
    assert sorted(synced.first.stored) == sorted(GOOD)


@pytest.mark.parametrize(
    ("key", "field"), [(key, field) for key, fields in GOOD.items() for field in fields]
)
def test_good_value_lands_exactly(synced: Synced, key: str, field: str):
    stored = _fields(synced.first.stored.get(key))
    if stored is None:
        reject = synced.first.rejects.get(key) or {}
        pytest.fail(f"{key} was not stored: {reject.get('error_message')}")
    expected, actual = GOOD[key][field], stored[field]
    # REAL 0.1: the DuckDB cursor widens a float4 to the double 0.10000000149011612, which
    # was sent as it was (found by an attack); sync/fetch.py now fetches it through its text.
    assert actual == expected, f"{key}.{field}: stored {actual!r}, expected {expected!r}"
    if isinstance(expected, (bool, str)) or expected is None:
        assert type(actual) is type(expected), (key, field, actual)
    elif isinstance(expected, int) and abs(expected) > 2**53:
        assert type(actual) is int, (key, field, actual)  # digit for digit, not 1e+20


# --- bad rows are rejected, naming the field and the reason -------------------------------


@pytest.mark.parametrize("key", sorted(BAD))
def test_bad_value_is_rejected_with_its_field_and_reason(synced: Synced, key: str):
    field, words = BAD[key][0], BAD[key][1:]
    # bad-bc-day was rejected for "expected yyyy-MM-dd": DuckDB writes BC as '(BC)'.
    sent = _fields(synced.first.stored.get(key))
    assert sent is None, f"{key} was sent and stored: {sent}"
    reject = synced.first.rejects.get(key)
    assert reject is not None, f"no reject for {key}"
    assert reject["model_name"] == MODEL
    assert reject["error_code"] == "VALUE_CONVERSION", reject
    message = reject["error_message"]
    assert message.startswith(f"{field}: "), message
    for word in words:
        assert word.lower() in message.lower(), (key, word, message)
    samples = {s["key"]["Key__gc"]: s for s in synced.first.result["first_rejects"]}
    assert samples[key]["error_code"] == "VALUE_CONVERSION"
    assert samples[key]["error_message"] == message


def test_the_rejects_table_holds_exactly_the_bad_rows(synced: Synced):
    assert sorted(synced.first.rejects) == sorted(BAD)


# --- the next sync: good rows unchanged, bad rows retried and rejected again ---------------


def test_second_sync_sends_nothing_new_and_rejects_the_bad_rows_again(synced: Synced):
    """What the first sync stored is unchanged; what it rejected is retried and rejected.

    Counted from what the first sync did, so a value handled wrongly fails only its own
    test above; with every value right it is 2 and 19.
    """
    first, second = synced.first, synced.second
    result = second.result
    assert (result["new"], result["changed"]) == (0, 0), result
    assert (result["unchanged"], result["retry"]) == (len(first.stored), len(first.rejects))
    assert (result["sent"], result["accepted"], result["failed"]) == (0, 0, 0), result
    assert result["rejected"] == len(first.rejects), result
    assert second.calls == {}  # no existence check, no write: nothing crossed the wire
    assert second.stored == first.stored  # the stored records untouched
    assert sorted(second.rejects) == sorted(first.rejects)
    for key, reject in second.rejects.items():
        assert reject["error_code"] == "VALUE_CONVERSION"
        assert reject["error_message"] == first.rejects[key]["error_message"], key


def _fields(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record's own fields (no Gsid, no system dates)."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k.endswith("__gc")}
