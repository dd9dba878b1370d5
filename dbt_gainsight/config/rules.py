"""The config's rules beyond its JSON Schema.

Which objects exist, how targets are named, and the checks across keys, fields and lookups
that a schema cannot express.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dbt_gainsight.config.messages import did_you_mean
from dbt_gainsight.gainsight.limits import MAX_BATCH, SYSTEM_FIELDS
from dbt_gainsight.gainsight.objects import ObjectKind

#: API name -> kind, for the objects with a fixed name.
STANDARD_OBJECTS: dict[str, ObjectKind] = {
    "Company": ObjectKind.DATA,
    "Relationship": ObjectKind.DATA,
    "Person": ObjectKind.PERSON,
    "CompanyPerson": ObjectKind.COMPANY_PERSON,
    "RelationshipPerson": ObjectKind.RELATIONSHIP_PERSON,
}
OBJECT_ALIASES: dict[str, str] = {
    "Company Person": "CompanyPerson",
    "Company_Person": "CompanyPerson",
    "Relationship Person": "RelationshipPerson",
    "Relationship_Person": "RelationshipPerson",
}
CUSTOM_OBJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__gc$")
PEOPLE_KINDS = frozenset(
    {ObjectKind.PERSON, ObjectKind.COMPANY_PERSON, ObjectKind.RELATIONSHIP_PERSON}
)
#: Target prefix -> the people objects that accept it.
TARGET_PREFIXES: dict[str, frozenset[ObjectKind]] = {
    "Company": frozenset({ObjectKind.COMPANY_PERSON, ObjectKind.RELATIONSHIP_PERSON}),
    "Relationship": frozenset({ObjectKind.RELATIONSHIP_PERSON}),
    "Company_Person": frozenset({ObjectKind.COMPANY_PERSON}),
    "Relationship_Person": frozenset({ObjectKind.RELATIONSHIP_PERSON}),
}
_PREFIX_OWNERS = {
    "Company": "CompanyPerson and RelationshipPerson",
    "Relationship": "RelationshipPerson",
    "Company_Person": "CompanyPerson",
    "Relationship_Person": "RelationshipPerson",
}
MULTI_MATCH_API = {"first_match": "FIRSTMATCH", "error": "MARKASERROR"}
ON_NO_MATCH_API = {"error": "ERROR", "null": "NULLABLE", "default": "DEFAULTVALUE"}
MAX_BATCH_SIZE = MAX_BATCH
_OBJECTS_ALLOWED = (
    "Company, Relationship, Person, CompanyPerson, RelationshipPerson, "
    "or a custom object named <Name>__gc"
)
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalise_object(name: str) -> tuple[str, ObjectKind] | None:
    """Map an object name (or alias) to its canonical API name and kind; None if unknown."""
    name = OBJECT_ALIASES.get(name, name)
    if name in STANDARD_OBJECTS:
        return name, STANDARD_OBJECTS[name]
    if CUSTOM_OBJECT_RE.match(name):
        return name, ObjectKind.DATA
    return None


def object_message(value: str) -> str:
    """The message for an unknown object name, with a did-you-mean and the allowed names."""
    candidates = [*STANDARD_OBJECTS, *OBJECT_ALIASES]
    hint = did_you_mean(value, candidates)
    if not hint and IDENT_RE.match(value) and value[:1].isalpha():
        base = re.sub(r"(__gc|__c)$", "", value, flags=re.IGNORECASE)
        hint = f"; did you mean {base + '__gc'!r}?"
    return f"unknown object {value!r}{hint} (allowed: {_OBJECTS_ALLOWED})"


def _split_target(target: str) -> tuple[str | None, str]:
    """``Company.Name`` -> (``Company``, ``Name``); ``Name`` -> (None, ``Name``)."""
    if "." in target:
        prefix, _, rest = target.partition(".")
        return prefix, rest
    return None, target


def _check_target(target: str, obj: str, kind: ObjectKind | None) -> str | None:
    """Return the problem with one target (or lookup field) name, or None."""
    prefix, name = _split_target(target)
    if prefix is None:
        if name.casefold() in {s.casefold() for s in SYSTEM_FIELDS}:
            return f"{target!r} is a system field and cannot be written"
        return None
    if kind is None:
        return None
    if prefix not in TARGET_PREFIXES:
        if kind in PEOPLE_KINDS:
            hint = did_you_mean(prefix, TARGET_PREFIXES)
            return (
                f"unknown prefix {prefix!r} in {target!r}{hint} "
                "(allowed: Company., Relationship., Company_Person., Relationship_Person.)"
            )
        return (
            f"{target!r}: dotted targets are only for people objects; to point at another "
            "object's record, use lookups"
        )
    if not name or "." in name:
        return f"{target!r}: expected {prefix}.<Field>"
    if kind not in TARGET_PREFIXES[prefix]:
        return (
            f"{target!r}: {prefix}.* targets are only allowed on {_PREFIX_OWNERS[prefix]}, "
            f"not on {obj}"
        )
    if prefix in ("Company_Person", "Relationship_Person") and name.casefold() in {
        s.casefold() for s in SYSTEM_FIELDS
    }:
        return f"{target!r} is a system field and cannot be written"
    return None


def semantic_problems(
    meta: Mapping[str, Any], bad: set[str]
) -> tuple[list[tuple[tuple[str | int, ...], str]], tuple[str, ...] | None]:
    """Apply the spec's semantic rules to the parts that passed the schema.

    Returns the problems and the effective keys (None when they cannot be worked out).
    """
    out: list[tuple[tuple[str | int, ...], str]] = []
    kind: ObjectKind | None = None
    obj = ""
    if "object" not in bad and isinstance(meta.get("object"), str):
        norm = normalise_object(meta["object"])
        if norm is not None:
            obj, kind = norm
    # Checks of single targets use whatever entries are well-formed; checks of the whole
    # mapping (Email present, keys mapped) need all of it, or they would report noise.
    raw_fields = meta.get("fields")
    fields_ok = "fields" not in bad and isinstance(raw_fields, Mapping)
    fields: dict[str, str] = (
        {c: t for c, t in raw_fields.items() if isinstance(t, str) and t}
        if isinstance(raw_fields, Mapping)
        else {}
    )
    raw_lookups = meta.get("lookups")
    lookups: Mapping[str, Any] = raw_lookups if isinstance(raw_lookups, Mapping) else {}

    # Targets: system fields, prefixes, duplicates.
    first_column: dict[str, str] = {}
    for column, target in fields.items():
        problem = _check_target(target, obj, kind)
        if problem:
            out.append((("fields", column), problem))
        if target in first_column:
            out.append(
                (
                    ("fields", column),
                    f"target {target!r} is already mapped from column {first_column[target]!r}",
                )
            )
        else:
            first_column[target] = column
    targets = list(first_column)

    # Lookups: not a system field, not also a plain target.
    for field_name in lookups:
        problem = _check_target(field_name, obj, kind)
        if problem:
            out.append((("lookups", field_name), problem))
        if field_name in first_column:
            out.append(
                (
                    ("lookups", field_name),
                    f"{field_name!r} is both a lookup and the target of column "
                    f"{first_column[field_name]!r} in fields; keep one",
                )
            )

    # People objects: Email, the link target, prefixes.
    if fields_ok and kind in PEOPLE_KINDS:
        if "Email" not in first_column:
            hint = did_you_mean("Email", targets)
            out.append(
                (
                    ("fields",),
                    f"{obj} needs a column mapped to 'Email'{hint} "
                    "(people are identified by email)",
                )
            )
        for prefix, needed_by in (
            ("Company", ObjectKind.COMPANY_PERSON),
            ("Relationship", ObjectKind.RELATIONSHIP_PERSON),
        ):
            linked = [t for t in targets if _split_target(t)[0] == prefix]
            if kind == needed_by and not linked:
                out.append(
                    (
                        ("fields",),
                        f"{obj} needs a {prefix}.<Field> target (normally '{prefix}.Name') "
                        f"to find the {prefix.lower()} to link to",
                    )
                )
            if len(linked) > 1 and kind in TARGET_PREFIXES[prefix]:
                out.append(
                    (
                        ("fields",),
                        f"only one {prefix}.* target is allowed (found "
                        f"{', '.join(linked)}): it identifies the one {prefix.lower()} to link to",
                    )
                )

    # Keys.
    keys: tuple[str, ...] | None = None
    keys_given = "keys" in meta
    if keys_given and "keys" not in bad and isinstance(meta["keys"], list):
        keys = tuple(meta["keys"])
        if fields_ok:
            for i, key in enumerate(keys):
                if key in lookups:
                    out.append(
                        (
                            ("keys", i),
                            f"key {key!r} is a lookup; keys must be fields mapped in fields",
                        )
                    )
                elif key not in first_column:
                    hint = did_you_mean(key, targets)
                    out.append(
                        (
                            ("keys", i),
                            f"key {key!r} is not a mapped target{hint} "
                            f"(mapped: {', '.join(sorted(targets))})",
                        )
                    )
        if kind in PEOPLE_KINDS and "Email" not in keys:
            out.append((("keys",), f"keys of {obj} must include 'Email'"))
    elif not keys_given and kind is not None:
        if kind == ObjectKind.DATA:
            out.append(
                (
                    (),
                    f"missing required key 'keys' (1 to 3 fields that identify a {obj} record)",
                )
            )
        elif fields_ok:
            keys = ("Email",)
            for prefix, owner in (
                ("Company", ObjectKind.COMPANY_PERSON),
                ("Relationship", ObjectKind.RELATIONSHIP_PERSON),
            ):
                if kind == owner:
                    linked = [t for t in targets if _split_target(t)[0] == prefix]
                    keys = ("Email", *linked[:1])
    deletes = meta.get("deletes")
    if kind in PEOPLE_KINDS and isinstance(deletes, Mapping) and deletes.get("enabled") is True:
        out.append(
            (
                ("deletes", "enabled"),
                f"mirror deletes are for data objects; a {obj} is never deleted by "
                "dbt-gainsight (a person may belong to other companies and integrations). "
                "Remove the deletes block",
            )
        )
    return out, keys
