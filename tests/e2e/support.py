"""Helpers shared by the end-to-end and integration tests of the sync (real dbt, real
warehouses, the emulator over HTTP, the CLI as a subprocess).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import run

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SAMPLE_PROJECT = REPO / "sample_dbt_project"
PROJECTS = TESTS / "projects"


def gainsight_env(gs, **extra: str) -> dict[str, str]:
    """Environment that points dbt-gainsight at an emulator."""
    return {
        "GAINSIGHT_URL": gs.url,
        "GAINSIGHT_ACCESS_KEY": gs.access_key,
        "GAINSIGHT_CALLS_PER_MINUTE": "6000",
        **extra,
    }


def project_args(project: Path, target: str | None = None) -> list[str]:
    args = ["--project-dir", str(project), "--profiles-dir", str(project)]
    if target:
        args += ["--target", target]
    return args


def dbt(command: str, project: Path, env: dict[str, str], *args: str, target: str | None = None):
    """``dbt <command>`` of the project, as a subprocess; must succeed."""
    return run(["dbt", command, *project_args(project, target), *args], env=env, check=True)


def gainsight(
    command: str,
    project: Path | None,
    env: dict[str, str],
    *args: str,
    target: str | None = None,
    label: str | None = None,
) -> subprocess.CompletedProcess:
    """``dbt-gainsight <command>`` as a subprocess; prints its output for the test log."""
    argv = ["dbt-gainsight", command]
    if project is not None:
        argv += project_args(project, target)
    argv += list(args)
    proc = run(argv, env=env, timeout=300)
    print(f"\n===== {label or ' '.join(argv[1:2] + list(args))} (exit {proc.returncode}) =====")
    if proc.stdout.strip():
        print(proc.stdout.rstrip())
    if proc.stderr.strip():
        print("--- stderr ---")
        print(proc.stderr.rstrip())
    return proc


def run_results(project: Path) -> dict[str, Any]:
    """target/gainsight_run_results.json of the last sync."""
    return json.loads((project / "target" / "gainsight_run_results.json").read_text())


def results_by_model(project: Path) -> dict[str, dict[str, Any]]:
    return {m["model"]: m for m in run_results(project)["results"]}


def clone_built(template: Path, dest: Path) -> Path:
    """Copy a built project (with target/ and its DuckDB file) so each test has its own state."""
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("logs", ".user.yml"))
    return dest


# --- reading the warehouse -------------------------------------------------------------


def duckdb_rows(path: Path, sql: str) -> list[dict[str, Any]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def duckdb_execute(path: Path, *statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def postgres_rows(pg: dict[str, str], sql: str) -> list[dict[str, Any]]:
    con = _postgres(pg)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def postgres_execute(pg: dict[str, str], *statements: str) -> None:
    con = _postgres(pg)
    try:
        with con, con.cursor() as cur:  # committed
            for sql in statements:
                cur.execute(sql)
    finally:
        con.close()


def _postgres(pg: dict[str, str]):
    import psycopg2

    return psycopg2.connect(
        host=pg["PGHOST"],
        port=int(pg["PGPORT"]),
        user=pg["PGUSER"],
        password=pg["PGPASSWORD"],
        dbname=pg["PGDATABASE"],
        connect_timeout=5,
    )


# --- comparing values ------------------------------------------------------------------


def norm_date(value: Any) -> str | None:
    """A date as YYYY-MM-DD (warehouse date/datetime or Gainsight's string)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def norm_instant(value: Any) -> datetime | None:
    """A datetime as an aware UTC instant, to the millisecond (naive means UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        text = str(value).strip().replace("Z", "+00:00")
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def norm_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    return float(Decimal(str(value)))


def same_number(a: Any, b: Any) -> bool:
    a, b = norm_number(a), norm_number(b)
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def calls_by_route(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """API calls per route between two ``gs.counters()`` snapshots."""
    b, a = before["by_route"], after["by_route"]
    return {route: n - b.get(route, 0) for route, n in a.items() if n - b.get(route, 0)}
