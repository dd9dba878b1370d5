"""Leases: at most one sync of a model (sync id) at a time, on every adapter.

Two syncs of one model at once would both create its new records in Gainsight (which has no
idempotency key) and both write its state. A sync therefore takes a lease row per model in
``<state schema>.gainsight_locks`` before its first write and deletes it at the end.

Taking leases is insert-then-verify, so it needs no unique constraint (Snowflake and BigQuery
do not enforce them): insert our rows, commit, then read every lease of those models. A run
that finds another run's lease on any of them deletes its own rows and stops with
``LockHeld`` (exit 2, nothing sent). Each run reads after its own commit, so of two racing
runs at least one sees the other: never both go on (at worst both stop).

A lease is taken over when its holder is dead: on the same host, a pid that no longer runs
(a killed sync); anywhere, a heartbeat older than ``STALE_AFTER``. A run renews the heartbeat
of every lease it holds each ``HEARTBEAT_SECONDS`` from a thread of its own, also of the
models it has not reached yet (hours after it took them, behind a long first model), and
before each model's first write it confirms the lease is still its own (``confirm``): a run
whose lease was taken over (its heartbeat stopped for an hour: a suspended process, a lost
warehouse) never sends that model beside the run that took it. And a run whose renewals have
failed for ``LOST_AFTER`` (half of ``STALE_AFTER``) starts no further call (``lost``): a model
hours long never goes on sending once another run may be about to take its lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dbt_gainsight.errors import LockHeld, StateError
from dbt_gainsight.sync.state import StateStore, as_datetime, utc_now

_log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=1)
HEARTBEAT_SECONDS = 60.0  # well inside STALE_AFTER: a live run never looks dead
LOST_AFTER = STALE_AFTER / 2  # unrenewed this long, a run starts no call: others may take over
LOCK_HELP = "README: Two syncs at once"


@dataclass(frozen=True)
class Lease:
    """One model held by one run."""

    sync_id: str
    model: str
    run_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime

    def dead(self, now: datetime) -> bool:
        """Whether the holder is gone: a dead local pid, or no heartbeat for STALE_AFTER."""
        if self.host == socket.gethostname() and not _alive(self.pid):
            return True
        return now - self.heartbeat_at > STALE_AFTER


class Leases:
    """The leases one run holds; ``acquire`` before the first write, ``release`` at the end."""

    def __init__(
        self, store: StateStore, run_id: str, *, heartbeat_seconds: float | None = None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.held: list[str] = []
        self.heartbeat_seconds = heartbeat_seconds or HEARTBEAT_SECONDS
        self._heartbeat: _Heartbeat | None = None
        self.beats: list[Callable[[], None]] = []  # also run each beat (the call ledger)
        self.taken_over = False  # a renewal found a lease of this run gone: for good

    def acquire(self, models: Sequence[tuple[str, str]]) -> None:
        """Take a lease on each (sync id, model name), or raise LockHeld and take none."""
        if not models:
            return
        store, wh = self.store, self.store.wh
        now = utc_now()
        ids = [sync_id for sync_id, _ in models]
        self._clear_dead(ids, now)
        b = wh.binding_char()
        host, pid = socket.gethostname(), str(os.getpid())
        self.held = ids  # first: whatever stops acquire from here deletes the rows it wrote
        try:
            wh.run_in_transaction(
                [
                    (
                        f"insert into {store.locks} values ({b}, {b}, {b}, {b}, {b}, {b}, {b})",
                        [sync_id, model, self.run_id, host, pid, now, now],
                    )
                    for sync_id, model in models
                ]
            )
            others = [lease for lease in self._rows(ids) if lease.run_id != self.run_id]
            if others:
                raise LockHeld(_message(others, store))
            # Kept before it starts: a Ctrl-C while it connects must still stop it.
            self._heartbeat = _Heartbeat(self, self.heartbeat_seconds)
            self._heartbeat.start()
            if self._heartbeat.error is not None:  # a lease nobody renews would be taken over
                error = self._heartbeat.error
                raise StateError(
                    f"could not open a warehouse connection to renew the sync leases ({error}); "
                    "nothing was sent. A run needs one connection more than dbt's threads."
                ) from error
        except BaseException:  # a Ctrl-C or SIGTERM too: no lease, no heartbeat left behind
            try:
                self.release()
            except Exception as exc:  # noqa: BLE001 - the first error is the one to report
                _log.warning("could not delete this run's new sync leases (%s)", exc)
            raise

    def confirm(self, sync_id: str, model: str) -> None:
        """Raise LockHeld unless this run still holds the lease on ``sync_id`` (``model``).

        Called before a model's first write: a lease is taken over only once its heartbeat is
        an hour old, so this can only fail for a run that stopped renewing (suspended, or cut
        off from the warehouse) and then woke up.
        """
        leases = self._rows([sync_id])
        if any(lease.run_id == self.run_id for lease in leases):
            return
        others = [lease for lease in leases if lease.run_id != self.run_id]
        if others:
            raise LockHeld(_message(others, self.store))
        raise LockHeld(
            f"this run's lease on {model} was taken over by another run while this one waited "
            f"(its heartbeat had stopped for {int(STALE_AFTER.total_seconds() // 60)} minutes); "
            f"nothing was sent for {model} in this run. Sync it again."
        )

    def on_beat(self, task: Callable[[], None]) -> None:
        """Run ``task`` after each renewal, on the heartbeat's thread and connection."""
        self.beats.append(task)

    def lost(self) -> str | None:
        """Why this run must start no more calls, or None while its leases are renewed.

        Asked before every call, so it reads a clock, not the warehouse: once no renewal has
        landed for ``LOST_AFTER``, another run may take the leases over within the next
        ``STALE_AFTER - LOST_AFTER``, and two runs sending one model duplicate its records.
        """
        if self.taken_over:
            return (
                "another run took this run's sync lease over (its heartbeat had stopped for "
                f"{int(STALE_AFTER.total_seconds() // 60)} minutes: a suspended process?); "
                "stopped. What Gainsight accepted is saved; the rest is sent by the next run."
            )
        beat = self._heartbeat
        if beat is None:
            return None
        quiet = _clock() - beat.renewed_at
        if quiet < LOST_AFTER.total_seconds():
            return None
        return (
            f"could not renew the sync lease for {quiet:.0f} s ({beat.last_error}); stopped "
            "before another run could take it over. What Gainsight accepted is saved; the "
            "rest is sent by the next run."
        )

    def renew(self) -> None:
        """Move the heartbeat of every lease this run holds to now; note one that is gone.

        A renewal after a long pause (a suspended laptop) may find that another run took a
        lease over: ``taken_over`` then stops this run's calls for good (``lost``).
        """
        wh = self.store.wh
        me = wh.literal(self.run_id)
        wh.run_in_transaction(
            [
                (
                    f"update {self.store.locks} set heartbeat_at = {wh.binding_char()} "
                    f"where run_id = {me}",
                    [utc_now()],
                )
            ]
        )
        # Counted after the update: a takeover before it shows now (one between a count and
        # the update went unseen); a taker deletes only the heartbeat it read, never this one.
        held = wh.execute(f"select count(*) from {self.store.locks} where run_id = {me}", True)
        wh.run_in_transaction([])  # ends the read's implicit transaction
        if self.held and int(held[0][0]) < len(self.held):
            self.taken_over = True

    def release(self) -> None:
        """Delete this run's leases (also after a failure: the next run may start)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
            for task in self.beats:  # a last beat: what the tasks share is final (call ledger)
                try:
                    task()
                except Exception as exc:  # noqa: BLE001 - the leases go regardless
                    _log.warning("a heartbeat task failed at the end of the run (%s)", exc)
        if not self.held:
            return
        wh = self.store.wh
        wh.run_in_transaction(
            [(f"delete from {self.store.locks} where run_id = {wh.literal(self.run_id)}", None)]
        )
        self.held = []

    def others(self, ids: Sequence[str]) -> list[Lease]:
        """Live leases other runs hold on these syncs (what a run that takes none may race)."""
        now = utc_now()
        return [
            lease
            for lease in self._rows(ids)
            if lease.run_id != self.run_id and not lease.dead(now)
        ]

    def _rows(self, ids: Sequence[str]) -> list[Lease]:
        wh = self.store.wh
        listed = ", ".join(wh.literal(i) for i in ids)
        rows = wh.execute(
            "select sync_id, model_name, run_id, host, pid, started_at, heartbeat_at "
            f"from {self.store.locks} where sync_id in ({listed})",
            fetch=True,
        )
        return [
            Lease(sid, model, run, host, int(pid), as_datetime(started), as_datetime(beat))
            for sid, model, run, host, pid, started, beat in rows
        ]

    def _clear_dead(self, ids: Sequence[str], now: datetime) -> None:
        """Delete the dead leases on these syncs, and only those.

        The same run may hold others that look alive (a lease aged by hand, a clock step):
        they stay its own.
        """
        dead = [lease for lease in self._rows(ids) if lease.dead(now)]
        if dead:
            wh = self.store.wh
            b = wh.binding_char()
            wh.run_in_transaction(
                [  # only the heartbeat read: a holder that renewed since (awake again) keeps it
                    (
                        f"delete from {self.store.locks} where sync_id = {wh.literal(ls.sync_id)} "
                        f"and run_id = {wh.literal(ls.run_id)} and heartbeat_at = {b}",
                        [ls.heartbeat_at],
                    )
                    for ls in dead
                ]
            )


class _Heartbeat:
    """Renews a run's leases every ``seconds`` from its own thread and warehouse connection.

    It must connect before the run goes on (``error`` says why it could not); later, a failed
    renewal is logged and the connection opened again at the next beat, since an hour of
    failures is what it takes for another run to take the leases over.
    """

    CONNECT_SECONDS = 60.0

    def __init__(self, leases: Leases, seconds: float) -> None:
        self._leases = leases
        self._seconds = seconds
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self.error: BaseException | None = None  # could not connect at the start
        self.last_error: BaseException | None = None  # the latest failed renewal
        self.renewed_at = _clock()  # the leases were written just now
        self._thread = threading.Thread(target=self._run, name="gainsight-lease", daemon=True)

    def start(self) -> None:
        """Start renewing; return once connected (or ``error`` says why not)."""
        self._thread.start()
        if not self._connected.wait(self.CONNECT_SECONDS) and self.error is None:
            self.error = TimeoutError(f"no connection within {self.CONNECT_SECONDS:g}s")

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():  # not started: a Ctrl-C came first
            self._thread.join(timeout=10)  # a renewal in flight is one short statement

    def _run(self) -> None:
        first = True
        while not self._stopped.is_set():
            try:
                with self._leases.store.wh.connection("gainsight-lease"):
                    first = False
                    self._connected.set()
                    while not self._stopped.wait(self._seconds):
                        self._leases.renew()
                        self.renewed_at = _clock()
                        self._run_tasks()
            except Exception as exc:  # noqa: BLE001 - reported, then tried again
                if first:
                    self.error = exc
                    self._connected.set()
                    return
                self.last_error = exc
                _log.warning("could not renew the sync leases (%s); trying again", exc)
                self._stopped.wait(self._seconds)

    def _run_tasks(self) -> None:
        """The other beats' tasks; one that fails is logged and never holds up a renewal."""
        for task in self._leases.beats:
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                _log.warning("a heartbeat task failed (%s); trying again next beat", exc)


def _clock() -> float:
    """Seconds on a clock that keeps counting while the machine sleeps (Linux: boot time).

    ``time.monotonic`` stops during a suspend, so an hour asleep looked like no pause at all.
    """
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _message(others: list[Lease], store: StateStore) -> str:
    """One line: which models, held by which run, since when, and how to clear it."""
    lease = min(others, key=lambda lease: lease.started_at)
    models = ", ".join(sorted({o.model for o in others}))
    return (
        f"{models} {'is' if len(others) == 1 else 'are'} being synced by run {lease.run_id} "
        f"(host {lease.host}, pid {lease.pid}) since {lease.started_at:%Y-%m-%d %H:%M:%S} UTC; "
        "nothing was sent. Wait for it to finish; if that run is dead, its lease is taken over "
        f"after {int(STALE_AFTER.total_seconds() // 60)} minutes without a heartbeat, or clear "
        f"it now with: delete from {store.locks} where run_id = '{lease.run_id}'"
    )
