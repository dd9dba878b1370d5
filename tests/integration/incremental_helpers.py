"""Shared pieces of the incremental-sync and crash-safety integration tests.

``IncProject`` is a private copy of tests/projects/incremental on one warehouse (a DuckDB file
or a fresh Postgres database) pointed at an in-process emulator: the test writes
``seeds/companies.csv``, runs real ``dbt`` and ``dbt-gainsight`` as subprocesses, reads the
state tables with the warehouse's own driver and compares the emulator's records with the
rows it wrote.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbt_gainsight.emulator import Emulator
from tests.conftest import BIN, REPO, copy_project, run

PROJECT = REPO / "tests" / "projects" / "incremental"
MODEL = "gs_companies"
PG_SCHEMA = "inc"
INDUSTRIES = (
    "Software",
    "Healthcare",
    "Financial Services",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Telecommunications",
)
COLUMNS = ("name", "arr", "employees", "renewal_date", "industry", "users")
WRITE_ROUTES = ("POST /v1/data/objects/{object}", "PUT /v1/data/objects/{object}")
QUERY_ROUTE = "POST /v1/data/objects/query/{object}"
DESCRIBE_ROUTE = "GET /v1/meta/services/objects/{name}/describe"
SYNC_TIMEOUT = 240

#: Run a test on DuckDB and on Postgres (the Postgres run is marked ``postgres``).
BACKENDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def company(i: int, **changes: Any) -> dict[str, Any]:
    """Row ``i`` of the generated model (values as the CSV holds them)."""
    row = {
        "name": f"Company {i:05d}",
        "arr": f"{1000 + i * 10.25:.2f}",
        "employees": i % 900 + 1,
        "renewal_date": (date(2026, 1, 1) + timedelta(days=i % 365)).isoformat(),
        "industry": INDUSTRIES[i % len(INDUSTRIES)],
        "users": i % 50,
    }
    row.update(changes)
    return row


def companies(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` generated rows with unique names."""
    return [company(i) for i in range(start, start + n)]


def changed(row: dict[str, Any]) -> dict[str, Any]:
    """The same company with a different mapped value (Arr + 1)."""
    return {**row, "arr": f"{float(row['arr']) + 1:.2f}"}


def write_calls(counters: dict[str, Any]) -> int:
    """Data-object write calls (POST inserts + PUT updates) in emulator counters."""
    return sum(counters["by_route"].get(route, 0) for route in WRITE_ROUTES)


def calls_since(gs: Emulator, before: dict[str, Any]) -> dict[str, int]:
    """API calls the emulator saw since ``before`` (a counters() snapshot), by kind."""
    now = gs.counters()
    routes = Counter(now["by_route"])
    routes.subtract(before["by_route"])
    return {
        "calls": now["calls"] - before["calls"],
        "writes": sum(routes[r] for r in WRITE_ROUTES),
        "queries": routes[QUERY_ROUTE],
        "describes": routes[DESCRIBE_ROUTE],
    }


def batches(n: int, size: int = 50) -> int:
    """Write calls for ``n`` records."""
    return math.ceil(n / size)


@dataclass
class SyncRun:
    """One finished ``dbt-gainsight sync``: the process and the model's run result."""

    proc: subprocess.CompletedProcess
    report: dict[str, Any]
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def counts(self) -> dict[str, int]:
        """The diff counts of the model (what --dry-run must predict)."""
        keys = ("rows", "new", "changed", "unchanged", "retry", "duplicates", "null_keys")
        return {k: self.model[k] for k in keys + ("no_longer_in_model",)}


