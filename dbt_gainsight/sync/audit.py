"""``dbt-gainsight audit``: read Gainsight back and say where it differs from the models.

For each synced model: read its object (key, mapped fields and lookup match values only,
5,000 records a query call; for a people model, the link records with their person's and
parent's fields), compare with every row of the model through the sync's own converters
(``compare.py``), and report rows missing in Gainsight, values that differ, and records
this tool wrote whose rows have left the model. Drift goes to
``<state schema>.gainsight_audit`` (the latest audit of each sync). ``repair`` marks the
drifted rows in the sync state so the next ``sync`` resends them the ordinary way.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dbt_gainsight import interrupts
from dbt_gainsight.errors import (
    ConfigError,
    GainsightSyncError,
    LockHeld,
    SyncInterrupted,
    ValueConversionError,
)
from dbt_gainsight.gainsight.limits import MAX_PAGE
from dbt_gainsight.sync import compare, diff, history
from dbt_gainsight.sync.budget import OverBudget
from dbt_gainsight.sync.describes import DescribeCache
from dbt_gainsight.sync.lock import Leases
from dbt_gainsight.sync.online import objects_to_describe
from dbt_gainsight.sync.readback import ReadBack
from dbt_gainsight.sync.records import LINK_PREFIX, RecordBuilder
from dbt_gainsight.sync.state import StateStore, chunks, tenant_of, utc_now

AUDIT_TABLE = "gainsight_audit"
MAX_SAMPLES = 20
MAX_AUDIT_ROWS = 100_000  # drift rows written per model; the counts are always exact
REPAIR_CHUNK = 50_000  # key hashes a repair marks at once (one bound array on DuckDB, Postgres)
MISSING, DIFFERS, ORPHAN = "missing", "differs", "orphan"
IN_STATE = (diff.UNCHANGED, diff.CHANGED)  # actions of rows the sync state holds


@dataclass
class Drift:
    """One finding: a missing record, one differing value, or an orphan."""

    kind: str
    key: dict[str, Any]
    gsid: str | None = None
    field: str | None = None
    model_value: Any = None
    gainsight_value: Any = None
    key_hash: str | None = None


@dataclass
class AuditModel:
    """What the audit found for one model."""

    model: str
    object: str
    status: str = "clean"  # clean | drift | skipped | error | incomplete
    message: str | None = None
    rows: int = 0
    read: int = 0  # records read from Gainsight
    estimated_calls: int = 0
    calls: int = 0
    missing: int = 0
    differs: int = 0  # records with at least one differing value
    differing_values: int = 0
    orphans: int = 0
    unsendable: int = 0  # duplicate or null keys, values that cannot be converted
    repaired: int = 0
    samples: list[Drift] = field(default_factory=list)

    def add(self, drift: Drift) -> None:
        """Keep the first findings for the report."""
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(drift)


@dataclass
class AuditResult:
    """Everything one ``dbt-gainsight audit`` found."""

    audit_id: str
    repair: bool = False
    models: list[AuditModel] = field(default_factory=list)
    seconds: float = 0.0
    state_schema: str | None = None  # where the drift rows are (gainsight_audit)

    @property
    def exit_code(self) -> int:
        """0 Gainsight matches every model; 1 drift found or a model could not be audited."""
        return 0 if all(m.status in ("clean", "skipped") for m in self.models) else 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--output json`` and target/gainsight_audit_results.json)."""
        return {
            "audit_id": self.audit_id,
            "repair": self.repair,
            "seconds": round(self.seconds, 3),
            "state_schema": self.state_schema,
            "exit_code": self.exit_code,
            "models": [asdict(m) for m in self.models],
        }


