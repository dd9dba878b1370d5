"""Emulator throughput and memory.

Starts the emulator as a subprocess (limits off) so its RSS can be read from /proc, then:

1. throughput: N concurrent clients (threads, each with its own requests.Session, or
   processes) each POST 50-record inserts, then PUT the same records by key (ExternalId);
2. memory: preloads the Company object to --records records (default 1,000,000) through
   the inspection API and reads the emulator's RSS;
3. PUT-by-key throughput against that large object (the index must make it O(1) a record).

    .venv/bin/python benchmarks/emulator_bench.py [--clients 8] [--mode thread|process]
        [--calls 150] [--records 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import requests

KEY = "bench-key"
HEADERS = {"accesskey": KEY, "Content-Type": "application/json", "Accept": "application/json"}


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dbt_gainsight.emulator",
            "--port",
            "0",
            "--access-key",
            KEY,
            "--rate-limit-per-minute",
            "0",
            "--daily-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    m = re.search(r"(http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, m.group(1)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_run(url: str, client: int, calls: int, phase: str, prefix: str) -> int:
    """One client's calls; returns the number of non-200 replies."""
    s = requests.Session()
    s.headers.update(HEADERS)
    bad = 0
    for c in range(calls):
        ext = [f"{prefix}-{client}-{c}-{r}" for r in range(50)]
        if phase == "insert":
            body: dict[str, Any] = {
                "records": [
                    {
                        "Name": f"Company {e}",
                        "ExternalId": e,
                        "Arr": 1000.0 + r,
                        "Stage": "Launched",
                    }
                    for r, e in enumerate(ext)
                ]
            }
            resp = s.post(f"{url}/v1/data/objects/Company", json=body, timeout=30)
        else:
            body = {"records": [{"ExternalId": e, "Arr": 2000.0 + r} for r, e in enumerate(ext)]}
            resp = s.put(f"{url}/v1/data/objects/Company?keys=ExternalId", json=body, timeout=30)
        if resp.status_code != 200 or resp.json()["result"] is not True:
            bad += 1
    return bad


def _proc_entry(args: tuple[str, int, int, str, str], out: Any) -> None:
    out.put(client_run(*args))


def run_phase(url: str, clients: int, calls: int, phase: str, mode: str, prefix: str) -> float:
    """All clients run one phase at once; returns calls per second."""
    started = time.perf_counter()
    if mode == "thread":
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda i=i: results.append(client_run(url, i, calls, phase, prefix))
            )
            for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        procs = [
            ctx.Process(target=_proc_entry, args=((url, i, calls, phase, prefix), q))
            for i in range(clients)
        ]
        for p in procs:
            p.start()
        results = [q.get() for _ in procs]
        for p in procs:
            p.join()
    elapsed = time.perf_counter() - started
    if any(results):
        raise SystemExit(f"{phase}: {sum(results)} calls failed")
    return clients * calls / elapsed


def preload(url: str, count: int) -> float:
    """Seed ``count`` Company records (PRE-0000000...) via the inspection API; returns seconds."""
    started = time.perf_counter()
    n = 0
    chunk = 50_000
    while n < count:
        size = min(chunk, count - n)
        records = [
            {"Name": f"Company {i:07d}", "ExternalId": f"PRE-{i:07d}", "Arr": i * 1.5}
            for i in range(n, n + size)
        ]
        resp = requests.post(f"{url}/__emulator__/records/Company", json=records, timeout=600)
        resp.raise_for_status()
        n += size
    return time.perf_counter() - started


def put_big(url: str, clients: int, calls: int, total: int) -> float:
    """PUT-by-key calls/s against the preloaded object (keys spread over all records)."""
    errors: list[BaseException] = []

    def run(client: int) -> None:
        try:
            run_calls(client)
        except BaseException as exc:
            errors.append(exc)

    def run_calls(client: int) -> None:
        s = requests.Session()
        s.headers.update(HEADERS)
        step = max(1, total // (clients * calls * 50))
        for c in range(calls):
            base = (client * calls + c) * 50
            recs = [
                {"ExternalId": f"PRE-{((base + r) * step) % total:07d}", "Arr": 1.0}
                for r in range(50)
            ]
            resp = s.put(f"{url}/v1/data/objects/Company?keys=ExternalId", json={"records": recs})
            assert resp.status_code == 200 and resp.json()["data"]["errors"] is None, resp.text

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"update by key into the large object failed: {errors[0]!r}"[:500])
    return clients * calls / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--mode", choices=("thread", "process"), default="thread")
    ap.add_argument("--calls", type=int, default=150, help="calls per client per phase")
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()

    proc, url = start_emulator()
    try:
        pid = proc.pid
        print(
            f"emulator pid {pid} at {url}; {os.cpu_count()} CPUs; clients: {args.clients} "
            f"{args.mode}s, {args.calls} calls each per phase, 50 records a call"
        )
        print(f"RSS at start: {rss_mb(pid):.0f} MB")
        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        ins = run_phase(url, args.clients, args.calls, "insert", args.mode, "B")
        upd = run_phase(url, args.clients, args.calls, "update", args.mode, "B")
        busy = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
        print(f"insert (POST, 50 records):        {ins:7.0f} calls/s ({ins * 50:,.0f} records/s)")
        print(f"update (PUT ?keys=ExternalId):    {upd:7.0f} calls/s ({upd * 50:,.0f} records/s)")
        print(f"emulator CPU use during the run:  {busy * 100:.0f}% of one core")
        done = args.clients * args.calls * 50
        extra = max(0, args.records - done)
        secs = preload(url, extra)
        print(f"preloaded {extra:,} more Company records in {secs:.1f} s (seed API)")
        counters = requests.get(f"{url}/__emulator__/counters", timeout=30).json()
        print(f"RSS with {args.records:,} Company records: {rss_mb(pid):.0f} MB")
        big = put_big(url, args.clients, max(10, args.calls // 2), extra)
        print(f"update by key into {args.records:,} records: {big:7.0f} calls/s")
        print(f"RSS after the run: {rss_mb(pid):.0f} MB")
        print(f"counters: calls={counters['calls']} max_concurrent={counters['max_concurrent']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
