"""Data-objects writes: insert (POST), update by keys (PUT), delete by Gsid.

A write is validated as a whole before anything is stored: the first invalid value fails the
call with HTTP 400 and its GSOBJ code, and the store is left untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dbt_gainsight.emulator.objects import KEY_TYPES, FieldDef, ObjectDef
from dbt_gainsight.emulator.store import Store
from dbt_gainsight.emulator.validation import ApiError, _short, condition_value, convert_value

MAX_RECORDS = 50
MAX_KEYS = 3
ON_NO_MATCH = ("ERROR", "NULLABLE", "DEFAULTVALUE")
MULTI_MATCH = ("FIRSTMATCH", "MARKASERROR")

RejectCheck = Callable[[dict[str, Any]], None]


def records_of(body: Any) -> list[dict[str, Any]]:
    """The ``records`` list of a write body: 1..50 JSON objects, else 400."""
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ApiError("GSOBJ_1002", "The request body must hold a 'records' list")
    if not 1 <= len(records) <= MAX_RECORDS:
        raise ApiError(
            "GSOBJ_1002",
            f"A write takes 1 to {MAX_RECORDS} records; this one has {len(records)}",
        )
    for r in records:
        if not isinstance(r, dict):
            raise ApiError("GSOBJ_1002", "Every entry of 'records' must be a JSON object")
    return records


class Lookup:
    """One declared write lookup: resolve record fields to a value of another object."""

    def __init__(self, store: Store, obj: ObjectDef, target: str, spec: Any):
        f = obj.by_name.get(target)
        if f is None or not f.createable:
            raise ApiError(
                "GSOBJ_1002", f"Lookup target field {target} does not exist on {obj.name}"
            )
        if not isinstance(spec, dict):
            raise ApiError("GSOBJ_1002", f"Lookup {target} must be a JSON object")
        other = store.object(str(spec.get("objectName", "")))
        if other is None:
            raise ApiError(
                "GSOBJ_1002", f"Lookup {target}: unknown objectName {spec.get('objectName')!r}"
            )
        fields = spec.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise ApiError(
                "GSOBJ_1002",
                f"Lookup {target}: 'fields' must map record fields to {other.name} fields",
            )
        self.match: list[tuple[str, FieldDef]] = []
        for src, dst in fields.items():
            df = other.by_name.get(dst) if isinstance(dst, str) else None
            if df is None:
                raise ApiError("GSOBJ_1002", f"Lookup {target}: {other.name} has no field {dst!r}")
            self.match.append((src, df))
        lf = other.by_name.get(str(spec.get("lookupField", "Gsid")))
        if lf is None:
            raise ApiError(
                "GSOBJ_1002",
                f"Lookup {target}: {other.name} has no field {spec.get('lookupField')!r}",
            )
        self.multi = str(spec.get("multiMatchOption", "FIRSTMATCH")).upper()
        self.on_no_match = str(spec.get("onNoMatch", "ERROR")).upper()
        if self.multi not in MULTI_MATCH or self.on_no_match not in ON_NO_MATCH:
            raise ApiError("GSOBJ_1002", f"Lookup {target}: invalid multiMatchOption or onNoMatch")
        self.field = f
        self.other = other
        self.lookup_field = lf
        self.default = spec.get("defaultValue")
        self.store = store

    def resolve(self, record: dict[str, Any]) -> Any:
        """The stored value to write into the target field for this record."""
        table = self.store.table(self.other.name)
        candidates: list[int] | None = None
        for src, df in self.match:
            raw = record.get(src)
            if raw is None:
                candidates = []
                break
            try:
                want = condition_value(df, raw)
            except ApiError:
                candidates = []
                break
            hits = table.find_eq(df, want)
            candidates = hits if candidates is None else [s for s in candidates if s in hits]
            if not candidates:
                break
        candidates = candidates or []
        if not candidates:
            if self.on_no_match == "ERROR":
                raise ApiError(
                    "GSOBJ_1002",
                    f"No match found in {self.other.name} for lookup field {self.field.name}",
                )
            if self.on_no_match == "DEFAULTVALUE" and self.default is not None:
                return convert_value(self.field, self.default)
            return convert_value(self.field, None)
        if len(candidates) > 1 and self.multi == "MARKASERROR":
            raise ApiError(
                "GSOBJ_1002",
                f"Multiple matches found in {self.other.name} for lookup field {self.field.name}",
            )
        return table.get(min(candidates), self.lookup_field.slot)


def _lookups(store: Store, obj: ObjectDef, body: dict[str, Any]) -> list[Lookup]:
    spec = body.get("lookups")
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise ApiError("GSOBJ_1002", "'lookups' must be a JSON object")
    return [Lookup(store, obj, target, s) for target, s in spec.items()]


def _check_lookup_target(store: Store, f: FieldDef, value: Any) -> None:
    if value is not None and f.lookup_object and not store.exists(f.lookup_object, value):
        raise ApiError(
            "GSOBJ_1002",
            f"Invalid lookup value {_short(value)} for field {f.name}: "
            f"no {f.lookup_object} has this Gsid",
        )


def convert_record(
    store: Store,
    obj: ObjectDef,
    record: dict[str, Any],
    lookups: list[Lookup],
    *,
    creating: bool,
    key_names: frozenset[str] = frozenset(),
) -> dict[int, Any]:
    """Validate one record; returns stored values by slot (keys excluded), or raises ApiError."""
    consumed = {src for lk in lookups for src, _ in lk.match}
    out: dict[int, Any] = {}
    for name, value in record.items():
        if name in consumed or name in key_names:
            continue
        f = obj.by_name.get(name)
        if f is None:
            raise ApiError("GSOBJ_1002", f"Field {name} does not exist on object {obj.name}")
        if not (f.createable if creating else f.updateable):
            verb = "createable" if creating else "updateable"
            raise ApiError("GSOBJ_1002", f"Field {name} of {obj.name} is not {verb}")
        stored = convert_value(f, value)
        _check_lookup_target(store, f, stored)
        out[f.slot] = stored
    for lk in lookups:
        if not any(src in record for src, _ in lk.match):
            continue  # the record does not use this lookup: leave the field alone
        stored = lk.resolve(record)
        _check_lookup_target(store, lk.field, stored)
        out[lk.field.slot] = stored
    if creating:
        for f in obj.fields:
            if f.required and f.createable and out.get(f.slot) is None:
                raise ApiError("GSOBJ_1007", f"Required field {f.name} of {obj.name} is missing")
    return out


def insert(
    store: Store, obj: ObjectDef, body: Any, reject: RejectCheck
) -> tuple[dict[str, Any], int]:
    """POST /v1/data/objects/{Object}: returns (data, records written)."""
    records = records_of(body)
    with store.lock:
        gsids = insert_records(store, obj, records, _lookups(store, obj, body), reject)
    data = {"count": len(gsids), "errors": None, "records": [{"Gsid": g} for g in gsids]}
    return data, len(gsids)


def parse_keys(obj: ObjectDef, keys: str | None) -> list[FieldDef]:
    """The ``keys`` query parameter: 1..3 existing, non-lookup fields."""
    names = [k.strip() for k in (keys or "").split(",") if k.strip()]
    if not 1 <= len(names) <= MAX_KEYS:
        raise ApiError(
            "GSOBJ_1002", f"An update needs 1 to {MAX_KEYS} key fields in ?keys=, got {len(names)}"
        )
    out = []
    for name in names:
        f = obj.by_name.get(name)
        if f is None:
            raise ApiError("GSOBJ_1002", f"Key field {name} does not exist on object {obj.name}")
        if f.data_type not in KEY_TYPES:
            raise ApiError(
                "GSOBJ_1002",
                f"Field {name} ({f.data_type}) cannot be a key: use String, GSID, Number or Email",
            )
        out.append(f)
    return out


def update(
    store: Store, obj: ObjectDef, body: Any, keys: str | None, reject: RejectCheck
) -> tuple[dict[str, Any], int]:
    """PUT /v1/data/objects/{Object}?keys=...: updates every record matching each input's keys."""
    key_fields = parse_keys(obj, keys)
    key_names = frozenset(f.name for f in key_fields)
    records = records_of(body)
    with store.lock:
        lookups = _lookups(store, obj, body)
        table = store.table(obj.name)
        plan: list[tuple[list[int], dict[int, Any]]] = []
        for r in records:
            reject(r)
            key_values = []
            for f in key_fields:
                raw = r.get(f.name)
                if raw is None:
                    raise ApiError(
                        "GSOBJ_1007", f"Key field {f.name} is missing or null in a record"
                    )
                key_values.append((f, convert_value(f, raw) if f.slot >= 0 else raw))
            changes = convert_record(store, obj, r, lookups, creating=False, key_names=key_names)
            for f, v in key_values:
                if f.slot >= 0 and f.updateable:
                    changes[f.slot] = v
            matches: list[int] | None = None
            for f, v in key_values:
                hits = table.find_eq(f, v)
                if matches is None:
                    matches = hits
                else:
                    hit_set = set(hits)
                    matches = [s for s in matches if s in hit_set]
                if not matches:
                    break
            plan.append((matches or [], changes))
        now = store.now_ms()
        errors = []
        out: list[dict[str, str] | None] = []
        written = 0
        for i, (matches, changes) in enumerate(plan):
            if not matches:
                errors.append(
                    {
                        "index": i,
                        "errorCode": "GSOBJ_1011",
                        "errorDesc": "No entity matches the given criteria",
                    }
                )
                out.append(None)
                continue
            for seq in matches:
                store.update_values(obj.name, seq, changes, now)
            written += len(matches)
            out.append({"Gsid": table.gsid(matches[0])})
        store.flush()
    data = {"count": len(records) - len(errors), "errors": errors or None, "records": out}
    return data, written


