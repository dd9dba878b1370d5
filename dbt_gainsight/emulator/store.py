"""The record store: compact rows per object, Gsids derived from row numbers, lazy hash indexes.

Memory matters (objects of 1,000,000 records): a row is a tuple holding only the fields that
are set, led by a shared "layout" saying which fields those are; the Gsid is not stored but
derived from the row number (prefix + per-table salt + base-36 row number), so finding a
record by Gsid is arithmetic, not a dict lookup. Equality lookups (PUT keys, EQ/IN, write
lookups, people by Email) use a per-field hash index built the first time a field is used
that way and maintained on every later write.

The store is not thread-safe by itself: callers hold ``Store.lock`` around each API call.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from dbt_gainsight.emulator.objects import (
    SEED_RELATIONSHIP_TYPES,
    SEED_USERS,
    FieldDef,
    ObjectDef,
)
from dbt_gainsight.emulator.persist import Persistence

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SEQ_WIDTH = 24
_SALT_WIDTH = 8
# CreatedDate, ModifiedDate, CreatedBy, ModifiedBy occupy slots 0..3.
CREATED_DATE, MODIFIED_DATE, CREATED_BY, MODIFIED_BY = range(4)


def _b36(n: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out)).rjust(_SEQ_WIDTH, "0")


class Layout:
    """Which slots a row holds, in order; shared by every row with the same set fields."""

    __slots__ = ("slots", "pos")

    def __init__(self, slots: tuple[int, ...]):
        self.slots = slots
        self.pos = {s: i + 1 for i, s in enumerate(slots)}


def _index_key(f: FieldDef, value: Any) -> Any:
    if f.data_type == "EMAIL" and isinstance(value, str):
        return value.lower()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Table:
    """All records of one object."""

    def __init__(self, obj: ObjectDef, salt: str):
        self.obj = obj
        self.salt = salt
        self.head = obj.key_prefix + salt
        self.rows: list[tuple | None] = []
        self.live = 0
        self.indexes: dict[int, dict[Any, Any]] = {}
        self._layouts: dict[tuple[int, ...], Layout] = {}

    # -- Gsids ---------------------------------------------------------------------------
    def gsid(self, seq: int) -> str:
        """The Gsid of row ``seq``."""
        return self.head + _b36(seq)

    def seq_of(self, gsid: Any) -> int | None:
        """Row number of a live record with this Gsid, else None."""
        if not isinstance(gsid, str) or len(gsid) != len(self.head) + _SEQ_WIDTH:
            return None
        if not gsid.startswith(self.head):
            return None
        try:
            seq = int(gsid[len(self.head) :], 36)
        except ValueError:
            return None
        if seq < len(self.rows) and self.rows[seq] is not None:
            return seq
        return None

    # -- rows ----------------------------------------------------------------------------
    def _pack(self, values: list[Any]) -> tuple:
        slots = tuple(i for i, v in enumerate(values) if v is not None)
        layout = self._layouts.get(slots)
        if layout is None:
            layout = self._layouts[slots] = Layout(slots)
        return (layout, *(values[i] for i in slots))

    def unpack(self, row: tuple) -> list[Any]:
        """A stored row -> a full list of slot values (None where unset)."""
        values: list[Any] = [None] * self.obj.width
        for i, s in enumerate(row[0].slots, 1):
            values[s] = row[i]
        return values

    def get(self, seq: int, slot: int) -> Any:
        """One field of one record (``slot`` -1 is the Gsid)."""
        if slot < 0:
            return self.gsid(seq)
        row = self.rows[seq]
        p = row[0].pos.get(slot)  # type: ignore[index]
        return None if p is None else row[p]  # type: ignore[index]

    def values(self, seq: int) -> list[Any]:
        """All slot values of a live record."""
        return self.unpack(self.rows[seq])  # type: ignore[arg-type]

    def scan(self) -> Iterator[int]:
        """Row numbers of all live records, in insertion order."""
        rows = self.rows
        return (i for i in range(len(rows)) if rows[i] is not None)

    def insert(self, values: list[Any]) -> int:
        """Append a record; returns its row number."""
        seq = len(self.rows)
        self.rows.append(self._pack(values))
        self.live += 1
        for slot, idx in self.indexes.items():
            v = values[slot]
            if v is not None:
                self._index_add(idx, _index_key(self.obj.fields_by_slot[slot], v), seq)
        return seq

    def replace(self, seq: int, values: list[Any]) -> None:
        """Overwrite a record's values, keeping indexes in step."""
        if self.indexes:
            old = self.values(seq)
            for slot, idx in self.indexes.items():
                if old[slot] != values[slot]:
                    f = self.obj.fields_by_slot[slot]
                    if old[slot] is not None:
                        self._index_remove(idx, _index_key(f, old[slot]), seq)
                    if values[slot] is not None:
                        self._index_add(idx, _index_key(f, values[slot]), seq)
        self.rows[seq] = self._pack(values)

    def delete(self, seq: int) -> None:
        """Remove a record; its Gsid is never reused."""
        if self.indexes:
            old = self.values(seq)
            for slot, idx in self.indexes.items():
                if old[slot] is not None:
                    f = self.obj.fields_by_slot[slot]
                    self._index_remove(idx, _index_key(f, old[slot]), seq)
        self.rows[seq] = None
        self.live -= 1

    def clear(self) -> None:
        """Drop every record and index."""
        self.rows = []
        self.live = 0
        self.indexes = {}

    # -- indexes -------------------------------------------------------------------------
    @staticmethod
    def _index_add(idx: dict[Any, Any], key: Any, seq: int) -> None:
        cur = idx.get(key)
        if cur is None:
            idx[key] = seq
        elif isinstance(cur, list):
            cur.append(seq)
        else:
            idx[key] = [cur, seq]

    @staticmethod
    def _index_remove(idx: dict[Any, Any], key: Any, seq: int) -> None:
        cur = idx.get(key)
        if cur is None:
            return
        if isinstance(cur, list):
            if seq in cur:
                cur.remove(seq)
            if len(cur) == 1:
                idx[key] = cur[0]
            elif not cur:
                del idx[key]
        elif cur == seq:
            del idx[key]

    def _index(self, f: FieldDef) -> dict[Any, Any]:
        idx = self.indexes.get(f.slot)
        if idx is None:
            idx = {}
            slot = f.slot
            for seq, row in enumerate(self.rows):
                if row is None:
                    continue
                p = row[0].pos.get(slot)
                if p is not None:
                    self._index_add(idx, _index_key(f, row[p]), seq)
            self.indexes[slot] = idx
        return idx

    def find_eq(self, f: FieldDef, value: Any) -> list[int]:
        """Row numbers whose field equals ``value`` (stored form), in insertion order."""
        if f.slot < 0:
            seq = self.seq_of(value)
            return [] if seq is None else [seq]
        hit = self._index(f).get(_index_key(f, value))
        if hit is None:
            return []
        return list(hit) if isinstance(hit, list) else [hit]


