"""Sync state in the user's warehouse: what Gainsight accepted, and what it rejected.

Three tables in a schema of the user's choice (default ``<target schema>_gainsight``):

- ``gainsight_syncs``: one row per sync (model + object + connection) with the fingerprint of
  its mapping; a new fingerprint resets that sync's state.
- ``gainsight_sync_state``: per accepted record, its key hash, row hash and Gsid.
- ``gainsight_rejects``: per rejected record, Gainsight's code and message; retried next run.

Only accepted records reach the state table, written by ``StateWriter`` in buffered batches
from its own thread and connection. A crash loses at most the unflushed window, whose
records are then sent again (upserts are idempotent); nothing unsent is ever marked synced.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dbt_gainsight.errors import GainsightSyncError
from dbt_gainsight.warehouse import Warehouse

STATE_VERSION = 1
SYNCS, STATE, REJECTS, META, DESCRIBES = (
    "gainsight_syncs",
    "gainsight_sync_state",
    "gainsight_rejects",
    "gainsight_meta",
    "gainsight_describe_cache",
)
#: How long a cached describe is trusted; a run that finds one older asks Gainsight again.
DESCRIBE_TTL = timedelta(hours=24)
ARRAY_BINDING_ADAPTERS = frozenset({"duckdb", "postgres"})
QUEUE_LIMIT = 50_000  # answers waiting to be written; beyond it the sender waits (flat memory)
FLUSH_SECONDS = 2.0
FLUSH_ROWS = 5_000
_IN_CHUNK = 1_000  # key hashes per ``in (...)`` list


def sync_id_for(model_unique_id: str, object_name: str, connection: str) -> str:
    """A stable id for one sync: the same model may feed several objects or tenants."""
    raw = f"{model_unique_id}|{object_name}|{connection}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Reject:
    """One record Gainsight (or our own checks) refused."""

    key_hash: str
    key_values: dict
    error_code: str
    error_message: str


class StateStore:
    """The state tables of one warehouse schema."""

    def __init__(self, wh: Warehouse, schema: str):
        self.wh = wh
        self.schema = schema
        self.syncs = wh.relation(schema, SYNCS)
        self.state = wh.relation(schema, STATE)
        self.rejects = wh.relation(schema, REJECTS)
        self.meta = wh.relation(schema, META)
        self.describes = wh.relation(schema, DESCRIBES)

    def ensure(self) -> None:
        """Create the schema and tables when absent; refuse a newer state version."""
        wh = self.wh
        text = wh.macro("type_string")
        ts = wh.macro("type_timestamp")
        wh.adapter.create_schema(wh.relation(self.schema, SYNCS).without_identifier())
        existing = {
            r.identifier.lower()
            for r in wh.adapter.list_relations(self.syncs.database, self.schema)
        }
        ddl = {
            META: f"create table {self.meta} (name {text}, value {text})",
            SYNCS: (
                f"create table {self.syncs} (sync_id {text}, model_unique_id {text}, "
                f"object_name {text}, connection_name {text}, fingerprint {text}, "
                f"updated_at {ts})"
            ),
            STATE: (
                f"create table {self.state} (sync_id {text}, key_hash {text}, "
                f"row_hash {text}, gsid {text}, run_id {text}, synced_at {ts})"
            ),
            DESCRIBES: (
                f"create table {self.describes} (connection_name {text}, "
                f"object_name {text}, payload {text}, fetched_at {ts})"
            ),
            REJECTS: (
                f"create table {self.rejects} (sync_id {text}, run_id {text}, "
                f"model_name {text}, key_hash {text}, key_values {text}, error_code {text}, "
                f"error_message {text}, rejected_at {ts})"
            ),
        }
        statements = [(sql, None) for name, sql in ddl.items() if name not in existing]
        if META not in existing:
            statements.append(
                (f"insert into {self.meta} values ('state_version', '{STATE_VERSION}')", None)
            )
        if statements:
            wh.run_in_transaction(statements)
        rows = wh.execute(f"select value from {self.meta} where name = 'state_version'", fetch=True)
        version = int(rows[0][0]) if rows else STATE_VERSION
        if version > STATE_VERSION:
            raise GainsightSyncError(
                f"The state in schema {self.schema} is version {version}, newer than this "
                f"dbt-gainsight understands ({STATE_VERSION}). Upgrade dbt-gainsight."
            )

    def prepare_sync(
        self,
        *,
        sync_id: str,
        model_unique_id: str,
        object_name: str,
        connection: str,
        fingerprint: str,
        full_refresh: bool,
    ) -> str | None:
        """Record the sync's fingerprint; reset its state when the mapping changed.

        Returns why the state was reset (``"mapping changed"``, ``"full refresh"``) or None.
        """
        wh = self.wh
        sid = wh.literal(sync_id)
        rows = wh.execute(f"select fingerprint from {self.syncs} where sync_id = {sid}", fetch=True)
        previous = rows[0][0] if rows else None
        reason = None
        if full_refresh and previous is not None:
            reason = "full refresh"
        elif previous is not None and previous != fingerprint:
            reason = "mapping changed"
        if previous == fingerprint and reason is None:
            return None
        b = wh.binding_char()
        statements: list[tuple[str, Sequence | None]] = [
            (f"delete from {self.syncs} where sync_id = {sid}", None),
            (
                f"insert into {self.syncs} values ({b}, {b}, {b}, {b}, {b}, {b})",
                [sync_id, model_unique_id, object_name, connection, fingerprint, _now()],
            ),
        ]
        if reason:
            statements += [
                (f"delete from {self.state} where sync_id = {sid}", None),
                (f"delete from {self.rejects} where sync_id = {sid}", None),
            ]
        wh.run_in_transaction(statements)
        return reason

    def drop_stale_rejects(self, sync_id: str, run_id: str) -> None:
        """After a complete run, drop rejects this run did not renew.

        A complete run re-sends every row still in the rejects table, so each one it did not
        reject again (or accept, which already removed it) belongs to a row that has left
        the model.
        """
        wh = self.wh
        wh.run_in_transaction(
            [
                (
                    f"delete from {self.rejects} where sync_id = {wh.literal(sync_id)} "
                    f"and run_id <> {wh.literal(run_id)}",
                    None,
                )
            ]
        )

    def cached_describes(self, connection: str) -> dict[str, dict]:
        """Describe entries fetched for this connection within DESCRIBE_TTL.

        They spare a steady-state run the metadata calls, so a 1% change costs exactly its
        writes. A field removed in Gainsight meanwhile shows up as rejects, and the cache
        expires within a day; ``--full-refresh`` and ``validate --online`` always ask again.
        """
        wh = self.wh
        rows = wh.execute(
            f"select object_name, payload, fetched_at from {self.describes} "
            f"where connection_name = {wh.literal(connection)}",
            fetch=True,
        )
        fresh: dict[str, dict] = {}
        oldest = _now() - DESCRIBE_TTL
        for name, payload, fetched_at in rows:
            if _as_datetime(fetched_at) >= oldest:
                try:
                    fresh[name] = json.loads(payload)
                except ValueError:
                    continue
        return fresh

    def save_describes(self, connection: str, entries: dict[str, dict]) -> None:
        """Replace this connection's cached describe entries with ``entries``."""
        if not entries:
            return
        wh, b = self.wh, self.wh.binding_char()
        conn = wh.literal(connection)
        names = ", ".join(wh.literal(name) for name in entries)
        statements: list[tuple[str, Sequence | None]] = [
            (
                f"delete from {self.describes} where connection_name = {conn} "
                f"and object_name in ({names})",
                None,
            )
        ]
        for name, entry in entries.items():
            statements.append(
                (
                    f"insert into {self.describes} values ({b}, {b}, {b}, {b})",
                    [connection, name, json.dumps(entry, sort_keys=True), _now()],
                )
            )
        wh.run_in_transaction(statements)


