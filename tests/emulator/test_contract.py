"""One test (or a few) per rule of docs/gainsight-api.md, "What the emulator enforces"."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.emulator.gs_helpers import KEY, Api, assert_error, assert_ok

OBJECTS = Path(__file__).with_name("objects.yml")
CSM_LOOKUP = {
    "Csm": {
        "fields": {"CsmEmail": "Email"},
        "lookupField": "Gsid",
        "objectName": "GsUser",
        "multiMatchOption": "FIRSTMATCH",
        "onNoMatch": "ERROR",
    }
}


@pytest.fixture
def custom(gainsight_emulator_factory):
    return gainsight_emulator_factory(objects_file=OBJECTS)


@pytest.fixture
def capi(custom) -> Api:
    return Api(custom)


# -- rule 1 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_rule01_auth_required_missing_or_wrong_key_is_401(gs, make_api, key):
    resp = make_api(gs, key=key).insert("Company", [{"Name": "Acme"}])
    body = assert_error(resp, 401, "GS_APIG_2401")
    assert body["errorDesc"] == "Unauthorized"
    assert body["message"] == "Unauthorized"
    assert body["data"] is None
    uuid.UUID(body["requestId"])
    assert gs.records("Company") == []


@pytest.mark.parametrize("header", ["accesskey", "AccessKey", "ACCESSKEY"])
def test_rule01_auth_header_name_is_case_insensitive(gs, header):
    resp = requests.get(
        gs.url + "/v1/meta/services/objects/list",
        headers={header: KEY, "Accept": "application/json"},
        timeout=5,
    )
    assert assert_ok(resp)


def test_rule01_auth_required_on_every_route(gs, make_api):
    anon = make_api(gs, key=None)
    for method, path in [
        ("GET", "/v1/meta/services/objects/list"),
        ("GET", "/v1/meta/services/objects/company/describe"),
        ("POST", "/v1/data/objects/query/Company"),
        ("PUT", "/v1/peoplemgmt/v1.0/people"),
        ("DELETE", "/v1/data/objects/Company/1P02X"),
    ]:
        assert_error(anon.call(method, path, {}), 401, "GS_APIG_2401")


# -- rule 2 ---------------------------------------------------------------------------------
def test_rule02_full_envelope_on_every_reply(api):
    ok = api.call("GET", "/v1/meta/services/objects/list").json()
    bad = api.insert("Company", []).json()
    missing = api.call("GET", "/v1/nope").json()
    for body in (ok, bad, missing):
        assert set(body) == {"result", "errorCode", "errorDesc", "requestId", "data", "message"}
        uuid.UUID(body["requestId"])
    assert ok["errorCode"] is None and ok["errorDesc"] is None and ok["message"] is None
    assert len({ok["requestId"], bad["requestId"], missing["requestId"]}) == 3


def test_rule02_unknown_route_is_404_gs_apig_1000(api):
    for method, path in [
        ("GET", "/v1/nope"),
        ("GET", "/v1/data/objects/Company"),
        ("PATCH", "/v1/data/objects/Company"),
        ("POST", "/v2/data/objects/Company"),
    ]:
        body = assert_error(api.call(method, path, {}), 404, "GS_APIG_1000")
        assert path in body["errorDesc"]


def test_rule02_replies_are_json_with_content_type(api):
    resp = api.call("GET", "/v1/meta/services/objects/list")
    assert resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.content)


# -- rule 3 ---------------------------------------------------------------------------------
def test_rule03_routes_data_objects_insert_update_query_delete(api):
    gsid = assert_ok(api.insert("Company", [{"Name": "Acme", "ExternalId": "A"}]))["records"][0][
        "Gsid"
    ]
    upd = assert_ok(api.update("Company", "ExternalId", [{"ExternalId": "A", "Arr": 10}]))
    assert upd == {"count": 1, "errors": None, "records": [{"Gsid": gsid}]}
    rows = assert_ok(api.query("Company", select=["Gsid", "Name", "Arr"], limit=10))
    assert rows == [{"Gsid": gsid, "Name": "Acme", "Arr": 10}]
    deleted = assert_ok(api.call("DELETE", f"/v1/data/objects/Company/{gsid}"))
    assert deleted["records"] == [{"Gsid": gsid}]
    assert assert_ok(api.query("Company", select=["Name"])) == []


def test_rule03_routes_metadata_list_and_describe(api):
    listed = assert_ok(api.call("GET", "/v1/meta/services/objects/list"))
    names = {o["objectName"] for o in listed}
    assert {"company", "company_person", "relationship_person", "gsuser", "person"} <= names
    company = next(o for o in listed if o["objectName"] == "company")
    assert company["keyPrefix"] == "1P02" and company["objectType"] == "STANDARD"

    got = assert_ok(api.call("GET", "/v1/meta/services/objects/company/describe"))
    assert len(got) == 1 and got[0]["objectName"] == "Company"
    fields = {f["fieldName"]: f for f in got[0]["fields"]}
    assert fields["Name"]["meta"] == {
        "createable": True,
        "updateable": True,
        "required": True,
        "nillable": False,
        "length": 255,
        "decimalPlaces": None,
    }
    assert fields["Gsid"]["meta"]["createable"] is False
    assert fields["Csm"]["meta"]["lookupDetail"]["lookupObjects"] == [
        {"objectName": "GsUser", "fieldName": "Gsid"}
    ]
    industry = fields["Industry"]
    assert industry["dataType"] == "PICKLIST"
    assert [o["label"] for o in industry["options"]][:2] == ["Software", "Healthcare"]
    assert all(o["value"].startswith("1I00") and o["active"] for o in industry["options"])

    both = assert_ok(
        api.call(
            "POST",
            "/v1/meta/services/objects/describe",
            {"objectNames": ["Company", "Person"]},
        )
    )
    assert [d["objectName"] for d in both] == ["Company", "Person"]


def test_rule03_routes_describe_unknown_object(api):
    for resp in (
        api.call("GET", "/v1/meta/services/objects/nope__gc/describe"),
        api.call("POST", "/v1/meta/services/objects/describe", {"objectNames": ["Nope"]}),
    ):
        body = resp.json()
        assert body["result"] is False
        assert body["errorDesc"] == "Requested object not found."
        assert body["data"] is None


def test_rule03_routes_people_single_and_async(api):
    single = assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people", {"Email": "a@b.com"}))
    assert single["action"] == "CREATED" and single["Gsid"].startswith("1C01")
    job = assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", [{"Email": "c@d.com"}]))
    status = assert_ok(api.call("GET", f"/v1/peoplemgmt/v1.0/people/async/{job['statusId']}"))
    assert status == {
        "statusId": job["statusId"],
        "status": "COMPLETED",
        "total": 1,
        "success": 1,
        "failed": 0,
        "errors": [],
    }


# -- rule 4 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 51])
def test_rule04_writes_carry_1_to_50_records(gs, api, n):
    records = [{"Name": f"C{i}"} for i in range(n)]
    body = assert_error(api.insert("Company", records), 400, "GSOBJ_1002")
    assert str(n) in body["errorDesc"]
    body = assert_error(api.update("Company", "Name", records), 400, "GSOBJ_1002")
    assert gs.records("Company") == []


def test_rule04_fifty_records_are_accepted(gs, api):
    data = assert_ok(api.insert("Company", [{"Name": f"C{i}"} for i in range(50)]))
    assert data["count"] == 50 and len(gs.records("Company")) == 50


@pytest.mark.parametrize(
    "body", [{}, {"records": {"Name": "x"}}, {"records": ["x"]}, [{"Name": "x"}], None]
)
def test_rule04_records_must_be_a_list_of_objects(api, body):
    assert_error(api.call("POST", "/v1/data/objects/Company", body), 400, "GSOBJ_1002")


# -- rule 5 ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "keys, fragment",
    [
        ("", "1 to 3"),
        ("Name,ExternalId,Arr,Mrr", "1 to 3"),
        ("Nope", "Nope does not exist"),
        ("Csm", "cannot be a key"),
        ("RenewalDate", "cannot be a key"),
        ("Arr", "cannot be a key"),
    ],
)
def test_rule05_put_requires_1_to_3_existing_non_lookup_keys(gs, api, keys, fragment):
    gs.seed_records("Company", [{"Name": "Acme", "ExternalId": "A", "Arr": 1, "Mrr": 1}])
    record = {"Name": "Acme", "ExternalId": "A", "Arr": 1, "Mrr": 1}
    body = assert_error(api.update("Company", keys, [record]), 400, "GSOBJ_1002")
    assert fragment in body["errorDesc"]


@pytest.mark.parametrize(
    "key, ok",
    [
        ("Usage_Id__gc", True),  # STRING
        ("Contact__gc", True),  # EMAIL
        ("Logins__gc", True),  # NUMBER
        ("Gsid", True),  # GSID
        ("Adoption__gc", False),  # PERCENTAGE
        ("Last_Login__gc", False),  # DATETIME
        ("Notes__gc", False),  # RICHTEXTAREA
        ("Company__gc", False),  # LOOKUP
    ],
)
def test_rule05_key_types_are_exactly_string_gsid_number_email(custom, capi, key, ok):
    values = {
        "Usage_Id__gc": "u1",
        "Contact__gc": "a@b.com",
        "Logins__gc": 3,
        "Adoption__gc": 50,
        "Last_Login__gc": "2024-01-01T00:00:00Z",
        "Notes__gc": "n",
    }
    [gsid] = custom.seed_records("Usage_Summary__gc", [values])
    record = {key: {**values, "Gsid": gsid}.get(key), "Logins__gc": 3}
    if key == "Company__gc":
        record[key] = None
    resp = capi.update("Usage_Summary__gc", key, [record])
    if ok:
        assert assert_ok(resp)["records"] == [{"Gsid": gsid}]
    else:
        body = assert_error(resp, 400, "GSOBJ_1002")
        assert "use String, GSID, Number or Email" in body["errorDesc"]


def test_rule05_put_without_keys_parameter_is_400(api):
    resp = api.call("PUT", "/v1/data/objects/Company", {"records": [{"Name": "x"}]})
    assert_error(resp, 400, "GSOBJ_1002")


def test_rule05_three_keys_are_anded(gs, api):
    gs.seed_records(
        "Company",
        [
            {"Name": "Acme", "ExternalId": "A", "Employees": 5},
            {"Name": "Acme", "ExternalId": "B", "Employees": 5},
        ],
    )
    data = assert_ok(
        api.update(
            "Company",
            "Name,ExternalId,Employees",
            [{"Name": "Acme", "ExternalId": "B", "Employees": 5, "Arr": 7}],
        )
    )
    assert data["count"] == 1
    arr = {r["ExternalId"]: r["Arr"] for r in gs.records("Company")}
    assert arr == {"A": None, "B": 7}


# -- rule 6 ---------------------------------------------------------------------------------
def test_rule06_whole_call_validation_one_bad_value_writes_nothing(gs, api):
    good = [{"Name": f"C{i}", "RenewalDate": "2025-01-01"} for i in range(49)]
    bad = {"Name": "Bad", "RenewalDate": "01/02/2025"}
    body = assert_error(api.insert("Company", [*good[:20], bad, *good[20:]]), 400, "GSOBJ_1006")
    assert "RenewalDate" in body["errorDesc"]
    assert gs.records("Company") == []
    assert gs.counters()["records_written"] == 0


def test_rule06_whole_call_validation_applies_to_updates(gs, api):
    gs.seed_records("Company", [{"Name": "A", "Arr": 1}, {"Name": "B", "Arr": 2}])
    resp = api.update("Company", "Name", [{"Name": "A", "Arr": 10}, {"Name": "B", "Arr": "x"}])
    assert_error(resp, 400, "GSOBJ_1002")
    assert sorted(r["Arr"] for r in gs.records("Company")) == [1, 2]


# -- rule 7 ---------------------------------------------------------------------------------
def test_rule07_unknown_field_is_rejected(gs, api):
    body = assert_error(api.insert("Company", [{"Name": "A", "Nme": "x"}]), 400, "GSOBJ_1002")
    assert "Nme" in body["errorDesc"]
    assert gs.records("Company") == []


@pytest.mark.parametrize(
    "field", ["Gsid", "CreatedDate", "ModifiedDate", "CreatedBy", "ModifiedBy"]
)
def test_rule07_system_fields_are_not_writable(gs, api, field):
    value = "2024-01-01T00:00:00Z" if "Date" in field else gs.records("GsUser")[0]["Gsid"]
    body = assert_error(api.insert("Company", [{"Name": "A", field: value}]), 400, "GSOBJ_1002")
    assert field in body["errorDesc"] and "not createable" in body["errorDesc"]
    gs.seed_records("Company", [{"Name": "A"}])
    resp = api.update("Company", "Name", [{"Name": "A", field: value}])
    assert field in assert_error(resp, 400, "GSOBJ_1002")["errorDesc"]


def test_rule07_custom_fields_from_objects_file_are_writable(custom, capi):
    assert_ok(capi.insert("Company", [{"Name": "A", "Segment__gc": "SMB"}]))
    assert custom.records("Company")[0]["Segment__gc"] == "SMB"


# -- rule 8 ---------------------------------------------------------------------------------
BAD_VALUES = [
    ("Company", {"ExternalId": "x" * 81}, "GSOBJ_1001"),
    ("Company", {"Name": "x" * 256}, "GSOBJ_1001"),
    ("Company", {"RenewalDate": "2024-02-30"}, "GSOBJ_1006"),
    ("Company", {"RenewalDate": "2024/01/01"}, "GSOBJ_1006"),
    ("Company", {"RenewalDate": "2024-01-01T00:00:00Z"}, "GSOBJ_1006"),
    ("Company", {"RenewalDate": True}, "GSOBJ_1006"),
    ("Usage_Summary__gc", {"Last_Login__gc": "2024-01-01T10:00:00"}, "GSOBJ_1005"),
    ("Usage_Summary__gc", {"Last_Login__gc": "2024-01-01 10:00:00Z"}, "GSOBJ_1005"),
    ("Usage_Summary__gc", {"Last_Login__gc": "2024-01-01"}, "GSOBJ_1005"),
    ("Company", {"Name": None}, "GSOBJ_1007"),
    ("Usage_Summary__gc", {"Usage_Id__gc": None}, "GSOBJ_1007"),
    ("Company", {"Arr": "12abc"}, "GSOBJ_1002"),
    ("Company", {"Arr": True}, "GSOBJ_1002"),
    ("Company", {"Employees": [1]}, "GSOBJ_1002"),
    ("Company", {"Industry": "Sofware"}, "GSOBJ_1002"),
    ("Company", {"Industry": "1I00NOTAGSID"}, "GSOBJ_1002"),
    ("Company", {"Csm": "1P01DOESNOTEXIST"}, "GSOBJ_1002"),
    ("Company", {"Name": 42}, "GSOBJ_1002"),
    ("Usage_Summary__gc", {"Contact__gc": "not-an-email"}, "GSOBJ_1002"),
    ("Usage_Summary__gc", {"Features__gc": "Reports;Nope"}, "GSOBJ_1002"),
    ("GsUser", {"IsActiveUser": "true"}, "GSOBJ_1008"),
    ("GsUser", {"IsActiveUser": 1}, "GSOBJ_1008"),
    ("Usage_Summary__gc", {"Adoption__gc": "high"}, "GSOBJ_1008"),
]


@pytest.mark.parametrize("obj, values, code", BAD_VALUES)
def test_rule08_types_bad_values_get_their_codes(custom, capi, obj, values, code):
    base = {"Company": {"Name": "A"}, "GsUser": {}, "Usage_Summary__gc": {"Usage_Id__gc": "u"}}
    record = {**base[obj], **values}
    body = assert_error(capi.insert(obj, [record]), 400, code)
    assert next(iter(values)) in body["errorDesc"]
    assert custom.records(obj) == ([] if obj != "GsUser" else custom.records("GsUser"))


def test_rule08_types_required_field_missing_on_insert_is_1007(gs, api):
    body = assert_error(api.insert("Company", [{"Arr": 1}]), 400, "GSOBJ_1007")
    assert "Name" in body["errorDesc"]


GOOD_DATETIMES = [
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z"),
    ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123Z"),
    ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z"),
    ("2024-05-01T10:00:00.5+0000", "2024-05-01T10:00:00.500Z"),
    ("2024-05-01T05:30:00.000-0430", "2024-05-01T10:00:00.000Z"),
    (1714557600000, "2024-05-01T10:00:00.000Z"),
]


@pytest.mark.parametrize("value, stored", GOOD_DATETIMES)
def test_rule08_types_datetimes_with_offset_or_epoch_ms_are_accepted(custom, capi, value, stored):
    assert_ok(capi.insert("Usage_Summary__gc", [{"Usage_Id__gc": "u", "Last_Login__gc": value}]))
    assert custom.records("Usage_Summary__gc")[0]["Last_Login__gc"] == stored


def test_rule08_types_good_values_are_stored_normalised(custom, capi):
    data = assert_ok(
        capi.insert(
            "Company",
            [
                {
                    "Name": "Acme",
                    "Arr": "1200.505",
                    "Employees": 12.4,
                    "RenewalDate": 1714521600000,
                    "OriginalContractDate": "2020-02-29",
                    "Industry": "Financial Services",
                    "LifecycleInWeeks": "12",
                    "Csm": custom.records("GsUser")[0]["Gsid"],
                }
            ],
        )
    )
    rec = custom.records("Company")[0]
    assert rec["Gsid"] == data["records"][0]["Gsid"]
    assert rec["Arr"] == 1200.5 or rec["Arr"] == 1200.51
    assert rec["Employees"] == 12
    assert rec["RenewalDate"] == "2024-05-01"
    assert rec["OriginalContractDate"] == "2020-02-29"
    assert rec["Industry"] == "Financial Services"
    assert rec["LifecycleInWeeks"] == 12
    assert rec["Csm"] == custom.records("GsUser")[0]["Gsid"]
    assert_ok(
        capi.insert(
            "Usage_Summary__gc",
            [{"Usage_Id__gc": "u", "Adoption__gc": 45.5, "Features__gc": "Reports;API"}],
        )
    )
    usage = custom.records("Usage_Summary__gc")[0]
    assert usage["Adoption__gc"] == 45.5 and usage["Features__gc"] == "Reports;API"


def test_rule08_types_null_into_nillable_field_clears_it(gs, api):
    gs.seed_records("Company", [{"Name": "A", "Arr": 5}])
    assert_ok(api.update("Company", "Name", [{"Name": "A", "Arr": None}]))
    assert gs.records("Company")[0]["Arr"] is None


# -- rule 9 ---------------------------------------------------------------------------------
def test_rule09_insert_returns_one_gsid_per_record_in_order_with_key_prefix(gs, api, capi):
    data = assert_ok(api.insert("Company", [{"Name": f"C{i}"} for i in range(10)]))
    assert data["count"] == 10 and data["errors"] is None
    gsids = [r["Gsid"] for r in data["records"]]
    assert len(set(gsids)) == 10
    assert all(re.fullmatch(r"1P02[0-9A-Z]{32}", g) for g in gsids)
    assert [r["Gsid"] for r in gs.records("Company")] == gsids
    assert [r["Name"] for r in gs.records("Company")] == [f"C{i}" for i in range(10)]
    more = assert_ok(api.insert("Company", [{"Name": "D"}]))["records"][0]["Gsid"]
    assert more not in gsids


def test_rule09_custom_object_gsids_use_its_key_prefix(capi):
    data = assert_ok(capi.insert("Usage_Summary__gc", [{"Usage_Id__gc": "u1"}]))
    assert data["records"][0]["Gsid"].startswith("1CUS")


# -- rule 10 --------------------------------------------------------------------------------
def test_rule10_update_of_unmatched_keys_reports_gsobj_1011_per_record(gs, api):
    [a] = gs.seed_records("Company", [{"Name": "A", "ExternalId": "a"}])
    data = assert_ok(
        api.update(
            "Company",
            "ExternalId",
            [{"ExternalId": "zz", "Arr": 1}, {"ExternalId": "a", "Arr": 2}],
        )
    )
    assert data == {
        "count": 1,
        "errors": [
            {
                "index": 0,
                "errorCode": "GSOBJ_1011",
                "errorDesc": "No entity matches the given criteria",
            }
        ],
        "records": [None, {"Gsid": a}],
    }
    assert [r["Arr"] for r in gs.records("Company")] == [2]


def test_rule10_update_changes_every_matching_record(gs, api):
    gs.seed_records("Company", [{"Name": "Dup"}, {"Name": "Dup"}, {"Name": "Other"}])
    assert_ok(api.update("Company", "Name", [{"Name": "Dup", "Stage": "Launched"}]))
    stages = [(r["Name"], r["Stage"]) for r in gs.records("Company")]
    assert stages == [("Dup", "Launched"), ("Dup", "Launched"), ("Other", None)]
    assert gs.counters()["records_written"] == 2


def test_rule10_update_by_gsid_key(gs, api):
    [a] = gs.seed_records("Company", [{"Name": "A"}])
    data = assert_ok(api.update("Company", "Gsid", [{"Gsid": a, "Name": "Renamed"}]))
    assert data["records"] == [{"Gsid": a}]
    assert gs.records("Company")[0]["Name"] == "Renamed"


def test_rule10_update_sets_modified_date_not_created_date(gs, api):
    clock = [1_700_000_000.0]
    gs2 = gs.__class__(access_key="k", rate_limit_per_minute=None, clock=lambda: clock[0])
    with gs2:
        gs2.seed_records("Company", [{"Name": "A"}])
        clock[0] += 120
        api2 = Api(gs2, key="k")
        assert_ok(api2.update("Company", "Name", [{"Name": "A", "Arr": 1}]))
        rec = gs2.records("Company")[0]
        assert rec["CreatedDate"] == "2023-11-14T22:13:20.000Z"
        assert rec["ModifiedDate"] == "2023-11-14T22:15:20.000Z"


# -- rule 11 --------------------------------------------------------------------------------
@pytest.fixture
def companies(gs):
    gs.seed_records(
        "Company",
        [
            {"Name": "Acme", "Arr": 100, "Industry": "Software", "RenewalDate": "2024-01-01"},
            {"Name": "Beta", "Arr": 200, "Industry": "Retail", "RenewalDate": "2024-06-01"},
            {"Name": "Gamma", "Arr": 300, "Industry": "Software"},
            {"Name": "delta", "Arr": None, "Industry": "Media", "RenewalDate": "2025-01-01"},
        ],
    )
    return gs


def _where(*conds, expression=None):
    conditions = [
        {"name": n, "alias": chr(65 + i), "value": v, "operator": op}
        for i, (n, op, v) in enumerate(conds)
    ]
    where = {"conditions": conditions}
    if expression:
        where["expression"] = expression
    return where


@pytest.mark.parametrize(
    "cond, names",
    [
        (("Name", "EQ", ["Acme"]), ["Acme"]),
        (("Name", "NE", ["Acme"]), ["Beta", "Gamma", "delta"]),
        (("Name", "IN", ["Acme", "Gamma", "Nope"]), ["Acme", "Gamma"]),
        (("Arr", "BTW", [150, 300]), ["Beta", "Gamma"]),
        (("Arr", "GT", [200]), ["Gamma"]),
        (("Arr", "GTE", [200]), ["Beta", "Gamma"]),
        (("Arr", "LT", [200]), ["Acme"]),
        (("Arr", "LTE", ["200"]), ["Acme", "Beta"]),
        (("Name", "CONTAINS", ["MM"]), ["Gamma"]),
        (("Name", "STARTS_WITH", ["d"]), ["delta"]),
        (("Name", "ENDS_WITH", ["ta"]), ["Beta", "delta"]),
        (("Arr", "IS_NULL", []), ["delta"]),
        (("RenewalDate", "IS_NOT_NULL", []), ["Acme", "Beta", "delta"]),
        (("RenewalDate", "GT", ["2024-03-01"]), ["Beta", "delta"]),
        (("RenewalDate", "LT", [1717200000000]), ["Acme"]),
        (("Industry", "EQ", ["Software"]), ["Acme", "Gamma"]),
    ],
)
def test_rule11_query_operators(companies, api, cond, names):
    rows = assert_ok(api.query("Company", select=["Name"], where=_where(cond), limit=100))
    assert [r["Name"] for r in rows] == names


def test_rule11_query_expression_with_and_or_parentheses(companies, api):
    where = _where(
        ("Industry", "EQ", ["Software"]),
        ("Arr", "GT", [150]),
        ("Name", "EQ", ["delta"]),
        expression="(A AND B) OR C",
    )
    rows = assert_ok(api.query("Company", select=["Name"], where=where))
    assert [r["Name"] for r in rows] == ["Gamma", "delta"]
    where["expression"] = "A and (B or C)"
    rows = assert_ok(api.query("Company", select=["Name"], where=where))
    assert [r["Name"] for r in rows] == ["Gamma"]


def test_rule11_query_returns_dates_as_epoch_ms_and_picklists_as_gsid(companies, api):
    describe = assert_ok(api.call("GET", "/v1/meta/services/objects/Company/describe"))[0]
    industry = next(f for f in describe["fields"] if f["fieldName"] == "Industry")
    software = next(o["value"] for o in industry["options"] if o["label"] == "Software")
    rows = assert_ok(
        api.query(
            "Company",
            select=["Name", "RenewalDate", "Industry", "CreatedDate"],
            where=_where(("Name", "EQ", ["Acme"])),
        )
    )
    assert rows[0]["RenewalDate"] == 1704067200000
    assert rows[0]["Industry"] == software
    assert isinstance(rows[0]["CreatedDate"], int)


def test_rule11_query_order_by_limit_offset(companies, api):
    page = assert_ok(api.query("Company", select=["Name"], orderBy={"Arr": "desc"}, limit=2))
    assert [r["Name"] for r in page] == ["Gamma", "Beta"]
    page2 = assert_ok(
        api.query("Company", select=["Name"], orderBy={"Arr": "desc"}, limit=2, offset=2)
    )
    assert [r["Name"] for r in page2] == ["Acme", "delta"]
    by_name = assert_ok(api.query("Company", select=["Name"], orderBy={"Name": "asc"}))
    assert [r["Name"] for r in by_name] == ["Acme", "Beta", "delta", "Gamma"]
    unordered = assert_ok(api.query("Company", select=["Name"], offset=3))
    assert [r["Name"] for r in unordered] == ["delta"]


@pytest.mark.parametrize("limit", [5001, 0, -1, "10"])
def test_rule11_query_limit_over_5000_is_400(companies, api, limit):
    body = assert_error(api.query("Company", select=["Name"], limit=limit), 400, "GSOBJ_1002")
    assert "limit" in body["errorDesc"]


def test_rule11_query_limit_5000_is_allowed(companies, api):
    assert len(assert_ok(api.query("Company", select=["Name"], limit=5000))) == 4


@pytest.mark.parametrize(
    "where",
    [
        {"conditions": [{"name": "Name", "alias": "A", "value": "Acme", "operator": "EQ"}]},
        {"conditions": [{"name": "Nope", "alias": "A", "value": ["x"], "operator": "EQ"}]},
        {"conditions": [{"name": "Name", "alias": "A", "value": ["x"], "operator": "LIKE"}]},
        {
            "conditions": [{"name": "Name", "alias": "A", "value": ["x"], "operator": "EQ"}],
            "expression": "A AND B",
        },
        {
            "conditions": [{"name": "Name", "alias": "A", "value": ["x"], "operator": "EQ"}],
            "expression": "(A",
        },
    ],
)
def test_rule11_query_invalid_where_is_400(companies, api, where):
    assert_error(api.query("Company", select=["Name"], where=where), 400, "GSOBJ_1002")


def test_rule11_query_unknown_select_field_is_400(companies, api):
    assert (
        "Nope"
        in assert_error(api.query("Company", select=["Nope"]), 400, "GSOBJ_1002")["errorDesc"]
    )


def test_rule11_query_lookup_paths_are_flat_keys(gs, api):
    ava = gs.records("GsUser")[0]
    gs.seed_records("Company", [{"Name": "A", "Csm": ava["Gsid"]}, {"Name": "B"}])
    rows = assert_ok(
        api.query(
            "Company",
            select=["Name", "Csm__gr.Email"],
            where=_where(("Csm__gr.Email", "EQ", ["ava.patel@example.com"])),
        )
    )
    assert rows == [{"Name": "A", "Csm__gr.Email": "ava.patel@example.com"}]


def test_rule11_query_no_match_is_result_true_with_empty_data(companies, api):
    rows = assert_ok(api.query("Company", select=["Name"], where=_where(("Name", "EQ", ["Z"]))))
    assert rows == []


def test_rule11_query_no_match_can_be_the_documented_result_false(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(query_empty_result="error")
    body = Api(gs).query("Company", select=["Name"]).json()
    assert body["result"] is False
    assert body["errorDesc"] == "No data found for given criteria"
    assert body["data"] is None


def test_rule11_query_data_shape_records(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(query_data_shape="records")
    gs.seed_records("Company", [{"Name": "A"}])
    assert assert_ok(Api(gs).query("Company", select=["Name"])) == {"records": [{"Name": "A"}]}


def test_rule11_query_email_eq_is_case_insensitive(gs, api):
    rows = assert_ok(
        api.query(
            "GsUser", select=["Name"], where=_where(("Email", "EQ", ["Ava.Patel@Example.com"]))
        )
    )
    assert rows == [{"Name": "Ava Patel"}]


# -- rule 12 --------------------------------------------------------------------------------
def test_rule12_lookup_resolves_email_to_gsuser_gsid(gs, api):
    ben = next(u for u in gs.records("GsUser") if u["FirstName"] == "Ben")
    data = assert_ok(
        api.insert(
            "Company", [{"Name": "A", "CsmEmail": "ben.okafor@example.com"}], lookups=CSM_LOOKUP
        )
    )
    rec = gs.records("Company")[0]
    assert rec["Gsid"] == data["records"][0]["Gsid"]
    assert rec["Csm"] == ben["Gsid"]
    assert "CsmEmail" not in rec


def test_rule12_lookup_no_match_with_error_fails_the_call_naming_the_field(gs, api):
    records = [
        {"Name": "A", "CsmEmail": "ava.patel@example.com"},
        {"Name": "B", "CsmEmail": "x@y.z"},
    ]
    body = assert_error(api.insert("Company", records, lookups=CSM_LOOKUP), 400, "GSOBJ_1002")
    assert "Csm" in body["errorDesc"]
    assert gs.records("Company") == []


def test_rule12_lookup_no_match_nullable_and_defaultvalue(gs, api):
    ava = gs.records("GsUser")[0]["Gsid"]
    nullable = {"Csm": {**CSM_LOOKUP["Csm"], "onNoMatch": "NULLABLE"}}
    assert_ok(api.insert("Company", [{"Name": "A", "CsmEmail": "x@y.z"}], lookups=nullable))
    default = {"Csm": {**CSM_LOOKUP["Csm"], "onNoMatch": "DEFAULTVALUE", "defaultValue": ava}}
    assert_ok(api.insert("Company", [{"Name": "B", "CsmEmail": "x@y.z"}], lookups=default))
    assert [r["Csm"] for r in gs.records("Company")] == [None, ava]


def test_rule12_lookup_multiple_matches_firstmatch_or_markaserror(gs, api):
    [dup] = gs.seed_records("GsUser", [{"Name": "Ava Two", "Email": "ava.patel@example.com"}])
    ava = gs.records("GsUser")[0]["Gsid"]
    assert_ok(
        api.insert(
            "Company", [{"Name": "A", "CsmEmail": "ava.patel@example.com"}], lookups=CSM_LOOKUP
        )
    )
    assert gs.records("Company")[0]["Csm"] == ava != dup
    strict = {"Csm": {**CSM_LOOKUP["Csm"], "multiMatchOption": "MARKASERROR"}}
    resp = api.insert(
        "Company", [{"Name": "B", "CsmEmail": "ava.patel@example.com"}], lookups=strict
    )
    assert "Csm" in assert_error(resp, 400, "GSOBJ_1002")["errorDesc"]
    assert len(gs.records("Company")) == 1


def test_rule12_lookup_on_update_and_company_self_lookup(gs, api):
    gs.seed_records("Company", [{"Name": "Parent", "ExternalId": "P"}, {"Name": "Child"}])
    lookups = {
        "ParentCompany": {
            "fields": {"ParentExt": "ExternalId"},
            "lookupField": "Gsid",
            "objectName": "Company",
            "multiMatchOption": "FIRSTMATCH",
            "onNoMatch": "ERROR",
        }
    }
    assert_ok(api.update("Company", "Name", [{"Name": "Child", "ParentExt": "P"}], lookups=lookups))
    recs = {r["Name"]: r for r in gs.records("Company")}
    assert recs["Child"]["ParentCompany"] == recs["Parent"]["Gsid"]


def test_rule12_lookup_invalid_declaration_is_400(api):
    bad = {"Csm": {**CSM_LOOKUP["Csm"], "objectName": "Nope"}}
    assert_error(
        api.insert("Company", [{"Name": "A", "CsmEmail": "a@b.c"}], lookups=bad), 400, "GSOBJ_1002"
    )


# -- rule 13 --------------------------------------------------------------------------------
def _people(api, body):
    return api.call("PUT", "/v1/peoplemgmt/v1.0/people", body)


@pytest.mark.parametrize("body", [{"FirstName": "A"}, {"Email": ""}, {"Email": None}])
def test_rule13_people_email_is_required(gs, api, body):
    assert_error(_people(api, body), 400, "GSOBJ_VQP1001")
    assert gs.records("Person") == []


def test_rule13_people_email_is_the_match_key(gs, api):
    first = assert_ok(_people(api, {"Email": "Jo@Example.com", "FirstName": "Jo"}))
    again = assert_ok(_people(api, {"Email": "jo@example.com", "LastName": "Lee"}))
    assert first["action"] == "CREATED" and again["action"] == "UPDATED"
    assert first["Gsid"] == again["Gsid"]
    [p] = gs.records("Person")
    assert (p["FirstName"], p["LastName"]) == ("Jo", "Lee")


def test_rule13_people_type_errors_use_vdt_codes(gs, api):
    assert_error(_people(api, {"Email": "a@b.com", "EmailOptOut": "yes"}), 400, "GSOBJ_VDT1008")
    assert_error(_people(api, {"Email": "not-an-email"}), 400, "GSOBJ_VDT1002")
    assert_error(_people(api, {"Email": "a@b.com", "Nope": 1}), 400, "GSOBJ_VDT1002")
    assert gs.records("Person") == []


def test_rule13_people_companies_create_then_merge_company_person(gs, api):
    acme, beta = gs.seed_records("Company", [{"Name": "Acme"}, {"Name": "Beta"}])
    person = {
        "Email": "a@b.com",
        "companies": [{"Company_ID": acme, "Title": "CTO", "Role": "Buyer"}],
    }
    pid = assert_ok(_people(api, person))["Gsid"]
    person["companies"] = [
        {"Company_ID": acme, "Title": "CEO"},
        {"Company_ID": beta, "Title": "Advisor"},
    ]
    assert_ok(_people(api, person))
    links = sorted(
        (r["Company_ID"], r["Title"], r["Role"], r["Person_ID"])
        for r in gs.records("Company_Person")
    )
    assert links == sorted([(acme, "CEO", "Buyer", pid), (beta, "Advisor", None, pid)])


def test_rule13_people_unknown_company_id_writes_nothing(gs, api):
    [acme] = gs.seed_records("Company", [{"Name": "Acme"}])
    person = {
        "Email": "a@b.com",
        "companies": [{"Company_ID": acme}, {"Company_ID": "1P02NOPE"}],
    }
    body = assert_error(_people(api, person), 400, "GSOBJ_PEOPLE1001")
    assert body["errorDesc"] == "People entities do not exist"
    assert gs.records("Person") == [] and gs.records("Company_Person") == []


def test_rule13_people_relationships_create_relationship_person(gs, api):
    [acme] = gs.seed_records("Company", [{"Name": "Acme"}])
    ptype = gs.records("Relationship_Type")[0]["Gsid"]
    [rel] = gs.seed_records("Relationship", [{"Name": "R", "CompanyId": acme, "TypeId": ptype}])
    body = {"Email": "a@b.com", "relationships": [{"Relationship_ID": rel, "Role": "Champion"}]}
    pid = assert_ok(_people(api, body))["Gsid"]
    [link] = gs.records("Relationship_Person")
    assert (link["Relationship_ID"], link["Company_ID"], link["Person_ID"], link["Role"]) == (
        rel,
        acme,
        pid,
        "Champion",
    )
    body["relationships"] = [{"Relationship_ID": "1P05NOPE"}]
    assert_error(_people(api, body), 400, "GSOBJ_PEOPLE1001")


def test_rule13_people_async_reports_per_index_errors(gs, api):
    [acme] = gs.seed_records("Company", [{"Name": "Acme"}])
    people = [
        {"Email": "a@b.com"},
        {"FirstName": "no email"},
        {"Email": "c@d.com", "companies": [{"Company_ID": "1P02NOPE"}]},
        {"Email": "e@f.com", "companies": [{"Company_ID": acme}]},
    ]
    job = assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", people))
    status = assert_ok(api.call("GET", f"/v1/peoplemgmt/v1.0/people/async/{job['statusId']}"))
    assert (status["total"], status["success"], status["failed"]) == (4, 2, 2)
    assert [(e["index"], e["errorCode"]) for e in status["errors"]] == [
        (1, "GSOBJ_VQP1001"),
        (2, "GSOBJ_PEOPLE1001"),
    ]
    assert sorted(p["Email"] for p in gs.records("Person")) == ["a@b.com", "e@f.com"]


@pytest.mark.parametrize("n", [0, 51])
def test_rule13_people_async_takes_1_to_50(api, n):
    resp = api.call(
        "PUT", "/v1/peoplemgmt/v1.0/people/async", [{"Email": f"{i}@x.com"} for i in range(n)]
    )
    assert resp.status_code == 400 and resp.json()["result"] is False


def test_rule13_people_async_has_its_own_bulk_limit(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(bulk_limit_per_hour=2, rate_limit_per_minute=100)
    api = Api(gs)
    for i in range(2):
        assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", [{"Email": f"{i}@x.com"}]))
    resp = api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", [{"Email": "3@x.com"}])
    assert_error(resp, 429, "GS_APIG_2404")
    assert_ok(api.call("GET", "/v1/meta/services/objects/list"))


def test_rule13_people_async_unknown_status_id(api):
    resp = api.call("GET", "/v1/peoplemgmt/v1.0/people/async/nope")
    assert resp.status_code == 404 and resp.json()["result"] is False


# -- rule 14 --------------------------------------------------------------------------------
def test_rule14_delete_by_gsid(gs, api):
    a, b = gs.seed_records("Company", [{"Name": "A"}, {"Name": "B"}])
    assert_ok(api.call("DELETE", f"/v1/data/objects/Company/{a}"))
    assert [r["Gsid"] for r in gs.records("Company")] == [b]
    body = assert_error(api.call("DELETE", f"/v1/data/objects/Company/{a}"), 400, "GSOBJ_1004")
    assert a in body["errorDesc"]


@pytest.mark.parametrize("gsid", ["nope", "1P01" + "0" * 32, " "])
def test_rule14_delete_unknown_gsid_is_gsobj_1004(gs, api, gsid):
    gs.seed_records("Company", [{"Name": "A"}])
    assert_error(api.call("DELETE", f"/v1/data/objects/Company/{gsid}"), 400, "GSOBJ_1004")
    assert len(gs.records("Company")) == 1


@pytest.mark.parametrize("path", ["/v1/data/objects/Company/", "/v1/data/objects/Company"])
def test_rule14_delete_with_blank_or_missing_gsid_is_gsobj_1004(gs, api, path):
    gs.seed_records("Company", [{"Name": "A"}])
    body = assert_error(api.call("DELETE", path), 400, "GSOBJ_1004")
    assert body["errorDesc"].startswith("Either the Gainsight ID is invalid or missing")
    assert len(gs.records("Company")) == 1
    assert gs.counters()["records_deleted"] == 0


def test_rule14_delete_vanishes_from_query_and_is_counted(gs, api):
    a, b = gs.seed_records("Company", [{"Name": "A"}, {"Name": "B"}])
    assert_ok(api.call("DELETE", f"/v1/data/objects/Company/{a}"))
    assert_error(api.call("DELETE", f"/v1/data/objects/Company/{a}"), 400, "GSOBJ_1004")
    rows = assert_ok(api.query("Company", select=["Gsid", "Name"]))
    assert rows == [{"Gsid": b, "Name": "B"}]
    by_gsid = _where(("Gsid", "EQ", [a]))
    assert assert_ok(api.query("Company", select=["Name"], where=by_gsid)) == []
    counters = gs.counters()
    assert counters["records_deleted"] == 1
    assert counters["by_route"] == {
        "DELETE /v1/data/objects/{object}/{gsid}": 2,
        "POST /v1/data/objects/query/{object}": 2,
    }
    assert counters["by_status"] == {"200": 3, "400": 1}


def test_rule14_deleted_record_no_longer_matches_keys(gs, api):
    [a] = gs.seed_records("Company", [{"Name": "A", "ExternalId": "x"}])
    api.query("Company", select=["Name"], where=_where(("ExternalId", "EQ", ["x"])))
    assert_ok(api.call("DELETE", f"/v1/data/objects/Company/{a}"))
    data = assert_ok(api.update("Company", "ExternalId", [{"ExternalId": "x", "Arr": 1}]))
    assert data["errors"][0]["errorCode"] == "GSOBJ_1011"


# -- rule 15 --------------------------------------------------------------------------------
class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_rule15_rate_limit_fixed_window(gainsight_emulator_factory):
    clock = Clock(1_700_000_040.0)  # 22:14:00 UTC, start of a wall-clock minute
    gs = gainsight_emulator_factory(rate_limit_per_minute=100, daily_limit=50_000, clock=clock)
    api = Api(gs)
    for _ in range(100):
        assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    resp = api.call("GET", "/v1/meta/services/objects/list")
    body = assert_error(resp, 429, "GS_APIG_2404")
    assert "Retry-After" not in resp.headers
    assert body["data"] is None
    assert gs.counters()["rate_limited"] == 1
    clock.t += 59.9  # still the same minute
    assert_error(api.insert("Company", [{"Name": "A"}]), 429, "GS_APIG_2404")
    assert gs.records("Company") == []
    clock.t += 0.1  # 22:15:00: a new window, whatever happened in the last one
    assert_ok(api.insert("Company", [{"Name": "A"}]))


def test_rule15_rate_limit_window_is_aligned_to_wall_clock_minutes(gainsight_emulator_factory):
    clock = Clock(1_700_000_099.0)  # 22:14:59
    gs = gainsight_emulator_factory(rate_limit_per_minute=3, clock=clock)
    api = Api(gs)
    for _ in range(3):
        assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 429
    clock.t += 1.0  # one second later is 22:15:00, a fresh window (not a sliding minute)
    for _ in range(3):
        assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 429


def test_rule15_rate_limit_failed_calls_count(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(rate_limit_per_minute=3, clock=Clock(1_700_000_040.0))
    api = Api(gs)
    assert_error(api.insert("Company", []), 400, "GSOBJ_1002")
    assert_error(api.call("GET", "/v1/nope"), 404, "GS_APIG_1000")
    assert_error(api.insert("Company", [{"Name": None}]), 400, "GSOBJ_1007")
    assert_error(api.insert("Company", [{"Name": "A"}]), 429, "GS_APIG_2404")


def test_rule15_rate_limit_daily_cap(gainsight_emulator_factory):
    clock = Clock(1_700_006_400.0)  # 00:00 UTC
    gs = gainsight_emulator_factory(rate_limit_per_minute=100, daily_limit=5, clock=clock)
    api = Api(gs)
    for i in range(5):
        clock.t += 3600
        assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200, i
    clock.t += 3600
    assert_error(api.call("GET", "/v1/meta/services/objects/list"), 429, "GS_APIG_2404")
    clock.t = 1_700_006_400.0 + 86400  # next UTC day
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200


def test_rule15_rate_limit_retry_after_when_configured(gainsight_emulator_factory):
    clock = Clock(1_700_000_040.0 + 45)
    gs = gainsight_emulator_factory(rate_limit_per_minute=1, clock=clock, retry_after=7)
    api = Api(gs)
    api.call("GET", "/v1/meta/services/objects/list")
    assert api.call("GET", "/v1/meta/services/objects/list").headers["Retry-After"] == "7"
    gs.set_limits(retry_after="auto")
    assert api.call("GET", "/v1/meta/services/objects/list").headers["Retry-After"] == "15"


def test_rule15_rate_limit_off_and_changed_at_runtime(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(rate_limit_per_minute=0, daily_limit=0, clock=Clock(0.0))
    api = Api(gs)
    for _ in range(150):
        assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    gs.set_limits(rate_limit_per_minute=150)
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 429


# -- rule 16: where the contract is silent ---------------------------------------------------
def test_rule16_write_without_json_content_type_is_415(gs, api):
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": None}):
        resp = api.s.post(
            gs.url + "/v1/data/objects/Company",
            data=b'{"records": [{"Name": "A"}]}',
            headers=headers,
            timeout=5,
        )
        assert_error(resp, 415, None)
    ok = api.s.post(
        gs.url + "/v1/data/objects/Company",
        data=b'{"records": [{"Name": "A"}]}',
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    assert_ok(ok)
    assert len(gs.records("Company")) == 1


def test_rule16_write_read_or_delete_of_an_unknown_object_is_gsobj_1023(gs, api):
    for resp in (
        api.insert("Nope__gc", [{"Name": "A"}]),
        api.update("Nope__gc", "Name", [{"Name": "A"}]),
        api.query("Nope__gc", select=["Name"]),
        api.call("DELETE", "/v1/data/objects/Nope__gc/1P02X"),
    ):
        body = assert_error(resp, 400, "GSOBJ_1023")
        assert "Nope__gc" in body["errorDesc"]
