"""The state writer on real DuckDB: buffered writes land; a dead writer never hangs a sync."""

from __future__ import annotations

import _thread
import contextlib
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from dbt_gainsight.errors import (
    CallBudgetUsed,
    LockHeld,
    StateError,
    StateWriteError,
    WarehouseError,
)
from dbt_gainsight.project import DbtArgs, DbtProject
from dbt_gainsight.sync import budget, history, lock
from dbt_gainsight.sync import writer as writer_module
from dbt_gainsight.sync.budget import DailyBudget, calls_today, daily_budgets
from dbt_gainsight.sync.lock import Leases
from dbt_gainsight.sync.report import SyncResult
from dbt_gainsight.sync.runner import Runner, SyncOptions
from dbt_gainsight.sync.state import Reject, StateStore, utc_now
from dbt_gainsight.sync.writer import StateWriter
from dbt_gainsight.warehouse import Warehouse
from tests.conftest import REPO, copy_project
from tests.unit.test_diff_sql import _warehouse


@pytest.fixture
def store(tmp_path, monkeypatch):
    project = copy_project(REPO / "tests" / "projects" / "bad_records", tmp_path / "project")
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(tmp_path / "state.duckdb"))
    args = DbtArgs.from_options(project, project)
    wh = Warehouse(args, DbtProject(args).manifest)
    with wh.connection("test"):
        store = StateStore(wh, "main_gainsight")
        store.ensure()
        yield store
    wh.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_store(request, tmp_path, monkeypatch):
    """A state store on DuckDB or Postgres: for what runs at once share (leases, the ledger)."""
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    with _warehouse(tmp_path, monkeypatch, pg) as wh:
        store = StateStore(wh, "shared_gainsight")
        store.ensure()
        yield store


def test_accepted_records_are_flushed_to_state(store):
    writer = StateWriter(store, sync_id="s1", run_id="r1", model_name="m")
    for i in range(1234):
        writer.accepted([f"k{i}"], [f"h{i}"], [f"g{i}"])
    writer.close()
    rows = store.wh.execute(f"select count(*), count(distinct gsid) from {store.state}", fetch=True)
    assert rows == [(1234, 1234)]
    assert writer.flushed_accepted == 1234


def test_a_failing_writer_raises_instead_of_blocking(store, monkeypatch):
    monkeypatch.setattr(writer_module, "QUEUE_LIMIT", 10)

    def broken_flush(self, *batch):
        raise RuntimeError("warehouse went away")

    monkeypatch.setattr(StateWriter, "_flush", broken_flush)
    writer = StateWriter(store, sync_id="s1", run_id="r1", model_name="m", flush_rows=5)
    outcome: dict[str, BaseException] = {}

    def send() -> None:
        try:
            for i in range(10_000):
                writer.accepted([f"k{i}"], [f"h{i}"], [None])
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sender.join(timeout=20)
    assert not sender.is_alive(), "StateWriter.accepted blocked after the writer died"
    assert isinstance(outcome.get("error"), StateWriteError)
    assert "warehouse went away" in str(outcome["error"])
    with pytest.raises(StateWriteError, match="warehouse went away"):
        writer.close()


def test_statistics_that_cannot_be_refreshed_do_not_fail_a_written_state(store, monkeypatch):
    """ANALYZE (Postgres) after the last flush only helps the next plan: its failure must not
    report the state, which is written, as lost ("sent again next run")."""

    def refused(self):
        raise RuntimeError("must be owner of table gainsight_sync_state")

    monkeypatch.setattr(StateStore, "refresh_statistics", refused)
    writer = StateWriter(store, sync_id="s1", run_id="r1", model_name="m")
    writer.accepted(
        [f"k{i}" for i in range(10)], [f"h{i}" for i in range(10)], [f"g{i}" for i in range(10)]
    )
    writer.close()
    assert store.wh.execute(f"select count(*) from {store.state}", fetch=True) == [(10,)]


