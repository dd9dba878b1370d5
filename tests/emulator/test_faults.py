"""Injected faults: each fails the way a real network or gateway does, and says what was applied."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.gs_helpers import Api, assert_error, assert_ok


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_fails_next_calls_and_applies_nothing(gs, api, status):
    gs.inject_fault("status", count=2, status=status)
    for _ in range(2):
        assert_error(api.insert("Company", [{"Name": "A"}]), status, None)
    assert gs.records("Company") == []
    assert_ok(api.insert("Company", [{"Name": "A"}]))
    assert gs.counters()["by_status"] == {str(status): 2, "200": 1}


def test_status_fault_can_carry_a_code_like_a_failed_delete(gs, api):
    [gsid] = gs.seed_records("Company", [{"Name": "A"}])
    gs.inject_fault("status", status=500, code="GSOBJ_1003", desc="Failed to delete data")
    path = f"/v1/data/objects/Company/{gsid}"
    body = assert_error(api.call("DELETE", path), 500, "GSOBJ_1003")
    assert body["errorDesc"] == "Failed to delete data"
    assert len(gs.records("Company")) == 1  # nothing applied: the delete can be sent again
    assert_ok(api.call("DELETE", path))
    assert gs.records("Company") == []


def test_rate_limit_fault_answers_429_gs_apig_2404(gs, api):
    gs.inject_fault("rate_limit", count=3)
    for _ in range(3):
        assert_error(api.insert("Company", [{"Name": "A"}]), 429, "GS_APIG_2404")
    assert_ok(api.insert("Company", [{"Name": "A"}]))
    assert gs.counters()["rate_limited"] == 3
    assert len(gs.records("Company")) == 1


def test_drop_fault_closes_without_reply_and_applies_nothing(gs, api):
    gs.inject_fault("drop")
    with pytest.raises(requests.ConnectionError):
        api.insert("Company", [{"Name": "A"}])
    assert gs.records("Company") == []
    assert_ok(api.insert("Company", [{"Name": "B"}]))


def test_lost_reply_fault_applies_the_write_then_drops(gs, api):
    gs.inject_fault("lost_reply")
    with pytest.raises(requests.ConnectionError):
        api.insert("Company", [{"Name": "A"}])
    assert [r["Name"] for r in gs.records("Company")] == ["A"]
    assert gs.counters()["records_written"] == 1


def test_timeout_fault_delays_then_replies_without_applying(gs, api):
    gs.inject_fault("timeout", seconds=0.3)
    started = time.monotonic()
    resp = api.insert("Company", [{"Name": "A"}])
    assert time.monotonic() - started >= 0.3
    assert_error(resp, 504, None)
    assert gs.records("Company") == []


def test_timeout_fault_trips_a_client_timeout(gs, api):
    gs.inject_fault("timeout", seconds=5)
    with pytest.raises(requests.Timeout):
        api.s.post(
            gs.url + "/v1/data/objects/Company", json={"records": [{"Name": "A"}]}, timeout=0.2
        )
    assert gs.records("Company") == []


def test_html_fault_is_a_200_html_page(gs, api):
    gs.inject_fault("html")
    resp = api.insert("Company", [{"Name": "A"}])
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        resp.json()
    assert gs.records("Company") == []


def test_reject_value_fails_any_write_holding_the_value_until_reset(gs, api):
    gs.inject_fault("reject_value", field="Name", value="Poison")
    records = [{"Name": "Good"}, {"Name": "Poison"}]
    for _ in range(2):
        body = assert_error(api.insert("Company", records), 400, "GSOBJ_1002")
        assert "Name" in body["errorDesc"]
    assert_ok(api.insert("Company", records[:1]))
    assert_error(
        api.call("PUT", "/v1/peoplemgmt/v1.0/people", {"Email": "a@b.com", "Name": "Poison"}),
        400,
        "GSOBJ_1002",
    )
    gs.reset(data=False, counters=False)  # counters-only reset keeps faults
    gs.reset(data=True, counters=False)
    assert_ok(api.insert("Company", records))


def test_faults_can_target_a_method_or_path(gs, api):
    gs.inject_fault("status", status=503, method="PUT")
    assert_ok(api.insert("Company", [{"Name": "A"}]))
    assert_error(api.update("Company", "Name", [{"Name": "A", "Arr": 1}]), 503, None)
    gs.inject_fault("status", status=500, path_contains="/query/")
    assert_ok(api.insert("Company", [{"Name": "B"}]))
    assert_error(api.query("Company", select=["Name"]), 500, None)


def test_random_faults_are_seeded_and_reproducible(gainsight_emulator_factory):
    outcomes = []
    for _ in range(2):
        gs = gainsight_emulator_factory()
        gs.set_random_faults(rate=0.3, kinds=("status", "rate_limit"), seed=7)
        api = Api(gs)
        outcomes.append(
            [api.call("GET", "/v1/meta/services/objects/list").status_code for _ in range(40)]
        )
    assert outcomes[0] == outcomes[1]
    assert {500, 429} <= set(outcomes[0]) and 200 in outcomes[0]
    failed = sum(s != 200 for s in outcomes[0])
    assert 4 <= failed <= 20
    gs.set_random_faults(rate=0)
    assert all(
        api.call("GET", "/v1/meta/services/objects/list").status_code == 200 for _ in range(20)
    )


def test_unknown_fault_kind_is_refused(gs):
    with pytest.raises(ValueError):
        gs.inject_fault("explode")
    with pytest.raises(ValueError):
        gs.inject_fault("reject_value", field="Name")


def test_latency_is_added_to_each_reply(gainsight_emulator_factory):
    gs = gainsight_emulator_factory(latency_ms=50, latency_jitter_ms=20, seed=3)
    api = Api(gs)
    started = time.monotonic()
    for _ in range(3):
        api.call("GET", "/v1/meta/services/objects/list")
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.6


# -- faults for the client's trust tests ---------------------------------------------------
def _post_fault(gs, **body) -> None:
    resp = requests.post(gs.url + "/__emulator__/faults", json=body, timeout=5)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("over_http", [False, True])
def test_slow_apply_lands_after_the_client_gave_up_then_replies_late(gs, api, over_http):
    params = {"apply_after": 0.4, "reply_after": 0.8, "method": "POST"}
    if over_http:
        _post_fault(gs, kind="slow_apply", **params)
    else:
        gs.inject_fault("slow_apply", **params)
    assert_ok(api.query("Company", select=["Name"]))  # a read is not a write: not hit
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.s.post(
            gs.url + "/v1/data/objects/Company", json={"records": [{"Name": "A"}]}, timeout=0.2
        )
    assert gs.records("Company") == []  # the client gave up; nothing there yet
    time.sleep(0.4)
    assert [r["Name"] for r in gs.records("Company")] == ["A"]  # ... then it lands
    assert gs.counters()["records_written"] == 1
    # with a patient client the late reply is the normal success
    gs.inject_fault("slow_apply", apply_after=0.1, reply_after=0.3)
    data = assert_ok(api.insert("Company", [{"Name": "B"}]))
    assert time.monotonic() - started >= 0.3 and data["records"][0]["Gsid"].startswith("1P02")


def test_slow_apply_without_reply_after_never_answers(gs, api):
    gs.inject_fault("slow_apply", apply_after=0.1, path_contains="/Company")
    with pytest.raises(requests.Timeout):
        api.s.put(
            gs.url + "/v1/data/objects/Company?keys=Name",
            json={"records": [{"Name": "A", "Arr": 1}]},
            timeout=0.6,
        )
    assert gs.counters()["by_route"] == {"PUT /v1/data/objects/{object}": 1}


def test_slow_apply_updates_too(gs, api):
    gs.seed_records("Company", [{"Name": "A", "Arr": 1}])
    gs.inject_fault("slow_apply", apply_after=0.2)
    with pytest.raises(requests.Timeout):
        api.s.put(
            gs.url + "/v1/data/objects/Company?keys=Name",
            json={"records": [{"Name": "A", "Arr": 2}]},
            timeout=0.1,
        )
    time.sleep(0.3)
    assert gs.records("Company")[0]["Arr"] == 2


@pytest.mark.parametrize("over_http", [False, True])
def test_trickle_sends_the_body_one_byte_at_a_time(gs, api, over_http):
    if over_http:
        _post_fault(gs, kind="trickle", interval=0.005)
    else:
        gs.inject_fault("trickle", interval=0.005)
    started = time.monotonic()
    # a per-read timeout of 0.5 s never trips: every byte comes within 0.005 s
    resp = api.s.post(
        gs.url + "/v1/data/objects/Company", json={"records": [{"Name": "A"}]}, timeout=0.5
    )
    elapsed = time.monotonic() - started
    assert resp.status_code == 200 and resp.json()["result"] is True
    assert len(resp.content) > 100 and elapsed >= 0.005 * len(resp.content) * 0.9
    assert len(gs.records("Company")) == 1  # the call is applied; only the reply is slow


@pytest.mark.parametrize("over_http", [False, True])
def test_rate_limit_fault_with_retry_after(gs, api, over_http):
    if over_http:
        _post_fault(gs, kind="rate_limit", count=2, retry_after=120)
    else:
        gs.inject_fault("rate_limit", count=2, retry_after=120)
    for _ in range(2):
        resp = api.insert("Company", [{"Name": "A"}])
        assert_error(resp, 429, "GS_APIG_2404")
        assert resp.headers["Retry-After"] == "120"
    assert gs.records("Company") == []
    gs.inject_fault("rate_limit")  # without retry_after: no header (the default settings)
    assert "Retry-After" not in api.insert("Company", [{"Name": "A"}]).headers


@pytest.mark.parametrize("over_http", [False, True])
def test_people_pending_job_stays_pending_then_completes(gs, api, over_http):
    if over_http:
        _post_fault(gs, kind="people_pending", seconds=0.6)
    else:
        gs.inject_fault("people_pending", seconds=0.6)
    assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people", {"Email": "one@x.com"}))  # not hit
    people = [{"Email": "a@x.com"}, {"Email": ""}]
    job = assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", people))
    path = f"/v1/peoplemgmt/v1.0/people/async/{job['statusId']}"
    status = assert_ok(api.call("GET", path))
    assert status["status"] == "PENDING" and status["total"] == 2 and status["success"] == 0
    assert [p["Email"] for p in gs.records("Person")] == ["one@x.com"]
    deadline = time.monotonic() + 5
    while assert_ok(api.call("GET", path))["status"] == "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = assert_ok(api.call("GET", path))
    assert status["status"] == "COMPLETED" and status["success"] == 1 and status["failed"] == 1
    assert status["errors"][0]["index"] == 1
    assert sorted(p["Email"] for p in gs.records("Person")) == ["a@x.com", "one@x.com"]
    assert gs.counters()["records_written"] == 2


def test_pending_people_job_is_cancelled_by_reset(gs, api):
    gs.inject_fault("people_pending", seconds=0.3)
    assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people/async", [{"Email": "a@x.com"}]))
    gs.reset()
    time.sleep(0.5)
    assert gs.records("Person") == []


@pytest.mark.parametrize(
    "kind, params",
    [
        ("slow_apply", {"apply_after": 2, "reply_after": 1}),
        ("slow_apply", {"apply_after": -1}),
        ("trickle", {"interval": 0}),
        ("people_pending", {"seconds": "soon"}),
        ("rate_limit", {"retry_after": -5}),
    ],
)
def test_bad_fault_parameters_are_refused_when_injected(gs, kind, params):
    with pytest.raises(ValueError):
        gs.inject_fault(kind, **params)
    resp = requests.post(gs.url + "/__emulator__/faults", json={"kind": kind, **params}, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]