class StateWriter:
    """Buffers accepted/rejected records and writes them from its own thread.

    Its own thread means its own dbt connection, so it never disturbs the cursor that
    streams the model. Flushes every ``flush_seconds`` or ``flush_rows`` and on close.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        sync_id: str,
        run_id: str,
        model_name: str,
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = FLUSH_ROWS,
    ):
        self.store = store
        self.sync_id = sync_id
        self.run_id = run_id
        self.model_name = model_name
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.binding = store.wh.binding_char()
        self.text = store.wh.macro("type_string")
        # Drivers that bind a Python list as an SQL array take a whole flush in one statement.
        self.arrays = store.wh.adapter_type in ARRAY_BINDING_ADAPTERS
        self.error: BaseException | None = None
        self.flushed_accepted = 0
        self.flushed_rejected = 0
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="gainsight-state", daemon=True)
        self._thread.start()

    def accepted(self, key_hash: str, row_hash: str, gsid: str | None) -> None:
        """Gainsight accepted this record: remember its hash (and clear any reject)."""
        self._put(("a", key_hash, row_hash, gsid))

    def rejected(self, reject: Reject) -> None:
        """Gainsight refused the record: keep Gainsight's reason; it is retried next run."""
        self._put(("r", reject))

    def _put(self, item: tuple) -> None:
        """Queue an answer; fail (rather than wait for ever) once the writer has died."""
        while True:
            if self.error is not None or not self._thread.is_alive():
                raise GainsightSyncError(
                    f"Writing sync state failed ({self.error}); what was accepted before the "
                    "failure is saved and the rest is resent next run."
                ) from self.error
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Flush what is buffered and stop; raises the writer's error, if any."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self.error:
            raise self.error

    def _run(self) -> None:
        wh = self.store.wh
        try:
            with wh.connection("gainsight-state"):
                self._loop()
        except BaseException as exc:  # surfaced by close()
            self.error = exc

    def _loop(self) -> None:
        accepted: dict[str, tuple] = {}
        rejected: dict[str, Reject] = {}
        deadline = time.monotonic() + self.flush_seconds
        done = False
        while not done:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = ...
            if item is None:
                done = True
            elif item is not ...:
                if item[0] == "a":
                    accepted[item[1]] = item[1:]
                    rejected.pop(item[1], None)
                else:
                    rejected[item[1].key_hash] = item[1]
                    accepted.pop(item[1].key_hash, None)
            size = len(accepted) + len(rejected)
            if done or time.monotonic() >= deadline or size >= self.flush_rows:
                if size:
                    self._flush(accepted, rejected)
                    self.flushed_accepted += len(accepted)
                    self.flushed_rejected += len(rejected)
                    accepted, rejected = {}, {}
                deadline = time.monotonic() + self.flush_seconds

    def _flush(self, accepted: dict, rejected: dict) -> None:
        store = self.store
        sid = store.wh.literal(self.sync_id)
        statements: list[tuple[str, Sequence | None]] = []
        touched = list(accepted) + list(rejected)
        for where, params in self._key_filters(touched):
            statements.append(
                (f"delete from {store.rejects} where sync_id = {sid} and {where}", params)
            )
        for where, params in self._key_filters(list(accepted)):
            statements.append(
                (f"delete from {store.state} where sync_id = {sid} and {where}", params)
            )
        statements += self._state_inserts(list(accepted.values()))
        statements += self._reject_inserts(list(rejected.values()))
        store.wh.run_in_transaction(statements)

    def _key_filters(self, keys: list[str]) -> list[tuple[str, list]]:
        """``key_hash in (...)`` conditions covering ``keys``: one array or chunked lists."""
        b = self.binding
        if not keys:
            return []
        if self.arrays:
            return [(f"key_hash in (select unnest(cast({b} as {self.text}[])))", [keys])]
        return [
            (f"key_hash in ({', '.join([b] * len(chunk))})", chunk)
            for chunk in _chunks(keys, _IN_CHUNK)
        ]

    def _state_inserts(self, rows: list[tuple]) -> list[tuple[str, list]]:
        """Insert accepted records: bound arrays where the driver has them (10x faster)."""
        if not rows:
            return []
        b, table, now = self.binding, self.store.state, _now()
        if self.arrays:
            unnest = f"unnest(cast({b} as {self.text}[]))"
            columns = [list(column) for column in zip(*rows, strict=True)]
            return [
                (
                    f"insert into {table} select {b}, {unnest}, {unnest}, {unnest}, {b}, {b}",
                    [self.sync_id, *columns, self.run_id, now],
                )
            ]
        row = f"({b}, {b}, {b}, {b}, {b}, {b})"
        statements = []
        for chunk in _chunks(rows, _IN_CHUNK):
            params: list = []
            for key_hash, row_hash, gsid in chunk:
                params += [self.sync_id, key_hash, row_hash, gsid, self.run_id, now]
            statements.append(
                (f"insert into {table} values {', '.join([row] * len(chunk))}", params)
            )
        return statements

    def _reject_inserts(self, rejects: list[Reject]) -> list[tuple[str, list]]:
        b, now = self.binding, _now()
        row = f"({b}, {b}, {b}, {b}, {b}, {b}, {b}, {b})"
        statements = []
        for chunk in _chunks(rejects, _IN_CHUNK):
            params: list = []
            for r in chunk:
                key_values = json.dumps(r.key_values, default=str, sort_keys=True)
                params += [
                    self.sync_id,
                    self.run_id,
                    self.model_name,
                    r.key_hash,
                    key_values,
                    r.error_code,
                    r.error_message,
                    now,
                ]
            statements.append(
                (f"insert into {self.store.rejects} values {', '.join([row] * len(chunk))}", params)
            )
        return statements


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _as_datetime(value) -> datetime:
    """A timestamp read back from the warehouse (a driver may return text)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
