"""GainsightClient against the real emulator over HTTP on 127.0.0.1.

Time that the client would wait (backoff, 429 pauses, the rate limiter) is skipped with a
fake clock that advances when the client sleeps; HTTP itself is real.
"""

from __future__ import annotations

import random
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

from dbt_gainsight.emulator import Emulator
from dbt_gainsight.errors import (
    AuthError,
    ConnectionFailed,
    GainsightAPIError,
    RetryableError,
)
from dbt_gainsight.gainsight.client import GainsightClient, lookup_payload
from dbt_gainsight.gainsight.retry import RetryPolicy

KEY = "k"
COMPANY_WRITES = "/v1/data/objects/Company"  # not a substring of the query path


class SkipTime:
    """Real time plus whatever the client 'slept' (without sleeping).

    Threads sleeping at once overlap, as in real time: a sleep moves the clock to the
    sleeper's last reading plus the delay, unless another sleeper already moved it further.
    """

    def __init__(self, start: float = 1_800_000_000.0):
        self._lock = threading.Lock()
        self._seen = threading.local()
        self.offset = 0.0
        self.start = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        with self._lock:
            self._seen.value = self.offset
            return self.offset

    def wall(self) -> float:
        return self.start + self.clock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            base = getattr(self._seen, "value", self.offset)
            self.offset = max(self.offset, base + max(0.0, seconds))


@pytest.fixture
def gs():
    with Emulator(access_key=KEY, rate_limit_per_minute=None) as emulator:
        yield emulator


@pytest.fixture
def t():
    return SkipTime()


def make_client(gs, t, **kw):
    kw.setdefault("calls_per_minute", None)
    return GainsightClient(
        gs.url, KEY, clock=t.clock, wall_clock=t.wall, sleep=t.sleep, rng=random.Random(1), **kw
    )


@pytest.fixture
def client(gs, t):
    with make_client(gs, t) as c:
        yield c


def companies(n, prefix="Co"):
    return [{"Name": f"{prefix} {i:03d}", "Arr": 1000 + i, "Employees": i} for i in range(n)]


def batches(records, size=50):
    return [records[i : i + size] for i in range(0, len(records), size)]


def stored(gs, object_name="Company"):
    return {r["Name"]: r for r in gs.records(object_name)}


# --- happy path ------------------------------------------------------------------------


def test_insert_then_update_land(gs, client):
    records = companies(3)
    inserted = client.insert("Company", records, keys=["Name"])
    assert [r.ok for r in inserted] == [True] * 3
    assert all(r.gsid.startswith("1P02") for r in inserted)
    assert len({r.gsid for r in inserted}) == 3

    updated = client.update(
        "Company", [{"Name": "Co 001", "Arr": 5}, {"Name": "Co 002", "Arr": 6.5}], keys=["Name"]
    )
    assert [(r.ok, r.gsid) for r in updated] == [
        (True, inserted[1].gsid),
        (True, inserted[2].gsid),
    ]
    rows = stored(gs)
    assert (rows["Co 000"]["Arr"], rows["Co 001"]["Arr"], rows["Co 002"]["Arr"]) == (1000, 5, 6.5)
    assert rows["Co 001"]["Gsid"] == inserted[1].gsid


def test_lookup_resolved_by_gainsight(gs, client):
    lookups = lookup_payload("Csm", "GsUser", {"CsmEmail": "Email"})
    res = client.insert(
        "Company",
        [{"Name": "Acme", "CsmEmail": "ben.okafor@example.com"}],
        keys=["Name"],
        lookups=lookups,
    )
    assert res[0].ok
    ben = next(u for u in gs.records("GsUser") if u["Email"] == "ben.okafor@example.com")
    assert stored(gs)["Acme"]["Csm"] == ben["Gsid"]


def test_update_of_missing_keys_is_not_found(gs, client):
    client.insert("Company", companies(2), keys=["Name"])
    res = client.update(
        "Company",
        [{"Name": "Co 000", "Arr": 1}, {"Name": "Nobody", "Arr": 2}, {"Name": "Co 001", "Arr": 3}],
        keys=["Name"],
    )
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].not_found and res[1].error_code == "GSOBJ_1011"
    assert not res[0].not_found
    assert stored(gs)["Co 001"]["Arr"] == 3


def test_update_single_missing_record(client):
    (res,) = client.update("Company", [{"Name": "Ghost", "Arr": 2}], keys=["Name"])
    assert not res.ok and res.not_found and res.error_code == "GSOBJ_1011"


# --- isolating bad records -------------------------------------------------------------