def audit(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    state_schema: str | None = None,
    max_calls: int | None = None,
    repair: bool = False,
    on_event: Callable[[str, str], None] | None = None,
) -> AuditResult:
    """Audit the selected models; raise ConfigError (or OverBudget) before any call."""
    from dbt_gainsight import api
    from dbt_gainsight.gainsight import client_for
    from dbt_gainsight.warehouse import Warehouse

    emit = on_event or (lambda level, message: None)
    started = time.monotonic()
    result = AuditResult(audit_id=uuid.uuid4().hex, repair=repair)
    session = api.Session(
        project_dir=project_dir, profiles_dir=profiles_dir, target=target, vars=vars
    )
    configs = session.configs(select, exclude, selector)
    wh = Warehouse(session.args, session.project.manifest)
    clients: dict[str, Any] = {}
    cancel = threading.Event()  # a Ctrl-C sets it, even one a library dropped (interrupts.py)
    try:
        with interrupts.cancels(cancel), wh.connection("gainsight-audit"):
            plans, problems = session.plans(configs, wh)
            if problems:
                raise ConfigError("The gainsight config has problems.", problems)
            schema = state_schema or session.settings.state_schema
            store = StateStore(wh, schema or f"{wh.target_schema}_gainsight")
            result.state_schema = store.schema
            store.ensure()
            _ensure_table(store)
            work = _estimate(plans, store, result)
            total = sum(m.estimated_calls for _, m in work)
            emit("info", _estimate_line(work, total))
            if max_calls is not None and total > max_calls:
                raise OverBudget(
                    f"The audit would make about {total} calls, over --max-calls {max_calls}; "
                    "no call was made.",
                    {m.model: m.estimated_calls for _, m in work},
                )
            budget = max_calls
            describes = DescribeCache(store)
            for plan, model in work:
                interrupts.stop_if_cancelled(cancel)
                conn = plan.connection
                if conn.name not in clients:
                    clients[conn.name] = client_for(conn, cancel=cancel)
                tenant = tenant_of(conn.url)
                describe = describes.describer(tenant, clients[conn.name])
                asks = [
                    n for n in objects_to_describe(plan.config) if not describes.peek(tenant, n)
                ]
                if budget is not None and len(asks) + 1 > budget:  # its describes and a read
                    model.status = "incomplete"
                    model.message = f"{model.model}: not read: --max-calls {max_calls} is used up"
                    emit("warn", model.message)
                    continue
                try:
                    _audit_model(
                        plan, model, wh, store, clients[conn.name], describe, result, budget
                    )
                except SyncInterrupted:
                    raise
                except GainsightSyncError as exc:
                    model.status, model.message = "error", str(exc)
                if budget is not None:
                    budget -= model.calls
                if model.message:
                    emit("warn" if model.status != "error" else "error", model.message)
    finally:
        for client in clients.values():
            client.close()
        wh.close()
        result.seconds = time.monotonic() - started
        _write_results(session.project.target_path, result)
    return result


def _estimate(plans, store: StateStore, result: AuditResult) -> list[tuple[Any, AuditModel]]:
    """Per model: rows, state rows and the query calls a full read of its object takes."""
    wh = store.wh
    work = []
    cached: dict[str, set[str]] = {}
    for plan in plans:
        config = plan.config
        model = AuditModel(model=config.model, object=config.object)
        result.models.append(model)
        if plan.skip_reason or plan.error:  # an error (e.g. not built) is not a clean audit
            model.status = "skipped" if plan.skip_reason else "error"
            model.message = plan.skip_reason or plan.error
            continue
        rows = wh.execute(f"select count(*) from {plan.relation}", fetch=True)[0][0]
        synced = wh.execute(
            f"select count(*) from {store.state} where sync_id = {wh.literal(plan.sync_id)}",
            fetch=True,
        )[0][0]
        model.rows = int(rows)
        model.estimated_calls = calls_for(int(max(rows, synced)))
        name = tenant_of(plan.connection.url)  # the describe cache is per tenant
        if name not in cached:
            cached[name] = set(store.cached_describes(name))
        objects = set(objects_to_describe(config))
        model.estimated_calls += len(objects - cached[name])  # describes to ask
        cached[name] |= objects
        work.append((plan, model))
    return work


def _estimate_line(work, total: int) -> str:
    parts = ", ".join(f"{m.model} {m.estimated_calls}" for _, m in work)
    return f"Audit read budget: about {total} query call(s) ({parts or 'nothing to read'})."


