"""Run one model: diff in the warehouse, send what changed, save what Gainsight accepted.

The main thread streams the diff and builds batches; a pool of ``max_in_flight`` workers
sends them through the shared client (whose rate limiter keeps the pipe full but under the
limit); the main thread collects answers and hands them to the ``StateWriter``. At most
``2 * max_in_flight`` batches are pending, so memory stays flat however large the model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from dbt_gainsight.errors import (
    AuthError,
    GainsightSyncError,
    SyncInterrupted,
    ValueConversionError,
)
from dbt_gainsight.gainsight.client import GainsightClient, RecordResult, RecordStatus
from dbt_gainsight.sync import diff
from dbt_gainsight.sync.plan import ModelPlan
from dbt_gainsight.sync.records import PARENT_ID_FIELD, PARENT_PREFIX, RecordBuilder
from dbt_gainsight.sync.report import ERROR, ModelResult, RejectSample
from dbt_gainsight.sync.state import Reject, StateStore, StateWriter
from dbt_gainsight.warehouse import Warehouse

EXISTENCE_CHUNK = 1000  # new rows whose keys are looked up in one query (client's IN cap)
ROUTED = frozenset(diff.SENDABLE)  # actions of rows that are sent
MAX_CONSECUTIVE_FAILURES = 3  # batches failing as a whole before the model is stopped
SYSTEMATIC_BATCHES = 2  # whole batches rejected for one reason before the model is stopped

# Reject codes of our own (Gainsight's are GSOBJ_*).
DUPLICATE_KEY = "DUPLICATE_KEY"
NULL_KEY = "NULL_KEY"
VALUE_CONVERSION = "VALUE_CONVERSION"
NOT_FOUND = "NOT_FOUND"
PARENT_NOT_FOUND = "PARENT_NOT_FOUND"


class _Item:
    """One row on its way to Gainsight (slots: there is one per row in flight)."""

    __slots__ = ("key_hash", "row_hash", "record", "gsid", "row", "builder")

    def __init__(self, key_hash, row_hash, record, gsid, row, builder) -> None:
        self.key_hash: str = key_hash
        self.row_hash: str = row_hash
        self.record: dict[str, Any] = record
        self.gsid: str | None = gsid
        self.row: Sequence[Any] = row
        self.builder: RecordBuilder = builder

    @property
    def key(self) -> dict[str, Any]:
        """Key values for reports, built only when a record is rejected."""
        return self.builder.key_values(self.row)


def count_plan(wh: Warehouse, sql: str, result: ModelResult) -> None:
    """Fill the diff counts (one aggregate query; unchanged rows never leave the warehouse)."""
    counts = {action: int(n) for action, n in wh.execute(sql, fetch=True)}
    result.new = counts.get(diff.NEW, 0)
    result.changed = counts.get(diff.CHANGED, 0)
    result.retry = counts.get(diff.RETRY, 0)
    result.unchanged = counts.get(diff.UNCHANGED, 0)
    result.duplicates = counts.get(diff.DUPLICATE, 0)
    result.null_keys = counts.get(diff.NULL_KEY, 0)
    result.no_longer_in_model = counts.get(diff.GONE, 0)
    result.rows = sum(v for k, v in counts.items() if k != diff.GONE)


def estimate_calls(plan: ModelPlan, result: ModelResult) -> int:
    """API calls a real run would make, at most (existence checks + writes)."""
    config = plan.config
    to_send = result.to_send
    if config.is_people:
        parents = sum(1 for f in config.fields if f.target.split(".")[0] in PARENT_ID_FIELD)
        lookups = math.ceil(to_send / EXISTENCE_CHUNK) * parents
        if config.behavior == "update_only":
            lookups += math.ceil((result.new + result.retry) / EXISTENCE_CHUNK)
        if plan.connection.people_bulk:  # one submit and at least one status poll per 50
            return 2 * math.ceil(to_send / config.batch_size) + lookups
        return to_send + lookups
    writes = math.ceil(result.changed / config.batch_size)
    fresh = result.new + result.retry
    if config.behavior == "upsert":
        return writes + math.ceil(fresh / EXISTENCE_CHUNK) + math.ceil(fresh / config.batch_size)
    return writes + math.ceil(fresh / config.batch_size)


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
    ):
        self.plan = plan
        self.config = plan.config
        self.wh = wh
        self.store = store
        self.client = client
        self.run_id = run_id
        self.result = result
        self.on_progress = on_progress or (lambda result, read: None)
        self.read = 0
        self.writer: StateWriter | None = None
        self.pending: dict[Future, tuple[str, list[_Item]]] = {}
        self.consecutive_failures = 0
        self.systematic_batches = 0
        self.stopped: str | None = None
        self.parent_cache: dict[tuple[str, str, str], str | None] = {}
        self.insert_buf: list[_Item] = []
        self.update_buf: list[_Item] = []
        self.fresh_buf: list[_Item] = []
        self.people_buf: list[_Item] = []  # person bodies for the async bulk call

    # The run -----------------------------------------------------------------------------

    def run(self, query: diff.DiffQuery) -> ModelResult:
        """Stream and send the rows the diff selected (the counts are already in the result)."""
        started = time.monotonic()
        try:
            if self.result.to_send or self.result.duplicates or self.result.null_keys:
                self._send(query)  # else nothing changed: one query, zero API calls
            if not (self.stopped or self.result.failed):
                self.store.drop_stale_rejects(self.plan.sync_id, self.run_id)
        finally:
            self.result.seconds += time.monotonic() - started
        self.result.finish()
        return self.result

    def _send(self, query: diff.DiffQuery) -> None:
        before = self.client.stats.snapshot()
        workers = max(1, self.plan.connection.max_in_flight)
        self.max_pending = workers * 2
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gainsight")
        interrupted = False
        try:
            self._stream(query)
            self._flush_buffers()
            self._drain(until=0)
            while self.insert_buf or self.update_buf or self.people_buf:
                self._flush_buffers()  # records re-routed by answers (e.g. deleted in Gainsight)
                self._drain(until=0)
            self.on_progress(self.result, self.read)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # Whatever happened, keep what Gainsight already accepted: let in-flight calls
            # finish (queued ones are cancelled), collect their answers, flush the state.
            self._executor.shutdown(wait=True, cancel_futures=True)
            try:
                self._drain(until=0)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            self._close_writer()
            self._count_calls(before)
        if interrupted:
            raise SyncInterrupted("Interrupted: accepted records were saved to state.")
        if self.stopped:
            self.result.status = ERROR
            self.result.message = self.stopped

    def _count_calls(self, before: dict[str, int]) -> None:
        after = self.client.stats.snapshot()
        self.result.api_calls += after["calls"] - before["calls"]
        self.result.retries += after["retries"] - before["retries"]
        self.result.rate_limited += after["rate_limited"] - before["rate_limited"]

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _stream(self, query: diff.DiffQuery) -> None:
        builder: RecordBuilder | None = None
        for names, chunk in self.wh.stream(query.stream_sql):
            if builder is None:
                # The query has run (its snapshot is taken): now the writer may write.
                self.writer = StateWriter(
                    self.store,
                    sync_id=self.plan.sync_id,
                    run_id=self.run_id,
                    model_name=self.config.model,
                )
                builder = RecordBuilder(
                    self.config, {n: i for i, n in enumerate(names)}, self.plan.schemas or {}
                )
                self.builder = builder
                at = {n: i for i, n in enumerate(names)}
                self._ix = (at[diff.KEY_HASH], at[diff.ROW_HASH], at[diff.GSID], at[diff.ACTION])
                self._ix_rows = at[diff.KEY_ROWS]
            for row in chunk:
                self._route(row)
                if self.stopped:
                    return
            self.read += len(chunk)
            self._drain(until=self.max_pending - 1)
            self.on_progress(self.result, self.read)

    def _route(self, row: Sequence[Any]) -> None:
        ix_key, ix_row, ix_gsid, ix_action = self._ix
        action = row[ix_action]
        if action not in ROUTED:
            self._reject_unsendable(row, action)
            return
        try:
            record = self.builder.build(row)
        except ValueConversionError as exc:
            key = self.builder.key_values(row)
            self._reject_own(row[ix_key], key, VALUE_CONVERSION, str(exc))
            return
        item = _Item(row[ix_key], row[ix_row], record, row[ix_gsid], row, self.builder)
        if self.config.is_people or not (item.gsid or self.config.behavior == "update_only"):
            self.fresh_buf.append(item)
            if len(self.fresh_buf) >= EXISTENCE_CHUNK:
                self._resolve_fresh()
        else:
            self._add(self.update_buf, item, "update")

    def _reject_unsendable(self, row: Sequence[Any], action: str) -> None:
        ix_key, ix_row, _, _ = self._ix
        key = self.builder.key_values(row)
        if action == diff.DUPLICATE:
            self._reject_own(
                row[ix_key],
                key,
                DUPLICATE_KEY,
                f"{row[self._ix_rows]} rows of the model share this key; none was sent. "
                "Make the key unique in the model.",
            )
        elif action == diff.NULL_KEY:
            nulls = ", ".join(k for k, v in key.items() if v is None)
            self._reject_own(
                "null:" + row[ix_row],
                key,
                NULL_KEY,
                f"key field {nulls} is null, so the record cannot be identified; not sent.",
            )

    def _reject_own(self, key_hash: str, key: dict, code: str, message: str) -> None:
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
        keys = self.config.keys
        tuples = [tuple(item.record.get(k) for k in keys) for item in items]
        found = self._call_sync(lambda: self.client.find_gsids(self.config.object, keys, tuples))
        if found is None:
            self._fail(items, "could not check which keys exist")
            return
        for item, key in zip(items, tuples, strict=True):
            gsid = found.get(key)
            if gsid:
                item.gsid = gsid
                self._add(self.update_buf, item, "update")
            else:
                self._add(self.insert_buf, item, "insert")

    def _resolve_people(self, items: list[_Item]) -> None:
        for parent in self.builder.parents:
            wanted = {
                self.builder.parent_value(item.row, parent)
                for item in items
                if (parent.object, parent.field, self.builder.parent_value(item.row, parent))
                not in self.parent_cache
            }
            if wanted:
                values = [(v,) for v in sorted(wanted)]
                found = self._call_sync(
                    lambda p=parent, v=values: self.client.find_gsids(p.object, [p.field], v)
                )
                if found is None:
                    self._fail(items, f"could not look up {parent.object} records")
                    return
                for (value,) in values:
                    self.parent_cache[(parent.object, parent.field, value)] = found.get((value,))
        if self.config.behavior == "update_only":
            emails = [(item.record.get("Email"),) for item in items if not item.gsid]
            found = self._call_sync(lambda: self.client.find_gsids("Person", ["Email"], emails))
            if found is None:
                self._fail(items, "could not check which people exist")
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
                self._add(self.people_buf, item, "people_bulk")
            else:
                self._submit("person", [item], body)

    def _person_body(self, item: _Item) -> dict[str, Any] | None:
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
                self._reject_result(
                    item, RecordResult(RecordStatus.REJECTED, None, PARENT_NOT_FOUND, message)
                )
                return None
            entry = {PARENT_ID_FIELD[parent.object]: gsid, **link}
            body.setdefault(PARENT_PREFIX[parent.object], []).append(entry)
        return body

    def _add(self, buf: list[_Item], item: _Item, kind: str) -> None:
        buf.append(item)
        if len(buf) >= self.config.batch_size:
            self._submit(kind, buf[:])
            buf.clear()

    def _flush_buffers(self) -> None:
        self._resolve_fresh()
        buffers = (
            ("update", self.update_buf),
            ("insert", self.insert_buf),
            ("people_bulk", self.people_buf),
        )
        for kind, buf in buffers:
            if buf:
                self._submit(kind, buf[:])
                buf.clear()

    # Sending -----------------------------------------------------------------------------

    def _submit(self, kind: str, items: list[_Item], body: dict | None = None) -> None:
        if self.stopped:
            self.result.failed += len(items)
            return
        self._drain(until=self.max_pending - 1)
        obj, keys, lookups = self.config.object, list(self.config.keys), self.builder.lookups
        records = [item.record for item in items]
        if kind == "insert":
            call = lambda: self.client.insert(obj, records, keys=keys, lookups=lookups)  # noqa: E731
        elif kind == "update":
            call = lambda: self.client.update(obj, records, keys=keys, lookups=lookups)  # noqa: E731
        elif kind == "people_bulk":
            call = lambda: self.client.put_people_bulk(records)  # noqa: E731
        else:
            call = lambda: [self.client.put_person(body)]  # noqa: E731
        self.result.sent += len(items)
        self.pending[self._executor.submit(call)] = (kind, items)

    def _drain(self, until: int) -> None:
        while len(self.pending) > until:
            done, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
            for future in done:
                kind, items = self.pending.pop(future)
                self._collect(future, kind, items)

    def _collect(self, future: Future, kind: str, items: list[_Item]) -> None:
        if future.cancelled():
            self.result.sent -= len(items)  # never left
            return
        exc = future.exception()
        if exc is not None:
            if isinstance(exc, AuthError):
                raise exc
            self._fail(items, str(exc))
            return
        results = future.result()
        failed = [i for i, r in zip(items, results, strict=True) if r.status is RecordStatus.FAILED]
        if failed:  # not known to be applied: not saved, sent again next run
            reason = next(r.error_message for r in results if r.status is RecordStatus.FAILED)
            self._fail(failed, reason or "failed")
            if len(failed) == len(items):
                return
        self.consecutive_failures = 0
        self._watch_for_systematic_rejects(results)
        for item, res in zip(items, results, strict=True):
            if res.status is RecordStatus.FAILED:
                continue
            if res.ok:
                self.writer.accepted(item.key_hash, item.row_hash, res.gsid or item.gsid)
                self.result.accepted += 1
            elif res.not_found and self.config.behavior == "update_only":
                self._reject_not_found(item)
            elif res.not_found and kind == "update":
                # Known to state but deleted in Gainsight since: upsert creates it again.
                item.gsid = None
                self.result.sent -= 1  # counted again when the insert goes
                self._add(self.insert_buf, item, "insert")
            else:
                self._reject_result(item, res)

    def _watch_for_systematic_rejects(self, results: list[RecordResult]) -> None:
        """Stop a model whose first batches are rejected whole for one reason.

        That is a mapping problem, not a data problem: splitting every batch to isolate
        "bad" records would spend about two calls per record of the budget for nothing.
        """
        if self.result.accepted or len(results) < 2:
            return
        results = [r for r in results if r.status is not RecordStatus.FAILED]
        codes = {(r.error_code, r.error_message) for r in results if not r.ok and not r.not_found}
        if len(codes) != 1 or any(r.ok for r in results):
            self.systematic_batches = 0
            return
        self.systematic_batches += 1
        if self.systematic_batches >= SYSTEMATIC_BATCHES and not self.stopped:
            code, message = codes.pop()
            self.stopped = (
                f"stopped: every record of the first {self.systematic_batches} batches was "
                f"rejected with {code}: {message}. This looks like a mapping problem; check it "
                "with `dbt-gainsight validate --online`."
            )

    def _reject_not_found(self, item: _Item) -> None:
        keys = ", ".join(f"{k}={v!r}" for k, v in item.key.items())
        message = (
            f"no {self.config.object} matches {keys}; behavior update_only never creates records"
        )
        self._reject_result(item, RecordResult(RecordStatus.NOT_FOUND, None, NOT_FOUND, message))

    def _reject_result(self, item: _Item, res: RecordResult) -> None:
        code = res.error_code or "REJECTED"
        message = res.error_message or "rejected by Gainsight"
        self.writer.rejected(Reject(item.key_hash, item.key, code, message))
        self.result.add_reject(RejectSample(key=item.key, error_code=code, error_message=message))

    def _fail(self, items: list[_Item], reason: str) -> None:
        """A call failed as a whole after retries: its records stay unsynced for next run."""
        self.result.failed += len(items)
        self.consecutive_failures += 1
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not self.stopped:
            self.stopped = f"stopped after {self.consecutive_failures} failed calls: {reason}"

    def _call_sync(self, call: Callable[[], Any]) -> Any:
        """A read the routing depends on (existence checks), made from the main thread."""
        try:
            return call()
        except AuthError:
            raise
        except GainsightSyncError as exc:
            self.consecutive_failures += 1
            if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self.stopped = f"stopped: {exc}"
            return None