def test_within_a_flush_the_last_answer_for_a_key_is_the_one_kept(store):
    """Answers meet in the writer's buffer by key hash: a later accept replaces an earlier
    reject or accept of the key, a later reject an accept; a key that may have a state row
    already (``replaces``) has it replaced, not doubled."""
    writer = StateWriter(store, sync_id="s1", run_id="r1", model_name="m")
    writer.accepted(["old"], ["h-old-1"], ["g-old"], [False])
    writer.close()  # a state row from an earlier run

    writer = StateWriter(store, sync_id="s1", run_id="r2", model_name="m")
    writer.rejected(Reject("k1", {"Name": "one"}, "E1", "first refused"))
    writer.accepted(["k1", "k2", "k3"], ["h1", "h2", "h3-first"], ["g1", "g2", "g3"], [False] * 3)
    writer.rejected(Reject("k2", {"Name": "two"}, "E2", "then refused"))
    writer.accepted(["k3", "old"], ["h3-second", "h-old-2"], [None, "g-old"], [False, True])
    writer.close()

    state = store.wh.execute(
        f"select key_hash, row_hash, gsid from {store.state} order by key_hash", fetch=True
    )
    assert [tuple(r) for r in state] == [
        ("k1", "h1", "g1"),
        ("k3", "h3-second", None),
        ("old", "h-old-2", "g-old"),
    ]
    rejects = store.wh.execute(f"select key_hash, error_code from {store.rejects}", fetch=True)
    assert [tuple(r) for r in rejects] == [("k2", "E2")]
    assert (writer.flushed_accepted, writer.flushed_rejected) == (3, 1)


def test_a_run_renews_every_lease_it_holds_until_it_releases_them(store):
    """The heartbeat renews the leases of models the run has not reached yet (before, only
    the state writer of the model being sent renewed its own), and stops at release."""
    leases = Leases(store, "run-1", heartbeat_seconds=0.05)
    leases.acquire([("s1", "first"), ("s2", "later")])
    _age_leases_and_wait_for_renewal(store, 2)
    leases.confirm("s2", "later")  # still ours
    leases.release()
    assert store.wh.execute(f"select count(*) from {store.locks}", fetch=True) == [(0,)]
    assert not [t for t in threading.enumerate() if t.name == "gainsight-lease"]
    with pytest.raises(LockHeld, match="lease on later was taken over"):
        leases.confirm("s2", "later")


def test_tables_another_process_created_are_seen_not_created_again(store):
    """dbt caches a schema's relations once listed; a table made since by another run (here:
    behind dbt's back) was created again from that list and the run's history row was lost
    ("relation gainsight_runs already exists", found by an attack with two runs)."""
    wh = store.wh
    wh.adapter.list_relations(store.syncs.database, store.schema)  # dbt caches the schema
    wh.execute(f"create table {store.schema}.gainsight_runs (run_id varchar)")
    assert history.ensure(store).identifier == "gainsight_runs"  # no second create
    assert "gainsight_runs" in wh.table_names(store.schema)


def test_the_heartbeat_outlives_a_failed_renewal(store, monkeypatch):
    """A renewal that fails (a dropped connection) is tried again on a new connection at the
    next beat, so one failure never leaves the leases to age until another run takes them."""
    failures = []
    renew = Leases.renew

    def flaky(self):
        if not failures:
            failures.append(1)
            raise RuntimeError("server closed the connection unexpectedly")
        renew(self)

    monkeypatch.setattr(Leases, "renew", flaky)
    leases = Leases(store, "run-2", heartbeat_seconds=0.05)
    leases.acquire([("s9", "model")])
    _age_leases_and_wait_for_renewal(store, 1)
    assert failures == [1]
    leases.release()


def test_leases_nobody_renews_stop_the_run_before_they_may_be_taken_over(store, monkeypatch):
    """A heartbeat that cannot connect at the start takes no lease (StateError, nothing
    held); one whose renewals keep failing makes ``lost`` say why, which the engine and the
    deletes check before each call, and a run that holds none has nothing to lose."""
    monkeypatch.setattr(lock, "LOST_AFTER", timedelta(seconds=0.3))
    connection = type(store.wh).connection

    @contextmanager
    def refused(self, name):
        if name == "gainsight-lease":
            raise RuntimeError("too many connections for role")
        with connection(self, name):
            yield self

    monkeypatch.setattr(type(store.wh), "connection", refused)
    leases = Leases(store, "run-3", heartbeat_seconds=0.05)
    with pytest.raises(StateError, match="too many connections for role.*nothing was sent"):
        leases.acquire([("s1", "model")])
    assert store.wh.execute(f"select count(*) from {store.locks}", fetch=True) == [(0,)]
    assert leases.lost() is None  # holds none

    monkeypatch.setattr(type(store.wh), "connection", connection)
    monkeypatch.setattr(Leases, "renew", _refused_renewal)
    leases.acquire([("s1", "model")])
    assert leases.lost() is None  # just taken
    deadline = time.monotonic() + 10
    while (reason := leases.lost()) is None:
        assert time.monotonic() < deadline, "never reported lost"
        time.sleep(0.05)
    assert "could not renew the sync lease" in reason and "connection reset" in reason
    leases.release()
    assert leases.lost() is None


