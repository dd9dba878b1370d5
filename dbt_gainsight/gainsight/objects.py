"""What Gainsight says about its objects (describe), and the few kinds of object it has.

Describe is read once per object per run; everything downstream (validation, converters,
payloads) works from these frozen schemas instead of the raw JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from dbt_gainsight.gainsight.limits import SYSTEM_FIELDS


@dataclass(frozen=True)
class PicklistOption:
    """One picklist item: written by ``label``, stored and queried as ``value`` (a Gsid)."""

    label: str
    value: str
    active: bool = True


@dataclass(frozen=True)
class FieldSchema:
    """One field of an object, as describe reports it (``data_type`` upper-case)."""

    name: str
    data_type: str
    createable: bool = True
    updateable: bool = True
    required: bool = False
    nillable: bool = True
    length: int | None = None
    decimal_places: int | None = None
    picklist: tuple[PicklistOption, ...] = ()
    lookup_object: str | None = None


@dataclass(frozen=True)
class ObjectSchema:
    """One object's describe: its API name, label, Gsid key prefix and fields by name."""

    name: str
    label: str
    key_prefix: str | None
    fields: Mapping[str, FieldSchema]

    def field(self, name: str) -> FieldSchema | None:
        """The field called exactly ``name`` (Gainsight field names are case-sensitive)."""
        return self.fields.get(name)


class ObjectKind(Enum):
    """Which API writes an object: the data-objects API or the People API."""

    DATA = "data"
    PERSON = "person"
    COMPANY_PERSON = "company_person"
    RELATIONSHIP_PERSON = "relationship_person"


#: The describe name of the object behind each People API kind.
PEOPLE_API_OBJECT: Mapping[ObjectKind, str] = MappingProxyType(
    {
        ObjectKind.PERSON: "Person",
        ObjectKind.COMPANY_PERSON: "Company_Person",
        ObjectKind.RELATIONSHIP_PERSON: "Relationship_Person",
    }
)


def parse_describe(payload: Mapping[str, Any]) -> ObjectSchema:
    """Build an ObjectSchema from one entry of describe's ``data`` list."""
    name = payload.get("objectName") or payload.get("name")
    if not name:
        raise ValueError("describe entry has no objectName")
    fields: dict[str, FieldSchema] = {}
    for raw in payload.get("fields") or ():
        parsed = _parse_field(raw)
        fields[parsed.name] = parsed
    return ObjectSchema(
        name=str(name),
        label=str(payload.get("label") or name),
        key_prefix=payload.get("keyPrefix") or None,
        fields=MappingProxyType(fields),
    )


def _parse_field(raw: Mapping[str, Any]) -> FieldSchema:
    meta = raw.get("meta") or {}

    def flag(key: str, default: bool) -> bool:
        value = meta.get(key, raw.get(key))
        return default if value is None else bool(value)

    def integer(key: str) -> int | None:
        value = meta.get(key, raw.get(key))
        return None if value is None else int(value)

    name = str(raw.get("fieldName") or raw.get("name"))
    system = name in SYSTEM_FIELDS
    nillable = flag("nillable", True)
    return FieldSchema(
        name=name,
        data_type=str(raw.get("dataType") or raw.get("type") or "STRING").upper(),
        createable=flag("createable", not system),
        updateable=flag("updateable", not system),
        required=flag("required", not nillable),
        nillable=nillable,
        length=integer("length"),
        decimal_places=integer("decimalPlaces"),
        picklist=_parse_picklist(raw, meta),
        lookup_object=_lookup_object(raw, meta),
    )


def _lookup_object(raw: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    detail = meta.get("lookupDetail") or raw.get("lookupDetail")
    if not detail:
        return None
    targets = detail.get("lookupObjects") or []
    if targets:
        first = targets[0]
        return str(first.get("objectName")) if isinstance(first, Mapping) else str(first)
    name = detail.get("objectName")
    return str(name) if name else None


_PICKLIST_KEYS = ("picklistDetails", "picklistValues", "picklist", "options")


def _parse_picklist(raw: Mapping[str, Any], meta: Mapping[str, Any]) -> tuple[PicklistOption, ...]:
    # Sources disagree on where options live; accept each shape seen.
    found: Any = None
    for source in (raw, meta):
        for key in _PICKLIST_KEYS:
            if source.get(key):
                found = source[key]
                break
        if found:
            break
    if isinstance(found, Mapping):
        found = next(
            (found[k] for k in ("items", "values", "options", "picklistValues") if found.get(k)),
            [],
        )
    options = []
    for item in found or ():
        if isinstance(item, str):
            options.append(PicklistOption(label=item, value=item))
            continue
        label = item.get("label") or item.get("name") or item.get("displayName")
        value = item.get("value") or item.get("gsid") or item.get("Gsid") or item.get("id")
        active = item.get("active", item.get("isActive", True))
        if label is None:
            continue
        options.append(
            PicklistOption(label=str(label), value=str(value or label), active=bool(active))
        )
    return tuple(options)
