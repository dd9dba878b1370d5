"""The state writer: records what Gainsight answered, from its own thread and connection.

Only accepted records reach the state table, in buffered batches. A crash loses at most the
unflushed window, whose records are then sent again (upserts are idempotent); nothing unsent
is ever marked synced.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from dbt_gainsight.errors import StateWriteError
from dbt_gainsight.sync.state import (
    ARRAY_BINDING_ADAPTERS,
    IN_CHUNK,
    Reject,
    StateStore,
    chunks,
    key_filters,
    utc_now,
)

_log = logging.getLogger(__name__)

#: What the writer keeps of an accepted record until its flush, by key hash:
#: (row hash, Gsid, replaces) as in ``AcceptedBatch``.
Kept = tuple[str, str | None, bool]

# Messages waiting to be written (a message is one call's answers: up to 50 records, so about
# 50,000 records); beyond it the sender waits (flat memory).
QUEUE_LIMIT = 1_000
# A flush is one transaction: at 5,000 rows a first sync of 1,000,000 rows spent 11 s of the
# writer's CPU in 200 of them on DuckDB, at 20,000 rows 7 s. A crash loses at most a window,
# which the next run sends again (5 s is about 8 calls at Gainsight's 100 calls a minute).
FLUSH_SECONDS = 5.0
FLUSH_ROWS = 20_000
SEPARATOR = ","  # never in a hash (hex) nor, so far, in a Gsid; checked each flush


def _packed(values: Sequence[str | None]) -> str | list[str | None]:
    """One text of the values joined by SEPARATOR, or the list when that would be ambiguous.

    A bound list costs the driver a conversion per element while holding the GIL (DuckDB: a
    third of the state writer's CPU); one text is one value, split by the warehouse. A None
    (no Gsid), an empty text or one holding the separator keeps the list: never misread.
    """
    try:
        text = SEPARATOR.join(values)  # a None raises TypeError
    except TypeError:
        return list(values)
    if text.count(SEPARATOR) != len(values) - 1 or "" in values:  # '' would split away
        return list(values)
    return text


@dataclass(frozen=True)
class AcceptedBatch:
    """One call's accepted records, a column a field: one queue message a call.

    Columns, not an object a record: making and taking apart a named tuple a record cost 2.4 s
    of CPU for 1,000,000 records, columns 0.4 s (benchmarks/README.md, ninth pass).
    ``replaces``: the state may hold a row for this key (the diff did not call it new), so the
    flush deletes it first. A new key has none: the diff saw none and the lease keeps every
    other run away, so its flush only inserts and never scans the state table (at 1,000,000
    rows that scan was 15% of a first sync's CPU).
    """

    key_hashes: Sequence[str]
    row_hashes: Sequence[str]
    gsids: Sequence[str | None]
    replaces: Sequence[bool]


@dataclass(frozen=True)
class Rejected:
    """A record was refused: it goes to the rejects table."""

    reject: Reject


@dataclass(frozen=True)
class Close:
    """Flush what is buffered and stop."""


_CLOSE = Close()


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

    def accepted(
        self,
        key_hashes: Sequence[str],
        row_hashes: Sequence[str],
        gsids: Sequence[str | None],
        replaces: Sequence[bool] | None = None,
    ) -> None:
        """Gainsight accepted these records (one call's): their hashes replace their rejects.

        ``replaces`` says per record whether the state may hold a row for its key already
        (``AcceptedBatch``); None: every one may, which is always safe.
        """
        if not key_hashes:
            return
        if replaces is None:
            replaces = [True] * len(key_hashes)
        if not (len(key_hashes) == len(row_hashes) == len(gsids) == len(replaces)):
            raise ValueError("accepted: the columns of a batch differ in length")
        self._put(AcceptedBatch(key_hashes, row_hashes, gsids, replaces))

    def rejected(self, reject: Reject) -> None:
        """Gainsight refused the record: keep Gainsight's reason; it is retried next run."""
        self._put(Rejected(reject))

    def _put(self, item: AcceptedBatch | Rejected) -> None:
        """Queue an answer; fail (rather than wait for ever) once the writer has died."""
        while True:
            if self.error is not None or not self._thread.is_alive():
                raise self._failure()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Flush what is buffered and stop; raises StateWriteError if any write failed."""
        while self._thread.is_alive():
            try:
                self._queue.put(_CLOSE, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self.error:
            raise self._failure()

    def _failure(self) -> StateWriteError:
        """One message for a failed state write, wherever it is noticed."""
        reason = " ".join(str(self.error).split()) or type(self.error).__name__
        error = StateWriteError(
            f"writing sync state failed ({reason[:300]}); what was saved before the failure "
            "stays, and every record sent since is sent again next run."
        )
        error.__cause__ = self.error
        return error

    def _run(self) -> None:
        wh = self.store.wh
        try:
            with wh.connection("gainsight-state"):
                self._loop()
        except BaseException as exc:  # surfaced by close()
            self.error = exc

    def _loop(self) -> None:
        accepted: dict[str, Kept] = {}
        rejected: dict[str, Reject] = {}
        deadline = time.monotonic() + self.flush_seconds
        done = False
        while not done:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None  # time to flush
            if isinstance(item, Close):
                done = True
            elif isinstance(item, AcceptedBatch):
                kept = zip(item.row_hashes, item.gsids, item.replaces, strict=True)
                accepted.update(zip(item.key_hashes, kept, strict=True))
                if rejected:  # an answer replaces an earlier reject of the same key
                    for key_hash in item.key_hashes:
                        rejected.pop(key_hash, None)
            elif isinstance(item, Rejected):
                rejected[item.reject.key_hash] = item.reject
                accepted.pop(item.reject.key_hash, None)
            size = len(accepted) + len(rejected)
            if done or time.monotonic() >= deadline or size >= self.flush_rows:
                if size:
                    self._flush(accepted, rejected)
                    self.flushed_accepted += len(accepted)
                    self.flushed_rejected += len(rejected)
                    accepted, rejected = {}, {}
                deadline = time.monotonic() + self.flush_seconds
        if self.flushed_accepted or self.flushed_rejected:
            try:  # the next run's diff plans with the real counts
                self.store.refresh_statistics()
            except Exception as exc:  # noqa: BLE001 - the state is written; autovacuum catches up
                _log.debug("could not refresh the state's statistics: %s", exc)

    def _flush(self, accepted: dict[str, Kept], rejected: dict[str, Reject]) -> None:
        store = self.store
        sid = store.wh.literal(self.sync_id)
        statements: list[tuple[str, Sequence | None]] = []
        key_hashes, kept = list(accepted), list(accepted.values())
        replaced = [key for key, (_, _, replaces) in accepted.items() if replaces]
        for where, params in key_filters(self.store.wh, replaced + list(rejected)):
            statements.append(
                (f"delete from {store.rejects} where sync_id = {sid} and {where}", params)
            )
        for where, params in key_filters(self.store.wh, replaced):
            statements.append(
                (f"delete from {store.state} where sync_id = {sid} and {where}", params)
            )
        row_hashes = list(map(itemgetter(0), kept))
        statements += self._state_inserts(key_hashes, row_hashes, list(map(itemgetter(1), kept)))
        statements += self._reject_inserts(list(rejected.values()))
        store.wh.run_in_transaction(statements)

    def _state_inserts(
        self, key_hashes: list[str], row_hashes: list[str], gsids: list[str | None]
    ) -> list[tuple[str, list]]:
        """Insert accepted records: bound arrays where the driver has them (10x faster)."""
        if not key_hashes:
            return []
        b, table, now = self.binding, self.store.state, utc_now()
        if self.arrays:
            columns = [_packed(key_hashes), _packed(row_hashes), _packed(gsids)]
            a, r, g = (self._unnest(c) for c in columns)
            return [
                (
                    f"insert into {table} select {b}, {a}, {r}, {g}, {b}, {b}",
                    [self.sync_id, *columns, self.run_id, now],
                )
            ]
        rows = list(zip(key_hashes, row_hashes, gsids, strict=True))
        row = f"({b}, {b}, {b}, {b}, {b}, {b})"
        statements = []
        for chunk in chunks(rows, IN_CHUNK):
            params: list = []
            for key_hash, row_hash, gsid in chunk:
                params += [self.sync_id, key_hash, row_hash, gsid, self.run_id, now]
            statements.append(
                (f"insert into {table} values {', '.join([row] * len(chunk))}", params)
            )
        return statements

    def _unnest(self, values: str | list) -> str:
        """The rows of one bound column: split in the warehouse when packed (``_packed``)."""
        if isinstance(values, str):
            return f"unnest(string_to_array({self.binding}, '{SEPARATOR}'))"
        return f"unnest(cast({self.binding} as {self.text}[]))"

    def _reject_inserts(self, rejects: list[Reject]) -> list[tuple[str, list]]:
        b, now = self.binding, utc_now()
        row = f"({b}, {b}, {b}, {b}, {b}, {b}, {b}, {b})"
        statements = []
        for chunk in chunks(rejects, IN_CHUNK):
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
