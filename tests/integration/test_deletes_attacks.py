"""Attacks on mirror deletes: a Ctrl-C during the read-back, the guard's place, lost replies.

Mirror deletes read the candidates' keys back from Gainsight (``still_in_model``, one query
call a thousand) before any DELETE. These tests check what the README promises around that
phase, end to end (real dbt, the CLI as a subprocess, the emulator over HTTP):

- a Ctrl-C while the read-back query is in flight exits 130 at once and deletes nothing;
- the guard (``max_per_run`` / ``max_fraction``) stops the model before any read-back call;
- a read-back whose reply is lost deletes nothing (and a single lost reply is retried);
- a DELETE whose reply is lost leaves the state equal to Gainsight's records afterwards.

Every scenario checks the emulator's records and counters and the state table, not only what
the command says about itself. DuckDB only, built once per module, so the file stays under a
minute on 2 cores; the model loses (and regains) rows by SQL on the seed table its view reads.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from typing import Any

import pytest

from dbt_gainsight.emulator import Emulator
from tests.conftest import reaped, signal_and_wait, wait_until
from tests.integration.incremental_helpers import (
    QUERY_ROUTE,
    IncProject,
    assert_emulator_matches,
    companies,
)
from tests.integration.test_crash_safety import start_sync

KEY = "deletes-attack-key"
DELETES = "          deletes: {enabled: true, max_per_run: 10, max_fraction: 0.2}\n"
DELETE_ROUTE = "DELETE /v1/data/objects/{object}/{gsid}"
QUERY_PATH = "/v1/data/objects/query/Company"  # the read-back's path (and only it)
DELETE_PATH = "/v1/data/objects/Company/"
EXIT_WITHIN = 12.0  # seconds from SIGINT to exit (interpreter teardown on a loaded runner)
ROWS = 60
GONE = (3, 14, 15, 22, 59)  # 5 of 60 (8%): under both limits


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> IncProject:
    """The project built once on DuckDB (deletes on, ROWS rows); tests sync copies of it."""
    gs = Emulator(access_key="build-only", rate_limit_per_minute=None).start()
    try:
        project = IncProject(tmp_path_factory.mktemp("built"), "duckdb", gs)
        project.edit("models/schema.yml", "          fields:\n", DELETES + "          fields:\n")
        project.build(companies(ROWS))
    finally:
        gs.stop()
    return project


@pytest.fixture
def project(built: IncProject, tmp_path, gainsight_emulator_factory) -> IncProject:
    """A copy of the module's build (its target/ and DuckDB file), an emulator of its own."""
    gs = gainsight_emulator_factory(access_key=KEY)
    project = IncProject(tmp_path, "duckdb", gs)
    project.edit("models/schema.yml", "          fields:\n", DELETES + "          fields:\n")
    shutil.copytree(built.dir / "target", project.dir / "target")
    shutil.copyfile(built.duckdb_path, project.duckdb_path)  # same name, as dbt built it
    project.write_companies(companies(ROWS))
    return project


def routes_since(project: IncProject, before: dict[str, Any]) -> Counter:
    """API calls the emulator finished since ``before`` (a counters() snapshot), by route."""
    routes = Counter(project.gs.counters()["by_route"])
    routes.subtract(before["by_route"])
    return routes


def gsids_by_name(project: IncProject) -> dict[str, str]:
    return {r["Name"]: r["Gsid"] for r in project.gs.records("Company")}


def drop_rows(project: IncProject, names: set[str]) -> None:
    """Rows leave the model: deleted from the seed table its view reads (no dbt run needed)."""
    listed = ", ".join(f"'{name}'" for name in sorted(names))
    project.execute(f"delete from {project.schema}.companies where name in ({listed})")


def restore_row(project: IncProject, row: dict[str, Any]) -> None:
    """A row comes back to the model with the values it had."""
    project.execute(
        f"insert into {project.schema}.companies "
        "(name, arr, employees, renewal_date, industry, users) values "
        f"('{row['name']}', {row['arr']}, {row['employees']}, date '{row['renewal_date']}', "
        f"'{row['industry']}', {row['users']})"
    )