def test_a_run_whose_lease_was_taken_over_while_it_slept_stops_for_good(shared_store):
    """Suspended for an hour, a run's lease is taken over; on waking, its first renewal
    succeeded (it updates no row) and cleared ``lost``, so the model went on sending beside
    the run that took it (found by review). A renewal now notices the missing lease, and
    ``lost`` says so for the rest of the run, renewals or not."""
    leases = Leases(shared_store, "run-slept", heartbeat_seconds=0.05)
    leases.acquire([("s1", "first"), ("s2", "second")])
    assert leases.lost() is None
    wh = shared_store.wh
    b = wh.binding_char()
    wh.run_in_transaction(  # what another run's acquire does to a dead lease: delete, insert
        [
            (f"delete from {shared_store.locks} where sync_id = 's2'", None),
            (
                f"insert into {shared_store.locks} values "
                f"('s2', 'second', 'run-other', 'host', '1', {b}, {b})",
                [utc_now(), utc_now()],
            ),
        ]
    )
    _wait_for(lambda: leases.lost() is not None)
    time.sleep(0.3)  # several successful renewals of s1 later
    assert "took this run's sync lease over" in leases.lost()
    leases.release()
    rows = wh.execute(f"select run_id from {shared_store.locks}", fetch=True)
    assert rows == [("run-other",)]  # its lease is not this run's to release


def _refused_renewal(self):
    raise RuntimeError("connection reset by peer")


def _age_leases_and_wait_for_renewal(store, leases: int) -> None:
    """Set every lease's heartbeat years back, then wait until the heartbeat renewed each."""
    old = "2020-01-01 00:00:00"
    store.wh.run_in_transaction([(f"update {store.locks} set heartbeat_at = '{old}'", None)])
    deadline = time.monotonic() + 10
    query = f"select count(*) from {store.locks} where heartbeat_at > '{old}'"
    while store.wh.execute(query, fetch=True) != [(leases,)]:
        assert time.monotonic() < deadline, f"{leases} leases not renewed within 10 s"
        time.sleep(0.05)


def test_runs_at_once_share_the_daily_call_budget(shared_store):
    """The daily budget counted finished runs only (the run history is written at the end),
    so two runs at once on one connection each spent the whole budget, and a killed run's
    calls never counted. Each run now shares its calls with every heartbeat, and counts
    those of the runs still going (or killed) beside the history."""
    first = Leases(shared_store, "run-a", heartbeat_seconds=0.05)
    first.acquire([("s1", "accounts")])
    [budget_a] = _budgets(shared_store, "run-a", first).values()
    for _ in range(20):
        budget_a.take()
    _wait_for(lambda: _calls_today(shared_store, "run-b") == 20)

    second = Leases(shared_store, "run-b", heartbeat_seconds=0.05)
    second.acquire([("s2", "contacts")])  # another model, the same connection
    [budget_b] = _budgets(shared_store, "run-b", second).values()
    for _ in range(10):
        budget_b.take()
    with pytest.raises(CallBudgetUsed, match="30 of 30 calls today"):
        budget_b.take()
    _wait_for(lambda: budget_a.spent)  # run-a sees run-b's calls within a heartbeat
    first.release()  # killed, say: no history row; its shared calls still count
    second.release()
    assert _calls_today(shared_store, "run-c") == 30

    # Once a run is in the history, its history row counts, not its shared calls.
    history_row = {"run_id": "run-a", "api_calls": 21, "metadata_calls": 1}
    _insert_history(shared_store, history_row)
    assert _calls_today(shared_store, "run-c") == 22 + 10
    # A history row without a run id once hid every running run ("not in" meets a NULL).
    _insert_history(shared_store, {"run_id": None, "api_calls": 1, "metadata_calls": 0})
    assert _calls_today(shared_store, "run-c") == 22 + 1 + 10


