"""RecordBuilder: a warehouse row -> the JSON record Gainsight receives.

Schemas are the emulator's describe payloads (the shared contract), parsed by the client's
own ``parse_describe``; configs go through the real ``parse_sync_config``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from dbt_gainsight.config.model import SyncConfig, parse_sync_config
from dbt_gainsight.emulator.objects import builtin_objects, load_objects_file
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import ObjectSchema, parse_describe
from dbt_gainsight.sync.records import ParentRef, RecordBuilder
from tests.conftest import SAMPLE_PROJECT


@pytest.fixture(scope="module")
def schemas() -> dict[str, ObjectSchema]:
    objects = builtin_objects()
    load_objects_file(SAMPLE_PROJECT / "gainsight_objects.yml", objects)
    return {name: parse_describe(obj.describe()) for name, obj in objects.items()}


def _config(meta: dict[str, Any]) -> SyncConfig:
    return parse_sync_config(meta, model="m", unique_id="model.p.m", yaml_path="models/schema.yml")


def _builder(meta: dict[str, Any], columns: list[str], schemas) -> RecordBuilder:
    return RecordBuilder(_config(meta), {c: i for i, c in enumerate(columns)}, schemas)


COMPANY = {
    "object": "Company",
    "keys": ["Name"],
    "fields": {
        "company_name": "Name",
        "arr": "Arr",
        "employees": "Employees",
        "industry": "Industry",
        "renewal_date": "RenewalDate",
    },
    "lookups": {"Csm": {"object": "GsUser", "match": {"csm_email": "Email"}}},
}
COMPANY_COLUMNS = ["company_name", "arr", "employees", "industry", "renewal_date", "csm_email"]


def test_company_row_is_converted_per_field_type_with_the_lookup_source(schemas):
    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)
    row = ("Acme", Decimal("1200.50"), Decimal("12"), "software", date(2026, 3, 1), "a@x.io")
    assert b.build(row) == {
        "Name": "Acme",
        "Arr": 1200.5,
        "Employees": 12,
        "Industry": "Software",  # picklists go by their canonical label
        "RenewalDate": "2026-03-01",
        "csm_email": "a@x.io",  # the lookup's source value, under the key the lookup names
    }
    assert isinstance(b.build(row)["Employees"], int)
    assert b.lookups == {
        "Csm": {
            "fields": {"csm_email": "Email"},
            "lookupField": "Gsid",
            "objectName": "GsUser",
            "multiMatchOption": "FIRSTMATCH",
            "onNoMatch": "ERROR",
        }
    }
    assert b.key_values(row) == {"Name": "Acme"}


def test_nulls_skip_leaves_fields_out(schemas):
    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)
    assert b.build(("Acme", None, None, None, None, None)) == {"Name": "Acme"}


def test_nulls_send_sends_them_but_never_a_null_lookup_source(schemas):
    b = _builder({**COMPANY, "nulls": "send"}, COMPANY_COLUMNS, schemas)
    assert b.build(("Acme", None, 3, None, None, None)) == {
        "Name": "Acme",
        "Arr": None,
        "Employees": 3,
        "Industry": None,
        "RenewalDate": None,
    }


def test_lookup_source_values_are_sent_as_text(schemas):
    meta = {
        "object": "Company",
        "keys": ["Name"],
        "fields": {"company_name": "Name"},
        "lookups": {
            "ParentCompany": {
                "object": "Company",
                "match": {"parent_ref": "ExternalId"},
                "multi_match": "error",
                "on_no_match": "null",
            }
        },
    }
    b = _builder(meta, ["company_name", "parent_ref"], schemas)
    assert b.build(("Acme", 42)) == {"Name": "Acme", "parent_ref": "42"}
    assert b.lookups["ParentCompany"]["multiMatchOption"] == "MARKASERROR"
    assert b.lookups["ParentCompany"]["onNoMatch"] == "NULLABLE"


def test_columns_match_case_insensitively(schemas):
    """Snowflake reports upper-case column names; the mapping is written in lower case."""
    b = _builder(COMPANY, [c.upper() for c in COMPANY_COLUMNS], schemas)
    row = ("Acme", 1, 2, "Retail", "2026-01-31", "a@x.io")
    assert b.build(row) == {
        "Name": "Acme",
        "Arr": 1,
        "Employees": 2,
        "Industry": "Retail",
        "RenewalDate": "2026-01-31",
        "csm_email": "a@x.io",
    }


def test_datetimes_are_sent_as_utc_instants(schemas):
    meta = {
        "object": "Usage_Summary__gc",
        "keys": ["Usage_Id__gc"],
        "fields": {
            "usage_id": "Usage_Id__gc",
            "last_active_at": "Last_Active_At__gc",
            "month": "Month__gc",
            "adoption": "Feature_Adoption__gc",
        },
    }
    b = _builder(meta, ["usage_id", "last_active_at", "month", "adoption"], schemas)
    cet = timezone(timedelta(hours=2))
    aware = b.build(("u1", datetime(2026, 6, 30, 21, 38, 45, 123456, tzinfo=cet), None, 12.5))
    assert aware["Last_Active_At__gc"] == "2026-06-30T19:38:45.123+00:00"
    assert aware["Feature_Adoption__gc"] == 12.5
    naive = b.build(("u1", datetime(2026, 6, 30, 19, 38, 45), "2026-06-01", Decimal("40.0")))
    assert naive["Last_Active_At__gc"] == "2026-06-30T19:38:45.000+00:00"
    assert naive["Month__gc"] == "2026-06-01"
    assert naive["Feature_Adoption__gc"] == 40


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("renewal_date", "soon", ["RenewalDate", "'soon'"]),
        ("industry", "Farming", ["Industry", "'Farming'"]),
        ("arr", "lots", ["Arr", "'lots'"]),
        ("company_name", "x" * 256, ["Name", "256"]),
    ],
)
def test_a_value_that_cannot_be_converted_names_the_field(schemas, column, value, words):
    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)
    row = ["Acme", 1, 2, "Retail", "2026-01-31", "a@x.io"]
    row[COMPANY_COLUMNS.index(column)] = value
    with pytest.raises(ValueConversionError) as err:
        b.build(row)
    for word in words:
        assert word in str(err.value)


def test_company_person_splits_person_link_and_parent(schemas):
    meta = {
        "object": "CompanyPerson",
        "fields": {
            "email": "Email",
            "first_name": "FirstName",
            "company_name": "Company.Name",
            "title": "Company_Person.Title",
            "is_primary": "Company_Person.IsPrimaryCompany",
        },
    }
    columns = ["email", "first_name", "company_name", "title", "is_primary"]
    b = _builder(meta, columns, schemas)
    row = ("ann@acme.io", "Ann", "Acme", None, "t")
    assert b.build(row) == {"Email": "ann@acme.io", "FirstName": "Ann"}
    assert b.build_link(row) == {"IsPrimaryCompany": True}  # Title null: skipped
    assert b.parents == [ParentRef(object="Company", field="Name", index=2)]
    assert b.key_values(row) == {"Email": "ann@acme.io", "Company.Name": "Acme"}
    assert b.lookups is None
    with pytest.raises(ValueConversionError, match="Email"):
        b.build(("not-an-email", "Ann", "Acme", None, None))
    # A bad link value is the record's reject too, found while building it; before, it was
    # raised when the person was sent and ended the model (a new-user walkthrough).
    with pytest.raises(ValueConversionError, match="IsPrimaryCompany"):
        b.build(("ann@acme.io", "Ann", "Acme", None, "maybe"))
    with pytest.raises(ValueConversionError, match="Title"):
        b.build(("ann@acme.io", "Ann", "Acme", "x" * 5000, "t"))


def test_relationship_person_link_fields(schemas):
    meta = {
        "object": "RelationshipPerson",
        "nulls": "send",
        "fields": {
            "email": "Email",
            "relationship_name": "Relationship.Name",
            "title": "Relationship_Person.Title",
        },
    }
    b = _builder(meta, ["email", "relationship_name", "title"], schemas)
    row = ("bo@acme.io", "Acme - Core", None)
    assert b.build(row) == {"Email": "bo@acme.io"}
    assert b.build_link(row) == {"Title": None}
    assert b.parents == [ParentRef(object="Relationship", field="Name", index=1)]
    assert b.key_values(row) == {"Email": "bo@acme.io", "Relationship.Name": "Acme - Core"}


# --- odd values: a reject with a reason, never a Python repr on the wire -----------------


def test_lookup_source_values_are_text_never_a_repr(schemas):
    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)
    row = ["Acme", 1, 2, "Retail", "2026-01-31", memoryview(b"a@x.io")]
    assert b.build(row)["csm_email"] == "a@x.io"
    for bad in ({"email": "a@x.io"}, memoryview(b"\xff"), float("nan"), object()):
        row[-1] = bad
        with pytest.raises(ValueConversionError, match=r"^csm_email: "):
            b.build(row)


def test_key_values_are_json_safe_for_reports(schemas):
    import json

    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)
    for value, shown in [
        (memoryview(b"Acme"), "Acme"),
        (memoryview(b"\xff\xfe"), "\\xff\\xfe"),
        (Decimal("1e5000"), "1E+5000"),
        (float("nan"), "nan"),
        ({"a": 1}, '{"a": 1}'),
    ]:
        key = b.key_values([value, 1, 2, "Retail", "2026-01-31", "a@x.io"])
        assert key == {"Name": shown}
        json.dumps(key, allow_nan=False)
    assert b.key_values([None, 1, 2, None, None, None]) == {"Name": None}


def test_a_converter_bug_is_a_record_reject_not_a_crash(schemas, monkeypatch):
    b = _builder(COMPANY, COMPANY_COLUMNS, schemas)

    def broken(value):
        raise ZeroDivisionError("oops")

    b.slots[1] = (b.slots[1][0], b.slots[1][1], broken)
    with pytest.raises(ValueConversionError, match=r"^Arr: .*ZeroDivisionError"):
        b.build(["Acme", 1, 2, "Retail", "2026-01-31", "a@x.io"])


def test_parent_values_are_converted_as_text(schemas):
    meta = {
        "object": "CompanyPerson",
        "fields": {"email": "Email", "company_name": "Company.Name"},
    }
    b = _builder(meta, ["email", "company_name"], schemas)
    [parent] = b.parents
    assert b.parent_value(("ann@acme.io", memoryview(b"Acme")), parent) == "Acme"
    assert b.parent_value(("ann@acme.io", 42), parent) == "42"
    for bad in (memoryview(b"\xff"), {"name": "Acme"}, float("inf")):
        with pytest.raises(ValueConversionError, match=r"^Company\.Name: "):
            b.build(("ann@acme.io", bad))