def _audit_model(plan, model: AuditModel, wh, store, client, describe, result, budget) -> None:
    config = plan.config
    before = client.stats.snapshot()["calls"]  # --max-calls caps the describes too
    try:
        schemas = {name: describe(name) for name in objects_to_describe(config)}
    finally:
        model.calls = client.stats.snapshot()["calls"] - before
    fields = compare.compared_fields(config, schemas)
    by_name = {f.name: f for f in fields}
    keys = compare.KeyMaker(tuple(config.keys), by_name)
    field_names = [f.name for f in fields]
    began = utc_now()
    with ReadBack() as gainsight:
        try:
            _read_gainsight(plan, model, client, fields, keys, budget, before, gainsight)
        finally:
            model.calls = client.stats.snapshot()["calls"] - before
        if model.status == "incomplete":
            return
        plan.folded_keys = plan.email_key_columns(schemas[config.fields_object])  # as synced
        query = plan.diff_query(wh, store, schemas=schemas)
        rows: list[Drift] = []
        for names, chunk in wh.stream(query.rows_sql):
            _compare_chunk(model, rows, names, chunk, config, schemas, keys, fields, gainsight)
        if config.is_people:
            found = _orphans_by_key(wh, plan, query, gainsight, keys, field_names)
        else:
            found = _orphans(wh, query, gainsight, field_names)
        for key_hash, gsid, theirs in found:
            model.orphans += 1
            key = {k: theirs.get(k) for k in config.keys}
            _found(model, rows, Drift(ORPHAN, key, gsid, key_hash=key_hash))
        if model.missing or model.differs or model.orphans:
            model.status = "drift"
        _save(store, plan, model, rows, result.audit_id)
        raced = _racing_syncs(store, plan, began, result.audit_id)
        if raced:
            model.message = (
                f"a sync of {config.model} ran while it was audited ({raced}): what it sent "
                "may show here as missing, differing or orphaned; audit again once it is done"
                + ("; --repair marked nothing" if result.repair else "")
                + "."
            )
        elif result.repair:
            model.repaired = _repair(store, plan, result.audit_id, gainsight)


def _compare_chunk(model, rows, names, chunk, config, schemas, keys, fields, gainsight) -> None:
    """Match model rows with the records read back and note what is missing or differs.

    A row is matched by the Gsid its state holds, else by its key: a few look-ups a chunk.
    """
    at = {n: i for i, n in enumerate(names)}
    builder = RecordBuilder(config, at, schemas)
    ix_key, ix_gsid, ix_action = at[diff.KEY_HASH], at[diff.GSID], at[diff.ACTION]
    built = []
    for row in chunk:
        if row[ix_action] in (diff.DUPLICATE, diff.NULL_KEY):
            model.unsendable += 1
            continue
        try:
            record = builder.flat(row)
        except ValueConversionError:
            model.unsendable += 1
            continue
        built.append((row, record, keys.of_record(record)))
    held = gainsight.values_of(row[ix_gsid] for row, _, _ in built)
    by_key = gainsight.gsids_of(
        key for row, _, key in built if key is not None and row[ix_gsid] not in held
    )
    held.update(gainsight.values_of({g for gsids in by_key.values() for g in gsids} - held.keys()))
    matched, drifted = [], []
    field_names = [f.name for f in fields]
    # A link's state row holds its person's Gsid, not the link's: never shown as the record's.
    own_gsids = config.kind not in LINK_PREFIX
    for row, record, record_key in built:
        key = builder.key_values(row)
        candidates = [row[ix_gsid]] if row[ix_gsid] in held else by_key.get(record_key, [])
        if not candidates:
            model.missing += 1
            shown = row[ix_gsid] if own_gsids else None
            _found(model, rows, Drift(MISSING, key, shown, key_hash=row[ix_key]))
            if row[ix_action] in IN_STATE:  # it was written: --repair makes it new again
                drifted.append((MISSING, row[ix_key]))
            continue
        # Several records of one key (two companies of one name, a person's links under
        # keys: [Email]): the row is the one that matches it, if any does.
        gsid, found = candidates[0], None
        for candidate in candidates:
            theirs = dict(zip(field_names, held[candidate], strict=True))
            differences = compare.differences(record, theirs, fields)
            if found is None or not differences:
                gsid, found = candidate, differences
            if not differences:
                break
        matched.append(gsid)
        if found:
            model.differs += 1
            model.differing_values += len(found)
            drifted.append((DIFFERS, row[ix_key]))
        for name, mine, theirs in found:
            _found(model, rows, Drift(DIFFERS, key, gsid, name, mine, theirs, row[ix_key]))
    gainsight.mark_matched(matched)
    gainsight.note_drifted(drifted)


