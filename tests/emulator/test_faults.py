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
