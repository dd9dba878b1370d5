"""The plain script a team would write instead of dbt-gainsight: the benchmark's baseline.

Reads every row of the model with duckdb, posts batches of 50 to Gainsight's insert endpoint
one after another with requests, and keeps no state (so every run sends every row again).
Prints one JSON line: calls, records, wall seconds, CPU per record and peak RSS.

    python benchmarks/naive_baseline.py --duckdb target/bench.duckdb --url http://127.0.0.1:8756
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, datetime
from decimal import Decimal

import duckdb
import requests

BATCH = 50
QUERY = """
select company_name, arr, mrr, employees, renewal_date, industry
from {table}
"""
FIELDS = ("Name", "Arr", "Mrr", "Employees", "RenewalDate", "Industry")


def _value(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", required=True, help="DuckDB file the model was built in.")
    parser.add_argument("--table", default="main.bench_companies")
    parser.add_argument("--url", required=True, help="Gainsight base URL (the emulator's).")
    parser.add_argument("--access-key", default="emulator-key")
    parser.add_argument("--object", default="Company")
    args = parser.parse_args(argv)

    started = time.monotonic()
    cpu0 = time.process_time()
    con = duckdb.connect(args.duckdb, read_only=True)
    cur = con.execute(QUERY.format(table=args.table))
    session = requests.Session()
    session.headers.update({"accesskey": args.access_key, "Content-Type": "application/json"})
    endpoint = f"{args.url.rstrip('/')}/v1/data/objects/{args.object}"
    calls = records = failed = 0
    while True:
        rows = cur.fetchmany(BATCH)
        if not rows:
            break
        batch = [{f: _value(v) for f, v in zip(FIELDS, row, strict=True)} for row in rows]
        reply = session.post(endpoint, data=json.dumps({"records": batch}), timeout=60)
        calls += 1
        records += len(batch)
        if reply.status_code != 200 or not reply.json().get("result"):
            failed += len(batch)
    con.close()
    session.close()
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {
        "calls": calls,
        "records": records,
        "failed": failed,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_us_per_record": round(cpu / records * 1e6, 1) if records else None,
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }
    print(json.dumps(out))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