def leave_the_model(
    project: IncProject, gone: tuple[int, ...], *, max_retries: int | None = None
) -> tuple[list[dict], list[dict], dict[str, str], set[tuple]]:
    """The ROWS rows synced, then the rows ``gone`` leave the model.

    Returns (rows, rows kept, {name: Gsid} of the planned deletes, the state's rows).
    """
    if max_retries is not None:  # fewer retries: a fault can outlast them quickly
        project.edit(
            "gainsight.yml",
            "    max_in_flight:",
            f"    max_retries: {max_retries}\n    max_in_flight:",
        )
    rows = companies(ROWS)
    project.sync()
    names = {f"Company {i:05d}" for i in gone}
    planned = {name: gsid for name, gsid in gsids_by_name(project).items() if name in names}
    assert len(planned) == len(gone)
    kept = [r for r in rows if r["name"] not in names]
    drop_rows(project, names)
    state = set(project.state())
    assert len(state) == ROWS
    return rows, kept, planned, state


def assert_state_is_gainsight(project: IncProject) -> set[str]:
    """The state's Gsids are exactly Gainsight's Company records (no more, no fewer)."""
    held = set(gsids_by_name(project).values())
    state = project.state_gsids()
    assert len(state) == len(set(state)), "the state holds a Gsid twice"
    missing_in_gainsight = set(state) - held
    assert not missing_in_gainsight, (
        f"state rows whose record Gainsight lacks: {missing_in_gainsight}"
    )
    assert set(state) == held, f"records not in the state: {held - set(state)}"
    return held


def assert_deleted_exactly(project: IncProject, kept: list[dict], planned: dict[str, str]):
    """Gainsight holds exactly the kept rows; none of the planned Gsids; state == Gainsight."""
    stored = assert_emulator_matches(project.gs, kept)
    assert not set(planned.values()) & {r["Gsid"] for r in stored.values()}
    assert_state_is_gainsight(project)
    assert len(project.state()) == len(kept)


# -- 1. A Ctrl-C while the read-back query is in flight --------------------------------------


def test_a_ctrl_c_while_the_deletes_read_back_is_in_flight_deletes_nothing(project: IncProject):
    """5 rows leave the model. The read-back query (the only query of this run: nothing is
    sent) is held by the emulator for 120 s; a SIGINT while it is in flight exits 130 within
    seconds, without a traceback, with 0 DELETE calls: every planned record is still in
    Gainsight and the state table is row for row what it was. The run results say
    interrupted, 0 deleted. The next run deletes exactly the 5 planned records."""
    gs = project.gs
    rows, kept, planned, state = leave_the_model(project, GONE)
    gs.inject_fault("timeout", seconds=120, method="POST", path_contains=QUERY_PATH)
    before = gs.counters()

    def reading_back() -> bool:
        """The held query arrived (its fault is taken) and has not finished."""
        now = gs.counters()
        in_flight = now["calls"] - sum(now["by_route"].values())
        return not gs.core.faults.pending and in_flight >= 1

    log = project.dir / "reading-back.log"
    proc = start_sync(project, log)
    with reaped(proc):
        wait_until(reading_back, proc, log, timeout=120)
        time.sleep(0.3)  # well inside the phase
        assert reading_back() and routes_since(project, before)[DELETE_ROUTE] == 0
        code, took = signal_and_wait(proc)
    output = log.read_text()
    assert code == 130, output
    assert took < EXIT_WITHIN, f"exit {took:.1f}s after SIGINT\n{output}"
    assert "Traceback" not in output, output

    routes = routes_since(project, before)
    assert routes[DELETE_ROUTE] == 0 and gs.counters()["records_deleted"] == 0
    assert routes[QUERY_ROUTE] == 0  # the held read-back never answered
    held = gsids_by_name(project)
    assert len(held) == ROWS and set(planned.values()) <= set(held.values())
    assert set(project.state()) == state  # row for row
    report = project.report()
    (model,) = report["results"]
    assert report["metadata"]["interrupted"] is True
    assert model["status"] == "error" and model["deleted"] == 0, model

    gs.clear_faults()
    before = gs.counters()
    rest = project.sync()
    assert (rest.model["deleted"], rest.model["status"]) == (5, "success"), rest.model
    routes = routes_since(project, before)
    assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (1, 5)
    assert_deleted_exactly(project, kept, planned)