def test_a_run_shares_its_final_count_as_it_ends(shared_store):
    """The ledger held a run's calls as of its last heartbeat (a minute before it ended); an
    overnight run's today's calls count from the ledger, so the end is a last beat."""
    leases = Leases(shared_store, "run-x", heartbeat_seconds=3600)
    leases.acquire([("s9", "accounts")])
    [daily] = _budgets(shared_store, "run-x", leases).values()
    for _ in range(7):
        daily.take()
    leases.release()
    assert _calls_today(shared_store, "run-y") == 7


def test_a_run_past_midnight_counts_the_new_day_from_zero(shared_store, monkeypatch):
    """Before, a run that began before midnight (UTC) kept yesterday's calls against today's
    budget, and its ledger row, dated at its start, counted for no other run today."""
    now = [datetime(2026, 12, 1, 23, 59)]
    monkeypatch.setattr(budget, "utc_now", lambda: now[0])
    late = DailyBudget("default", 30, used_before=25)
    share = late.sharer(shared_store, "run-late")
    for _ in range(5):
        late.take()
    with pytest.raises(CallBudgetUsed):
        late.take()
    now[0] = datetime(2026, 12, 2, 0, 1)
    for _ in range(3):
        late.take()
    assert late.used == 3
    share()
    rows = shared_store.wh.execute(
        f"select calls, started_at from {shared_store.ledger}", fetch=True
    )
    assert rows == [(3, datetime(2026, 12, 2))]
    assert _calls_today(shared_store, "run-next") == 3
    # The run ends and its history row (dated at its start, yesterday) is written: today's
    # three calls still count (before, they dropped out of today's total with the ledger row).
    started = datetime(2026, 12, 1, 23, 0)
    _insert_history(shared_store, {"run_id": "run-late", "api_calls": 8, "started_at": started})
    assert _calls_today(shared_store, "run-next") == 3


def _budgets(store, run_id: str, leases: Leases) -> dict:
    connection = type("Connection", (), {"name": "default", "daily_call_budget": 30})()
    client = type("Client", (), {"gate_calls": lambda self, gate: None})()
    budgets = daily_budgets(store, [connection], {"default": client}, run_id)
    for daily in budgets.values():
        leases.on_beat(daily.sharer(store, run_id))
    return budgets


def _calls_today(store, run_id: str) -> int:
    """``calls_today`` as another run would see it (DuckDB: a new transaction's snapshot)."""
    store.wh.run_in_transaction([])
    return calls_today(store, "default", run_id)


def _insert_history(store, row: dict) -> None:
    relation = history.ensure(store)
    b = store.wh.binding_char()
    row = {"connection_name": "default", "started_at": utc_now(), **row}
    store.wh.run_in_transaction(
        [
            (
                f"insert into {relation} ({', '.join(row)}) values ({', '.join([b] * len(row))})",
                list(row.values()),
            )
        ]
    )


def _wait_for(condition) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "not within 10 s"
        time.sleep(0.05)


def test_an_overnight_runs_calls_after_midnight_count_once_it_has_ended(shared_store, monkeypatch):
    """History rows are one per model, dated at the model's start. A run that began before
    midnight, whose first model went on after it and whose second began after it, had its
    ledger row (today's calls) dropped for the second model's history row: the first model's
    calls after midnight counted for no one. Such a run now counts by its ledger row only."""
    now = [datetime(2026, 12, 1, 23, 50)]
    monkeypatch.setattr(budget, "utc_now", lambda: now[0])
    late = DailyBudget("default", 1000, used_before=0)
    share = late.sharer(shared_store, "run-late")
    for _ in range(10):  # the first model, before midnight: yesterday's
        late.take()
    now[0] = datetime(2026, 12, 2, 0, 20)
    for _ in range(40):  # the first model, after midnight
        late.take()
    now[0] = datetime(2026, 12, 2, 0, 30)
    for _ in range(5):  # the second model, begun after midnight
        late.take()
    share()  # the run's last beat
    day = DailyBudget("default", 1000, used_before=0)  # a run of today's, beside it
    share_day = day.sharer(shared_store, "run-day")
    for _ in range(7):
        day.take()
    share_day()
    assert _calls_today(shared_store, "run-next") == 45 + 7

    late_models = [(datetime(2026, 12, 1, 23, 50), 50), (datetime(2026, 12, 2, 0, 30), 5)]
    for started, calls in late_models:
        _insert_history(
            shared_store, {"run_id": "run-late", "api_calls": calls, "started_at": started}
        )
    started = datetime(2026, 12, 2, 0, 40)
    _insert_history(shared_store, {"run_id": "run-day", "api_calls": 7, "started_at": started})
    assert _calls_today(shared_store, "run-next") == 45 + 7


