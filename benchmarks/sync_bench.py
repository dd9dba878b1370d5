"""Performance benchmarks of `dbt-gainsight sync` against the emulator, beside a naive script.

    .venv/bin/python benchmarks/sync_bench.py                 # full run (~20 min), updates README
    .venv/bin/python benchmarks/sync_bench.py --quick         # smoke run (100k rows, ~4 min)
    .venv/bin/python benchmarks/sync_bench.py --only-profile  # where a first sync's CPU goes

What it measures (benchmarks/README.md, section "## Sync", has the latest table):

1. unchanged re-sync of N rows (N = 1,000,000): API calls (goal 0) and wall time (<= 10 s).
2. 1% of N rows changed: API calls (goal exactly N/100/50) and wall time.
3. first sync of N rows, emulator limits off: client CPU per record (<= 30 us) and peak RSS
   (<= 200 MB), and the same at N/10 rows (RSS within 20%: memory is flat).
4. with the emulator's per-minute limit and a realistic latency: share of the minute budget
   used once the pipe is full (>= 98%) and share of calls answered 429 (<= 1%); also for a
   run of the sample project.

Every sync and the naive baseline run as their own subprocesses (CPU and peak RSS come from
``os.wait4``'s rusage of that process alone); the emulator runs in another process, so its
work is never counted as the client's. The rate-limited runs are time-scaled (``--rate``
calls/minute on both sides, latency divided by the same factor) and say so in the table;
they are launched at a fixed second of the minute (``--phase``) so runs repeat. Only the
"## Sync" section of benchmarks/README.md is written (between its sync_bench markers).
"""

from __future__ import annotations

import argparse
import json
import math
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


# Processes ---------------------------------------------------------------------------------


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


# dbt projects --------------------------------------------------------------------------------


@dataclass
class Project:
    """A copy of a dbt project in the work dir, with its own DuckDB file."""

    path: Path
    duckdb: Path

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
            }
        )
        return env

    def build(self, env: dict[str, str], vars_: dict | None = None, select: list[str] = ()) -> None:
        """`dbt build` (not measured)."""
        cmd = [str(BIN / "dbt"), "build", "--project-dir", str(self.path)]
        cmd += ["--profiles-dir", str(self.path)]
        if vars_:
            cmd += ["--vars", json.dumps(vars_)]
        if select:
            cmd += ["-s", *select]
        started = time.monotonic()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dbt build failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        log(f"  dbt build {vars_ or ''} {' '.join(select)}: {time.monotonic() - started:.1f}s")

    def sync(self, env: dict[str, str], select: list[str] = ()) -> tuple[Measured, dict]:
        """`dbt-gainsight sync`, measured; returns the measurement and the run results."""
        cmd = [str(BIN / "dbt-gainsight"), "sync", "--project-dir", str(self.path)]
        cmd += ["--profiles-dir", str(self.path)]
        if select:
            cmd += ["-s", " ".join(select)]  # `-s a b` is a usage error in dbt-gainsight
        m = run_measured(cmd, env)
        results = json.loads((self.path / "target" / "gainsight_run_results.json").read_text())
        if m.returncode != 0:
            log(f"  sync exited {m.returncode}:\n{m.stdout[-3000:]}\n{m.stderr[-2000:]}")
        return m, results


def copy_project(src: Path, dest: Path, duckdb_name: str) -> Project:
    """Copy a dbt project without its target/ and logs/."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return Project(dest, dest.parent / duckdb_name)


def model_totals(results: dict) -> dict[str, int]:
    """Counts summed over the run's models."""
    keys = ("rows", "new", "changed", "unchanged", "sent", "accepted", "rejected", "failed")
    keys += ("api_calls", "retries", "rate_limited")
    return {k: sum(int(m.get(k) or 0) for m in results["results"]) for k in keys}


# Budget analysis ------------------------------------------------------------------------------


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


# Scenarios ------------------------------------------------------------------------------------


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