def test_one_bad_record_among_120_is_isolated(gs, client):
    gs.inject_fault("reject_value", field="Name", value="Co 077")
    records = companies(120)
    results = [
        r for batch in batches(records) for r in client.insert("Company", batch, keys=["Name"])
    ]
    assert len(results) == 120
    bad = [i for i, r in enumerate(results) if not r.ok]
    assert bad == [77]
    assert results[77].error_code == "GSOBJ_1002"
    assert "Co 077" in results[77].error_message
    rows = stored(gs)
    assert len(rows) == 119 and "Co 077" not in rows
    # 50 -> 25 -> 13 -> 7 -> 4 -> 2 -> 1: a handful of splits, not one call per record
    assert 1 <= client.stats.split_calls <= 7
    assert client.stats.calls < 3 + 2 * 7


def test_locally_invalid_values_fail_the_same_way(gs, client):
    records = companies(4)
    records[2]["Employees"] = "many"
    res = client.insert("Company", records, keys=["Name"])
    assert [r.ok for r in res] == [True, True, False, True]
    assert res[2].error_code.startswith("GSOBJ_")
    assert len(gs.records("Company")) == 3


def test_batch_limit_enforced_before_sending(client):
    with pytest.raises(ValueError):
        client.insert("Company", companies(51), keys=["Name"])
    assert client.insert("Company", [], keys=["Name"]) == []
    assert client.stats.calls == 0


# --- transient failures ----------------------------------------------------------------


def test_503s_on_update_are_retried(gs, client, t):
    client.insert("Company", companies(2), keys=["Name"])
    gs.inject_fault("status", count=2, status=503, path_contains=COMPANY_WRITES)
    res = client.update("Company", [{"Name": "Co 000", "Arr": 9}], keys=["Name"])
    assert res[0].ok
    assert stored(gs)["Co 000"]["Arr"] == 9
    snap = client.stats.snapshot()
    assert snap["server_errors"] == 2 and snap["retries"] == 2
    # seeded full-jitter backoff, never more than the ceilings 1 s and 2 s
    assert len(t.sleeps) == 2 and t.sleeps[0] < 1.0 and t.sleeps[1] < 2.0


def test_503s_on_insert_are_resent(gs, client):
    """A 503 says the service did not take the call, so an insert is safe to resend."""
    gs.inject_fault("status", count=2, status=503, path_contains=COMPANY_WRITES)
    res = client.insert("Company", companies(10), keys=["Name"])
    assert all(r.ok for r in res)
    assert len(gs.records("Company")) == 10
    assert client.stats.server_errors == 2 and client.stats.retries == 2


def test_429s_pause_until_next_window_then_succeed(gs, client, t):
    gs.inject_fault("rate_limit", count=3)
    res = client.insert("Company", companies(5), keys=["Name"])
    assert all(r.ok for r in res)
    assert len(gs.records("Company")) == 5
    assert client.stats.rate_limited == 3 and client.stats.retries == 0
    # no Retry-After: each pause runs to just past the next wall-clock minute
    assert t.wall() % 60 < 1.0
    assert t.offset >= 120


def test_429_retry_after_wins(t):
    with Emulator(access_key=KEY, rate_limit_per_minute=None, retry_after=7) as gs:
        gs.inject_fault("rate_limit", count=2)
        with make_client(gs, t) as client:
            assert client.insert("Company", companies(1), keys=["Name"])[0].ok
    assert t.sleeps == [pytest.approx(7.0, abs=0.01), pytest.approx(7.0, abs=0.01)]


def test_lost_reply_on_insert_does_not_duplicate(gs, client):
    gs.inject_fault("lost_reply", method="POST", path_contains=COMPANY_WRITES)
    res = client.insert("Company", companies(5), keys=["Name"])
    assert all(r.ok for r in res)
    rows = gs.records("Company")
    assert len(rows) == 5  # applied once, found by the key query, not sent again
    assert {r.gsid for r in res} == {row["Gsid"] for row in rows}
    writes = [e for e in gs.request_log() if e["method"] == "POST" and "query" not in e["path"]]
    assert len(writes) == 1


def test_timeout_on_update_is_retried(gs, t):
    with make_client(gs, t, timeout=0.3) as client:
        client.insert("Company", companies(1), keys=["Name"])
        gs.inject_fault("timeout", seconds=1.0, path_contains=COMPANY_WRITES)
        res = client.update("Company", [{"Name": "Co 000", "Arr": 1}], keys=["Name"])
        assert res[0].ok
        assert client.stats.timeouts == 1


def test_retries_give_up_after_max_attempts(gs, t):
    with make_client(gs, t, retry=RetryPolicy(max_attempts=3)) as client:
        gs.inject_fault("status", count=5, status=502)
        with pytest.raises(RetryableError):
            client.describe("Company")
        assert client.stats.calls == 3


