"""Shared pieces of the benchmarks: measured subprocesses, the emulator in its own process,
dbt project copies on DuckDB or Postgres, call budgets per minute window, the Markdown table
and the README sections it is written to.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
PROJECT = HERE / "project"
SAMPLE = REPO / "sample_dbt_project"
README = HERE / "README.md"
ACCESS_KEY = "bench-key"
UNLIMITED_CPM = 1_000_000  # "off" for the client's limiter (the config wants >= 1)
SAMPLE_MODELS = ["gs_companies", "gs_usage_summary", "gs_relationships", "gs_company_people"]
REAL_RATE = 100  # Gainsight's default calls/minute
REAL_LATENCY_MS = (300.0, 500.0)  # base + uniform jitter: 300-800 ms per call


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Measured:
    """One subprocess: wall time, its own CPU (user+sys) and peak RSS."""

    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    stdout: str = ""
    stderr: str = ""


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Measured:
    """Run ``cmd`` and measure exactly that process with ``os.wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=proc.returncode,
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: kilobytes
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def free_port() -> int:
    """A port the kernel says is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatorProcess:
    """`python -m dbt_gainsight.emulator` in its own process, inspected over HTTP."""

    def __init__(
        self,
        rate_per_minute: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        objects_file: Path | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            str(BIN / "python"),
            "-m",
            "dbt_gainsight.emulator",
            "--port",
            str(self.port),
            "--access-key",
            ACCESS_KEY,
            "--rate-limit-per-minute",
            str(rate_per_minute),
            "--daily-limit",
            "0",
        ]
        if objects_file:
            cmd += ["--objects", str(objects_file)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=base_env()
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.counters()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not start on {self.url}") from None
                time.sleep(0.1)
        if latency_ms or jitter_ms:
            self._inspect(
                "POST", "/limits", {"latency_ms": latency_ms, "latency_jitter_ms": jitter_ms}
            )

    def _inspect(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/__emulator__" + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=60) as reply:
            return json.loads(reply.read())

    def counters(self) -> dict[str, Any]:
        """Totals since start or the last reset."""
        return self._inspect("GET", "/counters")

    def request_log(self) -> list[dict[str, Any]]:
        """The API calls it answered (time, status, route, ...)."""
        return self._inspect("GET", "/log")

    def reset(self) -> None:
        """Forget records, counters and windows."""
        self._inspect("POST", "/reset", {"data": True, "counters": True})

    def stop(self) -> None:
        """SIGTERM the process (only ours) and wait for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def base_env() -> dict[str, str]:
    """The environment for every child: no dbt telemetry, no colour codes."""
    env = dict(os.environ)
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class Project:
    """A copy of a dbt project in the work dir, on its own DuckDB file or Postgres database."""

    path: Path
    duckdb: Path
    target: str = "duckdb"  # or "postgres" (benchmarks/project only)
    pg_db: str | None = None

    def env(self, emulator: EmulatorProcess, calls_per_minute: int, max_in_flight: int) -> dict:
        """Environment for dbt and dbt-gainsight against ``emulator``."""
        env = base_env()
        env.update(
            {
                "DBT_DUCKDB_PATH": str(self.duckdb),
                "GAINSIGHT_URL": emulator.url,
                "GAINSIGHT_ACCESS_KEY": ACCESS_KEY,
                "GAINSIGHT_CALLS_PER_MINUTE": str(calls_per_minute),
                "GAINSIGHT_MAX_IN_FLIGHT": str(max_in_flight),
                "DBT_TARGET": self.target,
            }
        )
        if self.pg_db:
            env["BENCH_PG_DB"] = self.pg_db
        return env

    def args(self) -> list[str]:
        """``--project-dir``, ``--profiles-dir`` and ``--target`` of this copy."""
        return ["--project-dir", str(self.path), "--profiles-dir", str(self.path)] + [
            "--target",
            self.target,
        ]

    def reset_warehouse(self) -> None:
        """A fresh DuckDB file, or a fresh Postgres database."""
        if self.target == "postgres":
            recreate_pg_database(self.pg_db or "gainsight_bench")
        elif self.duckdb.exists():
            self.duckdb.unlink()

    def build(self, env: dict[str, str], vars_: dict | None = None, select: list[str] = ()) -> None:
        """`dbt build` (not measured)."""
        cmd = [str(BIN / "dbt"), "build", *self.args()]
        if vars_:
            cmd += ["--vars", json.dumps(vars_)]
        if select:
            cmd += ["-s", *select]
        started = time.monotonic()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dbt build failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        log(f"  dbt build {vars_ or ''} {' '.join(select)}: {time.monotonic() - started:.1f}s")

    def run(self, command: str, env: dict[str, str], *args: str) -> tuple[Measured, dict]:
        """`dbt-gainsight <command>`, measured; returns it and the results file it wrote."""
        cmd = [str(BIN / "dbt-gainsight"), command, *self.args(), *args]
        m = run_measured(cmd, env)
        name = f"gainsight_{'audit' if command == 'audit' else 'run'}_results.json"
        results = json.loads((self.path / "target" / name).read_text())
        if m.returncode not in (0, 1) or (command == "sync" and m.returncode):
            log(f"  {command} exited {m.returncode}:\n{m.stdout[-3000:]}\n{m.stderr[-2000:]}")
        return m, results

    def sync(self, env: dict[str, str], select: list[str] = ()) -> tuple[Measured, dict]:
        """`dbt-gainsight sync`, measured; returns the measurement and the run results."""
        return self.run("sync", env, *(["-s", " ".join(select)] if select else []))