def baseline_run(project: Project, rows: int) -> dict[str, Any]:
    """The naive script against a fresh, unlimited emulator, on the model's data."""
    with EmulatorProcess() as emu:
        cmd = [str(BIN / "python"), str(HERE / "naive_baseline.py"), "--duckdb"]
        cmd += [str(project.duckdb), "--url", emu.url, "--access-key", ACCESS_KEY]
        m = run_measured(cmd, base_env())
        if m.returncode != 0:
            raise RuntimeError(f"naive baseline failed: {m.stdout[-2000:]} {m.stderr[-2000:]}")
        calls = emu.counters()["calls"]
    out = json.loads(m.stdout.strip().splitlines()[-1])
    return {
        "calls": calls,
        "seconds": m.seconds,
        "cpu_us_per_record": m.cpu_seconds / rows * 1e6,
        "peak_rss_mb": m.peak_rss_mb,
        "records": out["records"],
    }


def first_sync(project: Project, emu: EmulatorProcess, rows: int, mif: int) -> dict[str, Any]:
    """Build ``rows`` rows into a fresh DuckDB file and sync them all (limits off)."""
    if project.duckdb.exists():
        project.duckdb.unlink()
    env = project.env(emu, UNLIMITED_CPM, mif)
    project.build(env, {"rows": rows, "bump": 0})
    before = emu.counters()
    log(f"  first sync of {rows:,} rows ...")
    m, results = project.sync(env)
    t = model_totals(results)
    after = emu.counters()
    calls = after["calls"] - before["calls"]
    log(
        f"  first sync: {m.seconds:.1f}s, cpu {m.cpu_seconds:.1f}s, rss {m.peak_rss_mb:.0f} MB, "
        f"{calls} calls, accepted {t['accepted']:,}"
    )
    return {
        "seconds": m.seconds,
        "cpu_seconds": m.cpu_seconds,
        "cpu_us_per_record": m.cpu_seconds / max(1, t["sent"]) * 1e6,
        "peak_rss_mb": m.peak_rss_mb,
        "calls": calls,
        "routes": route_delta(before, after),
        "totals": t,
        "ok": m.returncode == 0 and t["accepted"] == rows,
    }


def resync(
    project: Project, emu: EmulatorProcess, mif: int, rows: int, bump: int | None
) -> dict[str, Any]:
    """Re-sync (after rebuilding ``rows`` with ``bump`` when given): wall time and calls."""
    env = project.env(emu, UNLIMITED_CPM, mif)
    if bump is not None:
        project.build(env, {"rows": rows, "bump": bump})
    before = emu.counters()
    m, results = project.sync(env)
    after = emu.counters()
    calls = after["calls"] - before["calls"]
    routes = route_delta(before, after)
    t = model_totals(results)
    log(
        f"  re-sync (bump={bump}): {m.seconds:.1f}s, {calls} calls {routes}, "
        f"changed {t['changed']:,}"
    )
    return {
        "seconds": m.seconds,
        "calls": calls,
        "routes": routes,
        "totals": t,
        "ok": m.returncode == 0,
    }


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


def rate_limited_run(
    project: Project,
    rows: int,
    rate: int,
    mif: int,
    phase: float,
    select: list[str] = (),
    objects: Path | None = None,
) -> dict[str, Any]:
    """A first sync with the emulator's per-minute limit and a scaled realistic latency.

    The sync is launched ``phase`` seconds past the minute, so runs repeat: where the first
    burst falls against the server's fixed windows changes the budget measured.
    """
    scale = rate / REAL_RATE
    latency, jitter = (x / scale for x in REAL_LATENCY_MS)
    with EmulatorProcess(rate, latency, jitter, objects_file=objects) as emu:
        if project.duckdb.exists():
            project.duckdb.unlink()
        env = project.env(emu, rate, mif)
        project.build(env, {"rows": rows, "bump": 0} if rows else None)
        wait_for_phase(phase)
        emu.reset()
        log(f"  rate-limited sync at {rate}/min, latency {latency:.0f}+{jitter:.0f} ms ...")
        m, results = project.sync(env, select)
        entries = emu.request_log()
        counters = emu.counters()
    b = budget_of(entries, rate)
    t = model_totals(results)
    log(
        f"  {m.seconds:.0f}s, {b.calls} calls, 429s {b.rate_limited}, windows "
        f"{[(ok, lim) for _, ok, lim in b.windows]}, full-window use {fmt_pct(b.used)}"
    )
    return {
        "seconds": m.seconds,
        "budget": b,
        "calls": counters["calls"],
        "totals": t,
        "scale": scale,
        "phase": phase,
        "latency": (latency, jitter),
        "ok": m.returncode == 0,
    }


