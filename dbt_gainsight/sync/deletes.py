"""Mirror deletes (opt-in per model): delete records whose rows have left the model.

Only records this tool wrote are candidates: a state row whose key is no longer in the model
(``DiffQuery.gone_sql``); a record Gainsight holds that the state does not know is never
touched. Two limits guard against a broken model deleting a tenant's data:
``deletes.max_per_run`` and ``deletes.max_fraction`` (of the records this sync wrote). Over
either, nothing is deleted and the model ends with an error; ``--allow-deletes N`` allows up
to N once. A deleted record leaves the state; a delete that failed is tried again next run.

A state row whose key hash is gone may still name a record whose row is in the model: the
key column's type changed (``7`` is hashed as ``'7.00'`` once it is ``numeric(12,2)``) and the
record's update under its new hash was rejected. So before anything is deleted, each
candidate's key is read back from Gainsight (one query call a thousand) and hashed as the
model's key columns are; a record whose key is in the model now is kept, and its stale state
row dropped (the row's next accepted send claims the record again).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from dbt_gainsight import interrupts
from dbt_gainsight.errors import (
    AuthError,
    GainsightAPIError,
    SyncInterrupted,
    ValueConversionError,
    WarehouseError,
)
from dbt_gainsight.gainsight.limits import MAX_IN_VALUES
from dbt_gainsight.gainsight.query import key_text
from dbt_gainsight.gainsight.responses import RecordStatus
from dbt_gainsight.gainsight.types import converter_for
from dbt_gainsight.sync import compare, diff
from dbt_gainsight.sync.state import chunks, key_filters

SHOWN = 20  # Gsids listed in a dry run's message
CANCEL_POLL_SECONDS = 0.5  # how often a wait for answers looks at the cancel event


@dataclass(frozen=True)
class PlannedDeletes:
    """The records a run would delete, and how many records this sync wrote.

    A record is one Gsid, whatever the number of its state rows (a state from before
    ``drop_superseded_rows`` may hold two, under an old and a new key hash).
    """

    rows: tuple[tuple[str, str], ...]  # (key_hash, gsid)
    synced: int

    @property
    def records(self) -> dict[str, list[str]]:
        """Gsid -> its state rows' key hashes, in the plan's order."""
        out: dict[str, list[str]] = {}
        for key_hash, gsid in self.rows:
            out.setdefault(gsid, []).append(key_hash)
        return out

    def __len__(self) -> int:
        return len({gsid for _, gsid in self.rows})

    def without(self, gsids: set[str]) -> PlannedDeletes:
        """The plan less the records of these Gsids."""
        return PlannedDeletes(tuple(r for r in self.rows if r[1] not in gsids), self.synced)

    def read_calls(self) -> int:
        """Query calls that read the candidates' keys back (``still_in_model``)."""
        return -(-len(self) // MAX_IN_VALUES)

    def describe(self) -> str:
        """The planned deletes for a dry run: count and the first Gsids."""
        gsids = list(self.records)
        shown = ", ".join(gsids[:SHOWN])
        more = f" and {len(gsids) - SHOWN} more" if len(gsids) > SHOWN else ""
        return f"would delete {len(gsids)} records whose rows left the model: {shown}{more}"


def plan_deletes(wh, store, gone_sql: str, plan) -> PlannedDeletes:
    """State rows whose key left the model (with a Gsid), and this sync's records.

    The records are counted once, when the run counts the model (``plan.records_before``):
    measured after the model's sends, a broken model that rewrites every key would double
    them and pass any ``max_fraction`` of a half or more.
    """
    rows = tuple((k, g) for k, g in wh.execute(gone_sql, fetch=True) if g)
    if plan.records_before is None:
        plan.records_before = store.records(plan.sync_id)
    return PlannedDeletes(rows=rows, synced=plan.records_before)


def still_in_model(wh, plan, client, planned: PlannedDeletes, query) -> set[str]:
    """Gsids of candidates whose key, as Gainsight holds it, is a key of the model now.

    Two checks, either of which keeps a record. The keys read back are hashed by the
    warehouse as the diff hashes the model's key columns (each value cast to its column's
    type first), so they match whatever the state's old hash was. And the rows the diff does
    not call unchanged (rejected or failed in this run) are converted as the sync converts
    them and compared in Gainsight's form: a key column that turned from ``7`` to ``'0007'``
    hashes differently, but both are record 7 to Gainsight. A candidate Gainsight no longer
    holds is not returned: its delete answers "not found" and its state row goes.
    """
    config = plan.config
    schema = (plan.schemas or {}).get(config.object)
    fields = [schema.field(k) if schema else None for k in config.keys]
    readers = [compare.read_converter(f) if f else (lambda v: v) for f in fields]
    types = [f.data_type if f else None for f in fields]
    found: list[tuple[str, list[str]]] = []
    as_gainsight: dict[tuple, str] = {}  # the key in Gainsight's form -> Gsid
    for part in chunks(list(planned.records), MAX_IN_VALUES):
        for row in client.query(config.object, ["Gsid", *config.keys], [("Gsid", "IN", part)]):
            values = [read(row.get(key)) for key, read in zip(config.keys, readers, strict=True)]
            texts = [compare.key_text(v, False) for v in values]
            if None not in texts:
                found.append((row["Gsid"], texts))
                as_gainsight[tuple(map(key_text, values, types))] = row["Gsid"]
    if not found:
        return set()
    live = _hashed_in_model(wh, plan, found, query.model_keys_sql)
    rest = {key: gsid for key, gsid in as_gainsight.items() if gsid not in live}
    if rest and schema is not None:
        live |= _converted_in_model(wh, plan, schema, rest, query.stream_sql)
    return live


def _converted_in_model(wh, plan, schema, candidates: dict[tuple, str], stream_sql: str):
    """Gsids of ``candidates`` a changed, new or rejected model row converts its key to.

    ``candidates`` are keyed in Gainsight's form; each row's key columns are converted as
    the sync converts them to send (unchanged rows own their state rows: not read).
    """
    at = [plan.columns.index(c) for c in plan.key_columns]
    converts = [converter_for(schema.field(k)) for k in plan.config.keys]
    types = [schema.field(k).data_type for k in plan.config.keys]
    live: set[str] = set()
    for _, rows in wh.stream(stream_sql):
        for row in rows:
            if any(row[i] is None for i in at):
                continue
            try:
                key = tuple(
                    key_text(convert(row[i]), t)
                    for i, convert, t in zip(at, converts, types, strict=True)
                )
            except (ValueConversionError, TypeError, ValueError):
                continue  # a key the sync cannot send names no record
            gsid = candidates.get(key)
            if gsid:
                live.add(gsid)
    return live


def _hashed_in_model(wh, plan, found: list[tuple[str, list[str]]], model_keys_sql: str):
    """Gsids of ``found`` whose key texts, hashed as the model's key columns, are in it."""
    types = [plan.column_types.get(c) for c in plan.key_columns]
    folded = [c in plan.folded_keys for c in plan.key_columns]
    hashes: list[str] = []
    for part in chunks([texts for _, texts in found], diff.KEY_HASH_CHUNK):
        try:
            hashes += diff.key_hashes(wh, part, types, folded, strict=True)
        except WarehouseError as exc:  # a key read back that the column's type refuses
            raise WarehouseError(
                f"could not check whether the records to delete are still in the model ({exc}); "
                "nothing was deleted"
            ) from exc
    live: set[str] = set()
    for where, params in key_filters(wh, sorted(set(hashes))):
        sql = f"select distinct key_hash from ({model_keys_sql}) model_keys where {where}"
        live.update(h for (h,) in wh.fetch(sql, params))
    return {gsid for (gsid, _), h in zip(found, hashes, strict=True) if h in live}


def over_limit(settings, planned: PlannedDeletes, allow: int | None) -> str | None:
    """Why the planned deletes may not run (a limit is passed), or None when they may."""
    n = len(planned)
    if not n or (allow is not None and n <= allow):
        return None
    share = n / planned.synced if planned.synced else 1.0
    passed = []
    if n > settings.max_per_run:
        passed.append(f"deletes.max_per_run {settings.max_per_run}")
    if share > settings.max_fraction:
        passed.append(f"deletes.max_fraction {settings.max_fraction:g}")
    if not passed:
        return None
    return (
        f"{n} records left the model ({share:.0%} of the {planned.synced} this sync wrote), "
        f"over {' and '.join(passed)}; nothing was deleted. If the model is right, allow it "
        f"once with `dbt-gainsight sync --allow-deletes {n}`."
    )


@dataclass
class DeleteOutcome:
    """What the deletes of one model did so far.

    Filled as answers arrive, so a Ctrl-C leaves true counts and forgets exactly the records
    Gainsight no longer holds.
    """

    gone: list[str] = field(default_factory=list)  # key hashes whose record is deleted
    unsure: list[str] = field(default_factory=list)  # key hashes whose delete failed
    failed: int = 0
    first_error: str | None = None
    auth_error: AuthError | None = None
    stopped: str | None = None  # why no further delete started (the run's lease)

    deleted: int = 0  # records (Gsids) deleted

    def take(self, future: Future, key_hashes: list[str]) -> None:
        """One delete's answer: a Gsid Gainsight no longer knows counts as deleted."""
        if future.cancelled():
            return  # never left
        exc = future.exception()
        if isinstance(exc, AuthError):
            self.auth_error = self.auth_error or exc
            return
        if exc is not None:  # interrupted before an answer: tried again next run
            self._fail(key_hashes, str(exc))
            return
        result = future.result()
        if result.status in (RecordStatus.ACCEPTED, RecordStatus.NOT_FOUND):
            self.gone += key_hashes
            self.deleted += 1
        else:
            self._fail(key_hashes, f"{result.error_code}: {result.error_message}")

    def _fail(self, key_hashes: list[str], error: str) -> None:
        self.unsure += key_hashes
        self.failed += 1
        self.first_error = self.first_error or error


def run_deletes(
    client,
    object_name: str,
    planned: PlannedDeletes,
    store,
    sync_id: str,
    workers: int,
    cancel: threading.Event,
    outcome: DeleteOutcome,
    lease_lost: Callable[[], str | None] = lambda: None,
) -> None:
    """Delete the planned records, ``workers`` at a time; drop the deleted ones from the state.

    A failed delete keeps its state row, so the next run tries again, but no longer vouches
    for the record (``_distrust``): Gainsight may have applied a delete whose reply was lost,
    and a row that comes back to the model must then be sent, not skipped as unchanged. On a
    Ctrl-C no new delete starts, the ones in flight finish (a delete that landed must leave
    the state), and SyncInterrupted follows once the state is written.
    """
    workers = max(1, workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gs-delete")
    finished: queue.Queue[Future] = queue.Queue()
    pending: dict[Future, list[str]] = {}

    def collect(until: int) -> None:
        while len(pending) > until:
            interrupts.stop_if_cancelled(cancel)  # set even when the exception was lost
            try:
                future = finished.get(timeout=CANCEL_POLL_SECONDS)
            except queue.Empty:
                continue
            outcome.take(future, pending[future])  # taken, then let go: a Ctrl-C between
            del pending[future]  # the two leaves it pending, taken again at the end: harmless

    interrupted = False
    try:
        for gsid, key_hashes in planned.records.items():
            collect(until=2 * workers - 1)
            if outcome.auth_error is not None:  # the key was refused: no further call
                break
            outcome.stopped = lease_lost()  # asked before each delete, as before each write
            if outcome.stopped:
                break
            future = pool.submit(client.delete, object_name, gsid)
            pending[future] = key_hashes
            future.add_done_callback(finished.put)
        collect(until=0)
    except (KeyboardInterrupt, SyncInterrupted):
        cancel.set()  # every client wait ends now and no new call starts
        interrupted = True
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        finally:  # also after a second Ctrl-C: what Gainsight deleted leaves the state
            for future, key_hashes in pending.items():
                if future.done():
                    outcome.take(future, key_hashes)
            _forget(store, sync_id, list(dict.fromkeys(outcome.gone)))
            _distrust(store, sync_id, list(dict.fromkeys(outcome.unsure)))
    if outcome.auth_error is not None:
        raise outcome.auth_error
    if interrupted:
        raise SyncInterrupted("Interrupted: the records deleted so far left the state.")


def _forget(store, sync_id: str, key_hashes: list[str]) -> None:
    """Drop these state rows: Gainsight no longer holds their records."""
    statements = store.forget_rows(sync_id, key_hashes)
    if statements:
        store.wh.run_in_transaction(statements)


def _distrust(store, sync_id: str, key_hashes: list[str]) -> None:
    """Keep these state rows (their Gsid is deleted again next run), marked to be resent.

    The diff then calls a row that returns to the model changed, not unchanged, so it is
    sent; an update of a record Gainsight deleted is routed to an insert.
    """
    statements = store.resend_rows(sync_id, key_hashes)
    if statements:
        store.wh.run_in_transaction(statements)


# The runner's two hooks -------------------------------------------------------------------


def count_deletes(
    wh, store, plan, model, gone_sql: str, dry_run: bool, allow: int | None = None
) -> None:
    """At counting time: how many records this run would delete (a dry run lists them)."""
    config = plan.config
    if not config.deletes.enabled or config.is_people:
        return
    planned = plan_deletes(wh, store, gone_sql, plan)
    model.planned_deletes = len(planned)
    model.planned_calls += planned.read_calls() + len(planned)
    if dry_run and planned:
        blocked = over_limit(config.deletes, planned, allow)
        model.message = planned.describe() + (f". Blocked: {blocked}" if blocked else "")


def mirror_deletes(
    wh,
    store,
    plan,
    model,
    client,
    query,
    allow,
    cancel: threading.Event,
    budget=None,
    lease_lost: Callable[[], str | None] = lambda: None,
) -> None:
    """After the model's sends: delete what left the model, unless a limit is passed.

    ``query`` is the model's ``DiffQuery``; ``plan.schemas`` must hold the object's describe.
    ``lease_lost`` is ``Leases.lost``: a run that may be about to lose its lease deletes
    nothing (a second run would read the same records as gone).
    """
    config = plan.config
    if not config.deletes.enabled or config.is_people:
        return
    planned = plan_deletes(wh, store, query.gone_sql, plan)
    model.planned_deletes = len(planned)
    if not planned:
        return
    if budget is not None and not budget.allows(planned.read_calls() + len(planned)):
        blocked = budget.message() + f" {len(planned)} deletes wait for the next run."
        model.status, model.message = "error", _joined(model.message, blocked)
        return
    lost = lease_lost()
    if lost:
        model.status, model.message = "error", _joined(model.message, lost)
        return
    blocked = over_limit(config.deletes, planned, allow)  # first: the read-back only shrinks it
    if blocked:
        model.status, model.message = "error", _joined(model.message, blocked)
        return
    before = client.stats.snapshot()["calls"]
    outcome = DeleteOutcome()
    try:
        try:
            kept = still_in_model(wh, plan, client, planned, query)
        except (AuthError, SyncInterrupted):
            raise
        except GainsightAPIError as exc:  # the read-back failed: nothing can be deleted safely
            model.status = "error"
            model.message = _joined(
                model.message,
                f"reading the {len(planned)} delete candidates back from Gainsight failed "
                f"({exc}); nothing was deleted, they are tried again next run",
            )
            return
        if kept:
            stale = [key_hash for key_hash, gsid in planned.rows if gsid in kept]
            _forget(store, plan.sync_id, stale)
            planned = planned.without(kept)
            model.planned_deletes = len(planned)
            model.message = _joined(
                model.message,
                f"{len(kept)} records kept: their rows are in the model under a key hashed "
                "differently (a key column's type changed?)",
            )
        workers = plan.connection.max_in_flight
        args = (client, config.object, planned, store, plan.sync_id, workers, cancel, outcome)
        run_deletes(*args, lease_lost=lease_lost)
    finally:  # true counts, also after a Ctrl-C
        model.api_calls += client.stats.snapshot()["calls"] - before
        model.deleted += outcome.deleted
        model.failed += outcome.failed
    if outcome.stopped:
        model.status, model.message = "error", _joined(model.message, outcome.stopped)
    if outcome.failed:
        model.message = _joined(
            model.message,
            f"{outcome.failed} deletes failed ({outcome.first_error}); "
            "they are tried again next run",
        )
        if model.status == "success":
            model.status = "partial"


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second
