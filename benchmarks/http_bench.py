"""CPU of one 50-record insert call, by HTTP path, against the emulator (limits off).

    .venv/bin/python benchmarks/http_bench.py [--calls 1500]

One thread, CPU from ``time.thread_time``, so waiting for the emulator costs nothing; the
paths alternate twice so a change in the machine's speed shows as a spread:

- ``requests``: ``requests.Session.post`` and ``reply.json()``, as the naive script does;
- ``sessions.send``: the client's HTTP path (urllib3, the deadline watchdog, the size cap)
  and ``json.loads`` of the reply;
- ``client.insert``: all of it (JSON encoding, the transport, per-record results).

``--threads N`` (N > 1) also sends ``requests`` and ``client.insert`` calls from N threads at
once, as a sync does, and takes the whole process's CPU: the difference from one thread is
what handing the GIL between threads costs a call.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from harness import ACCESS_KEY, EmulatorProcess

from dbt_gainsight.gainsight.client import GainsightClient
from dbt_gainsight.gainsight.payloads import dumps
from dbt_gainsight.gainsight.sessions import new_session, send

PATH = "/v1/data/objects/Company"


def batch(k: int) -> list[dict[str, Any]]:
    """50 companies as a first sync sends them (six fields each)."""
    return [
        {
            "Name": f"Http Bench {k:05d}-{i:02d}",
            "Arr": 1000.5,
            "Mrr": 83.38,
            "Employees": 10 + i,
            "RenewalDate": "2026-01-01",
            "Industry": "Software",
        }
        for i in range(50)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500, help="Calls per path and round.")
    parser.add_argument("--threads", type=int, default=1, help="Also send from N threads.")
    args = parser.parse_args(argv)
    with EmulatorProcess() as emu:
        http = requests.Session()
        http.headers.update({"accesskey": ACCESS_KEY, "Content-Type": "application/json"})
        session = new_session(emu.url, ACCESS_KEY, verify_tls=True)
        client = GainsightClient(emu.url, ACCESS_KEY, calls_per_minute=None)

        def via_requests(records: list[dict[str, Any]]) -> None:
            reply = http.post(emu.url + PATH, data=json.dumps({"records": records}), timeout=60)
            assert reply.json()["result"], reply.text[:300]

        def via_send(records: list[dict[str, Any]]) -> None:
            body = dumps({"records": records})
            reply = send(session, "POST", PATH, body=body, timeouts=(15, 60), deadline=120)
            assert json.loads(reply.content)["result"]

        def via_client(records: list[dict[str, Any]]) -> None:
            assert all(r.ok for r in client.insert("Company", records, keys=["Name"]))

        paths = {"requests": via_requests, "sessions.send": via_send, "client.insert": via_client}
        us: dict[str, list[float]] = {name: [] for name in paths}
        k = 0
        for _ in range(2):
            for name, call in paths.items():
                batches = [batch(k + i) for i in range(args.calls)]
                k += args.calls
                emu.reset()
                call(batches[0])  # connect outside the measurement
                started = time.thread_time()
                for records in batches[1:]:
                    call(records)
                us[name].append((time.thread_time() - started) / (args.calls - 1) * 1e6)
        if args.threads > 1:
            us.update(_threaded(emu, args.calls, args.threads, k))
        client.close()
        session.close()
    for name, samples in us.items():
        shown = " / ".join(f"{s:.0f}" for s in samples)
        print(f"{name:<24} CPU per 50-record call: {shown} us (two rounds)")
    return 0


def _threaded(emu: EmulatorProcess, calls: int, threads: int, k: int) -> dict[str, list[float]]:
    """CPU a call (the whole process) when ``threads`` threads send at once."""
    local = threading.local()
    client = GainsightClient(emu.url, ACCESS_KEY, calls_per_minute=None, max_in_flight=threads)

    def via_requests(records: list[dict[str, Any]]) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.http.headers.update({"accesskey": ACCESS_KEY, "Content-Type": "application/json"})
        reply = local.http.post(emu.url + PATH, data=json.dumps({"records": records}), timeout=60)
        assert reply.json()["result"], reply.text[:300]

    def via_client(records: list[dict[str, Any]]) -> None:
        assert all(r.ok for r in client.insert("Company", records, keys=["Name"]))

    paths = {"requests": via_requests, "client.insert": via_client}
    us: dict[str, list[float]] = {f"{name}, {threads} threads": [] for name in paths}
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(2):
            for name, call in paths.items():
                batches = [batch(k + i) for i in range(calls + threads)]
                k += len(batches)
                emu.reset()
                list(pool.map(call, batches[:threads]))  # connect outside the measurement
                started = time.process_time()
                list(pool.map(call, batches[threads:]))
                us[f"{name}, {threads} threads"].append(
                    (time.process_time() - started) / calls * 1e6
                )
    client.close()
    return us


if __name__ == "__main__":
    sys.exit(main())