def run(args: argparse.Namespace, work: Path) -> list[Row]:
    """Every scenario; returns the table rows."""
    n = 100_000 if args.quick else args.rows
    small = n // 10
    per_call = 50
    rows: list[Row] = []
    big = copy_project(PROJECT, work / "bench", "bench_big.duckdb")

    with EmulatorProcess() as emu:
        log(f"[3] first sync of {n:,} rows, emulator limits off, max_in_flight {args.mif}")
        first = first_sync(big, emu, n, args.mif)
        log(f"[1] unchanged re-sync of {n:,} rows")
        same = resync(big, emu, args.mif, n, None)
        log(f"[1-3] naive baseline on the same {n:,} rows (fresh emulator, limits off)")
        base = baseline_run(big, n)
        log(
            f"  baseline: {base['seconds']:.1f}s, {base['calls']} calls, "
            f"{base['cpu_us_per_record']:.1f} us/record, {base['peak_rss_mb']:.0f} MB"
        )
        log(f"[2] 1% of {n:,} rows changed")
        one = resync(big, emu, args.mif, n, 1)
        log(f"[3] first sync of {small:,} rows (memory flatness)")
        emu.reset()
        little = copy_project(PROJECT, work / "bench_small", "bench_small.duckdb")
        second = first_sync(little, emu, small, args.mif)

    label = f"{n:,} rows"
    bcalls = fmt_int(base["calls"])
    bsec = f"{base['seconds']:.1f} s"
    rows += [
        Row(
            f"1. unchanged re-sync, {label}",
            "API calls",
            "0",
            fmt_int(same["calls"]),
            bcalls,
            same["calls"] == 0 and same["ok"],
        ),
        Row(
            f"1. unchanged re-sync, {label}",
            "wall time",
            "<= 10 s",
            f"{same['seconds']:.1f} s",
            bsec,
            same["seconds"] <= 10,
        ),
    ]
    want = math.ceil(n / 100 / per_call)
    rows += [
        Row(
            f"2. 1% changed, {label}",
            "API calls",
            f"= {want}",
            f"{fmt_int(one['calls'])} ({describe_routes(one['routes'])})",
            bcalls,
            one["calls"] == want and one["ok"],
        ),
        Row(f"2. 1% changed, {label}", "wall time", "", f"{one['seconds']:.1f} s", bsec, None),
    ]
    scen3 = f"3. first sync, {label}, limits off, max_in_flight {args.mif}"
    rows += [
        Row(
            scen3,
            "client CPU per record",
            "<= 30 us",
            f"{first['cpu_us_per_record']:.1f} us",
            f"{base['cpu_us_per_record']:.1f} us",
            first["cpu_us_per_record"] <= 30,
        ),
        Row(
            scen3,
            "peak RSS",
            "<= 200 MB",
            f"{first['peak_rss_mb']:.0f} MB",
            f"{base['peak_rss_mb']:.0f} MB",
            first["peak_rss_mb"] <= 200,
        ),
        Row(
            scen3,
            "wall time / API calls",
            "",
            f"{first['seconds']:.1f} s / {fmt_int(first['calls'])} "
            f"({describe_routes(first['routes'])})",
            f"{bsec} / {bcalls}",
            None,
        ),
        Row(
            f"3. first sync, {small:,} rows",
            "client CPU per record",
            "<= 30 us",
            f"{second['cpu_us_per_record']:.1f} us",
            "",
            second["cpu_us_per_record"] <= 30,
        ),
        Row(
            f"3. first sync, {small:,} rows",
            f"peak RSS (vs {label})",
            "within 20%",
            f"{second['peak_rss_mb']:.0f} MB ({_ratio(second, first)})",
            "",
            abs(second["peak_rss_mb"] / first["peak_rss_mb"] - 1) <= 0.20,
        ),
    ]

    rate = args.rate
    rl_rows = 20_000 if args.quick else args.rl_rows
    log(f"[4] {rl_rows:,} rows at {rate}/min")
    rl_proj = copy_project(PROJECT, work / "bench_rl", "bench_rl.duckdb")
    rl = rate_limited_run(rl_proj, rl_rows, rate, args.rl_mif, args.phase)
    rows += _budget_rows(f"4. first sync, {rl_rows:,} rows", rl, rate, args.rl_mif)
    if not args.skip_sample:
        srate = args.sample_rate or (rate if args.quick else 200)
        log(f"[4] sample project at {srate}/min")
        sample = copy_project(SAMPLE, work / "sample", "sample.duckdb")
        sr = rate_limited_run(
            sample,
            0,
            srate,
            4,
            args.phase,
            select=SAMPLE_MODELS,
            objects=SAMPLE / "gainsight_objects.yml",
        )
        t = sr["totals"]
        name = "4. sample project (" + " ".join(SAMPLE_MODELS) + ")"
        rows.append(
            Row(
                name,
                "API calls / records accepted",
                "",
                f"{fmt_int(sr['calls'])} / {fmt_int(t['accepted'])}",
                "",
                None,
            )
        )
        rows += _budget_rows(name, sr, srate, 4)
    return rows


