"""Sync state in the user's warehouse: what Gainsight accepted, and what it rejected.

Tables in a schema of the user's choice (default ``<target schema>_gainsight``):

- ``gainsight_syncs``: one row per sync (model + object + connection + tenant) with the hash of
  its mapping; a new fingerprint resets that sync's state.
- ``gainsight_sync_state``: per accepted record, its key hash, row hash and Gsid.
- ``gainsight_rejects``: per rejected record, Gainsight's code and message; retried next run.
- ``gainsight_locks``: the models a running sync holds (lock.py).
- ``gainsight_call_ledger``: the calls each running sync has spent so far (budget.py).

Only accepted records reach the state table, written by ``StateWriter`` (writer.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from urllib.parse import urlsplit

from dbt_gainsight.errors import StateVersionError, StateWriteError
from dbt_gainsight.warehouse import Warehouse

STATE_VERSION = 1
SYNCS, STATE, REJECTS, META, DESCRIBES, LOCKS, LEDGER = (
    "gainsight_syncs",
    "gainsight_sync_state",
    "gainsight_rejects",
    "gainsight_meta",
    "gainsight_describe_cache",
    "gainsight_locks",
    "gainsight_call_ledger",
)
#: A row hash no row has: a state row marked so is sent again by the next sync.
RESEND_HASH = "audit-repair"
#: How long a cached describe is trusted; a run that finds one older asks Gainsight again.
DESCRIBE_TTL = timedelta(hours=24)
ARRAY_BINDING_ADAPTERS = frozenset({"duckdb", "postgres"})
# Warehouses whose planner needs ANALYZE to know a table's rows (Postgres, Redshift).
ANALYZE_ADAPTERS = frozenset({"postgres", "redshift"})
IN_CHUNK = 1_000  # key hashes per ``in (...)`` list


def sync_id_for(model_unique_id: str, object_name: str, connection: str, tenant: str) -> str:
    """A stable id for one sync: the same model may feed several objects or tenants.

    The tenant is part of it, so pointing a connection at another Gainsight (sandbox to
    production, an emulator restarted empty) starts a new sync that sends every row.
    """
    raw = f"{model_unique_id}|{object_name}|{connection}|{tenant}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def tenant_of(url: str) -> str:
    """The tenant a Gainsight URL names: host (lower-case), port unless default, path."""
    parts = urlsplit(url)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = (parts.hostname or "").lower() + (f":{port}" if port and port != default else "")
    path = parts.path.rstrip("/")
    return netloc + (path[:-3] if path.endswith("/v1") else path)


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
        self.locks = wh.relation(schema, LOCKS)
        self.ledger = wh.relation(schema, LEDGER)

    def refresh_statistics(self) -> None:
        """After a model's state writes: let the planner see the rows the next diff joins.

        A Postgres table written seconds ago has no statistics until autovacuum gets to it;
        the planner then guessed 27 of a sync's 5,000 state rows and nested-looped the diff
        (25 million md5 comparisons: 35 s for 50 changed rows). ANALYZE samples at most
        30,000 rows, so it costs about the same at 1,000,000.
        """
        if self.wh.adapter_type in ANALYZE_ADAPTERS:  # committed: the statistics are shared
            self.wh.run_in_transaction([(f"analyze {t}", None) for t in (self.state, self.rejects)])

    def ensure(self) -> None:
        """Create the schema and tables when absent; refuse a newer state version."""
        seen = -1
        while True:
            try:
                self._create()
                break
            except Exception:
                # First syncs at once on a new schema race to create it: "if not exists" does
                # not stop a loser failing (Postgres: "duplicate key value violates unique
                # constraint pg_type_typname_nsp_index"; DuckDB: a write-write conflict).
                # Listed again, what the others made is there: go on while that grows.
                tables = len(self.wh.table_names(self.schema))
                if tables <= seen:
                    raise
                seen = tables
        rows = self.wh.execute(
            f"select value from {self.meta} where name = 'state_version'", fetch=True
        )
        version = int(rows[0][0]) if rows else STATE_VERSION
        if version > STATE_VERSION:
            raise StateVersionError(
                f"The state in schema {self.schema} is version {version}, newer than this "
                f"dbt-gainsight understands ({STATE_VERSION}). Upgrade dbt-gainsight."
            )

    def _create(self) -> None:
        """Create the schema and the tables it lacks (one transaction: all or none)."""
        wh = self.wh
        text = wh.macro("type_string")
        ts = wh.macro("type_timestamp")
        wh.adapter.create_schema(wh.relation(self.schema, SYNCS).without_identifier())
        existing = wh.table_names(self.schema)
        ddl = {
            META: f"create table if not exists {self.meta} (name {text}, value {text})",
            SYNCS: (
                f"create table if not exists {self.syncs} (sync_id {text}, model_unique_id {text}, "
                f"object_name {text}, connection_name {text}, fingerprint {text}, "
                f"updated_at {ts})"
            ),
            STATE: (
                f"create table if not exists {self.state} (sync_id {text}, key_hash {text}, "
                f"row_hash {text}, gsid {text}, run_id {text}, synced_at {ts})"
            ),
            DESCRIBES: (
                f"create table if not exists {self.describes} (connection_name {text}, "
                f"object_name {text}, payload {text}, fetched_at {ts})"
            ),
            LOCKS: (
                f"create table if not exists {self.locks} (sync_id {text}, model_name {text}, "
                f"run_id {text}, host {text}, pid {text}, started_at {ts}, heartbeat_at {ts})"
            ),
            LEDGER: (
                f"create table if not exists {self.ledger} (run_id {text}, "
                f"connection_name {text}, calls {wh.macro('type_bigint')}, started_at {ts}, "
                f"updated_at {ts})"
            ),
            REJECTS: (
                f"create table if not exists {self.rejects} (sync_id {text}, run_id {text}, "
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

    def fingerprint(self, sync_id: str) -> str | None:
        """The mapping fingerprint the sync's state was built with; None for a new sync."""
        return self._recorded(sync_id)[0]

    def identity(self, sync_id: str) -> str | None:
        """The keys and fields the sync's state was built with (``config.model.identity``)."""
        return self._recorded(sync_id)[1]

    def records(self, sync_id: str) -> int:
        """How many records this sync's state holds."""
        sql = f"select count(*) from {self.state} where sync_id = {self.wh.literal(sync_id)}"
        return int(self.wh.execute(sql, fetch=True)[0][0])

    def _recorded(self, sync_id: str) -> tuple[str | None, str | None]:
        """The sync's (fingerprint, identity), stored as ``<fingerprint> <identity>``.

        One column: a state written before identities existed reads as the same fingerprint.
        """
        rows = self.wh.execute(
            f"select fingerprint from {self.syncs} where sync_id = {self.wh.literal(sync_id)}",
            fetch=True,
        )
        if not rows or rows[0][0] is None:
            return None, None
        fingerprint, _, identity = str(rows[0][0]).partition(" ")
        return fingerprint, identity or None

    def prepare_sync(
        self,
        *,
        sync_id: str,
        model_unique_id: str,
        object_name: str,
        connection: str,
        fingerprint: str,
        full_refresh: bool,
        identity: str = "",
    ) -> str | None:
        """Record the sync's fingerprint; reset its state when the mapping changed.

        Returns why the state was reset (``"mapping changed"``, ``"full refresh"``) or None.
        """
        wh = self.wh
        sid = wh.literal(sync_id)
        previous, known = self._recorded(sync_id)
        reason = None
        if full_refresh and previous is not None:
            reason = "full refresh"
        elif previous is not None and previous != fingerprint:
            reason = "mapping changed"
        if previous == fingerprint and reason is None and (known or not identity):
            return None
        recorded = f"{fingerprint} {identity}" if identity else fingerprint
        b = wh.binding_char()
        statements: list[tuple[str, Sequence | None]] = [
            (f"delete from {self.syncs} where sync_id = {sid}", None),
            (
                f"insert into {self.syncs} values ({b}, {b}, {b}, {b}, {b}, {b})",
                [sync_id, model_unique_id, object_name, connection, recorded, utc_now()],
            ),
        ]
        if reason:
            statements += [
                (f"delete from {self.state} where sync_id = {sid}", None),
                (f"delete from {self.rejects} where sync_id = {sid}", None),
            ]
        self._write(statements, "resetting the sync state")
        return reason

    def drop_stale_rejects(self, sync_id: str, run_id: str) -> None:
        """After a complete run, drop rejects this run did not renew.

        A complete run re-sends every row still in the rejects table, so each one it did not
        reject again (or accept, which already removed it) belongs to a row that has left
        the model.
        """
        wh = self.wh
        sql = (
            f"delete from {self.rejects} where sync_id = {wh.literal(sync_id)} "
            f"and run_id <> {wh.literal(run_id)}"
        )
        self._write([(sql, None)], "dropping stale rejects")

    def drop_superseded_rows(self, sync_id: str, superseded_sql: str) -> None:
        """Drop state rows whose key left the model while their Gsid is held by a live row.

        A row whose key changed form (``7`` became ``'0007'``) is new to the diff; the
        existence check finds its record and the update writes a state row under the new key
        hash, beside the old one. Left there, the old row would count as "no longer in the
        model" on every run, and as a second delete of the record when its row leaves.
        """
        self.wh.run_in_transaction([])  # a fresh snapshot: the writer's thread just committed
        stale = [key_hash for (key_hash,) in self.wh.execute(superseded_sql, fetch=True)]
        self._write(self.forget_rows(sync_id, stale), "dropping superseded state rows")

    def forget_rows(self, sync_id: str, key_hashes: Sequence[str]) -> list[tuple[str, list]]:
        """Statements that drop these state rows: their records are not in Gainsight."""
        return self._on_rows(sync_id, key_hashes, f"delete from {self.state}")

    def resend_rows(self, sync_id: str, key_hashes: Sequence[str]) -> list[tuple[str, list]]:
        """Statements that keep these state rows (and Gsids) but mark them to be sent again.

        The row hash no row has makes the next diff call each row changed (audit --repair,
        deletes whose outcome is unknown).
        """
        hash_ = self.wh.literal(RESEND_HASH)
        return self._on_rows(sync_id, key_hashes, f"update {self.state} set row_hash = {hash_}")

    def _on_rows(
        self, sync_id: str, key_hashes: Sequence[str], statement: str
    ) -> list[tuple[str, list]]:
        sid = self.wh.literal(sync_id)
        return [
            (f"{statement} where sync_id = {sid} and {where}", params)
            for where, params in key_filters(self.wh, list(key_hashes))
        ]

    def _write(self, statements: list[tuple[str, Sequence | None]], what: str) -> None:
        """Run state statements; a failure is a StateWriteError for the model (exit 1)."""
        try:
            self.wh.run_in_transaction(statements)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise StateWriteError(f"{what} in the warehouse failed ({reason})") from exc

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
        oldest = utc_now() - DESCRIBE_TTL
        for name, payload, fetched_at in rows:
            if as_datetime(fetched_at) >= oldest:
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
                    [connection, name, json.dumps(entry, sort_keys=True), utc_now()],
                )
            )
        wh.run_in_transaction(statements)


def key_filters(wh: Warehouse, keys: list[str]) -> list[tuple[str, list]]:
    """``key_hash in (...)`` conditions covering ``keys``, with their bindings.

    One bound array where the driver binds lists as arrays (one scan of the table, however
    many keys), else lists of IN_CHUNK.
    """
    if not keys:
        return []
    b = wh.binding_char()
    if wh.adapter_type in ARRAY_BINDING_ADAPTERS:
        array = f"cast({b} as {wh.macro('type_string')}[])"
        return [(f"key_hash in (select unnest({array}))", [keys])]
    return [
        (f"key_hash in ({', '.join([b] * len(chunk))})", chunk) for chunk in chunks(keys, IN_CHUNK)
    ]


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items (bound-parameter lists stay small)."""
    remaining = iter(items)
    while chunk := list(islice(remaining, size)):
        yield chunk


def as_datetime(value) -> datetime:
    """A naive UTC timestamp read back from the warehouse (a driver may return text)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


def utc_now() -> datetime:
    """Naive UTC: every adapter's plain timestamp type stores it unchanged."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
