"""The client's promises under lost replies, interruption, slow servers and odd keys (issue 9).

Each test runs against the emulator (or a tiny local server) over real HTTP and checks what
Gainsight stored, not only the result objects.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from random import Random

import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from dbt_gainsight.config.connections import Connection
from dbt_gainsight.emulator import Emulator
from dbt_gainsight.errors import (
    ConnectionFailed,
    GainsightAPIError,
    OutcomeUnknown,
    SyncInterrupted,
)
from dbt_gainsight.gainsight import sessions
from dbt_gainsight.gainsight.client import GainsightClient, RecordStatus, client_for
from dbt_gainsight.gainsight.retry import RetryPolicy
from tests.integration.test_client_emulator import KEY, SkipTime, batches, companies, make_client

COMPANY_WRITES = "/v1/data/objects/Company"  # not a substring of the query path
ACCEPTED, FAILED = RecordStatus.ACCEPTED, RecordStatus.FAILED


@pytest.fixture
def gs():
    with Emulator(access_key=KEY, rate_limit_per_minute=None) as emulator:
        yield emulator


@pytest.fixture
def t():
    return SkipTime()


# --- sessions (#19) -------------------------------------------------------------------------


def test_sessions_are_pooled_across_executors_and_closed(gs, t, monkeypatch):
    """Ten models x 4 workers must not leave 40 sessions open until the run ends."""
    made: list[sessions.Session] = []
    closed: list[sessions.Session] = []

    class Counted(sessions.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def close(self):
            closed.append(self)
            super().close()

    monkeypatch.setattr(sessions, "Session", Counted)
    client = make_client(gs, t, max_in_flight=4)
    for model in range(5):  # one executor per model, as the engine does
        records = companies(200, prefix=f"M{model}")
        with ThreadPoolExecutor(4) as pool:
            parts = pool.map(lambda b: client.insert("Company", b, keys=["Name"]), batches(records))
            assert all(r.ok for part in parts for r in part)
    assert len(gs.records("Company")) == 1000
    assert 1 <= len(made) <= 4, f"{len(made)} sessions for 4 calls in flight at most"
    client.close()
    assert set(closed) >= set(made)


# --- cancellation (#7) ----------------------------------------------------------------------


def test_cancel_during_backoff_stops_without_another_call(gs, t):
    cancel = threading.Event()

    def sleep(seconds):
        t.sleep(seconds)
        cancel.set()  # Ctrl-C arrives while the client waits to retry

    gs.inject_fault("status", count=5, status=503)
    client = GainsightClient(gs.url, KEY, clock=t.clock, sleep=sleep, cancel=cancel)
    with client, pytest.raises(SyncInterrupted):
        client.describe("Company")
    assert client.stats.calls == 1
    # Once set, no call starts at all.
    with pytest.raises(SyncInterrupted):
        client.insert("Company", companies(1), keys=["Name"])
    assert client.stats.calls == 1 and gs.records("Company") == []


def test_cancel_ends_a_long_429_wait_within_a_second():
    """Retry-After: 120 over real HTTP and real time; Ctrl-C after 0.3 s."""
    with Emulator(access_key=KEY, rate_limit_per_minute=None, retry_after=120) as gs:
        gs.inject_fault("rate_limit", count=1)
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with GainsightClient(gs.url, KEY, cancel=cancel, calls_per_minute=None) as client:
            with pytest.raises(SyncInterrupted):
                client.insert("Company", companies(3), keys=["Name"])
        assert time.monotonic() - started < 1.3
        assert gs.records("Company") == []


def test_cancel_ends_people_polling(gs):
    gs.inject_fault("people_pending", seconds=60)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with GainsightClient(gs.url, KEY, cancel=cancel, calls_per_minute=None) as client:
        with pytest.raises(SyncInterrupted):
            client.put_people_bulk([{"Email": "a@example.com"}], poll_seconds=5)
    assert time.monotonic() - started < 1.3


# --- a deadline per call and a size cap (#15) -----------------------------------------------


class Trickle:
    """A local server that sends ``at_once`` as soon as a request arrived, then ``slowly`` one
    byte every ``interval`` seconds."""

    def __init__(self, at_once: bytes, slowly: bytes = b"", interval: float = 0.5):
        self.at_once, self.slowly, self.interval = at_once, slowly, interval
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.at_once)
                for i in range(len(self.slowly)):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(self.slowly[i : i + 1])
                self.stop.wait(5)
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.sock.close()


BODY = b'{"result": true, "errorCode": null, "data": [], "requestId": "r"}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(part):
    head = HEAD % len(BODY)
    if part == "headers":
        server = Trickle(b"", head + BODY)
    else:
        server = Trickle(head, BODY)
    try:
        client = GainsightClient(
            server.url, KEY, timeout=1.0, call_deadline=2.0, retry=RetryPolicy(max_attempts=1)
        )
        started = time.monotonic()
        with client, pytest.raises(OutcomeUnknown, match="within 2s"):
            client.describe("Company")
        assert time.monotonic() - started < 3.5
    finally:
        server.close()


def test_a_reply_larger_than_the_cap_is_refused():
    big = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n"
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"400\r\n"
        + b" " * 1024
        + b"\r\n"
        + b"400\r\n"
        + b" " * 1024
        + b"\r\n0\r\n\r\n"
    )
    for reply, cap in ((big, 64 * 2**20), (chunked, 1500)):
        server = Trickle(reply)
        try:
            client = GainsightClient(
                server.url, KEY, max_reply_bytes=cap, retry=RetryPolicy(max_attempts=1)
            )
            started = time.monotonic()
            with client, pytest.raises(GainsightAPIError, match="larger than"):
                client.describe("Company")
            assert time.monotonic() - started < 2
        finally:
            server.close()


def test_a_gzip_reply_is_read_and_a_compressed_bomb_is_refused_by_its_decoded_size():
    """The cap counts the bytes Gainsight's reply decodes to, not the bytes on the wire."""
    describe = json.dumps(
        {"result": True, "data": [{"objectName": "Company", "fields": []}], "requestId": "r"}
    ).encode()
    bomb = json.dumps({"result": True, "data": " " * 4_000_000}).encode()
    for body, cap, ok in ((describe, 64 * 2**20, True), (bomb, 1_000_000, False)):
        packed = gzip.compress(body)
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(packed)
        )
        assert len(packed) < cap  # the wire size alone would pass the cap
        server = Trickle(head + packed)
        try:
            client = GainsightClient(
                server.url, KEY, max_reply_bytes=cap, retry=RetryPolicy(max_attempts=1)
            )
            with client:
                if ok:
                    assert client.describe("Company").name == "Company"
                else:
                    with pytest.raises(GainsightAPIError, match="larger than 1,000,000 bytes"):
                        client.describe("Company")
        finally:
            server.close()


