"""Plan a run: which models, in which order, and is every mapping valid against Gainsight.

Everything here happens before the first write, so a config or mapping mistake stops the
run with exit 2 and nothing half-sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbt_gainsight.config.connections import Connection
from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ConfigProblem, GainsightAPIError
from dbt_gainsight.gainsight.client import GainsightClient
from dbt_gainsight.gainsight.limits import KEY_TYPES
from dbt_gainsight.gainsight.objects import PEOPLE_API_OBJECT, ObjectKind, ObjectSchema
from dbt_gainsight.sync.records import LINK_PREFIX, PARENT_ID_FIELD


def object_rank(config: SyncConfig) -> int:
    """Gainsight's dependency order: companies and custom objects, people, then links."""
    if config.kind is ObjectKind.DATA:
        return 0 if config.object == "Company" else 1
    if config.kind is ObjectKind.PERSON:
        return 2
    return 3


@dataclass
class ModelPlan:
    """One selected model, resolved against the warehouse and Gainsight."""

    config: SyncConfig
    node: Any
    connection: Connection | None  # None only for offline validation
    sync_id: str
    relation: Any = None
    columns: tuple[str, ...] = ()  # real column names, in config.columns order
    key_columns: tuple[str, ...] = ()
    schemas: Mapping[str, ObjectSchema] | None = None
    skip_reason: str | None = None  # set when the model is not synced this run
    error: str | None = None  # set when the model cannot be synced (not built, ...)


def describe_for(config: SyncConfig, client: GainsightClient) -> dict[str, ObjectSchema]:
    """Describe every object the mapping writes or resolves through."""
    names: list[str] = []
    if config.kind is ObjectKind.DATA:
        names.append(config.object)
    else:
        names.append(PEOPLE_API_OBJECT[ObjectKind.PERSON])
        link = LINK_PREFIX.get(config.kind)
        if link:
            names.append(link)
        names += [f.target.split(".", 1)[0] for f in config.fields if _parent(f.target)]
    names += [lk.object for lk in config.lookups]
    return {name: client.describe(name) for name in dict.fromkeys(names)}


def _parent(target: str) -> bool:
    return target.split(".", 1)[0] in PARENT_ID_FIELD and "." in target


def online_problems(config: SyncConfig, client: GainsightClient) -> list[ConfigProblem]:
    """Check the mapping against Gainsight's describe: fields exist, are writable, keys fit."""

    def problem(path: str, message: str) -> ConfigProblem:
        return ConfigProblem(config.model, config.yaml_path, f"meta.gainsight.{path}", message)

    try:
        schemas = describe_for(config, client)
    except GainsightAPIError as exc:
        return [problem("object", str(exc))]
    problems: list[ConfigProblem] = []
    main = schemas["Person" if config.is_people else config.object]
    creating = config.behavior == "upsert"
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        schema = schemas[prefix] if prefix else main
        field = schema.field(name)
        where = f"fields.{mapping.column}"
        if field is None:
            problems.append(
                problem(where, f"{schema.name} has no field {name!r}{_close(name, schema)}")
            )
        elif prefix in PARENT_ID_FIELD:
            continue  # resolved by query, never written
        elif not field.updateable or (creating and not field.createable):
            problems.append(problem(where, f"{schema.name}.{name} is not writable"))
        elif config.kind is ObjectKind.DATA and name in config.keys:
            if field.data_type not in KEY_TYPES:
                problems.append(
                    problem(
                        "keys",
                        f"{name} is {field.data_type}; Gainsight keys must be one of "
                        f"{sorted(KEY_TYPES)}",
                    )
                )
    for lk in config.lookups:
        field = main.field(lk.field)
        where = f"lookups.{lk.field}"
        if field is None:
            problems.append(problem(where, f"{main.name} has no field {lk.field!r}"))
        elif field.data_type not in {"LOOKUP", "GSID"}:
            problems.append(
                problem(where, f"{main.name}.{lk.field} is {field.data_type}, not a lookup")
            )
        target = schemas[lk.object]
        for column, match_field in lk.match:
            if target.field(match_field) is None:
                problems.append(
                    problem(f"{where}.match.{column}", f"{lk.object} has no field {match_field!r}")
                )
    if creating and config.kind is ObjectKind.DATA:
        mapped = {f.target for f in config.fields} | {lk.field for lk in config.lookups}
        for field in main.fields.values():
            if field.required and field.createable and field.name not in mapped:
                problems.append(
                    problem(
                        "fields",
                        f"{main.name}.{field.name} is required to create records; map a column "
                        "to it or use behavior: update_only",
                    )
                )
    return problems


def _close(name: str, schema: ObjectSchema) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(schema.fields), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
