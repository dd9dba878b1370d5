"""Where a first sync's CPU goes: CPU per thread from /proc, then cProfile per thread.

.venv/bin/python benchmarks/sync_bench.py --only-profile --profile-rows 1000000
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    BIN,
    PROJECT,
    REPO,
    UNLIMITED_CPM,
    EmulatorProcess,
    copy_project,
    log,
    run_measured,
)


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
    import gc
    import io
    import pstats
    import re
    import resource
    import threading

    from dbt_gainsight import api
    from dbt_gainsight.sync import writer as state

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

        collections = [0, 0.0]  # the garbage collector's runs and CPU seconds, every thread
        started_at: dict[int, float] = {}

        def collector(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started_at[threading.get_ident()] = time.thread_time()
            else:
                collections[0] += 1
                collections[1] += time.thread_time() - started_at.pop(threading.get_ident(), 0)

        gc.callbacks.append(collector)
        sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
        sampler.start()
        result = api.sync(project_dir=project_dir, profiles_dir=project_dir, full_refresh=True)
        done.set()
        sampler.join()
        gc.callbacks.remove(collector)
        per_thread: Counter[str] = Counter()
        for name, secs in by_tid.values():
            if name != "bench-sampler":
                per_thread[name] += secs
        lines.append("CPU by thread (from /proc, no profiler):")
        for name, secs in per_thread.most_common():
            lines.append(f"  {name:<20} {secs:7.1f} s")
        lines.append(f"garbage collector: {collections[0]:,} runs, {collections[1]:.2f} s of CPU")
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
            cmd = [str(BIN / "python"), __file__, str(project.path), str(out)]
            log(f"  profiling ({mode}) a first sync of {rows:,} rows ...")
            m = run_measured([*cmd, mode], env)
            if m.returncode != 0:
                raise RuntimeError(f"profiled sync failed: {m.stderr[-3000:]}")
            texts.append(out.read_text())
    return "\n".join(texts)


if __name__ == "__main__":
    profiled_sync(*sys.argv[1:4])