def _orphans(wh, query, gainsight: ReadBack, field_names) -> Iterator[tuple[str, str, dict]]:
    """(key hash, Gsid, values) of records the state says the sync wrote, rows since gone."""
    for _, chunk in wh.stream(query.gone_sql):
        orphans = gainsight.values_of((gsid for _, gsid in chunk), unmatched=True)
        for key_hash, gsid in chunk:
            if gsid in orphans:
                yield key_hash, gsid, dict(zip(field_names, orphans[gsid], strict=True))


def _orphans_by_key(wh, plan, query, gainsight: ReadBack, keys, field_names) -> Iterator[tuple]:
    """``_orphans`` of a people model, found by key.

    Its state keeps the person's Gsid (none after a bulk sync), shared by the person's other
    links, not the link's: a record no row matched is an orphan when the hash of its key,
    computed by the warehouse as the diff computes it, is a state row's whose row has gone.
    A gone row is one orphan: if records of another integration share its key, the first
    of them in Gsid order stands for it.
    """
    for _, chunk in wh.stream(query.gone_keys_sql):
        gainsight.note_gone(key_hash for (key_hash,) in chunk)
    types = [plan.column_types.get(c) for c in plan.key_columns]
    folded = [f.folded for f in keys.fields]
    for batch in chunks(gainsight.unmatched(), diff.KEY_HASH_CHUNK):
        texts = [keys.texts_of(dict(zip(field_names, v, strict=True))) for _, v in batch]
        keyed = [(g, v, t) for (g, v), t in zip(batch, texts, strict=True) if t is not None]
        hashed = diff.key_hashes(wh, [t for _, _, t in keyed], types, folded)
        gone = gainsight.take_gone(hashed)  # each gone row is one orphan, however many match
        for key_hash, (gsid, values, _) in zip(hashed, keyed, strict=True):
            if key_hash in gone:
                gone.discard(key_hash)
                yield key_hash, gsid, dict(zip(field_names, values, strict=True))


def _read_gainsight(plan, model, client, fields, keys, budget, calls_before, gainsight) -> None:
    """Every record of the object into ``gainsight``, values in the sync's form, by page."""
    select = ["Gsid", *dict.fromkeys(f.path for f in fields)]
    names = [f.name for f in fields]
    page: list[tuple[str, tuple | None, tuple]] = []
    # Offset pages in Gainsight's own order: an orderBy makes the server sort the whole
    # object for every page. A record moved between pages by a concurrent write can only be
    # reported missing (then --repair resends it: harmless); one seen twice is counted once.
    pages = client.query(compare.read_object(plan.config), select)
    while True:
        if model.read % MAX_PAGE == 0:
            gainsight.add(page)
            page = []
            used = client.stats.snapshot()["calls"] - calls_before
            if budget is not None and used + 1 > budget:
                model.status = "incomplete"
                model.message = (
                    f"{model.model}: stopped reading after {used} calls (--max-calls); "
                    f"{model.read} records read, nothing compared"
                )
                return
        row = next(pages, None)
        if row is None:
            gainsight.add(page)
            return
        model.read += 1
        gsid = row.get("Gsid")
        if not gsid:
            continue
        values = tuple(f.read(row.get(f.path)) for f in fields)
        page.append((gsid, keys.of_values(dict(zip(names, values, strict=True))), values))


def _found(model: AuditModel, rows: list[Drift], drift: Drift) -> None:
    """Count it in the report; keep it for the audit table up to MAX_AUDIT_ROWS."""
    model.add(drift)
    if len(rows) < MAX_AUDIT_ROWS:
        rows.append(drift)


# The audit table and repair ---------------------------------------------------------------