def recreate_pg_database(name: str) -> None:
    """Drop and create a Postgres database (PG* variables; the server is the test server)."""
    import psycopg2

    con = psycopg2.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", ""),
        dbname="postgres",
    )
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        cur.execute(f'create database "{name}"')
    con.close()


def copy_project(
    src: Path, dest: Path, duckdb_name: str, target: str = "duckdb", pg_db: str | None = None
) -> Project:
    """Copy a dbt project without its target/ and logs/."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return Project(dest, dest.parent / duckdb_name, target, pg_db)


def model_totals(results: dict) -> dict[str, int]:
    """Counts summed over the run's models."""
    keys = ("rows", "new", "changed", "unchanged", "sent", "accepted", "rejected", "failed")
    keys += ("api_calls", "retries", "rate_limited")
    return {k: sum(int(m.get(k) or 0) for m in results["results"]) for k in keys}


@dataclass
class Budget:
    """Calls per fixed minute window, as the server counted them."""

    limit: int
    windows: list[tuple[int, int, int]] = field(default_factory=list)  # (window, ok, 429)
    full: list[tuple[int, int, int]] = field(default_factory=list)  # first/last dropped
    calls: int = 0
    rate_limited: int = 0

    @property
    def used(self) -> float | None:
        """Mean share of the budget used by accepted calls in the full windows."""
        if not self.full:
            return None
        return sum(ok for _, ok, _ in self.full) / (self.limit * len(self.full))

    @property
    def min_used(self) -> float | None:
        """The worst full window."""
        return min(ok for _, ok, _ in self.full) / self.limit if self.full else None

    @property
    def share_429(self) -> float:
        """Share of all calls answered 429."""
        return self.rate_limited / self.calls if self.calls else 0.0


def budget_of(entries: list[dict[str, Any]], limit: int) -> Budget:
    """Count calls per aligned minute (the emulator's windows); drop first and last windows."""
    ok: Counter[int] = Counter()
    limited: Counter[int] = Counter()
    for e in entries:
        w = int(e["time"] // 60)
        if e["status"] == 429:
            limited[w] += 1
        else:
            ok[w] += 1
    ws = sorted(set(ok) | set(limited))
    b = Budget(limit=limit, calls=len(entries), rate_limited=sum(limited.values()))
    if ws:
        b.windows = [(w, ok[w], limited[w]) for w in range(ws[0], ws[-1] + 1)]
        b.full = b.windows[1:-1]
    return b


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    metric: str
    goal: str
    measured: str
    baseline: str = ""
    met: bool | None = None


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[met]


def route_delta(before: dict, after: dict) -> dict[str, int]:
    """Calls per route between two counter snapshots."""
    b = before["by_route"]
    return {r: n - b.get(r, 0) for r, n in after["by_route"].items() if n - b.get(r, 0)}


ROUTE_NAMES = {
    "POST /v1/data/objects/{object}": "insert",
    "PUT /v1/data/objects/{object}": "update",
    "POST /v1/data/objects/query/{object}": "query",
    "GET /v1/meta/services/objects/{name}/describe": "describe",
}


def describe_routes(routes: dict[str, int]) -> str:
    """e.g. '200 update + 1 describe' (the emulator's route templates, shortened)."""
    ordered = sorted(routes.items(), key=lambda x: -x[1])
    return " + ".join(f"{n:,} {ROUTE_NAMES.get(r, r)}" for r, n in ordered)


def wait_for_phase(second: float) -> None:
    """Sleep until ``second`` seconds past the wall-clock minute (the emulator's windows)."""
    if second < 0:
        return
    time.sleep((second - time.time() % 60) % 60)


def table(rows: list[Row]) -> str:
    """The Markdown table."""
    out = [
        "| scenario | metric | goal | dbt-gainsight | naive baseline | goal met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r.scenario} | {r.metric} | {r.goal} | {r.measured} | {r.baseline} "
            f"| {verdict(r.met)} |"
        )
    return "\n".join(out)


def write_readme(generated: str, section: str = "## Sync", marker: str = "sync_bench") -> None:
    """Put ``generated`` in ``section`` of benchmarks/README.md, touching nothing else.

    Inside the section only the text between the ``<!-- marker:start/end -->`` comments is
    replaced, so notes below the table survive a re-run; the section is created if absent.
    """
    start_mark, end_mark = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start_mark}\n{generated.strip()}\n{end_mark}\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == section), None)
    if start is None:
        README.write_text(text.rstrip("\n") + f"\n\n{section}\n\n" + block)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = "".join(lines[start:end])
    if start_mark in body and end_mark in body:
        head, rest = body.split(start_mark, 1)
        notes = rest.split(end_mark, 1)[1].lstrip("\n")
        body = head + block + ("\n" + notes if notes else "")
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text("".join(lines[:start]) + body + "".join(lines[end:]))


def code_revision() -> str:
    """The commit measured, and whether dbt_gainsight/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "dbt_gainsight"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "an unknown commit"
    return f"commit {head or '?'}" + (
        " plus uncommitted changes in dbt_gainsight/" if dirty else ""
    )