# --- auth, URL, classification ---------------------------------------------------------


def test_wrong_key_is_auth_error_without_the_key(gs, t):
    secret = "wrong-secret-4c1e9a"
    bad = GainsightClient(gs.url, secret, sleep=t.sleep, clock=t.clock)
    assert secret not in repr(bad)
    for call in (bad.check, lambda: bad.insert("Company", companies(1), keys=["Name"])):
        with pytest.raises(AuthError) as exc:
            call()
        text = "".join(traceback.format_exception(exc.value))
        assert secret not in text and secret not in repr(exc.value)
        assert "GS_APIG_2401" in str(exc.value) and "GAINSIGHT_ACCESS_KEY" in str(exc.value)
    assert bad.stats.retries == 0


def test_check_names_what_is_wrong(gs, client):
    info = client.check()
    assert info["url"] == gs.url and info["objects"] >= 7
    with pytest.raises(ConnectionFailed, match="GAINSIGHT_URL"):
        GainsightClient("http://127.0.0.1:9", KEY).check()  # nothing listens on port 9


def test_html_reply_is_not_gainsight(gs, client):
    gs.inject_fault("html")
    with pytest.raises(ConnectionFailed, match="not as Gainsight's API; check GAINSIGHT_URL"):
        client.check()


def test_describe_and_unknown_object(client):
    schema = client.describe("Company")
    assert schema.key_prefix == "1P02"
    assert schema.field("Name").required and schema.field("Name").length == 255
    assert {o.label for o in schema.field("Industry").picklist} >= {"Software", "Retail"}
    assert client.describe("Company") is schema  # cached
    with pytest.raises(GainsightAPIError, match=r"Gainsight has no object 'Nope__gc'"):
        client.describe("Nope__gc")


# --- reads -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "records"])
@pytest.mark.parametrize("empty", ["empty", "error"])
def test_query_pages_and_shapes(t, shape, empty):
    with Emulator(
        access_key=KEY,
        rate_limit_per_minute=None,
        query_data_shape=shape,
        query_empty_result=empty,
    ) as gs:
        gs.seed_records("Company", companies(120))
        with make_client(gs, t) as client:
            rows = list(client.query("Company", ["Name", "Arr"], page_size=50))
            assert len(rows) == 120 and rows[0].keys() == {"Name", "Arr"}
            assert client.stats.calls == 3
            some = list(
                client.query(
                    "Company",
                    ["Name"],
                    [("Arr", "GTE", [1100]), ("Name", "STARTS_WITH", ["Co 11"])],
                    order_by={"Name": "desc"},
                )
            )
            assert [r["Name"] for r in some] == [f"Co {i}" for i in range(119, 109, -1)]
            assert list(client.query("Company", ["Name"], [("Name", "EQ", ["none"])])) == []


def test_find_gsids_exact_tuples_and_number_normalisation(gs, client):
    gsids = gs.seed_records(
        "Company",
        [
            {"Name": "A", "Employees": 5},
            {"Name": "B", "Employees": 6},
            {"Name": "A2", "Employees": 6},
        ],
    )
    found = client.find_gsids(
        "Company", ["Name", "Employees"], [("A", 5.0), ("B", 6), ("A", 6), ("Z", 1), ("B", None)]
    )
    assert found == {("A", 5.0): gsids[0], ("B", 6): gsids[1]}


def test_find_gsids_chunks_large_key_sets(gs, client):
    gs.seed_records("Company", [{"Name": f"K{i}"} for i in range(1500)])
    keys = [(f"K{i}",) for i in range(0, 2400, 2)]  # 1200 keys: two IN chunks
    found = client.find_gsids("Company", ["Name"], keys)
    assert len(found) == 750
    assert client.stats.calls == 2


# --- people ----------------------------------------------------------------------------


def test_put_person_and_rejections(gs, client):
    acme = gs.seed_records("Company", [{"Name": "Acme"}])[0]
    ok = client.put_person(
        {"Email": "a@example.com", "FirstName": "A", "companies": [{"Company_ID": acme}]}
    )
    assert ok.ok and ok.gsid.startswith("1C01")
    again = client.put_person({"Email": "a@example.com", "LastName": "B"})
    assert again.gsid == ok.gsid  # matched by Email
    bad = client.put_person({"Email": "b@example.com", "companies": [{"Company_ID": "1P02NOPE"}]})
    assert not bad.ok and bad.error_code == "GSOBJ_PEOPLE1001"
    assert len(gs.records("Person")) == 1


def test_people_async(gs, client):
    status_id = client.put_people_async([{"Email": "x@example.com"}, {"Email": ""}])
    status = client.people_async_status(status_id)
    assert status["statusId"] == status_id
    assert status["failed"] == 1 and status["success"] == 1