# -- 2. The guard stops the model before any read-back call ----------------------------------


def test_the_delete_guard_stops_the_model_before_any_read_back_call(project: IncProject):
    """60 rows synced; 11 leave (18%: over max_per_run 10 only). The sync exits 1 with 0
    query calls and 0 DELETE calls (the guard runs before the read-back), the message says
    `--allow-deletes 11`; --allow-deletes 10 (under the plan) is refused the same way. Then 10
    more leave of the 49 left (20.4%: over max_fraction 0.2 only): refused, 0 query calls.
    --allow-deletes 11 deletes exactly the 11 planned records, with 1 read-back call."""
    gs = project.gs
    gone = tuple(range(0, 55, 5))  # 11 rows
    rows, kept, planned, state = leave_the_model(project, gone)

    for allow in ((), ("--allow-deletes", "10")):
        before = gs.counters()
        stopped = project.sync(*allow, expect=1)
        routes = routes_since(project, before)
        assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (0, 0), (allow, routes)
        assert stopped.model["status"] == "error" and stopped.model["deleted"] == 0
        message = stopped.model["message"]
        assert "11 records left the model" in message and "max_per_run 10" in message
        assert "max_fraction" not in message
        assert "nothing was deleted" in message and "--allow-deletes 11" in message, message
        assert "gs_companies" in stopped.output and "--allow-deletes 11" in stopped.output
        assert len(gs.records("Company")) == 60 and set(project.state()) == state

    before = gs.counters()
    allowed = project.sync("--allow-deletes", "11")
    routes = routes_since(project, before)
    assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (1, 11)
    assert allowed.model["deleted"] == 11
    assert_deleted_exactly(project, kept, planned)

    # 10 more leave: within max_per_run, over max_fraction (10 of the 49 this sync wrote).
    names = {r["name"] for r in kept[:10]}
    planned = {name: gsid for name, gsid in gsids_by_name(project).items() if name in names}
    kept = kept[10:]
    drop_rows(project, names)
    before = gs.counters()
    stopped = project.sync(expect=1)
    routes = routes_since(project, before)
    assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (0, 0), routes
    message = stopped.model["message"]
    assert "10 records left the model" in message and "max_fraction 0.2" in message
    assert "max_per_run" not in message and "--allow-deletes 10" in message, message
    assert len(gs.records("Company")) == 49 and len(project.state()) == 49
    assert set(planned.values()) <= set(gsids_by_name(project).values())


# -- 3. Lost replies: on the read-back query, on a DELETE -------------------------------------


