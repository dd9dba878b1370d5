"""The audit's comparison: a record the sync wrote, read back through the query API, equals
the model row it came from; an edit made in Gainsight is one difference, by field.

The round trip goes through the in-process emulator (the shared contract) with the client's
real insert (lookups resolved by the emulator) and query (dates as epoch ms, picklists as item
Gsids, ``Csm__gr.Email``).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from dbt_gainsight.config.model import parse_sync_config
from dbt_gainsight.emulator import Emulator
from dbt_gainsight.gainsight.client import GainsightClient
from dbt_gainsight.sync import compare
from dbt_gainsight.sync.records import RecordBuilder
from tests.unit.test_records import COMPANY as META
from tests.unit.test_records import COMPANY_COLUMNS as COLUMNS


@pytest.fixture()
def gs():
    with Emulator(access_key="k") as emulator:
        yield emulator


def test_a_synced_record_reads_back_equal_and_an_edit_is_one_difference(gs):
    gs.seed_records("GsUser", [{"Name": "Ann", "Email": "ann@example.com"}])
    client = GainsightClient(gs.url, "k", calls_per_minute=None)
    config = parse_sync_config(META, model="m", unique_id="model.p.m", yaml_path="x.yml")
    schemas = {"Company": client.describe("Company"), "GsUser": client.describe("GsUser")}
    builder = RecordBuilder(config, {c: i for i, c in enumerate(COLUMNS)}, schemas)
    row = ("Acme", Decimal("1200.50"), 12, "software", date(2026, 3, 1), "ANN@example.com")
    record = builder.build(row)
    (res,) = client.insert("Company", [record], keys=["Name"], lookups=builder.lookups)
    assert res.ok

    fields = compare.compared_fields(config, schemas)
    assert [f.path for f in fields][-1] == "Csm__gr.Email"
    keys = compare.KeyMaker(("Name",), {f.name: f for f in fields})

    def read_back() -> dict:
        (got,) = client.query("Company", ["Gsid", *(f.path for f in fields)])
        assert isinstance(got["RenewalDate"], int)  # the read form is epoch ms
        return {f.name: f.read(got.get(f.path)) for f in fields}

    values = read_back()
    assert compare.differences(record, values, fields) == []
    assert keys.of_record(record) == keys.of_values(values) == ("Acme",)

    edit = {"Name": "Acme", "Arr": 99, "Industry": "Retail", "RenewalDate": "2026-03-02"}
    (res,) = client.update("Company", [edit], keys=["Name"])
    assert res.ok
    assert compare.differences(record, read_back(), fields) == [
        ("Arr", 1200.5, 99),
        ("Industry", "Software", "Retail"),
        ("RenewalDate", "2026-03-01", "2026-03-02"),
    ]
    client.close()


def test_values_compare_as_gainsight_stores_them():
    assert compare.same(5, 5.0, False) and compare.same(0.1 + 0.2, 0.3, False)
    # An edit of a large number is drift (before: equal within 1e-9 relative, so 12345678901
    # and 12345678902 were "clean"; found by an attack).
    assert not compare.same(12345678901, 12345678902, False)
    assert not compare.same(2_000_000_000.0, 2_000_000_001, False)
    assert not compare.same(1e-12, 2e-12, False)
    assert not compare.same(True, 1, False) and not compare.same(None, "", False)
    assert compare.same("Bob@X.io", "bob@x.io", True) and not compare.same("a", "A", False)
    # Folded as SQL's lower() and Gainsight fold: STRASSE and straße are two addresses
    # (Python's casefold made them one, and the existence check could match the wrong record).
    assert compare.same("ÉLODIE@x.de", "élodie@x.de", True)
    assert not compare.same("STRASSE@x.de", "straße@x.de", True)
    assert compare.key_text("STRASSE@x.de", True) != compare.key_text("straße@x.de", True)
    from dbt_gainsight.gainsight.query import key_text

    assert key_text("STRASSE@x.de", "EMAIL") != key_text("straße@x.de", "EMAIL")
    assert key_text("Bob@X.io", "EMAIL") == key_text("bob@x.io", "EMAIL")
    assert compare.key_text(5.0, False) == "5" and compare.key_text("A@B.c", True) == "a@b.c"
    assert compare.lookup_path("Csm__gc", "Email") == "Csm__gr.Email"
    # A null the sync skips (nulls: skip) is never compared.
    field = compare.Compared("Arr", "Arr", "Arr", lambda v: v, False)
    assert compare.differences({}, {"Arr": 7}, [field]) == []
    assert compare.differences({"Arr": None}, {"Arr": 7}, [field]) == [("Arr", None, 7)]
    # A field with decimalPlaces stores the value rounded to them: 12.7 sent to a 0-place
    # NUMBER is 13 in Gainsight, not drift (before, the audit reported it after every repair).
    whole = compare.Compared("Users", "Users", "Users", lambda v: v, False, places=0)
    assert compare.differences({"Users": 12.7}, {"Users": 13}, [whole]) == []
    assert compare.differences({"Users": 12.5}, {"Users": 12}, [whole]) == []  # half-even
    assert compare.differences({"Users": 12.7}, {"Users": 12}, [whole]) == [("Users", 12.7, 12)]
    cents = compare.Compared("Arr", "Arr", "Arr", lambda v: v, False, places=2)
    assert compare.differences({"Arr": 1.005}, {"Arr": 1.01}, [cents]) == []
    assert compare.differences({"Arr": 1.0}, {"Arr": 1.01}, [cents]) == [("Arr", 1.0, 1.01)]
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    from dbt_gainsight.gainsight.objects import FieldSchema

    read = compare.read_converter(FieldSchema("At", "DATETIME"))
    assert read(int(stamp.timestamp() * 1000)) == "2026-01-02T03:04:05.000+00:00"
    # Epoch milliseconds read exactly at the ends of the range (a float division lost one
    # past 2100, so a repaired record stayed "drift" for ever; found by an attack).
    assert read(253402300799999) == "9999-12-31T23:59:59.999+00:00"
    assert read(16725225600123) == "2500-01-01T00:00:00.123+00:00"
    assert read(-62135596799999) == "0001-01-01T00:00:00.001+00:00"
    day = compare.read_converter(FieldSchema("On", "DATE"))
    assert day(253402214400000) == "9999-12-31"