class IncProject:
    """tests/projects/incremental copied into a test's tmp dir, on one warehouse."""

    def __init__(
        self,
        tmp_path: Path,
        backend: str,
        gs: Emulator,
        pg: dict[str, str] | None = None,
        *,
        extra_env: dict[str, str] | None = None,
    ):
        self.backend = backend
        self.gs = gs
        self.dir = copy_project(PROJECT, tmp_path / "incremental")
        self.duckdb_path = tmp_path / "incremental.duckdb"
        self.env = {
            "GAINSIGHT_URL": gs.url,
            "GAINSIGHT_ACCESS_KEY": gs.access_key,
            "GAINSIGHT_CALLS_PER_MINUTE": "6000",
            "DBT_DUCKDB_PATH": str(self.duckdb_path),
            "DBT_PG_SCHEMA": PG_SCHEMA,
            # dbt's own process-wide state must not leak between test projects.
            "DBT_PROFILES_DIR": str(self.dir),
            "DBT_PROJECT_DIR": str(self.dir),
        }
        if backend == "postgres":
            assert pg is not None, "the postgres backend needs the pg_database fixture"
            self.env.update(pg)
            self.pg = pg
        self.env.update(extra_env or {})
        self.schema = PG_SCHEMA if backend == "postgres" else "main"
        self.state_schema = f"{self.schema}_gainsight"

    # -- the project's data ---------------------------------------------------------------
    def write_companies(self, rows: list[dict[str, Any]]) -> None:
        """Replace seeds/companies.csv (empty strings load as NULL)."""
        with open(self.dir / "seeds" / "companies.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})

    def edit(self, relative: str, old: str, new: str) -> None:
        """Replace text in a project file (e.g. the meta.gainsight mapping)."""
        path = self.dir / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    # -- commands -------------------------------------------------------------------------
    def args(self) -> list[str]:
        return ["--project-dir", str(self.dir), "--profiles-dir", str(self.dir)] + [
            "--target",
            self.backend,
        ]

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run real dbt on the project (``dbt build``, ``dbt seed``, ...)."""
        return run(["dbt", *args, *self.args()], env=self.env, check=check, timeout=SYNC_TIMEOUT)

    def build(self, rows: list[dict[str, Any]] | None = None) -> None:
        """Write the seed (when given) and ``dbt build`` everything."""
        if rows is not None:
            self.write_companies(rows)
        self.dbt("build")

    def reseed(self, rows: list[dict[str, Any]]) -> None:
        """New model content: rewrite the CSV and ``dbt seed`` (the views read it live)."""
        self.write_companies(rows)
        self.dbt("seed")

    def sync_command(self, *args: str) -> list[str]:
        return [str(BIN / "dbt-gainsight"), "sync", *self.args(), *args]

    def sync(self, *args: str, expect: int | None = 0) -> SyncRun:
        """Run ``dbt-gainsight sync``; check its exit code unless ``expect`` is None."""
        proc = run(["dbt-gainsight", "sync", *self.args(), *args], env=self.env, timeout=240)
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"dbt-gainsight sync {' '.join(args)} exited {proc.returncode}, expected {expect}"
                f"\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
            )
        report = self.report()
        models = {m["model"]: m for m in report["results"]}
        return SyncRun(proc, report, models.get(MODEL, {}))

    def report(self) -> dict[str, Any]:
        return json.loads((self.dir / "target" / "gainsight_run_results.json").read_text())

    # -- the warehouse --------------------------------------------------------------------
    def sql(self, query: str) -> list[tuple]:
        """Run a query with the warehouse's own driver (never while a sync holds DuckDB)."""
        if self.backend == "duckdb":
            import duckdb

            con = duckdb.connect(str(self.duckdb_path))
            try:
                return con.execute(query).fetchall()
            finally:
                con.close()
        con = self._postgres()
        try:
            with con.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()
        finally:
            con.close()

    def execute(self, *statements: str) -> None:
        """Run statements (DDL too) with the warehouse's own driver, committed."""
        if self.backend == "duckdb":
            import duckdb

            con = duckdb.connect(str(self.duckdb_path))
            try:
                for statement in statements:
                    con.execute(statement)
            finally:
                con.close()
            return
        con = self._postgres()
        con.autocommit = True
        try:
            with con.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            con.close()

    def _postgres(self):
        import psycopg2

        return psycopg2.connect(
            host=self.pg["PGHOST"],
            port=int(self.pg["PGPORT"]),
            user=self.pg["PGUSER"],
            password=self.pg["PGPASSWORD"],
            dbname=self.pg["PGDATABASE"],
        )

    def state(self) -> list[tuple[str, str, str]]:
        """(key_hash, row_hash, gsid) of every record in the state table."""
        return self.sql(
            f"select key_hash, row_hash, gsid from {self.state_schema}.gainsight_sync_state"
        )

    def state_gsids(self) -> list[str]:
        return [gsid for _, _, gsid in self.state()]

    def rejects(self) -> list[dict[str, Any]]:
        """Rows of gainsight_rejects, key values decoded."""
        rows = self.sql(
            "select key_values, error_code, error_message, model_name, key_hash "
            f"from {self.state_schema}.gainsight_rejects order by key_values"
        )
        return [
            {
                "key": json.loads(kv),
                "code": code,
                "message": message,
                "model": model,
                "key_hash": key_hash,
            }
            for kv, code, message, model, key_hash in rows
        ]

    def state_has_name(self, name: str) -> bool:
        """Whether the state table holds a record whose Gsid is this company's in Gainsight."""
        gsids = {r["Gsid"] for r in self.gs.records("Company") if r["Name"] == name}
        return bool(gsids & set(self.state_gsids()))


# -- the emulator side ----------------------------------------------------------------------


def emulator_companies(gs: Emulator) -> dict[str, dict[str, Any]]:
    """The emulator's Company records by Name; fails if a Name is stored twice."""
    records = gs.records("Company")
    counts = Counter(r["Name"] for r in records)
    dupes = {name: n for name, n in counts.items() if n > 1}
    assert not dupes, f"the emulator holds {len(dupes)} duplicated Names, e.g. {list(dupes)[:5]}"
    return {r["Name"]: r for r in records}


def assert_emulator_matches(gs: Emulator, rows: list[dict[str, Any]], *, extra_ok: bool = False):
    """Every row is in the emulator exactly once with the model's values (and nothing else,
    unless ``extra_ok``: records no longer in the model are never deleted)."""
    stored = emulator_companies(gs)
    wanted = {r["name"]: r for r in rows}
    missing = sorted(set(wanted) - set(stored))
    assert not missing, f"{len(missing)} model rows are missing in the emulator: {missing[:5]}"
    if not extra_ok:
        extra = sorted(set(stored) - set(wanted))
        assert not extra, f"{len(extra)} emulator records are not in the model: {extra[:5]}"
    wrong = []
    for name, row in wanted.items():
        rec = stored[name]
        got = (float(rec["Arr"]), int(rec["Employees"]), rec["RenewalDate"], rec["Industry"])
        want = (float(row["arr"]), int(row["employees"]), row["renewal_date"], row["industry"])
        if got != want:
            wrong.append((name, got, want))
    assert not wrong, f"{len(wrong)} records differ from the model, e.g. {wrong[:3]}"
    return stored


def assert_state_in_emulator(project: IncProject) -> list[str]:
    """Nothing is marked synced that Gainsight lacks: every state Gsid is an emulator record."""
    state = project.state()
    keys = [key_hash for key_hash, _, _ in state]
    assert len(keys) == len(set(keys)), "the state table holds a key twice"
    gsids = [gsid for _, _, gsid in state]
    assert all(gsids), "the state table holds a record without a Gsid"
    assert len(gsids) == len(set(gsids)), "the state table holds a Gsid twice"
    known = {r["Gsid"] for r in project.gs.records("Company")}
    unknown = set(gsids) - known
    assert not unknown, f"{len(unknown)} Gsids in state are not in the emulator"
    return gsids