def test_spent_and_allows_see_a_new_day_before_the_next_call(monkeypatch):
    """Only ``take`` rolled the day over: past midnight, a run whose budget was used went on
    saying ``spent`` (and ``allows`` nothing) until its next call, which never came."""
    now = [datetime(2026, 12, 1, 23, 59)]
    monkeypatch.setattr(budget, "utc_now", lambda: now[0])
    daily = DailyBudget("default", 30, used_before=30)
    assert daily.spent and not daily.allows()
    now[0] = datetime(2026, 12, 2, 0, 1)
    assert not daily.spent and daily.allows(30) and not daily.allows(31)


def test_a_beat_across_midnight_keeps_no_count_of_yesterday(store, monkeypatch):
    """A beat read the other runs' calls, then set them as today's outside the lock: one whose
    read began before midnight put yesterday's calls into the new day's count."""
    now = [datetime(2026, 12, 1, 23, 59, 59)]
    monkeypatch.setattr(budget, "utc_now", lambda: now[0])

    def read_at_midnight(store, connection, run_id):
        now[0] = datetime(2026, 12, 2, 0, 0, 1)
        daily.take()  # a call of the new day, on another thread, while the beat reads
        return 29_000  # yesterday's

    monkeypatch.setattr(budget, "calls_today", read_at_midnight)
    daily = DailyBudget("default", 30_000, used_before=0)
    daily.sharer(store, "run-late")()
    assert daily.used == 1


def test_an_acquire_that_fails_after_its_insert_leaves_no_lease(shared_store, monkeypatch):
    """A warehouse error in the read that verifies the new leases left them behind, held
    (same host, pid alive) for an hour against every later run."""
    rows = Leases._rows

    def dropped(self, ids):
        if self.held:  # the read after the insert
            raise WarehouseError("server closed the connection unexpectedly")
        return rows(self, ids)

    monkeypatch.setattr(Leases, "_rows", dropped)
    leases = Leases(shared_store, "run-a", heartbeat_seconds=0.05)
    with pytest.raises(WarehouseError):
        leases.acquire([("s1", "accounts")])
    assert shared_store.wh.execute(f"select count(*) from {shared_store.locks}", True) == [(0,)]
    assert not [t for t in threading.enumerate() if t.name == "gainsight-lease"]


def test_a_ctrl_c_while_the_heartbeat_connects_leaves_no_lease(shared_store, monkeypatch):
    """A Ctrl-C (or SIGTERM) that landed while acquire waited for the heartbeat's connection
    came before the heartbeat was kept: its lease stayed behind, renewed by a thread nothing
    could stop, so the model was locked for as long as the process lived."""
    connection = type(shared_store.wh).connection

    @contextmanager
    def slow(self, name):
        if name == "gainsight-lease":
            _thread.interrupt_main()  # the signal lands while acquire waits for this
            time.sleep(0.5)  # a remote warehouse's connect
        with connection(self, name):
            yield self

    monkeypatch.setattr(type(shared_store.wh), "connection", slow)
    leases = Leases(shared_store, "run-a", heartbeat_seconds=0.05)
    with pytest.raises(KeyboardInterrupt):
        leases.acquire([("s1", "accounts")])
    assert shared_store.wh.execute(f"select count(*) from {shared_store.locks}", True) == [(0,)]
    _wait_for(lambda: not [t for t in threading.enumerate() if t.name == "gainsight-lease"])
    time.sleep(0.2)  # no renewal writes a lease back
    assert shared_store.wh.execute(f"select count(*) from {shared_store.locks}", True) == [(0,)]


def test_a_ctrl_c_as_the_leases_are_taken_releases_them(store, monkeypatch):
    """The runner took its leases outside the try whose finally releases them: a Ctrl-C just
    after they were taken left them behind."""
    acquire = Leases.acquire

    def interrupted(self, models):
        acquire(self, models)
        raise KeyboardInterrupt

    monkeypatch.setattr(Leases, "acquire", interrupted)
    plan = SimpleNamespace(
        sync_id="s1", config=SimpleNamespace(model="accounts"), skip_reason=None, error=None
    )
    result = SyncResult(run_id="run-r", started_at=utc_now().isoformat())
    runner = Runner(wh=store.wh, store=store, clients={}, options=SyncOptions(), result=result)
    with contextlib.suppress(KeyboardInterrupt):
        runner.run([plan])
    assert store.wh.execute(f"select count(*) from {store.locks}", True) == [(0,)]
    assert not [t for t in threading.enumerate() if t.name == "gainsight-lease"]


