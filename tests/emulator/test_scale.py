"""Large objects: PUT by key and EQ/IN queries use the hash index, not a scan per record."""

from __future__ import annotations

import time

from tests.emulator.gs_helpers import Api, assert_ok

N = 200_000


def test_put_by_key_into_a_large_object_is_fast(gs):
    gs.seed_records("Company", ({"Name": f"C{i}", "ExternalId": f"E{i}"} for i in range(N)))
    api = Api(gs)
    # The first use of ExternalId as a key builds its index once.
    assert_ok(api.update("Company", "ExternalId", [{"ExternalId": "E0", "Arr": 0}]))
    started = time.perf_counter()
    for batch in range(20):
        records = [{"ExternalId": f"E{batch * 5000 + i * 97}", "Arr": batch} for i in range(50)]
        data = assert_ok(api.update("Company", "ExternalId", records))
        assert data["errors"] is None
    per_call = (time.perf_counter() - started) / 20
    assert per_call < 0.05, per_call  # a scan per record would be ~50 x 200k comparisons
    ids = [f"E{i}" for i in range(0, N, N // 100)]
    rows = assert_ok(
        api.query(
            "Company",
            select=["ExternalId", "Gsid"],
            where={
                "conditions": [{"name": "ExternalId", "alias": "A", "value": ids, "operator": "IN"}]
            },
            limit=5000,
        )
    )
    assert sorted(r["ExternalId"] for r in rows) == sorted(ids)
    # the index follows updates of the key field itself
    assert_ok(api.update("Company", "ExternalId", [{"ExternalId": "E1", "Name": "renamed"}]))
    rows = assert_ok(
        api.query(
            "Company",
            select=["Name"],
            where={
                "conditions": [
                    {"name": "Name", "alias": "A", "value": ["renamed"], "operator": "EQ"}
                ]
            },
        )
    )
    assert rows == [{"Name": "renamed"}]
