"""--state-file: records survive a restart; Gsids keep resolving; reset clears the file."""

from __future__ import annotations

from dbt_gainsight.emulator import Emulator
from tests.emulator.gs_helpers import Api, assert_ok


def test_records_survive_restart(tmp_path):
    state = tmp_path / "state.sqlite"
    with Emulator(access_key="k", rate_limit_per_minute=None, state_file=state) as gs:
        api = Api(gs, key="k")
        gsids = [
            r["Gsid"]
            for r in assert_ok(
                api.insert("Company", [{"Name": "A", "ExternalId": "a"}, {"Name": "B"}])
            )["records"]
        ]
        assert_ok(
            api.update(
                "Company",
                "ExternalId",
                [{"ExternalId": "a", "Stage": "Launched", "RenewalDate": "2025-01-31"}],
            )
        )
        assert_ok(api.call("DELETE", f"/v1/data/objects/Company/{gsids[1]}"))
        assert_ok(api.call("PUT", "/v1/peoplemgmt/v1.0/people", {"Email": "p@x.com"}))
        before = {o: gs.records(o) for o in ("Company", "GsUser", "Person", "Relationship_Type")}
    with Emulator(access_key="k", rate_limit_per_minute=None, state_file=state) as gs:
        after = {o: gs.records(o) for o in before}
        assert after == before
        api = Api(gs, key="k")
        data = assert_ok(api.update("Company", "Gsid", [{"Gsid": gsids[0], "Arr": 9}]))
        assert data["records"] == [{"Gsid": gsids[0]}]
        new = assert_ok(api.insert("Company", [{"Name": "C"}]))["records"][0]["Gsid"]
        assert new not in gsids  # a deleted record's Gsid is never reused
        assert len(gs.records("GsUser")) == 5  # not seeded twice
    with Emulator(access_key="k", state_file=state) as gs:
        assert [r["Name"] for r in gs.records("Company")] == ["A", "C"]
        assert gs.records("Company")[0]["Arr"] == 9
        gs.reset()
        assert gs.records("Company") == []
    with Emulator(access_key="k", state_file=state) as gs:
        assert gs.records("Company") == [] and len(gs.records("GsUser")) == 5


def test_failed_write_leaves_state_file_untouched(tmp_path):
    state = tmp_path / "s.sqlite"
    with Emulator(access_key="k", state_file=state) as gs:
        api = Api(gs, key="k")
        resp = api.insert("Company", [{"Name": "A"}, {"Name": "B", "RenewalDate": "nope"}])
        assert resp.status_code == 400
    with Emulator(access_key="k", state_file=state) as gs:
        assert gs.records("Company") == []


def test_stop_closes_keep_alive_connections_and_frees_the_port():
    gs = Emulator(access_key="k").start()
    port = gs.port
    api = Api(gs, key="k")
    assert_ok(api.call("GET", "/v1/meta/services/objects/list"))  # leaves a keep-alive socket
    gs.stop()
    with Emulator(access_key="k", port=port) as again:
        assert_ok(Api(again, key="k").call("GET", "/v1/meta/services/objects/list"))