def _ratio(small: dict, big: dict) -> str:
    return f"{100 * (small['peak_rss_mb'] / big['peak_rss_mb'] - 1):+.0f}%"


def _budget_rows(name: str, r: dict, rate: int, mif: int) -> list[Row]:
    b: Budget = r["budget"]
    lat, jit = r["latency"]
    scaled = (
        f"{rate}/min both sides, latency {lat:.0f}-{lat + jit:.0f} ms "
        f"(x{r['scale']:g} time-scaled from 100/min, 300-800 ms)"
        if r["scale"] != 1
        else "100/min both sides, latency 300-800 ms"
    )
    cells = [f"{ok}" + (f"+{lim}x429" if lim else "") for _, ok, lim in b.windows]
    if len(cells) >= 2:  # the first and last windows are not counted
        cells[0], cells[-1] = f"[{cells[0]}]", f"[{cells[-1]}]"
    per = ", ".join(cells)
    if r["phase"] >= 0:
        scaled += f", launched at :{r['phase']:02.0f} of the minute"
    return [
        Row(
            f"{name} ({scaled}, max_in_flight {mif})",
            "budget used, full minute windows",
            ">= 98%",
            f"{fmt_pct(b.used)} (worst {fmt_pct(b.min_used)}; calls per window, "
            f"[not counted]: {per})",
            "",
            None if b.used is None else b.used >= 0.98,
        ),
        Row(
            f"{name} (same run)",
            "calls answered 429",
            "<= 1%",
            f"{fmt_pct(b.share_429)} ({b.rate_limited} of {fmt_int(b.calls)}); "
            f"wall {r['seconds']:.0f} s",
            "",
            b.share_429 <= 0.01,
        ),
    ]


# Profile ------------------------------------------------------------------------------------


