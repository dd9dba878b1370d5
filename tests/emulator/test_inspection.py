"""The /__emulator__/ routes and their Python twins: never keyed, counted or rate-limited."""

from __future__ import annotations

import os

import requests

from tests.emulator.gs_helpers import Api, assert_ok


def _get(gs, path):
    resp = requests.get(gs.url + "/__emulator__" + path, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _post(gs, path, body):
    resp = requests.post(gs.url + "/__emulator__" + path, json=body, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_records_show_stored_values(gs, api):
    gs.set_limits(rate_limit_per_minute=None)
    assert_ok(
        api.insert(
            "Company",
            [{"Name": "Acme", "RenewalDate": "2024-05-01", "Stage": "Launched", "Arr": 5}],
        )
    )
    [rec] = _get(gs, "/records/Company")
    assert rec == gs.records("Company")[0]
    assert rec["RenewalDate"] == "2024-05-01"
    assert rec["Stage"] == "Launched"
    assert rec["CreatedDate"].endswith("Z") and "T" in rec["CreatedDate"]
    assert rec["CreatedBy"] == gs.records("GsUser")[0]["Gsid"]


def test_seeded_objects_match_the_docs(gs):
    users = gs.records("GsUser")
    assert [(u["Name"], u["Email"]) for u in users] == [
        ("Ava Patel", "ava.patel@example.com"),
        ("Ben Okafor", "ben.okafor@example.com"),
        ("Chloe Martin", "chloe.martin@example.com"),
        ("Diego Alvarez", "diego.alvarez@example.com"),
        ("Emma Johansson", "emma.johansson@example.com"),
    ]
    assert [t["Name"] for t in gs.records("Relationship_Type")] == [
        "Product Line",
        "Subsidiary",
        "Business Unit",
    ]
    assert all(u["Gsid"].startswith("1P01") for u in users)


def test_counters_and_log_are_not_api_calls(gs, api):
    api.insert("Company", [{"Name": "A"}, {"Name": "B"}])
    api.query("Company", select=["Name"])
    Api(gs, key="bad").call("GET", "/v1/meta/services/objects/list")
    for _ in range(3):
        _get(gs, "/counters")
        _get(gs, "/log")
        _get(gs, "/records/Company")
    counters = _get(gs, "/counters")
    assert counters == gs.counters()
    assert counters["calls"] == 3
    assert counters["by_route"] == {
        "POST /v1/data/objects/{object}": 1,
        "POST /v1/data/objects/query/{object}": 1,
        "GET /v1/meta/services/objects/list": 1,
    }
    assert counters["by_status"] == {"200": 2, "401": 1}
    assert counters["records_written"] == 2
    assert counters["rate_limited"] == 0
    assert counters["max_concurrent"] == 1
    log = _get(gs, "/log")
    assert [(e["method"], e["path"], e["status"], e["records"]) for e in log] == [
        ("POST", "/v1/data/objects/Company", 200, 2),
        ("POST", "/v1/data/objects/query/Company", 200, 2),
        ("GET", "/v1/meta/services/objects/list", 401, 0),
    ]
    assert log == gs.request_log()
    assert all(isinstance(e["time"], float) for e in log)


def test_inspection_is_not_rate_limited(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(rate_limit_per_minute=1)
    for _ in range(5):
        _get(gs, "/counters")
    assert Api(gs).call("GET", "/v1/meta/services/objects/list").status_code == 200


def test_reset_over_http(gs, api):
    api.insert("Company", [{"Name": "A"}])
    _post(gs, "/reset", {"data": False, "counters": True})
    assert gs.counters()["calls"] == 0 and len(gs.records("Company")) == 1
    _post(gs, "/reset", {"data": True, "counters": False})
    assert gs.records("Company") == [] and len(gs.records("GsUser")) == 5


def test_reset_makes_old_gsids_unknown(gs, api):
    [old] = gs.seed_records("Company", [{"Name": "A"}])
    gs.reset()
    [new] = gs.seed_records("Company", [{"Name": "A"}])
    assert old != new
    assert api.call("DELETE", f"/v1/data/objects/Company/{old}").json()["errorCode"] == "GSOBJ_1004"


def test_faults_and_limits_over_http(gs, api):
    _post(gs, "/faults", {"kind": "status", "count": 1, "status": 502})
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 502
    _post(gs, "/limits", {"rate_limit_per_minute": 4})  # the 502 above counted too
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 200
    assert api.call("GET", "/v1/meta/services/objects/list").status_code == 429
    _post(gs, "/limits", {"rate_limit_per_minute": None})
    _post(gs, "/faults", {"kind": "reject_value", "field": "Name", "value": "X"})
    _post(gs, "/faults", {"kind": "status", "count": 5, "status": 500})
    _post(gs, "/faults", {"kind": "clear"})  # every fault, including reject_value, is gone
    assert_ok(api.insert("Company", [{"Name": "X"}]))
    bad = requests.post(gs.url + "/__emulator__/faults", json={"kind": "nope"}, timeout=5)
    assert bad.status_code == 400 and "nope" in bad.json()["error"]


def test_seed_over_http(gs):
    out = _post(gs, "/records/Company", [{"Name": "A"}, {"Name": "B"}])
    assert [r["Gsid"] for r in gs.records("Company")] == out["gsids"]


def test_unknown_inspection_route_is_404(gs):
    resp = requests.get(gs.url + "/__emulator__/nope", timeout=5)
    assert resp.status_code == 404


def test_health_names_the_process_and_checks_the_key_without_counting(gs):
    ok = requests.get(gs.url + "/__emulator__/health", headers={"accesskey": "test-key"}, timeout=5)
    bad = requests.get(gs.url + "/__emulator__/health", timeout=5)
    assert ok.json() == {"emulator": "dbt-gainsight", "pid": os.getpid(), "access_key_ok": True}
    assert bad.status_code == 200 and bad.json()["access_key_ok"] is False
    assert gs.counters()["calls"] == 0