class Store:
    """Every object's table, the seeded records and (optionally) their sqlite copy."""

    def __init__(
        self,
        objects: dict[str, ObjectDef],
        *,
        state_file: str | None = None,
        seed: int | None = None,
        clock: Any = None,
    ):
        self.lock = threading.RLock()
        self.objects = objects
        self.by_lower = {name.lower(): name for name in objects}
        self._rng = random.Random(seed)
        self.clock = clock
        self.persist = Persistence(state_file) if state_file else None
        self.tables: dict[str, Table] = {}
        self.api_user = ""
        if self.persist and self.persist.has_data():
            self._load()
        else:
            self._fresh()

    # -- lifecycle -----------------------------------------------------------------------
    def _new_salt(self) -> str:
        return "".join(self._rng.choice(_B36) for _ in range(_SALT_WIDTH))

    def _fresh(self) -> None:
        self.tables = {name: Table(obj, self._new_salt()) for name, obj in self.objects.items()}
        if self.persist:
            self.persist.reset({name: t.salt for name, t in self.tables.items()})
        self._seed()

    def _load(self) -> None:
        assert self.persist is not None
        salts = self.persist.salts()
        for name, obj in self.objects.items():
            salt = salts.get(name)
            if salt is None:
                salt = self._new_salt()
                self.persist.set_salt(name, salt)
            self.tables[name] = Table(obj, salt)
        for name, next_seq, rows in self.persist.load_rows(list(self.objects)):
            table = self.tables[name]
            table.rows = [None] * next_seq
            by_name = table.obj.by_name
            for seq, data in rows:
                values: list[Any] = [None] * table.obj.width
                for fname, v in data.items():
                    f = by_name.get(fname)
                    if f is not None and f.slot >= 0:
                        values[f.slot] = v
                table.rows[seq] = table._pack(values)
                table.live += 1
        users = self.tables["GsUser"]
        first = next(iter(users.scan()), None)
        self.api_user = users.gsid(first) if first is not None else ""

    def _seed(self) -> None:
        now = self.now_ms()
        users = self.tables["GsUser"]
        self.api_user = users.gsid(len(users.rows))
        for first, last in SEED_USERS:
            self.insert_values(
                "GsUser",
                {
                    "Name": f"{first} {last}",
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first.lower()}.{last.lower()}@example.com",
                    "IsActiveUser": True,
                },
                now,
            )
        for name in SEED_RELATIONSHIP_TYPES:
            self.insert_values("Relationship_Type", {"Name": name}, now)
        self.flush()

    def reset(self) -> None:
        """Forget every record (new salts, so old Gsids no longer resolve) and reseed."""
        with self.lock:
            self._fresh()

    def close(self) -> None:
        """Flush and close the sqlite file, if any."""
        with self.lock:
            if self.persist:
                self.persist.close()
                self.persist = None

    # -- access --------------------------------------------------------------------------
    def now_ms(self) -> int:
        """The emulator clock in epoch ms (timestamps of CreatedDate/ModifiedDate)."""
        return int((self.clock or time.time)() * 1000)

    def object(self, name: str) -> ObjectDef | None:
        """An object by API name (exact, then case-insensitive)."""
        obj = self.objects.get(name)
        if obj is None:
            real = self.by_lower.get(name.lower())
            obj = self.objects.get(real) if real else None
        return obj

    def table(self, name: str) -> Table:
        """The table of an object by its exact API name."""
        return self.tables[name]

    def exists(self, object_name: str, gsid: Any) -> bool:
        """Whether a record with this Gsid exists in the object."""
        return self.tables[object_name].seq_of(gsid) is not None

    # -- writes (callers hold the lock and call flush() at the end of the call) ----------
    def insert_values(self, object_name: str, named: dict[str, Any], now: int) -> str:
        """Insert a record from stored-form values by field name; returns its Gsid."""
        table = self.tables[object_name]
        values: list[Any] = [None] * table.obj.width
        by_name = table.obj.by_name
        for k, v in named.items():
            values[by_name[k].slot] = v
        values[CREATED_DATE] = values[MODIFIED_DATE] = now
        values[CREATED_BY] = values[MODIFIED_BY] = self.api_user or None
        seq = table.insert(values)
        if self.persist:
            self.persist.upsert(object_name, seq, self._named(table, values))
        return table.gsid(seq)

    def insert_many(self, object_name: str, rows: Iterable[list[Any]], now: int) -> list[str]:
        """Insert records given as full slot lists (system slots are filled in)."""
        table = self.tables[object_name]
        user = self.api_user or None
        out = []
        for values in rows:
            values[CREATED_DATE] = values[MODIFIED_DATE] = now
            values[CREATED_BY] = values[MODIFIED_BY] = user
            seq = table.insert(values)
            if self.persist:
                self.persist.upsert(object_name, seq, self._named(table, values))
            out.append(seq)
        return [table.gsid(s) for s in out]

    def update_values(self, object_name: str, seq: int, changes: dict[int, Any], now: int) -> None:
        """Apply stored-form changes (slot -> value) to one record."""
        table = self.tables[object_name]
        values = table.values(seq)
        for slot, v in changes.items():
            values[slot] = v
        values[MODIFIED_DATE] = now
        values[MODIFIED_BY] = self.api_user or None
        table.replace(seq, values)
        if self.persist:
            self.persist.upsert(object_name, seq, self._named(table, values))

    def delete(self, object_name: str, seq: int) -> None:
        """Delete one record."""
        self.tables[object_name].delete(seq)
        if self.persist:
            self.persist.delete(object_name, seq)

    def flush(self) -> None:
        """Commit pending sqlite writes (one transaction per API call)."""
        if self.persist:
            self.persist.commit({n: len(t.rows) for n, t in self.tables.items()})

    @staticmethod
    def _named(table: Table, values: list[Any]) -> dict[str, Any]:
        fields = table.obj.fields_by_slot
        return {fields[i].name: v for i, v in enumerate(values) if v is not None}

    def record_dict(self, object_name: str, seq: int, display: Any) -> dict[str, Any]:
        """One record as ``{field: display(field, stored)}``, Gsid first."""
        table = self.tables[object_name]
        values = table.values(seq)
        out: dict[str, Any] = {"Gsid": table.gsid(seq)}
        for f in table.obj.fields:
            if f.slot >= 0:
                out[f.name] = display(f, values[f.slot])
        return out
