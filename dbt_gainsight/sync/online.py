"""Online validation: check a model's mapping against Gainsight's describe before any write.

Used by ``validate --online`` and by every sync for the models that have rows to send, so a
field that does not exist or cannot be written stops the run with exit 2 and nothing sent.
"""

from __future__ import annotations

from collections.abc import Callable

from dbt_gainsight.config.messages import closest, did_you_mean
from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import AuthError, ConfigProblem, GainsightAPIError, UnknownObject
from dbt_gainsight.gainsight.limits import KEY_TYPES
from dbt_gainsight.gainsight.objects import PEOPLE_API_OBJECT, ObjectKind, ObjectSchema
from dbt_gainsight.sync.records import LINK_PREFIX, PARENT_ID_FIELD

Describe = Callable[[str], ObjectSchema]


def objects_to_describe(config: SyncConfig) -> list[str]:
    """Every object the mapping writes or resolves through, each once."""
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
    return list(dict.fromkeys(names))


def _parent(target: str) -> bool:
    return target.split(".", 1)[0] in PARENT_ID_FIELD and "." in target


def _key_path_of(config: SyncConfig, name: str) -> str:
    """Where the config names an object: an unknown lookup object is the lookup's fault."""
    if name == config.object or (config.is_people and name == "Person"):
        return "object"
    for lk in config.lookups:
        if lk.object == name:
            return f"lookups.{lk.field}.object"
    for mapping in config.fields:
        if _parent(mapping.target) and mapping.target.split(".", 1)[0] == name:
            return f"fields.{mapping.column}"
    return "object"


def _object_hint(name: str, object_names: Callable[[], list[str]], describe: Describe) -> str:
    """``; did you mean 'X'?`` with the tenant's closest object, as describe spells it.

    The object list gives names in lower case (``usage_summary__gc``); the YAML wants the
    API name, so the suggestion is described (one call, only when a name is wrong).
    """
    try:
        listed = closest(name, object_names())
        return f"; did you mean {describe(listed).name!r}?" if listed else ""
    except AuthError:
        raise
    except GainsightAPIError:
        return ""


def online_problems(
    config: SyncConfig,
    describe: Describe,
    object_names: Callable[[], list[str]] | None = None,
) -> list[ConfigProblem]:
    """Check the mapping against describe: objects and fields exist, are writable, keys fit.

    An object Gainsight does not know is reported at the key that names it, with a
    did-you-mean from ``object_names`` (the tenant's objects) when given. Any other failure
    (auth, an unreachable tenant, load) is not a problem of this model: it propagates, so
    the caller reports it once instead of once a YAML key.
    """

    def problem(path: str, message: str) -> ConfigProblem:
        return ConfigProblem(config.model, config.yaml_path, f"meta.gainsight.{path}", message)

    schemas: dict[str, ObjectSchema] = {}
    problems: list[ConfigProblem] = []
    for name in objects_to_describe(config):
        try:
            schemas[name] = describe(name)
        except UnknownObject as exc:  # anything else (auth, network, load) is not the model's
            hint = _object_hint(name, object_names, describe) if object_names else ""
            problems.append(problem(_key_path_of(config, name), f"{exc}{hint}"))
    main = schemas.get(config.fields_object)
    if main is None:
        return problems  # nothing else can be checked without the object itself
    creating = config.behavior == "upsert"
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        schema = schemas.get(prefix) if prefix else main
        if schema is None:
            continue  # its object is unknown: reported above
        field = schema.field(name)
        where = f"fields.{mapping.column}"
        if field is None:
            hint = did_you_mean(name, schema.fields)
            problems.append(problem(where, f"{schema.name} has no field {name!r}{hint}"))
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
            hint = did_you_mean(lk.field, main.fields)
            problems.append(problem(where, f"{main.name} has no field {lk.field!r}{hint}"))
        elif field.data_type not in {"LOOKUP", "GSID"}:
            problems.append(
                problem(where, f"{main.name}.{lk.field} is {field.data_type}, not a lookup")
            )
        target = schemas.get(lk.object)
        if target is None:
            continue  # reported above, at lookups.<field>.object
        for column, match_field in lk.match:
            if target.field(match_field) is None:
                hint = did_you_mean(match_field, target.fields)
                problems.append(
                    problem(
                        f"{where}.match.{column}",
                        f"{lk.object} has no field {match_field!r}{hint}",
                    )
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