class ForwardProxy(http.server.ThreadingHTTPServer):
    """A plain HTTP forward proxy that records what it carried (absolute-URI requests)."""

    def __init__(self):
        self.seen: list[tuple[str, str, str | None]] = []
        super().__init__(("127.0.0.1", 0), self._Handler)
        self.url = f"http://proxyuser:proxy-pass@127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            auth = self.headers.get("Proxy-Authorization")
            self.server.seen.append((self.command, self.path, auth))
            headers = {k: v for k, v in self.headers.items() if not k.startswith("Proxy-")}
            with requests.Session() as session:
                session.trust_env = False  # not through HTTP_PROXY, i.e. this proxy again
                reply = session.request(
                    self.command, self.path, data=body, headers=headers, timeout=10
                )
            self.send_response(reply.status_code)
            self.send_header("Content-Type", reply.headers.get("Content-Type", ""))
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = do_PUT = _forward


def test_a_proxy_named_by_the_environment_carries_every_call(gs, t, monkeypatch):
    """HTTP(S)_PROXY and NO_PROXY mean what they mean to requests; the proxy's password is sent
    as Proxy-Authorization, never to Gainsight."""
    proxy = ForwardProxy()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = make_client(gs, t)
        with client:
            assert all(r.ok for r in client.insert("Company", companies(3), keys=["Name"]))
        assert sorted(r["Name"] for r in gs.records("Company")) == [
            "Co 000",
            "Co 001",
            "Co 002",
        ]
        assert [(m, p.split("?")[0]) for m, p, _ in proxy.seen] == [
            ("POST", gs.url + COMPANY_WRITES)
        ]
        expected = "Basic " + base64.b64encode(b"proxyuser:proxy-pass").decode()
        assert {auth for _, _, auth in proxy.seen} == {expected}

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: straight to Gainsight
        with make_client(gs, t) as direct:
            assert direct.insert("Company", companies(1, prefix="Direct"), keys=["Name"])[0].ok
        assert len(proxy.seen) == 1
        assert len(gs.records("Company")) == 4
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_socks_proxy_without_pysocks_is_one_clear_error(gs, t, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setitem(sys.modules, "urllib3.contrib.socks", None)  # PySocks not installed
    with make_client(gs, t) as client:
        with pytest.raises(
            ConnectionFailed, match=r"SOCKS proxy .* pip install 'requests\[socks\]'"
        ):
            client.describe("Company")
    assert gs.counters()["calls"] == 0


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (openssl), answering describe."""
    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    describe = json.dumps(
        {"result": True, "data": [{"objectName": "Company", "fields": []}], "requestId": "r"}
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(describe)))
            self.end_headers()
            self.wfile.write(describe)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_against_the_ca_bundle_the_environment_names(tls_server, monkeypatch):
    url, ca = tls_server
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    with GainsightClient(url, KEY, retry=RetryPolicy(max_attempts=1)) as client:
        assert client.describe("Company").name == "Company"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the default bundle does not know this CA
    with GainsightClient(url, KEY, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ConnectionFailed, match="TLS failed"):
            client.describe("Company")
    with GainsightClient(url, KEY, verify_tls=False, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.warns(InsecureRequestWarning):  # verify_tls: false, as asked, and said
            assert client.describe("Company").name == "Company"


# --- hooks: every attempt and every wait, never the key -------------------------------------


def test_hooks_see_every_attempt_and_wait_but_never_the_key(t):
    secret = "hook-secret-9f3b2a"
    calls, events = [], []
    with Emulator(access_key=secret, rate_limit_per_minute=None, retry_after=7) as gs:
        gs.inject_fault("status", count=1, status=503, path_contains="/describe")
        gs.inject_fault("rate_limit", count=1, path_contains="/query/")
        gs.inject_fault("lost_reply", count=1, method="POST", path_contains=COMPANY_WRITES)
        client = GainsightClient(
            gs.url,
            secret,
            clock=t.clock,
            wall_clock=t.wall,
            sleep=t.sleep,
            calls_per_minute=None,
            retry=RetryPolicy(max_attempts=3),
            on_call=calls.append,
            on_event=events.append,
        )
        with client:
            client.describe("Company")
            list(client.query("Company", ["Name"]))
            client.insert("Company", companies(2), keys=["Name"])
    kinds = [(e.kind, e.method, e.attempt, e.max_attempts) for e in events]
    assert kinds == [
        ("retry", "GET", 1, 3),
        ("rate_limit_wait", "POST", 1, 3),
        ("outcome_unknown", "POST", 1, 3),
    ]
    assert events[0].status == 503 and events[0].object == "Company"
    assert events[1].wait_seconds == pytest.approx(7) and events[1].status == 429
    statuses = [(c.method, c.status, c.attempt) for c in calls]
    assert statuses[:4] == [("GET", 503, 1), ("GET", 200, 2), ("POST", 429, 1), ("POST", 200, 2)]
    assert calls[4].method == "POST" and calls[4].status is None and calls[4].records == 2
    assert all(c.ms >= 0 and c.started > 1e9 for c in calls)
    assert calls[1].response_body and calls[4].request_body
    text = repr(calls) + repr(events)
    assert secret not in text
    assert all(secret.encode() not in (c.request_body or b"") for c in calls)


# --- unknown outcomes and failures part-way (#1, #2, #5) ------------------------------------


def stored(gs, object_name="Company"):
    return {r["Name"]: r for r in gs.records(object_name)}


def writes_since(gs, start, method):
    log = gs.request_log()[start:]
    return [e for e in log if e["method"] == method and "/query/" not in e["path"]]


def test_update_with_unknown_outcome_is_failed_not_reconciled(gs, t):
    """#1: the key exists either way, so an existence check cannot tell whether a PUT landed."""
    with make_client(gs, t, retry=RetryPolicy(max_attempts=3)) as client:
        client.insert("Company", [{"Name": "Co 000", "Arr": 1}], keys=["Name"])
        start = len(gs.request_log())
        gs.inject_fault("drop", count=3, method="PUT", path_contains=COMPANY_WRITES)
        (res,) = client.update("Company", [{"Name": "Co 000", "Arr": 2}], keys=["Name"])
    assert res.status is RecordStatus.FAILED and not res.ok
    assert stored(gs)["Co 000"]["Arr"] == 1  # Gainsight kept the old value: sent again next run
    assert not any("/query/" in e["path"] for e in gs.request_log()[start:])


def test_what_was_accepted_before_a_failure_part_way_is_accepted(gs, t):
    """#2: a batch split around a bad record, then Gainsight goes away (502s)."""
    client = make_client(gs, t, retry=RetryPolicy(max_attempts=2))
    client.insert("Company", companies(4), keys=["Name"])
    gs.inject_fault("reject_value", field="Name", value="Co 002")
    seen = []

    def on_call(record):
        seen.append(record.status)
        if seen == [400, 200]:  # the first half of the split landed
            gs.inject_fault("status", count=10, status=502, path_contains=COMPANY_WRITES)

    client = make_client(gs, t, retry=RetryPolicy(max_attempts=2), on_call=on_call)
    with client:
        res = client.update(
            "Company", [{"Name": f"Co {i:03d}", "Arr": 9} for i in range(4)], keys=["Name"]
        )
    assert [r.status for r in res] == [ACCEPTED, ACCEPTED, FAILED, FAILED]
    assert all(r.gsid for r in res[:2])
    assert [stored(gs)[f"Co {i:03d}"]["Arr"] for i in range(4)] == [9, 9, 1002, 1003]


def test_insert_with_unknown_outcome_is_never_posted_again(gs, t):
    """#5: the first POST lands after the client gave up on it; a second POST would duplicate."""
    gs.inject_fault(
        "slow_apply", method="POST", path_contains=COMPANY_WRITES, apply_after=0.6, reply_after=None
    )
    start = len(gs.request_log())
    with make_client(gs, t, timeout=0.3) as client:
        res = client.insert("Company", companies(5), keys=["Name"])
    assert [r.status for r in res] == [FAILED] * 5  # next run's existence check decides
    time.sleep(1.0)  # the slow write lands
    names = sorted(r["Name"] for r in gs.records("Company"))
    assert names == [f"Co {i:03d}" for i in range(5)]  # each once
    assert len(writes_since(gs, start, "POST")) == 1


def test_lost_insert_reply_keeps_what_the_key_check_finds(gs, t):
    """#5: existence proves a POST landed (ACCEPTED with its Gsid); nothing is posted again."""
    gs.seed_records("Company", [{"Name": "Co 001"}])
    gs.inject_fault("drop", method="POST", path_contains=COMPANY_WRITES)
    start = len(gs.request_log())
    with make_client(gs, t) as client:
        res = client.insert("Company", companies(3), keys=["Name"])
        assert [r.status for r in res] == [FAILED, ACCEPTED, FAILED]
        assert res[1].gsid == stored(gs)["Co 001"]["Gsid"]
        # A 502 may come after the write happened: the same rule. A 503 says it did not.
        gs.inject_fault("status", status=502, method="POST", path_contains=COMPANY_WRITES)
        assert [r.status for r in client.insert("Company", companies(1, "X"), keys=["Name"])] == [
            FAILED
        ]
        gs.inject_fault("status", status=503, method="POST", path_contains=COMPANY_WRITES)
        assert client.insert("Company", companies(1, "Y"), keys=["Name"])[0].ok
    assert sorted(stored(gs)) == ["Co 001", "Y 000"]
    assert len(writes_since(gs, start, "POST")) == 4  # 1 + 1 + 2 (the 503 retried)


def test_writes_raise_only_auth_and_interrupt(gs, t):
    """Anything else is per-record: FAILED with a reason, the other records unharmed."""
    with make_client(gs, t) as client:
        gs.inject_fault("html", method="POST", path_contains=COMPANY_WRITES)
        res = client.insert("Company", companies(2), keys=["Name"])
        assert [r.status for r in res] == [FAILED, FAILED]
        assert "GAINSIGHT_URL" in res[0].error_message
        records = companies(3)
        records[1]["Arr"] = float("nan")  # cannot be encoded as JSON: only its record fails
        res = client.insert("Company", records, keys=["Name"])
        assert [r.status for r in res] == [ACCEPTED, FAILED, ACCEPTED]
        assert "JSON" in res[1].error_message
        res = client.insert("Company", companies(1, "Z"), keys=[])
        assert res[0].ok
        gs.inject_fault("lost_reply", method="POST", path_contains=COMPANY_WRITES)
        (res,) = client.insert("Company", companies(1, "K"), keys=[])  # no key to check
        assert res.status is FAILED and "no keys" in res.error_message
    assert sorted(stored(gs)) == ["Co 000", "Co 002", "K 000", "Z 000"]


# --- Email keys match case-insensitively, as in Gainsight (#4) ------------------------------


def test_email_keys_are_matched_case_insensitively(gs, t):
    with make_client(gs, t) as client:
        bob = client.put_person({"Email": "bob@example.com", "FirstName": "Bob"}).gsid
        # People are matched by Email, an EMAIL field, even before any describe.
        keys = [("Bob@Example.COM",), ("carol@example.com",)]
        assert client.find_gsids("Person", ["Email"], keys) == {("Bob@Example.COM",): bob}
        dana = gs.seed_records("GsUser", [{"Name": "Dana", "Email": "dana@example.com"}])[0]
        found = client.find_gsids(
            "GsUser", ["Email"], [("DANA@example.com",)], field_types={"Email": "EMAIL"}
        )
        assert found == {("DANA@example.com",): dana}
        # A lost insert reply: the key check finds the record whatever the case.
        client.describe("GsUser")
        gs.inject_fault("drop", method="POST", path_contains="/v1/data/objects/GsUser")
        (res,) = client.insert(
            "GsUser", [{"Name": "D", "Email": "Dana@Example.com"}], keys=["Email"]
        )
        assert res.status is ACCEPTED and res.gsid == dana
        # A String key stays case-sensitive.
        gs.seed_records("Company", [{"Name": "acme"}])
        assert client.find_gsids("Company", ["Name"], [("ACME",)]) == {}
    emails = [u["Email"].casefold() for u in gs.records("GsUser")]
    assert emails.count("dana@example.com") == 1  # no second Dana


# --- a query that matches nothing, said as a whole-call 400 GSOBJ_1011 (#13) ----------------


def test_query_answered_with_400_no_entity_is_no_rows():
    """A stricter variant of the API says "no match" as an error; it is still no rows."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(
                {
                    "result": False,
                    "errorCode": "GSOBJ_1011",
                    "errorDesc": "No entity matches the given criteria",
                    "requestId": "r",
                    "data": None,
                    "message": None,
                }
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with GainsightClient(url, KEY, calls_per_minute=None) as client:
            assert list(client.query("Company", ["Name"], [("Name", "EQ", ["x"])])) == []
            assert client.find_gsids("Company", ["Name"], [("x",)]) == {}
            assert client.stats.calls == 2
    finally:
        server.shutdown()
        server.server_close()


def test_people_paths_fail_per_record_instead_of_raising(gs, t):
    """A job still pending at its timeout, or a call that cannot get through, is FAILED."""
    gs.inject_fault("people_pending", seconds=60)
    with GainsightClient(gs.url, KEY, calls_per_minute=None) as client:
        res = client.put_people_bulk(
            [{"Email": "a@example.com"}, {"Email": "b@example.com"}],
            poll_seconds=0.1,
            timeout_seconds=0.3,
        )
        assert [r.status for r in res] == [FAILED, FAILED]
        assert "still" in res[0].error_message
        gs.inject_fault("html", path_contains="/peoplemgmt/")
        (res,) = [client.put_person({"Email": "c@example.com"})]
        assert res.status is FAILED and "GAINSIGHT_URL" in res.error_message


def test_max_retries_of_the_connection_bounds_the_attempts(gs, t):
    """gainsight.yml's max_retries reaches the client: two retries ride out two 503s (three
    calls, the record stored); with one, the third attempt is never made, nothing is stored."""
    for retries, stored in ((1, 0), (2, 1)):
        gs.reset()
        gs.inject_fault("status", count=2, status=503, path_contains=COMPANY_WRITES)
        conn = Connection("default", gs.url, KEY, calls_per_minute=None, max_retries=retries)
        hooks = {"clock": t.clock, "wall_clock": t.wall, "sleep": t.sleep, "rng": Random(1)}
        with client_for(conn, **hooks) as client:
            [result] = client.insert("Company", companies(1), keys=["Name"])
        assert gs.counters()["calls"] == retries + 1
        assert len(gs.records("Company")) == stored
        assert result.status is (ACCEPTED if stored else FAILED)


def test_a_write_to_an_unknown_object_fails_the_call_without_splitting(gs, t):
    """Whole-call 400 GSOBJ_1023 is about the object, not a record: 1 call, not 2n - 1."""
    with make_client(gs, t) as client:
        res = client.insert("Nope__gc", companies(8), keys=["Name"])
        assert [r.status for r in res] == [FAILED] * 8
        assert res[0].error_code == "GSOBJ_1023"
        assert client.stats.calls == 1 and client.stats.split_calls == 0


# --- the daily call budget (issue 12) --------------------------------------------------------


def test_the_daily_budget_counts_calls_queued_and_in_flight_exactly(gs, t):
    """Eight inserts at once on four threads, a budget with 3 calls left: exactly 3 calls
    reach Gainsight, their 150 records are stored, the other 250 are FAILED and never sent."""
    from dbt_gainsight.sync.budget import DailyBudget

    budget = DailyBudget("default", limit=10, used_before=7)
    client = make_client(gs, t, max_in_flight=4)
    client.gate_calls(budget.take)
    before = gs.counters()["calls"]
    with client, ThreadPoolExecutor(8) as pool:
        results = [
            r
            for batch in pool.map(
                lambda b: client.insert("Company", b, keys=["Name"]), batches(companies(400))
            )
            for r in batch
        ]
    assert gs.counters()["calls"] - before == 3
    assert sum(r.status is ACCEPTED for r in results) == 150 == len(gs.records("Company"))
    assert sum(r.status is FAILED for r in results) == 250
    assert budget.used == 10 and "(10 of 10 calls today" in budget.message()
    assert not budget.allows(1) and budget.spent