# --- concurrency and the rate limiter --------------------------------------------------


def test_threads_share_one_client(gs, client):
    records = companies(400)
    with ThreadPoolExecutor(4) as pool:
        results = [
            r
            for part in pool.map(
                lambda b: client.insert("Company", b, keys=["Name"]), batches(records)
            )
            for r in part
        ]
    assert len(results) == 400 and all(r.ok for r in results)
    assert len(gs.records("Company")) == 400
    assert client.stats.calls == 8 and client.stats.records_sent == 400


def test_limiter_keeps_fixed_windows_under_the_limit():
    """Emulator windows and the client limiter on the same (skipping) clock: no 429 at all."""
    t = SkipTime(start=1_800_000_000.37)  # windows not aligned with the client's start
    with Emulator(access_key=KEY, rate_limit_per_minute=10, clock=t.wall) as gs:
        with make_client(gs, t, calls_per_minute=10) as client:
            for batch in batches(companies(35 * 5), size=5):
                assert all(r.ok for r in client.insert("Company", batch, keys=["Name"]))
            assert client.stats.rate_limited == 0
            assert gs.counters()["rate_limited"] == 0
            assert len(gs.records("Company")) == 175
            # 35 calls at 10 a minute: 10 + 10 + 10 + 5, three full-window waits
            assert 180 <= t.offset < 181
            assert client.limiter.waited_seconds == pytest.approx(180, abs=1)


def test_limiter_with_threads_never_overflows_a_window():
    # With threads, a fake sleep can jump the clock while other calls are in flight, so
    # only the safety property is checked here (exact pacing is in the unit tests).
    t = SkipTime(start=1_800_000_000.37)
    with Emulator(access_key=KEY, rate_limit_per_minute=10, clock=t.wall) as gs:
        with make_client(gs, t, calls_per_minute=10, max_in_flight=4) as client:
            # A jump of the fake clock can land while a call is in flight, so in fake time a
            # request may "take" a minute to arrive: the sliding window, holding slots until
            # the reply, as if the transit bound (a real-time assumption, see ratelimit.py)
            # were unbounded.
            client.limiter.fixed_windows = False
            client.limiter.transit = float("inf")
            with ThreadPoolExecutor(4) as pool:
                parts = pool.map(
                    lambda b: client.insert("Company", b, keys=["Name"]),
                    batches(companies(30 * 5), size=5),
                )
                assert all(r.ok for part in parts for r in part)
            assert client.stats.rate_limited == 0
            assert gs.counters()["rate_limited"] == 0
            assert len(gs.records("Company")) == 150


def test_unlimited_client_recovers_from_server_limit():
    t = SkipTime(start=1_800_000_000.0)
    with Emulator(access_key=KEY, rate_limit_per_minute=10, clock=t.wall) as gs:
        with make_client(gs, t, calls_per_minute=None) as client:
            for batch in batches(companies(25 * 2), size=2):
                assert all(r.ok for r in client.insert("Company", batch, keys=["Name"]))
            assert client.stats.rate_limited >= 2
            assert len(gs.records("Company")) == 50


def test_redirects_are_never_followed(t):
    """A real server answering 301: the key must not be sent to the Location."""
    import http.server

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(301)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ConnectionFailed, match="redirect .* http://127.0.0.1:1/elsewhere"):
            GainsightClient(url, KEY, sleep=t.sleep).check()
        assert seen == ["/v1/meta/services/objects/list"]
    finally:
        server.shutdown()
        server.server_close()


def test_client_config_errors():
    from dbt_gainsight.errors import ConfigError

    with pytest.raises(ConfigError, match="GAINSIGHT_URL"):
        GainsightClient("acme.gainsightcloud.com", KEY)
    with pytest.raises(ConfigError, match="GAINSIGHT_ACCESS_KEY"):
        GainsightClient("https://acme.gainsightcloud.com", "")
    c = GainsightClient("https://acme.gainsightcloud.com/v1/", "secret-xyz")
    assert c.base_url == "https://acme.gainsightcloud.com"
    assert "secret-xyz" not in repr(c)
    assert lookup_payload("Csm", "GsUser", {"CsmEmail": "Email"}, on_no_match="NULLABLE") == {
        "Csm": {
            "fields": {"CsmEmail": "Email"},
            "lookupField": "Gsid",
            "objectName": "GsUser",
            "multiMatchOption": "FIRSTMATCH",
            "onNoMatch": "NULLABLE",
        }
    }
    with pytest.raises(ValueError):
        lookup_payload("Csm", "GsUser", {"a": "b"}, multi_match="ANY")
