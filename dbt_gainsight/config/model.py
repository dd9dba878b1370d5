"""The typed, validated form of a model's ``config.meta.gainsight`` block.

Validation runs in two passes so a user sees every problem in one go: the JSON Schema in
``schema.json`` (shapes, enums, unknown keys), then the semantic rules of docs/config-spec.md
(keys are mapped targets, people objects have Email, ...) on the parts that passed the schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from dbt_gainsight.config.messages import (
    describe_value,
    did_you_mean,
    missing_key,
    show,
    unknown_key,
    wrong_type,
)
from dbt_gainsight.config.rules import (
    IDENT_RE,
    MAX_BATCH_SIZE,
    MULTI_MATCH_API,
    ON_NO_MATCH_API,
    PEOPLE_KINDS,
    normalise_object,
    object_message,
    semantic_problems,
)
from dbt_gainsight.errors import ConfigError, ConfigProblem
from dbt_gainsight.gainsight.objects import ObjectKind
from dbt_gainsight.project import META_KEY, DbtProject, yaml_path_of

ROOT = "meta.gainsight"


@dataclass(frozen=True)
class FieldMapping:
    """One model column written to one Gainsight field."""

    column: str
    target: str


@dataclass(frozen=True)
class Lookup:
    """A Gainsight field whose value Gainsight resolves from another object's record.

    ``match`` pairs are (model column, field on the looked-up object); ``multi_match`` and
    ``on_no_match`` are already in the API's spelling (FIRSTMATCH, MARKASERROR, ERROR, ...).
    """

    field: str
    object: str
    match: tuple[tuple[str, str], ...]
    multi_match: str = "FIRSTMATCH"
    on_no_match: str = "ERROR"


@dataclass(frozen=True)
class DeleteSettings:
    """``deletes:``: mirror deletes of rows that left the model, within two limits."""

    enabled: bool = False
    max_per_run: int = 100
    max_fraction: float = 0.05


@dataclass(frozen=True)
class SyncConfig:
    """Everything the engine needs to sync one model, validated and normalised."""

    model: str
    unique_id: str
    yaml_path: str
    object: str
    kind: ObjectKind
    behavior: str
    keys: tuple[str, ...]
    fields: tuple[FieldMapping, ...]
    lookups: tuple[Lookup, ...] = ()
    nulls: str = "skip"
    connection: str | None = None
    enabled: bool = True
    batch_size: int = MAX_BATCH_SIZE
    deletes: DeleteSettings = DeleteSettings()  # not in the fingerprint: how, not what

    @property
    def is_people(self) -> bool:
        """True for objects written through the People API."""
        return self.kind in PEOPLE_KINDS

    @property
    def fields_object(self) -> str:
        """The object whose describe types the unprefixed targets: Person for people objects."""
        return "Person" if self.is_people else self.object

    @property
    def columns(self) -> tuple[str, ...]:
        """Every model column read: fields, then lookup match columns; first spelling wins."""
        seen: set[str] = set()
        out: list[str] = []
        names = [f.column for f in self.fields]
        names += [col for lk in self.lookups for col, _ in lk.match]
        for name in names:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                out.append(name)
        return tuple(out)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The model columns mapped to ``keys``, in key order (what identifies a row)."""
        by_target = {f.target: f.column for f in self.fields}
        return tuple(by_target[key] for key in self.keys)

    def fingerprint(self) -> str:
        """Hash of what shapes the records sent; a change resets this sync's state.

        ``batch_size`` and ``enabled`` are left out: they change how, not what, is sent. Mapping
        and lookup order are canonicalised so reordering YAML does not force a full resend.
        """
        canonical = {
            "v": 1,
            "object": self.object,
            "behavior": self.behavior,
            "keys": list(self.keys),
            "fields": sorted([f.column, f.target] for f in self.fields),
            "lookups": sorted(
                (
                    {
                        "field": lk.field,
                        "object": lk.object,
                        "match": sorted([c, t] for c, t in lk.match),
                        "multi_match": lk.multi_match,
                        "on_no_match": lk.on_no_match,
                    }
                    for lk in self.lookups
                ),
                key=lambda d: d["field"],
            ),
            "nulls": self.nulls,
            "connection": self.connection,
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity(config: SyncConfig) -> str:
    """What the state remembers of a mapping beside its fingerprint: keys and fields written.

    Enough to see a key change that would insert every record again (``key_change``).
    """
    shown = {"keys": list(config.keys), "fields": sorted({f.target for f in config.fields})}
    return json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_change(previous: str | None, config: SyncConfig, records: int) -> str | None:
    """Why a mapping change may not reset the state now, or None.

    New keys that this sync never wrote are on none of the records it wrote: the existence
    check would find none of them and every row would be inserted again, beside its record.
    """
    try:
        before = json.loads(previous) if previous else None
    except ValueError:
        before = None
    if not isinstance(before, dict) or not records or list(config.keys) == before.get("keys"):
        return None
    unwritten = [k for k in config.keys if k not in (before.get("fields") or [])]
    if not unwritten:
        return None
    was, now = ", ".join(before.get("keys") or []), ", ".join(config.keys)
    missing = ", ".join(unwritten)
    return (
        f"keys changed from [{was}] to [{now}], and this sync never wrote {missing}: the "
        f"{records} records it wrote would not be found under the new keys, and every row "
        f"would be inserted again beside its record. Nothing was sent. Map {missing} under "
        f"the old keys and sync, then change the keys; or, if Gainsight's records already "
        f"hold {missing}, run once with --full-refresh."
    )


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``meta.gainsight`` (a fresh copy; callers may mutate it)."""
    text = resources.files("dbt_gainsight.config").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# --------------------------------------------------------------------------- messages


def key_path(path: Iterable[str | int]) -> str:
    """Render a path inside the block as ``meta.gainsight.fields.col`` / ``keys[1]``."""
    out = ROOT
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif IDENT_RE.match(part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def _schema_problems(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """Turn one jsonschema error into (path, message) pairs worded for a YAML author."""
    path = tuple(error.absolute_path)
    inst = error.instance
    v = error.validator
    where = path[-1] if path else None
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in inst if k not in error.schema.get("properties", {})]
        return [((*path, k), unknown_key(str(k), allowed)) for k in extras]
    if v == "required":
        return [(path, missing_key(error))]
    if v == "type":
        return [(path, wrong_type(error))]
    if v == "enum":
        allowed = [x for x in error.validator_value if x is not None]
        return [(path, f"{show(inst)} is not one of {allowed!r}")]
    if v == "anyOf" and where == "object" and len(path) == 1:
        return [(path, object_message(inst))]
    if v == "minItems" or v == "maxItems":
        got = len(inst) if inst else "none"
        return [(path, f"expected 1 to 3 keys, got {got}")]
    if v == "uniqueItems":
        seen: set[Any] = set()
        out = []
        for i, item in enumerate(inst):
            marker = json.dumps(item, sort_keys=True, default=str)
            if marker in seen:
                out.append(((*path, i), f"duplicate key {show(item)}"))
            seen.add(marker)
        return out or [(path, "keys must be unique")]
    if v in ("minProperties", "maxProperties"):
        if where == "fields":
            return [(path, "map at least one column to a Gainsight field")]
        if where == "match":
            return [(path, f"expected 1 to 3 columns to match on, got {len(inst)}")]
    if v in ("minimum", "maximum") and where == "batch_size":
        return [(path, f"must be between 1 and {MAX_BATCH_SIZE}, got {show(inst)}")]
    if v == "minLength":
        return [(path, "must not be empty")]
    return [(path, error.message)]


def _non_string_keys(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Find mapping keys YAML did not read as strings (``on:``, ``1:``); they need quotes."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                out.append((path, f"key {show(k)} is not a string; quote it in the YAML"))
            else:
                out.extend(_non_string_keys(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_non_string_keys(v, (*path, i)))
    return out


def _path_sort_key(path: tuple[str | int, ...]) -> tuple[tuple[int, str | int], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


# --------------------------------------------------------------------------- entry points


def _check(
    meta_gainsight: Any, *, model: str, yaml_path: str, unique_id: str
) -> tuple[list[ConfigProblem], SyncConfig | None]:
    def problem(path: tuple[str | int, ...], message: str) -> ConfigProblem:
        return ConfigProblem(
            model=model, yaml_path=yaml_path, key_path=key_path(path), message=message
        )

    if not isinstance(meta_gainsight, Mapping):
        return [problem((), f"expected a mapping, got {describe_value(meta_gainsight)}")], None

    raw = _non_string_keys(meta_gainsight)
    if raw:
        return [problem(p, m) for p, m in sorted(raw, key=lambda x: _path_sort_key(x[0]))], None

    meta = dict(meta_gainsight)
    errors = list(_validator().iter_errors(meta))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    found: list[tuple[tuple[str | int, ...], str]] = []
    bad: set[str] = set()
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator != "type" and path in typed:
            continue  # "expected a string" says it all
        found.extend(_schema_problems(error))
        if path:
            bad.add(str(path[0]))
        elif error.validator == "required":
            bad.update(str(k) for k in ("object", "fields") if k not in meta)
    semantic, keys = semantic_problems(meta, bad)
    # One list sorted by key path (stable: a schema problem precedes a semantic one there).
    found = sorted(found + semantic, key=lambda x: _path_sort_key(x[0]))
    problems = [problem(p, m) for p, m in found]
    if problems:
        return problems, None

    obj, kind = normalise_object(meta["object"])  # type: ignore[misc]
    lookups = tuple(
        Lookup(
            field=name,
            object=spec["object"],
            match=tuple((str(c), str(t)) for c, t in spec["match"].items()),
            multi_match=MULTI_MATCH_API[spec.get("multi_match", "first_match")],
            on_no_match=ON_NO_MATCH_API[spec.get("on_no_match", "error") or "null"],
        )
        for name, spec in (meta.get("lookups") or {}).items()
    )
    assert keys is not None
    config = SyncConfig(
        model=model,
        unique_id=unique_id,
        yaml_path=yaml_path,
        object=obj,
        kind=kind,
        behavior=meta.get("behavior", "upsert"),
        keys=keys,
        fields=tuple(FieldMapping(column=c, target=t) for c, t in meta["fields"].items()),
        lookups=lookups,
        nulls=meta.get("nulls", "skip"),
        connection=meta.get("connection"),
        enabled=meta.get("enabled", True),
        batch_size=int(meta.get("batch_size", MAX_BATCH_SIZE)),
        deletes=DeleteSettings(**(meta.get("deletes") or {})),
    )
    return [], config


def parse_models(
    project: DbtProject, unique_ids: Iterable[str]
) -> tuple[list[tuple[SyncConfig, Any]], list[ConfigProblem]]:
    """Each model's block parsed, beside its node; the problems of the others, all at once."""
    parsed: list[tuple[SyncConfig, Any]] = []
    problems: list[ConfigProblem] = []
    for uid in unique_ids:
        node = project.node(uid)
        try:
            config = parse_sync_config(
                node.config.meta[META_KEY],
                model=node.name,
                unique_id=uid,
                yaml_path=yaml_path_of(node),
            )
        except ConfigError as exc:
            problems += exc.problems
            continue
        parsed.append((config, node))
    return parsed, problems


def parse_sync_config(
    meta_gainsight: Any, *, model: str, unique_id: str, yaml_path: str
) -> SyncConfig:
    """Validate one ``meta.gainsight`` block and return it typed; ConfigError lists ALL problems."""
    problems, config = _check(meta_gainsight, model=model, yaml_path=yaml_path, unique_id=unique_id)
    if problems or config is None:
        n = len(problems)
        raise ConfigError(
            f"{yaml_path}: {model}: invalid meta.gainsight ({n} problem{'s' if n != 1 else ''})",
            problems,
        )
    return config


def check_columns(
    config: SyncConfig, columns: Iterable[str], *, declared_only: bool = False
) -> list[ConfigProblem]:
    """Report mapped columns (fields, lookup matches) missing from the model; case-insensitive.

    ``declared_only``: ``columns`` are the ones the model's YAML declares, and the model was
    never built, so the message says the real columns were not seen.
    """
    model_columns = list(columns)
    present = {c.casefold() for c in model_columns}
    listing = ", ".join(model_columns) if model_columns else "none"
    problems: list[ConfigProblem] = []

    def missing(path: Sequence[str | int], column: str) -> None:
        hint = did_you_mean(column, model_columns)
        if declared_only:
            message = (
                f"column {column!r} is not among the columns its YAML declares ({listing})"
                f"{hint}; the model was never built, so its real columns were not checked"
            )
        else:
            message = f"column {column!r} is not in the model{hint} (columns: {listing})"
            if not hint:  # no near name: maybe the table is older than the model's SQL
                message += (
                    f"; if the model's SQL selects it, the built table is older than the SQL: "
                    f"dbt build -s {config.model}"
                )
        problems.append(
            ConfigProblem(
                model=config.model,
                yaml_path=config.yaml_path,
                key_path=key_path(path),
                message=message,
            )
        )

    for mapping in config.fields:
        if mapping.column.casefold() not in present:
            missing(("fields", mapping.column), mapping.column)
    for lookup in config.lookups:
        for column, _ in lookup.match:
            if column.casefold() not in present:
                missing(("lookups", lookup.field, "match", column), column)
    return problems