def _task_cpu() -> dict[int, float]:
    """CPU seconds (user+sys) of every thread of this process, by native thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def profiled_sync(project_dir: str, out_path: str, mode: str) -> None:
    """Run ``api.sync`` (full refresh) in this process and write where the CPU went.

    ``threads``: no profiler; a sampler reads each thread's CPU from /proc every 0.1 s, the
    process RSS and the state writer's backlog (records accepted but not yet written).
    ``cprofile``: a ``cProfile.Profile(timer=time.thread_time)`` per thread, so a function's
    time is CPU spent in it (waiting on a socket, lock or queue costs nothing); merged top
    functions. cProfile inflates Python-heavy code about 3x: use it for proportions only.
    """
    import cProfile
    import io
    import pstats
    import re
    import resource
    import threading

    from dbt_gainsight import api
    from dbt_gainsight.sync import state

    def group(name: str) -> str:
        return re.sub(r"_\d+$", "_N", name)

    lines: list[str] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    if mode == "threads":
        writers: list[Any] = []
        original = state.StateWriter.__init__

        def init(self: Any, *a: Any, **k: Any) -> None:
            original(self, *a, **k)
            writers.append(self)

        state.StateWriter.__init__ = init  # type: ignore[method-assign]
        by_tid: dict[int, tuple[str, float]] = {}
        peaks = {"backlog": 0, "rss": 0.0}
        timeline: list[str] = []
        done = threading.Event()

        def sample() -> None:
            last = 0.0
            while not done.is_set():
                names = {t.native_id: group(t.name) for t in threading.enumerate()}
                for tid, secs in _task_cpu().items():
                    name = names.get(tid) or by_tid.get(tid, ("not Python (DuckDB)", 0))[0]
                    by_tid[tid] = (name, secs)
                q = writers[-1]._queue.qsize() if writers else 0
                peaks["backlog"] = max(peaks["backlog"], q)
                peaks["rss"] = max(peaks["rss"], _rss_mb())
                if time.monotonic() - last >= 5:
                    last = time.monotonic()
                    timeline.append(
                        f"{last - wall0:5.0f}s rss {_rss_mb():4.0f} MB, state backlog {q:,}"
                    )
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
        sampler.start()
        result = api.sync(project_dir=project_dir, profiles_dir=project_dir, full_refresh=True)
        done.set()
        sampler.join()
        per_thread: Counter[str] = Counter()
        for name, secs in by_tid.values():
            if name != "bench-sampler":
                per_thread[name] += secs
        lines.append("CPU by thread (from /proc, no profiler):")
        for name, secs in per_thread.most_common():
            lines.append(f"  {name:<20} {secs:7.1f} s")
        lines.append(
            f"peak state-writer backlog {peaks['backlog']:,} records; RSS over time: "
            + "; ".join(timeline)
        )
    else:
        profiles: list[tuple[str, cProfile.Profile]] = []

        def hook(frame: Any, event: str, arg: Any) -> None:
            prof = cProfile.Profile(timer=time.thread_time)
            profiles.append((threading.current_thread().name, prof))
            prof.enable()

        threading.setprofile(hook)
        main = cProfile.Profile(timer=time.thread_time)
        main.enable()
        result = api.sync(project_dir=project_dir, profiles_dir=project_dir, full_refresh=True)
        main.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main)
        for _, prof in profiles:
            stats.add(pstats.Stats(prof))
        buf = io.StringIO()
        stats.stream = buf  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(r"dbt_gainsight|requests|duckdb", 30)
        text = buf.getvalue().replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
        lines += [line.rstrip() for line in text.splitlines() if line.strip()]
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    sent = sum(m.sent for m in result.models)
    head = (
        f"[{mode}] records sent {sent:,}; wall {wall:.1f} s; process CPU {cpu:.1f} s = "
        f"{cpu / max(1, sent) * 1e6:.0f} us/record; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    Path(out_path).write_text("\n".join([head, *lines]) + "\n")


def profile_run(work: Path, rows: int, mif: int) -> str:
    """Profile a first sync of ``rows`` rows (limits off), twice; returns the profile text."""
    project = copy_project(PROJECT, work / "bench_profile", "bench_profile.duckdb")
    texts = []
    with EmulatorProcess() as emu:
        env = project.env(emu, UNLIMITED_CPM, mif)
        if project.duckdb.exists():
            project.duckdb.unlink()
        project.build(env, {"rows": rows, "bump": 0})
        for mode in ("threads", "cprofile"):
            emu.reset()
            out = work / f"profile_{mode}.txt"
            cmd = [str(BIN / "python"), __file__, "_profiled-sync", str(project.path), str(out)]
            log(f"  profiling ({mode}) a first sync of {rows:,} rows ...")
            m = run_measured([*cmd, mode], env)
            if m.returncode != 0:
                raise RuntimeError(f"profiled sync failed: {m.stderr[-3000:]}")
            texts.append(out.read_text())
    return "\n".join(texts)


# Output -----------------------------------------------------------------------------------------


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


START, END = "<!-- sync_bench:start -->", "<!-- sync_bench:end -->"


def write_readme(generated: str) -> None:
    """Put ``generated`` in the "## Sync" section of benchmarks/README.md, touching nothing else.

    Inside the section only the text between the START/END markers is replaced, so notes
    written below the table survive a re-run; the file and the section are created if absent.
    """
    block = f"{START}\n{generated.strip()}\n{END}\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "## Sync"), None)
    if start is None:
        README.write_text(text.rstrip("\n") + "\n\n## Sync\n\n" + block)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = "".join(lines[start:end])
    if START in section and END in section:
        head, rest = section.split(START, 1)
        notes = rest.split(END, 1)[1].lstrip("\n")
        section = head + block + ("\n" + notes if notes else "")
    else:
        section = section.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text("".join(lines[:start]) + section + "".join(lines[end:]))


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_profiled-sync"]:
        profiled_sync(argv[1], argv[2], argv[3])
        return 0
    parser = argparse.ArgumentParser(description="dbt-gainsight sync benchmarks")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 100k rows.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the big model.")
    parser.add_argument("--mif", type=int, default=8, help="max_in_flight, scenarios 1-3.")
    parser.add_argument("--rate", type=int, default=600, help="Calls/minute for scenario 4.")
    parser.add_argument("--rl-rows", type=int, default=150_000, help="Rows for scenario 4.")
    parser.add_argument("--rl-mif", type=int, default=4, help="max_in_flight for scenario 4.")
    parser.add_argument(
        "--sample-rate",
        type=int,
        help="Calls/minute for the sample project (default 200, --quick: --rate); 100 is real "
        "time (~12 min).",
    )
    parser.add_argument(
        "--phase",
        type=float,
        default=40,
        help="Launch rate-limited syncs this many seconds past the minute (-1: at once).",
    )
    parser.add_argument("--skip-sample", action="store_true", help="Skip the sample project.")
    parser.add_argument("--work-dir", help="Where projects and DuckDB files go (default: tmp).")
    parser.add_argument("--no-readme", action="store_true", help="Print only; keep README.")
    parser.add_argument(
        "--profile", action="store_true", help="Also profile a first sync (CPU by thread)."
    )
    parser.add_argument("--profile-rows", type=int, default=200_000, help="Rows to profile.")
    parser.add_argument("--only-profile", action="store_true", help="Just the profile.")
    args = parser.parse_args(argv)
    # A plain SIGTERM would skip the `with` blocks that stop the emulators.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="gainsight-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}")
    started = time.monotonic()
    revision = code_revision()
    load_before = os.getloadavg()[0]
    try:
        if args.only_profile:
            print(profile_run(work, args.profile_rows, args.mif))
            return 0
        rows = run(args, work)
        profile = profile_run(work, args.profile_rows, args.mif) if args.profile else ""
    finally:
        if not args.work_dir:  # a temporary one: the DuckDB files are large
            shutil.rmtree(work, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    command = "    .venv/bin/python benchmarks/sync_bench.py " + " ".join(argv)
    md = table(rows)
    print(md)
    if profile:
        print(profile)
    if not args.no_readme:
        text = (
            f"Measured {time.strftime('%Y-%m-%d')} at {revision}, on {os.cpu_count()} CPUs "
            f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; the "
            f"machine is shared), {minutes:.0f} min in all, with:\n\n{command.rstrip()}\n\n{md}\n"
        )
        if profile:
            text += (
                f"\nProfile of a first sync of {args.profile_rows:,} rows (limits off, "
                f"max_in_flight {args.mif}): CPU per thread from /proc, then cProfile per "
                "thread timed in CPU:\n\n"
                + "".join("    " + line + "\n" for line in profile.splitlines())
            )
        write_readme(text)
        log(f"wrote the table to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
