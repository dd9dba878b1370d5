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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    ACCESS_KEY,
    BIN,
    HERE,
    PROJECT,
    README,
    REAL_LATENCY_MS,
    REAL_RATE,
    SAMPLE,
    SAMPLE_MODELS,
    UNLIMITED_CPM,
    Budget,
    EmulatorProcess,
    Project,
    Row,
    base_env,
    budget_of,
    code_revision,
    copy_project,
    describe_routes,
    fmt_int,
    fmt_pct,
    log,
    model_totals,
    route_delta,
    run_measured,
    table,
    wait_for_phase,
    write_readme,
)
from profile_sync import profile_run


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
