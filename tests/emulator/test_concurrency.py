"""Many clients at once: every write lands exactly once and counters stay exact."""

from __future__ import annotations

import threading

from tests.emulator.gs_helpers import Api, assert_ok

THREADS = 12
CALLS = 10


def test_concurrent_inserts_and_updates_are_exact(gs):
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        try:
            api = Api(gs)
            barrier.wait()
            for c in range(CALLS):
                records = [
                    {"Name": f"t{t}-c{c}-r{r}", "ExternalId": f"{t}.{c}.{r}"} for r in range(50)
                ]
                data = assert_ok(api.insert("Company", records))
                assert data["count"] == 50
            for c in range(CALLS):
                records = [{"ExternalId": f"{t}.{c}.{r}", "Arr": t * 1000 + c} for r in range(50)]
                data = assert_ok(api.update("Company", "ExternalId", records))
                assert data["errors"] is None
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    records = gs.records("Company")
    assert len(records) == THREADS * CALLS * 50
    assert len({r["Gsid"] for r in records}) == len(records)
    for r in records:
        t, c, _ = map(int, r["ExternalId"].split("."))
        assert r["Arr"] == t * 1000 + c
    counters = gs.counters()
    assert counters["calls"] == THREADS * CALLS * 2
    assert counters["by_status"] == {"200": THREADS * CALLS * 2}
    assert counters["records_written"] == THREADS * CALLS * 100
    assert counters["max_concurrent"] > 1


def test_concurrent_calls_against_the_rate_limit_admit_exactly_the_limit(
    gainsight_emulator_factory,
):
    gs = gainsight_emulator_factory(rate_limit_per_minute=100, clock=lambda: 1_700_000_040.0)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        api = Api(gs)
        for _ in range(15):
            code = api.call("GET", "/v1/meta/services/objects/list").status_code
            with lock:
                statuses.append(code)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert statuses.count(200) == 100 and statuses.count(429) == 50
    assert gs.counters()["rate_limited"] == 50