def test_a_read_back_whose_reply_is_lost_deletes_nothing_and_says_so(project: IncProject):
    """max_retries 1. The read-back query's reply is lost on both attempts (the emulator
    answers it, then drops the connection): the tool cannot tell which candidates are still
    in the model, so 0 DELETE calls, every record still in Gainsight, the state unchanged,
    and the model is an error (exit 1) with 0 deleted, not a success. The next run, its
    read-back's reply lost once (retried: a query is safe to repeat), deletes exactly the 5
    planned records."""
    gs = project.gs
    rows, kept, planned, state = leave_the_model(project, GONE, max_retries=1)
    gs.inject_fault("lost_reply", count=2, method="POST", path_contains=QUERY_PATH)
    before = gs.counters()
    failed = project.sync(expect=1)
    routes = routes_since(project, before)
    assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (2, 0), routes
    assert failed.model["status"] == "error", failed.model
    assert failed.model["deleted"] == 0 and failed.model["api_calls"] == 2, failed.model
    assert failed.model["planned_deletes"] == 5, failed.model
    assert "reading the 5 delete candidates back from Gainsight failed" in failed.model["message"]
    assert "nothing was deleted" in failed.model["message"], failed.model
    assert "5 records no longer in the model (not deleted in Gainsight)" in failed.output
    assert len(gs.records("Company")) == ROWS and set(project.state()) == state

    gs.inject_fault("lost_reply", count=1, method="POST", path_contains=QUERY_PATH)
    before = gs.counters()
    done = project.sync()
    routes = routes_since(project, before)
    assert (routes[QUERY_ROUTE], routes[DELETE_ROUTE]) == (2, 5), routes
    assert (done.model["deleted"], done.model["status"]) == (5, "success"), done.model
    assert_deleted_exactly(project, kept, planned)


def test_a_delete_whose_reply_is_lost_leaves_the_state_equal_to_gainsight(project: IncProject):
    """max_retries 1; 6 rows leave. One DELETE's reply is lost once: the retry answers
    "not found" and it counts as deleted. Two DELETEs (records B1, B2) lose their reply on
    both attempts: Gainsight deleted them, the run does not count them as deleted (failed 2,
    status partial) and, as documented, keeps their state rows to try again. Then B2's row
    comes back to the model (same values) while B1 stays gone. The next run's DELETE of B1
    answers "not found" and B1 leaves the state; B2 must be in Gainsight again, and the state
    must hold no Gsid Gainsight lacks.

    FAILS on the current code (a bug, found by this attack): B2's stale state row (same key
    hash, same row hash, the Gsid of the deleted record) makes the returning row
    ``unchanged``, so it is never sent again: Gainsight lacks a row of the model while the
    state says it is synced, until an ``audit --repair`` or a full refresh.
    """
    gs = project.gs
    gone = (3, 14, 15, 22, 30, 39)
    rows, kept, planned, state = leave_the_model(project, gone, max_retries=1)
    once, b1, b2 = (planned[f"Company {i:05d}"] for i in (3, 14, 15))
    gs.inject_fault("lost_reply", count=1, method="DELETE", path_contains=DELETE_PATH + once)
    for gsid in (b1, b2):
        gs.inject_fault("lost_reply", count=2, method="DELETE", path_contains=DELETE_PATH + gsid)
    before = gs.counters()
    first = project.sync(expect=1)
    routes = routes_since(project, before)
    assert routes[DELETE_ROUTE] == 6 + 1 + 2, routes  # one retry, two retries that failed
    assert gs.counters()["records_deleted"] - before["records_deleted"] == 6
    held = gsids_by_name(project)
    assert not set(planned.values()) & set(held.values())  # Gainsight deleted all 6
    model = first.model
    assert (model["deleted"], model["failed"]) == (4, 2), model  # not counted as deleted
    assert model["status"] == "partial" and "2 deletes failed" in model["message"], model
    left = set(project.state_gsids()) - set(held.values())
    assert left == {b1, b2}, left  # documented: a failed delete stays, tried again next run

    # B2's row comes back to the model, unchanged; B1 stays gone.
    back = next(r for r in rows if r["name"] == "Company 00015")
    kept = [*kept, back]
    restore_row(project, back)
    before = gs.counters()
    second = project.sync()
    routes = routes_since(project, before)
    assert routes[DELETE_ROUTE] == 1, routes  # B1 only: "not found"
    assert second.model["deleted"] == 1, second.model
    assert b1 not in project.state_gsids()
    # The harm a stale state row can do: B2 is in the model, so it must be in Gainsight,
    # and the state must name its record there.
    assert_emulator_matches(gs, kept)
    assert_state_is_gainsight(project)
