"""Rows to Gainsight payloads: the hot path, so every decision is made once per model.

A ``RecordBuilder`` is compiled from the mapping and the object's describe: per mapped column
it holds the row index, the target and the converter. Building a record is then a loop of
lookups and calls, with no per-value dispatch on type. A value that cannot be sent exactly
(or a converter that fails) raises ValueConversionError for that record only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.client import lookup_payload
from dbt_gainsight.gainsight.objects import FieldSchema, ObjectKind, ObjectSchema
from dbt_gainsight.gainsight.types import converter_for

# Target prefixes for people objects (see docs/config-spec.md).
LINK_PREFIX = {
    ObjectKind.COMPANY_PERSON: "Company_Person",
    ObjectKind.RELATIONSHIP_PERSON: "Relationship_Person",
}
PARENT_PREFIX = {"Company": "companies", "Relationship": "relationships"}
PARENT_ID_FIELD = {"Company": "Company_ID", "Relationship": "Relationship_ID"}

_Slot = tuple[int, str, Callable[[Any], Any]]


@dataclass(frozen=True)
class ParentRef:
    """A people record's company or relationship, named by one of its fields."""

    object: str  # Company | Relationship
    field: str  # e.g. Name
    index: int  # row position of the column holding the value
    convert: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)


class RecordBuilder:
    """Compiled mapping for one model: builds the JSON record Gainsight expects from a row."""

    def __init__(
        self,
        config: SyncConfig,
        column_index: Mapping[str, int],
        schemas: Mapping[str, ObjectSchema],
    ):
        """``schemas`` maps describe names (Company, Person, Company_Person, ...) to schemas."""
        self.config = config
        self.send_nulls = config.nulls == "send"
        index = {name.casefold(): i for name, i in column_index.items()}
        self.key_slots = [(index[c.casefold()], t) for c, t in _key_pairs(config)]
        self.slots: list[_Slot] = []
        self.link_slots: list[_Slot] = []
        self.parents: list[ParentRef] = []
        link_prefix = LINK_PREFIX.get(config.kind)
        main_schema = schemas[config.fields_object]
        for mapping in config.fields:
            i = index[mapping.column.casefold()]
            prefix, _, name = mapping.target.rpartition(".")
            if not prefix:
                self.slots.append((i, name, _converter(main_schema, name)))
            elif prefix == link_prefix:
                self.link_slots.append((i, name, _converter(schemas[link_prefix], name)))
            elif prefix in PARENT_ID_FIELD:
                convert = _text_converter(mapping.target)
                self.parents.append(ParentRef(prefix, name, i, convert))
        # Lookup source values travel as text, under the column's name.
        self.lookup_slots: list[_Slot] = [
            (index[column.casefold()], column, _text_converter(column))
            for lk in config.lookups
            for column, _ in lk.match
        ]
        lookups: dict[str, Any] = {}
        for lk in config.lookups:
            lookups.update(
                lookup_payload(
                    lk.field,
                    lk.object,
                    dict(lk.match),
                    multi_match=lk.multi_match,
                    on_no_match=lk.on_no_match,
                )
            )
        self.lookups = lookups or None

    def key_values(self, row: Sequence[Any]) -> dict[str, Any]:
        """The record's identity, as shown in reports and the rejects table (JSON-safe)."""
        return {target: _shown(row[i]) for i, target in self.key_slots}

    def build(self, row: Sequence[Any]) -> dict[str, Any]:
        """The record body: mapped fields converted, lookup source values alongside."""
        record = _convert(self.slots, row, self.send_nulls)
        for i, column, convert in self.lookup_slots:
            value = row[i]
            if value is not None:
                if value.__class__ is str and value.isascii():
                    record[column] = value
                else:
                    record.update(_convert([(i, column, convert)], row))
        for parent in self.parents:  # checked here, so a bad one is this record's reject
            self.parent_value(row, parent)
        if self.link_slots:  # likewise the link's fields (built again when it is sent)
            self.build_link(row)
        return record

    def flat(self, row: Sequence[Any]) -> dict[str, Any]:
        """The record as one mapping under the config's targets (what an audit compares).

        A people record's link fields and parents are keyed as mapped (``Company_Person.Title``,
        ``Company.Name``); a data-object record is ``build``'s.
        """
        record = self.build(row)
        link = LINK_PREFIX.get(self.config.kind)
        if link:
            record.update({f"{link}.{k}": v for k, v in self.build_link(row).items()})
        for parent in self.parents:
            record[f"{parent.object}.{parent.field}"] = self.parent_value(row, parent)
        return record

    def parent_value(self, row: Sequence[Any], parent: ParentRef) -> str | None:
        """The text that names a people record's company or relationship."""
        name = f"{parent.object}.{parent.field}"
        convert = parent.convert or _text_converter(name)
        return _convert([(parent.index, name, convert)], row).get(name)

    def build_link(self, row: Sequence[Any]) -> dict[str, Any]:
        """Fields of the Company_Person / Relationship_Person link itself."""
        return _convert(self.link_slots, row, self.send_nulls)


def _convert(slots: list[_Slot], row: Sequence[Any], send_nulls: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for i, target, convert in slots:
        value = row[i]
        if value is None:
            if send_nulls:
                record[target] = None
            continue
        try:
            record[target] = convert(value)
        except ValueConversionError:
            raise
        except Exception as exc:  # a converter's bug: this record's reject, not the run's end
            raise ValueConversionError(
                f"{target}: could not convert a {type(value).__name__} value"
                f" ({type(exc).__name__}: {exc})"
            ) from exc
    return record


def _text_converter(name: str) -> Callable[[Any], Any]:
    return converter_for(FieldSchema(name=name, data_type="STRING"))


def _shown(value: Any) -> Any:
    """A key value as reports show it: JSON-safe, never a Python repr of an object."""
    if value is None or value.__class__ in (str, int, bool):
        return value
    if isinstance(value, float):
        return value if value - value == 0.0 else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _converter(schema: ObjectSchema, name: str) -> Callable[[Any], Any]:
    field = schema.field(name)
    if field is None:  # validated before sending; kept as a guard for direct API use
        raise ValueConversionError(f"{schema.name} has no field {name!r}")
    return converter_for(field)


def _key_pairs(config: SyncConfig) -> list[tuple[str, str]]:
    by_target = {f.target: f.column for f in config.fields}
    return [(by_target[key], key) for key in config.keys]
