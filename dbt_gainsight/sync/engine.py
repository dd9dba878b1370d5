"""Run one model: diff in the warehouse, send what changed, save what Gainsight accepted.

The main thread streams the diff and builds batches; a pool of ``max_in_flight`` workers
sends them through the shared client (whose rate limiter keeps the pipe full but under the
limit); the main thread collects answers and hands them to the ``StateWriter``. At most
``2 * max_in_flight`` batches are pending, so memory stays flat however large the model.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dbt_gainsight import interrupts
from dbt_gainsight.errors import (
    AuthError,
    GainsightSyncError,
    SyncInterrupted,
    ValueConversionError,
)
from dbt_gainsight.gainsight.client import GainsightClient, RecordResult, RecordStatus
from dbt_gainsight.gainsight.responses import AllAccepted
from dbt_gainsight.sync import diff
from dbt_gainsight.sync.budget import DailyBudget
from dbt_gainsight.sync.keyscan import ExistenceCheck
from dbt_gainsight.sync.plan import EXISTENCE_CHUNK, ModelPlan
from dbt_gainsight.sync.records import PARENT_ID_FIELD, PARENT_PREFIX, RecordBuilder
from dbt_gainsight.sync.report import ERROR, ModelResult, RejectSample
from dbt_gainsight.sync.state import Reject, StateStore
from dbt_gainsight.sync.writer import StateWriter
from dbt_gainsight.sync.writes import (
    DUPLICATE_KEY,
    NOT_FOUND,
    NULL_KEY,
    PARENT_NOT_FOUND,
    VALUE_CONVERSION,
    Item,
    Target,
    WriteKind,
)
from dbt_gainsight.warehouse import Warehouse

ROUTED = frozenset(diff.SENDABLE)  # actions of rows that are sent
ACCEPTED = RecordStatus.ACCEPTED
MAX_CONSECUTIVE_FAILURES = 3  # batches failing as a whole before the model is stopped
SYSTEMATIC_BATCHES = 2  # whole batches rejected for one reason before the model is stopped
CANCEL_POLL_SECONDS = 0.5  # how often a wait for answers looks at the cancel event


class ModelSync:
    """Sync one planned model. Create, call ``run()``, read the ``ModelResult``."""

    def __init__(
        self,
        plan: ModelPlan,
        *,
        wh: Warehouse,
        store: StateStore,
        client: GainsightClient,
        run_id: str,
        result: ModelResult,
        on_progress: Callable[[ModelResult, int], None] | None = None,
        cancel: threading.Event | None = None,
        budget: DailyBudget | None = None,
        lease_lost: Callable[[], str | None] = lambda: None,
    ):
        self.plan = plan
        self.config = plan.config
        self.wh = wh
        self.store = store
        self.client = client
        self.run_id = run_id
        self.result = result
        self.on_progress = on_progress or (lambda result, read: None)
        self.cancel = cancel or threading.Event()  # shared with the client: ends its waits
        self.budget = budget  # stops the model before it would pass daily_call_budget
        self.lease_lost = lease_lost  # stops it once the run's leases go unrenewed (lock.py)
        fresh = result.new + result.retry  # rows whose existence is asked (keyscan.py)
        self.exists = ExistenceCheck(client, self.config.object, self.config.keys, fresh)
        self.read = 0
        self.writer: StateWriter | None = None
        self.builder: RecordBuilder | None = None  # set once the stream has its columns
        self.target: Target | None = None
        self.key_types: dict[str, str] | None = None  # describe types of the object's fields
        self.columns: dict[str, int] = {}
        self.action_at = -1  # the action column's index, set with the columns
        self.hash_at = (-1, -1, -1)  # key hash, row hash and Gsid columns, likewise
        # Asked once per row on the hot path, so read from the config once.
        self.always_fresh = self.config.is_people  # people are always matched by Email
        self.update_only = self.config.behavior == "update_only"
        self.max_pending = 2 * max(1, plan.connection.max_in_flight)
        self.executor: ThreadPoolExecutor | None = None
        self.pending: dict[Future, tuple[WriteKind, list[Item]]] = {}
        # Calls in the order they finish: one cheap wait for the next, where ``wait()`` on
        # every pending future took and released each one's lock twice per call.
        self.finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.consecutive_failures = 0  # calls failed as a whole, in a row
        self.systematic_batches = 0
        self.stopped: str | None = None
        self.parent_cache: dict[tuple[str, str, str], str | None] = {}
        self.buffers: dict[WriteKind, list[Item]] = {
            WriteKind.UPDATE: [],
            WriteKind.INSERT: [],
            WriteKind.PEOPLE_BULK: [],  # person bodies for the async bulk call
        }
        self.fresh_buf: list[Item] = []  # rows whose existence in Gainsight is not known
        self.found_again = 0  # rows new to the diff whose record the existence check found

    # The run -----------------------------------------------------------------------------

    def run(self, query: diff.DiffQuery) -> ModelResult:
        """Stream and send the rows the diff selected (the counts are already in the result)."""
        started = time.monotonic()
        try:
            if self.result.to_send or self.result.duplicates or self.result.null_keys:
                self._send(query)  # else nothing changed: one query, zero API calls
            if not (self.stopped or self.result.failed):
                self.store.drop_stale_rejects(self.plan.sync_id, self.run_id)
            if self.found_again:  # records claimed under a key of another form
                self.store.drop_superseded_rows(self.plan.sync_id, query.superseded_sql)
        finally:
            self.result.seconds += time.monotonic() - started
        self.result.finish()
        return self.result

    def _send(self, query: diff.DiffQuery) -> None:
        before = self.client.stats.snapshot()
        workers = max(1, self.plan.connection.max_in_flight)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gainsight")
        interrupted = False
        try:
            self._stream(query)
            self._flush_buffers()
            self._drain(until=0)
            while any(self.buffers.values()):
                self._flush_buffers()  # records re-routed by answers (e.g. deleted in Gainsight)
                self._drain(until=0)
            self.on_progress(self.result, self.read)
        except (KeyboardInterrupt, SyncInterrupted):
            self.cancel.set()  # every client wait ends now and no new call starts
            interrupted = True
        finally:
            # Whatever happened, keep what Gainsight already accepted: let in-flight calls
            # finish (queued ones are cancelled), collect their answers, flush the state.
            try:
                self.executor.shutdown(wait=True, cancel_futures=True)
            finally:
                self._count_calls(before)  # true counts, even after a second Ctrl-C
            self._collect_finished()
            if self.writer is not None:
                self.writer.close()
        if interrupted:
            raise SyncInterrupted("Interrupted: accepted records were saved to state.")
        if self.stopped:
            self.result.status = ERROR
            self.result.message = self.stopped

    def _collect_finished(self) -> None:
        """After shutdown: collect every finished call; cancelled ones never left.

        ``wait()`` never returns for a future that ``shutdown(cancel_futures=True)`` cancelled,
        so this must not wait: every future left is either done or cancelled.
        """
        pending, self.pending = self.pending, {}
        for future, (kind, items) in pending.items():
            try:
                self._collect(future, kind, items)
            except GainsightSyncError:
                pass  # the error that ended the run is the one to report

    def _count_calls(self, before: dict[str, int]) -> None:
        after = self.client.stats.snapshot()
        self.result.api_calls += after["calls"] - before["calls"]
        self.result.retries += after["retries"] - before["retries"]
        self.result.rate_limited += after["rate_limited"] - before["rate_limited"]

    def _stream(self, query: diff.DiffQuery) -> None:
        for names, chunk in self.wh.stream(query.stream_sql):
            if self.builder is None:
                self._start(names)
            for row in chunk:
                self._route(row)
                if self.stopped:
                    return
            self.read += len(chunk)
            self._drain(until=self.max_pending - 1)
            self.on_progress(self.result, self.read)

    def _start(self, names: Sequence[str]) -> None:
        """The query has run (its snapshot is taken): now the writer may write."""
        self.writer = StateWriter(
            self.store, sync_id=self.plan.sync_id, run_id=self.run_id, model_name=self.config.model
        )
        self.columns = {n: i for i, n in enumerate(names)}
        self.action_at = self.columns[diff.ACTION]
        self.hash_at = tuple(self.columns[c] for c in (diff.KEY_HASH, diff.ROW_HASH, diff.GSID))
        self.builder = RecordBuilder(self.config, self.columns, self.plan.schemas or {})
        self.target = Target(self.config.object, list(self.config.keys), self.builder.lookups)
        main = (self.plan.schemas or {}).get(self.config.object)
        if main is not None:  # the client folds key values by type (EMAIL ignores case)
            self.key_types = {name: f.data_type for name, f in main.fields.items()}

    def _route(self, row: Sequence[Any]) -> None:
        """One row of the diff: refused, or on its way (an update, or first asked about)."""
        action = row[self.action_at]
        if action not in ROUTED:
            self._reject_unsendable(row, action)
            return
        key_at, row_at, gsid_at = self.hash_at
        try:
            record = self.builder.build(row)
        except ValueConversionError as exc:
            self._reject(row[key_at], row, VALUE_CONVERSION, str(exc))
            return
        item = Item(row[key_at], row[row_at], record, row[gsid_at], row, self.builder)
        if self.always_fresh or not (item.gsid or self.update_only):
            self.fresh_buf.append(item)
            if len(self.fresh_buf) >= EXISTENCE_CHUNK:
                self._resolve_fresh()
        else:
            self._add(WriteKind.UPDATE, item)

    def _reject_unsendable(self, row: Sequence[Any], action: str) -> None:
        at = self.columns
        if action == diff.DUPLICATE:
            self._reject(
                row[at[diff.KEY_HASH]],
                row,
                DUPLICATE_KEY,
                f"{row[at[diff.KEY_ROWS]]} rows of the model share this key; none was sent. "
                "Make the key unique in the model.",
            )
        elif action == diff.NULL_KEY:
            key = self.builder.key_values(row)
            blank = [k for k, v in key.items() if v is None or not str(v).strip(" ")]  # trim()
            nulls = ", ".join(blank)
            self._reject(
                "null:" + row[at[diff.ROW_HASH]],
                row,
                NULL_KEY,
                f"key field {nulls} is null or blank, so the record cannot be identified; "
                "not sent.",
            )

    def _reject(self, key_hash: str, row: Sequence[Any], code: str | None, message: str | None):
        """The one way a record is refused, by Gainsight or by our own checks."""
        key = self.builder.key_values(row)
        code, message = code or "REJECTED", message or "rejected by Gainsight"
        self.writer.rejected(Reject(key_hash, key, code, message))
        self.result.add_reject(RejectSample(key=key, error_code=code, error_message=message))

    # Routing -----------------------------------------------------------------------------

    def _resolve_fresh(self) -> None:
        """Rows without a known Gsid: ask Gainsight which keys exist, in one query per chunk."""
        items, self.fresh_buf = self.fresh_buf, []
        if not items:
            return
        if self.config.is_people:
            self._resolve_people(items)
            return
        if self.exists.none_exist():  # a first sync into an empty object: all are inserts
            self._add_all(WriteKind.INSERT, items)
            return
        keys = self.config.keys
        tuples = [tuple(map(item.record.get, keys)) for item in items]
        found = self._read(lambda: self.exists.find(tuples, self.key_types))
        if found is None:
            self._fail(items)
            return
        if not found:  # none exists (a first sync): all are inserts, added in batch slices
            self._add_all(WriteKind.INSERT, items)
            return
        for item, key in zip(items, tuples, strict=True):
            gsid = found.get(key)
            if gsid:
                item.gsid = gsid
                self.found_again += 1
                self._add(WriteKind.UPDATE, item)
            else:
                self._add(WriteKind.INSERT, item)

    def _resolve_people(self, items: list[Item]) -> None:
        for parent in self.builder.parents:
            wanted = {
                self.builder.parent_value(item.row, parent)
                for item in items
                if (parent.object, parent.field, self.builder.parent_value(item.row, parent))
                not in self.parent_cache
            }
            if wanted:
                values = [(v,) for v in sorted(wanted)]
                found = self._read(
                    lambda p=parent, v=values: self.client.find_gsids(p.object, [p.field], v)
                )
                if found is None:
                    self._fail(items)
                    return
                for (value,) in values:
                    self.parent_cache[(parent.object, parent.field, value)] = found.get((value,))
        if self.config.behavior == "update_only":
            emails = [(item.record.get("Email"),) for item in items if not item.gsid]
            found = self._read(lambda: self.client.find_gsids("Person", ["Email"], emails))
            if found is None:
                self._fail(items)
                return
        for item in items:
            if self.config.behavior == "update_only" and not item.gsid:
                gsid = found.get((item.record.get("Email"),))
                if not gsid:
                    self._reject_not_found(item)
                    continue
            body = self._person_body(item)
            if body is None:
                continue
            if self.plan.connection.people_bulk:
                item.record = body
                self._add(WriteKind.PEOPLE_BULK, item)
            else:
                item.record = body
                self._submit(WriteKind.PERSON, [item])

    def _person_body(self, item: Item) -> dict[str, Any] | None:
        body = dict(item.record)
        link = self.builder.build_link(item.row)
        for parent in self.builder.parents:
            value = self.builder.parent_value(item.row, parent)
            gsid = self.parent_cache.get((parent.object, parent.field, value))
            if not gsid:
                message = (
                    f"{parent.object} with {parent.field} {value!r} does not exist in Gainsight; "
                    f"sync the {parent.object} model first."
                )
                self._reject(item.key_hash, item.row, PARENT_NOT_FOUND, message)
                return None
            entry = {PARENT_ID_FIELD[parent.object]: gsid, **link}
            body.setdefault(PARENT_PREFIX[parent.object], []).append(entry)
        return body

    def _add(self, kind: WriteKind, item: Item) -> None:
        buf = self.buffers[kind]
        buf.append(item)
        if len(buf) >= self.config.batch_size:
            self._submit(kind, buf[:])
            buf.clear()

    def _add_all(self, kind: WriteKind, items: list[Item]) -> None:
        """``_add`` for many items: the buffer is filled and submitted a batch at a time."""
        buf, size = self.buffers[kind], self.config.batch_size
        start = 0
        while start < len(items):
            take = size - len(buf)
            buf.extend(items[start : start + take])
            start += take
            if len(buf) >= size:
                self._submit(kind, buf[:])
                buf.clear()

    def _flush_buffers(self) -> None:
        self._resolve_fresh()
        for kind, buf in self.buffers.items():
            if buf:
                self._submit(kind, buf[:])
                buf.clear()

    # Sending -----------------------------------------------------------------------------

    def _submit(self, kind: WriteKind, items: list[Item]) -> None:
        self._drain(until=self.max_pending - 1)
        if not self._may_call():  # stopped, over the daily budget, or the lease went unrenewed
            self.result.failed += len(items)
            return
        records = [item.record for item in items]
        self.result.sent += len(items)
        future = self.executor.submit(kind.send, self.client, self.target, records)
        self.pending[future] = (kind, items)
        future.add_done_callback(self.finished.put)

    def _drain(self, until: int) -> None:
        """Collect answers until at most ``until`` calls are pending; stop on a Ctrl-C.

        The wait wakes every CANCEL_POLL_SECONDS: a signal the kernel gave another thread
        runs its handler only once the main thread runs again (interrupts.py).
        """
        while True:
            interrupts.stop_if_cancelled(self.cancel)  # set even when the exception was lost
            if len(self.pending) <= until:
                return
            try:
                future = self.finished.get(timeout=CANCEL_POLL_SECONDS)
            except queue.Empty:
                continue
            entry = self.pending.pop(future, None)
            if entry is not None:  # None: cancelled at shutdown and collected there
                self._collect(future, *entry)

    def _collect(self, future: Future, kind: WriteKind, items: list[Item]) -> None:
        if future.cancelled():
            self.result.sent -= len(items)  # never left
            return
        exc = future.exception()
        if isinstance(exc, SyncInterrupted):
            self.result.failed += len(items)  # stopped before an answer: sent again next run
            return
        if exc is not None:
            if isinstance(exc, AuthError):
                raise exc
            self._fail(items, str(exc))
            return
        results = future.result()
        if isinstance(results, AllAccepted):  # the common case, per call
            self.consecutive_failures = self.systematic_batches = 0
            self._accept(items, results.gsids)
            return
        if all(r.status is ACCEPTED for r in results):
            self.consecutive_failures = self.systematic_batches = 0
            self._accept(items, [r.gsid for r in results])
            return
        failed = [r for r in results if r.status is RecordStatus.FAILED]
        if failed:  # not known to be applied: not saved, counted failed, sent again next run
            self.result.failed += len(failed)
            if len(failed) == len(results):
                self._failed_call(failed[0].error_message or "no answer from Gainsight")
                return
        self.consecutive_failures = 0
        self._watch_for_systematic_rejects(results)
        accepted: list[tuple[Item, RecordResult]] = []
        for item, res in zip(items, results, strict=True):
            if res.status is RecordStatus.FAILED:
                continue
            if res.status is ACCEPTED:
                accepted.append((item, res))
            elif res.not_found and self.config.behavior == "update_only":
                self._reject_not_found(item)
            elif res.not_found and kind is WriteKind.UPDATE:
                # Known to state but deleted in Gainsight since: upsert creates it again.
                item.gsid = None
                self.result.sent -= 1  # counted again when the insert goes
                self._add(WriteKind.INSERT, item)
            else:
                self._reject(item.key_hash, item.row, res.error_code, res.error_message)
        if accepted:
            self._accept([item for item, _ in accepted], [res.gsid for _, res in accepted])

    def _accept(self, items: Sequence[Item], gsids: Sequence[str | None]) -> None:
        """Gainsight accepted these records (Gsids as answered): one message to the writer."""
        at, new = self.action_at, diff.NEW
        self.writer.accepted(
            [item.key_hash for item in items],
            [item.row_hash for item in items],
            [gsid or item.gsid for item, gsid in zip(items, gsids, strict=True)],
            [item.row[at] != new for item in items],
        )
        self.result.accepted += len(items)

    def _watch_for_systematic_rejects(self, results: list[RecordResult]) -> None:
        """Stop a model whose first batches are rejected whole for one reason.

        That is a mapping problem, not a data problem: splitting every batch to isolate
        "bad" records would spend about two calls per record of the budget for nothing.
        """
        if self.result.accepted:
            return
        results = [r for r in results if r.status is not RecordStatus.FAILED]
        if len(results) < 2:
            return
        codes = {(r.error_code, r.error_message) for r in results if not r.ok and not r.not_found}
        if len(codes) != 1 or any(r.ok for r in results):
            self.systematic_batches = 0
            return
        self.systematic_batches += 1
        if self.systematic_batches >= SYSTEMATIC_BATCHES and not self.stopped:
            code, _ = codes.pop()  # its message may quote values: it stays in gainsight_rejects
            self.stopped = (
                f"stopped: every record of the first {self.systematic_batches} batches was "
                f"rejected with {code} (Gainsight's reason is in gainsight_rejects). This looks "
                "like a mapping problem; check it with `dbt-gainsight validate --online`."
            )

    def _reject_not_found(self, item: Item) -> None:
        keys = ", ".join(f"{k}={v!r}" for k, v in item.key.items())
        message = (
            f"no {self.config.object} matches {keys}; behavior update_only never creates records"
        )
        self._reject(item.key_hash, item.row, NOT_FOUND, message)

    def _fail(self, items: list[Item], reason: str | None = None) -> None:
        """Records that could not be sent stay unsynced for next run; count the failed call."""
        self.result.failed += len(items)
        if reason is not None:
            self._failed_call(reason)

    def _failed_call(self, reason: str) -> None:
        """The one failure counter: three calls failed as a whole in a row stop the model.

        A call the daily budget refused stops the model at once, with the budget's reason.
        """
        if not self._may_call():
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not self.stopped:
            self.stopped = f"stopped after {self.consecutive_failures} failed calls: {reason}"

    def _may_call(self) -> bool:
        """Whether calls may still start: not past the daily budget nor an unrenewed lease.

        The model stops once either holds (``lock.LOST_AFTER``). The budget itself refuses
        each call past it (budget.py), so calls already queued never pass it; this only stops
        queuing more.
        """
        if not self.stopped:
            if self.budget is not None and self.budget.spent:
                self.stopped = self.budget.message()
            else:
                self.stopped = self.lease_lost()
        return not self.stopped

    def _read(self, call: Callable[[], Any]) -> Any:
        """A read the routing depends on (existence checks), made from the main thread."""
        if not self._may_call():
            return None
        try:
            return call()
        except (AuthError, SyncInterrupted):
            raise
        except GainsightSyncError as exc:
            self._failed_call(str(exc))
            return None
