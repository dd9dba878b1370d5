"""CPU per record of a first sync, variant against variant and the naive script, alternating.

    .venv/bin/python benchmarks/cpu_ab.py --rows 1000000 --runs 2 \
        naive default "mif1:GAINSIGHT_MAX_IN_FLIGHT=1" "old:PYTHONPATH=/tmp/old-worktree"

A variant is ``name:VAR=value,VAR=value`` (environment of the ``dbt-gainsight sync``
process; ``PYTHONPATH`` at a ``git worktree`` of another commit compares code), ``default``
is the checkout as it is, and ``naive`` is benchmarks/naive_baseline.py. The model is built
once; every sync starts from a copy of that warehouse (no state, nothing synced) and a fresh
emulator with limits off, and the order of the variants flips every round, so the machine's
drift touches each alike. Prints the CPU (user + system, from ``os.wait4``) per record of
every run and the median per variant.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from harness import (
    BIN,
    PROJECT,
    UNLIMITED_CPM,
    EmulatorProcess,
    copy_project,
    log,
    run_measured,
)
from sync_bench import baseline_run
from truth_bench import _checkpointed_copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="naive, default, or name:VAR=value,...")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="Rounds (each runs every variant).")
    parser.add_argument("--mif", type=int, default=8, help="max_in_flight of the syncs.")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gainsight-cpu-ab-"))
    try:
        results = _rounds(work, args.rows, args.runs, args.mif, args.variants)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, runs in results.items():
        shown = ", ".join(f"{us:.1f}" for us in runs)
        print(f"{name:<40} median {statistics.median(runs):5.1f} us/record  ({shown})")
    return 0


def _rounds(work: Path, rows: int, runs: int, mif: int, variants: list[str]) -> dict:
    project = copy_project(PROJECT, work / "project", "ab.duckdb")
    built = project.duckdb.with_name("ab.as-built")
    with EmulatorProcess() as emu:
        env = project.env(emu, UNLIMITED_CPM, mif)
        project.build(env, {"rows": rows, "bump": 0})  # leaves a current manifest too
    _checkpointed_copy(project.duckdb, built)
    results: dict[str, list[float]] = {v: [] for v in variants}
    for k in range(runs):
        for variant in variants if k % 2 == 0 else variants[::-1]:
            _checkpointed_copy(built, project.duckdb)  # as built: no state, nothing synced
            if variant == "naive":
                results[variant].append(baseline_run(project, rows)["cpu_us_per_record"])
                continue
            with EmulatorProcess() as emu:
                env = project.env(emu, UNLIMITED_CPM, mif)
                _, _, settings = variant.partition(":")
                for setting in filter(None, settings.split(",")):
                    name, _, value = setting.partition("=")
                    env[name] = value
                cmd = [str(BIN / "dbt-gainsight"), "sync", *project.args()]
                m = run_measured(cmd, env)
            if m.returncode != 0 or "dbt parse" in m.stdout + m.stderr:
                raise RuntimeError(f"{variant}: {m.stdout[-2000:]}\n{m.stderr[-2000:]}")
            results[variant].append(m.cpu_seconds / rows * 1e6)
        log(f"round {k + 1}: " + ", ".join(f"{v} {r[-1]:.1f}" for v, r in results.items()))
    return results


if __name__ == "__main__":
    sys.exit(main())