def delete(store: Store, obj: ObjectDef, gsid: str) -> tuple[dict[str, Any], int]:
    """DELETE /v1/data/objects/{Object}/{Gsid}: a blank or unknown Gsid is 400 GSOBJ_1004."""
    if not gsid.strip():
        raise ApiError(
            "GSOBJ_1004",
            "Either the Gainsight ID is invalid or missing, please re-check your request.",
        )
    with store.lock:
        seq = store.table(obj.name).seq_of(gsid)
        if seq is None:
            raise ApiError("GSOBJ_1004", f"Invalid or unknown Gsid {_short(gsid)} for {obj.name}")
        store.delete(obj.name, seq)
        store.flush()
    return {"count": 1, "errors": None, "records": [{"Gsid": gsid}]}, 1


def insert_records(
    store: Store,
    obj: ObjectDef,
    records: Iterable[dict[str, Any]],
    lookups: list[Lookup],
    reject: RejectCheck | None = None,
) -> list[str]:
    """Validate every record, then store them all (the caller holds ``store.lock``)."""
    rows = []
    for r in records:
        if reject is not None:
            reject(r)
        changes = convert_record(store, obj, r, lookups, creating=True)
        values: list[Any] = [None] * obj.width
        for slot, v in changes.items():
            values[slot] = v
        rows.append(values)
    gsids = store.insert_many(obj.name, rows, store.now_ms())
    store.flush()
    return gsids
