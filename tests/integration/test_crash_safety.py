"""Crash safety: ``kill -9`` and Ctrl-C in the middle of a multi-batch sync lose nothing.

3,000 rows are 60 write calls. The emulator answers every call 250-300 ms after applying it
and the client keeps 2 calls in flight, so a run lasts several seconds, the StateWriter
flushes (every 2 s) during it, and a kill usually lands while applied writes still wait for
their replies: Gainsight has records the client never heard about.

After every kill the invariant is checked in the warehouse and the emulator: every Gsid in
the state table exists in Gainsight (nothing is marked synced that Gainsight lacks). After the
final rerun: the emulator holds every Name of the model exactly once (none duplicated, none
missing) with the model's values, and the state holds exactly the emulator's records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import reaped
from tests.integration.incremental_helpers import (
    BACKENDS,
    SYNC_TIMEOUT,
    IncProject,
    assert_emulator_matches,
    assert_state_in_emulator,
    companies,
    emulator_companies,
    write_calls,
)

KEY = "crash-test-key"
ROWS = 3000
LATENCY = {"latency_ms": 250, "latency_jitter_ms": 50}


@pytest.fixture(params=BACKENDS)
def project(request, tmp_path, gainsight_emulator_factory) -> IncProject:
    """The incremental project on one backend, its emulator slow enough to be killed mid-run."""
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    gs = gainsight_emulator_factory(access_key=KEY, **LATENCY)
    p = IncProject(tmp_path, request.param, gs, pg, extra_env={"GAINSIGHT_MAX_IN_FLIGHT": "2"})
    p.build(companies(ROWS))
    return p


def start_sync(project: IncProject, log: Path, *args: str) -> subprocess.Popen:
    """Start ``dbt-gainsight sync`` as a child process (stdout and stderr to ``log``)."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **project.env}
    with open(log, "w") as out:
        return subprocess.Popen(
            project.sync_command(*args), env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for_writes(project: IncProject, proc: subprocess.Popen, total: int, log: Path) -> None:
    """Poll the emulator until it has applied ``total`` write calls (since it started)."""
    deadline = time.monotonic() + SYNC_TIMEOUT
    while write_calls(project.gs.counters()) < total:
        if proc.poll() is not None:
            pytest.fail(
                f"the sync ended (exit {proc.returncode}) before {total} write calls; "
                f"saw {write_calls(project.gs.counters())}\n{log.read_text()}"
            )
        assert time.monotonic() < deadline, f"no {total} write calls in {SYNC_TIMEOUT}s"
        time.sleep(0.005)


def settle(project: IncProject) -> None:
    """Let the emulator finish the calls a killed client left in flight (their writes are
    applied already; only the replies are pending)."""
    deadline = time.monotonic() + 5
    while project.gs.core.inflight and time.monotonic() < deadline:
        time.sleep(0.02)


def test_kill_9_at_several_points_then_rerun_completes(project: IncProject):
    """kill -9 after the emulator applied ~5, ~30 and ~80 write calls in all (three runs,
    each killed; the later ones start from partial state), then a rerun completes: every Name
    exactly once, the model's values, and state == the emulator's records. The third run
    writes for about 6 s (8 calls a second), past the state writer's 5 s flush."""
    gs = project.gs
    rows = companies(ROWS)
    killed_at = []
    for n, total in enumerate((5, 30, 80)):
        log = project.dir / f"sync-killed-{n}.log"
        proc = start_sync(project, log)
        try:
            wait_for_writes(project, proc, total, log)
        finally:
            proc.send_signal(signal.SIGKILL)  # kill -9: no handler, no flush, no cleanup
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, log.read_text()
        settle(project)
        state = assert_state_in_emulator(project)
        stored = emulator_companies(gs)  # no duplicate Name, even mid-way
        assert len(state) <= len(stored) < ROWS
        killed_at.append((write_calls(gs.counters()), len(stored), len(state)))
    # The kills were mid-run: some after a state flush, some with Gainsight ahead of state.
    assert any(0 < st for _, _, st in killed_at), killed_at
    assert all(st < em for _, em, st in killed_at), killed_at

    final = project.sync()
    m = final.model
    assert m["status"] == "success" and m["rejected"] == m["failed"] == 0
    assert m["new"] + m["unchanged"] == ROWS and m["changed"] == m["retry"] == 0
    assert m["accepted"] == m["new"]
    stored = assert_emulator_matches(gs, rows)
    state = assert_state_in_emulator(project)
    assert sorted(state) == sorted(r["Gsid"] for r in stored.values()), killed_at


def test_ctrl_c_flushes_state_and_rerun_completes(project: IncProject):
    """SIGINT mid-run: the sync stops with a non-zero exit, after saving every record
    Gainsight accepted (state == the emulator's records); a rerun sends only the rest."""
    gs = project.gs
    rows = companies(ROWS)
    log = project.dir / "sync-interrupted.log"
    proc = start_sync(project, log)
    with reaped(proc):
        wait_for_writes(project, proc, 20, log)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
        code = proc.wait(timeout=60)
    output = log.read_text()
    assert code == 130, output
    assert "gs_companies: interrupted" in output
    report = project.report()
    assert report["metadata"]["interrupted"] is True
    assert report["results"][0]["status"] == "error"
    assert report["results"][0]["message"] == "interrupted"

    state = assert_state_in_emulator(project)
    stored = emulator_companies(gs)
    assert 20 * 50 <= len(stored) < ROWS
    assert sorted(state) == sorted(r["Gsid"] for r in stored.values()), (
        f"{len(stored) - len(state)} accepted records are missing in state after Ctrl-C"
    )

    before = write_calls(gs.counters())
    final = project.sync()
    m = final.model
    assert (m["unchanged"], m["new"], m["accepted"]) == (len(state), ROWS - len(state), m["new"])
    assert write_calls(gs.counters()) - before == -(-(ROWS - len(state)) // 50)
    stored = assert_emulator_matches(gs, rows)
    assert sorted(assert_state_in_emulator(project)) == sorted(r["Gsid"] for r in stored.values())