def test_a_takeover_never_deletes_a_lease_renewed_since_it_was_read(shared_store, monkeypatch):
    """A run read a lease as dead, its holder renewed it (awake again), then the run deleted it
    by sync and run id: both went on sending the model. The delete now needs the heartbeat it
    read, so the renewed lease stays and the taker stops with LockHeld."""
    holder = Leases(shared_store, "run-a", heartbeat_seconds=3600)  # renewed by hand below
    holder.acquire([("s1", "accounts")])
    _make_dead(shared_store)
    rows = Leases._rows

    def renewed_after_the_read(self, ids):
        found = rows(self, ids)
        if self is taker and not taker.held:  # the read that finds the lease dead
            holder.renew()
        return found

    monkeypatch.setattr(Leases, "_rows", renewed_after_the_read)
    taker = Leases(shared_store, "run-b", heartbeat_seconds=3600)
    with pytest.raises(LockHeld, match="run-a"):
        taker.acquire([("s1", "accounts")])
    assert not holder.taken_over
    assert shared_store.wh.execute(f"select run_id from {shared_store.locks}", True) == [("run-a",)]
    holder.release()


def test_a_renewal_sees_a_takeover_that_lands_just_before_its_update(shared_store, monkeypatch):
    """A renewal counted its leases, then updated them: a takeover between the two went
    unseen (the update touched nothing), so the run went on sending beside the taker."""
    holder = Leases(shared_store, "run-a", heartbeat_seconds=3600)  # renewed by hand below
    holder.acquire([("s1", "accounts")])
    _make_dead(shared_store)
    taker = Leases(shared_store, "run-b", heartbeat_seconds=3600)
    wh = shared_store.wh
    run_in_transaction = wh.run_in_transaction

    def taken_over_first(statements):
        if any(sql.startswith("update") for sql, _ in statements):
            monkeypatch.setattr(wh, "run_in_transaction", run_in_transaction)
            taker.acquire([("s1", "accounts")])
        run_in_transaction(statements)

    monkeypatch.setattr(wh, "run_in_transaction", taken_over_first)
    holder.renew()
    assert holder.taken_over
    assert "took this run's sync lease over" in holder.lost()
    taker.release()
    holder.release()


def _make_dead(store) -> None:
    """Age every lease past STALE_AFTER and move it to another host (no pid to check)."""
    b = store.wh.binding_char()
    old = utc_now() - lock.STALE_AFTER - timedelta(minutes=1)
    store.wh.run_in_transaction(
        [(f"update {store.locks} set heartbeat_at = {b}, host = 'ci-elsewhere'", [old])]
    )


@pytest.mark.postgres
def test_first_syncs_at_once_on_a_new_schema_all_start(pg_database, tmp_path, monkeypatch):
    """Syncs that start at once on a new Postgres state schema each created its tables: all
    but one failed ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index"). The losers now find the tables made and go on."""
    with _warehouse(tmp_path, monkeypatch, pg_database) as wh:
        _first_syncs_at_once(wh, monkeypatch)


def _first_syncs_at_once(wh, monkeypatch) -> None:
    table_names = wh.table_names
    barriers = {"state": threading.Barrier(3, timeout=20), "history": threading.Barrier(3)}
    seen = threading.local()

    def listed_at_once(schema):
        """Every run lists the new schema before any creates a table (the race at its widest)."""
        names = table_names(schema)
        if seen.phase not in seen.listed:
            seen.listed.add(seen.phase)
            barriers[seen.phase].wait(timeout=20)
        return names

    monkeypatch.setattr(wh, "table_names", listed_at_once)
    errors: list[BaseException] = []

    def first_sync(n: int) -> None:
        seen.listed = set()
        try:
            with wh.connection(f"race-{n}"):
                store = StateStore(wh, "race_gainsight")
                seen.phase = "state"
                store.ensure()
                seen.phase = "history"
                history.ensure(store)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            for barrier in barriers.values():
                barrier.abort()

    threads = [threading.Thread(target=first_sync, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    names = table_names("race_gainsight")
    assert {"gainsight_locks", "gainsight_meta", "gainsight_runs"} <= names