def _ensure_table(store: StateStore) -> None:
    wh = store.wh
    if AUDIT_TABLE in wh.table_names(store.schema):
        return
    text, ts = wh.macro("type_string"), wh.macro("type_timestamp")
    columns = ", ".join(
        f"{name} {text}"
        for name in (
            "audit_id",
            "sync_id",
            "model_name",
            "object_name",
            "kind",
            "key_hash",
            "key_values",
            "gsid",
            "field_name",
            "model_value",
            "gainsight_value",
        )
    )
    relation = wh.relation(store.schema, AUDIT_TABLE)
    create = f"create table if not exists {relation} ({columns}, audited_at {ts})"
    wh.run_in_transaction([(create, None)])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _save(store: StateStore, plan, model: AuditModel, rows: list[Drift], audit_id: str) -> None:
    """Replace this sync's rows in the audit table with what this audit found."""
    wh = store.wh
    relation = wh.relation(store.schema, AUDIT_TABLE)
    values = f"({', '.join([wh.binding_char()] * 12)})"
    now = utc_now()

    def statements() -> Iterator[tuple[str, list | None]]:  # one chunk's bindings at a time
        yield f"delete from {relation} where sync_id = {wh.literal(plan.sync_id)}", None
        for chunk in chunks(rows[:MAX_AUDIT_ROWS], 500):
            params: list[Any] = []
            for d in chunk:
                params += [
                    audit_id,
                    plan.sync_id,
                    model.model,
                    model.object,
                    d.kind,
                    d.key_hash,
                    json.dumps(d.key, default=str, sort_keys=True),
                    d.gsid,
                    d.field,
                    _text(d.model_value),
                    _text(d.gainsight_value),
                    now,
                ]
            yield f"insert into {relation} values {', '.join([values] * len(chunk))}", params

    wh.run_in_transaction(statements())


def _racing_syncs(store: StateStore, plan, began, audit_id: str) -> str | None:
    """The syncs that may have written the model while the audit read it, named; or None.

    A plain audit takes no lease (it writes nothing a sync does), so a sync may run beside
    it: one that holds the model's lease now, or one that sent records and ended since the
    audit began (the run history).
    """
    running = Leases(store, audit_id).others([plan.sync_id])
    ended = history.wrote_since(store, plan.config.unique_id, began)
    if running:
        lease = running[0]
        return (
            f"run {lease.run_id}, host {lease.host}, pid {lease.pid}, running since "
            f"{lease.started_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    if ended:
        return f"run {ended[-1]}, which ended after the audit began"
    return None


def _repair(store: StateStore, plan, audit_id: str, gainsight: ReadBack) -> int:
    """Mark drifted rows in the state so the next sync resends them.

    A row whose record differs gets a row hash no row has (the diff sees it as changed: an
    update); a row whose record is gone from Gainsight loses its state row (the diff sees
    it as new: the existence check, then an insert). Orphans are left alone. It takes the
    model's lease, as a sync does: a sync running now would write the same state rows.
    """
    wh = store.wh
    marked = 0

    def statements() -> Iterator[tuple[str, list]]:
        nonlocal marked
        for kind, change in ((DIFFERS, store.resend_rows), (MISSING, store.forget_rows)):
            for keys in chunks(gainsight.drifted(kind), REPAIR_CHUNK):
                marked += len(keys)
                yield from change(plan.sync_id, keys)

    leases = Leases(store, audit_id)
    try:
        leases.acquire([(plan.sync_id, plan.config.model)])
    except LockHeld as exc:
        raise LockHeld(f"--repair marked nothing: {exc}") from None
    try:
        wh.run_in_transaction(statements())
    finally:
        leases.release()
    return marked


def _write_results(target_path: Path, result: AuditResult) -> None:
    target_path.mkdir(parents=True, exist_ok=True)
    payload = {"generated_at": datetime.now(timezone.utc).isoformat(), **result.to_dict()}
    (target_path / "gainsight_audit_results.json").write_text(
        json.dumps(payload, indent=2, default=str) + "\n"
    )


def calls_for(records: int) -> int:
    """Query calls a full read of ``records`` records takes (the last page may be empty)."""
    return math.floor(records / MAX_PAGE) + 1
