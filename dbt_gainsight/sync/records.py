"""Rows to Gainsight payloads: the hot path, so every decision is made once per model.

A ``RecordBuilder`` is compiled from the mapping and the object's describe: per mapped column
it holds the row index, the target and the converter. Building a record is then a loop of
lookups and calls, with no per-value dispatch on type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.client import lookup_payload
from dbt_gainsight.gainsight.objects import ObjectKind, ObjectSchema
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
        main_schema = schemas["Person" if config.is_people else config.object]
        for mapping in config.fields:
            i = index[mapping.column.casefold()]
            prefix, _, name = mapping.target.rpartition(".")
            if not prefix:
                self.slots.append((i, name, _converter(main_schema, name)))
            elif prefix == link_prefix:
                self.link_slots.append((i, name, _converter(schemas[link_prefix], name)))
            elif prefix in PARENT_ID_FIELD:
                self.parents.append(ParentRef(object=prefix, field=name, index=i))
        self.lookup_slots = [
            (index[column.casefold()], column) for lk in config.lookups for column, _ in lk.match
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
        """The record's identity, as shown in reports and the rejects table."""
        return {target: row[i] for i, target in self.key_slots}

    def build(self, row: Sequence[Any]) -> dict[str, Any]:
        """The record body: mapped fields converted, lookup source values alongside."""
        record = _convert(self.slots, row, self.send_nulls)
        for i, column in self.lookup_slots:
            value = row[i]
            if value is not None:
                record[column] = str(value)
        return record

    def build_link(self, row: Sequence[Any]) -> dict[str, Any]:
        """Fields of the Company_Person / Relationship_Person link itself."""
        return _convert(self.link_slots, row, self.send_nulls)


def _convert(slots: list[_Slot], row: Sequence[Any], send_nulls: bool) -> dict[str, Any]:
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
        except (TypeError, ValueError) as exc:
            raise ValueConversionError(f"{target}: {exc}") from exc
    return record


def _converter(schema: ObjectSchema, name: str) -> Callable[[Any], Any]:
    field = schema.field(name)
    if field is None:  # validated before sending; kept as a guard for direct API use
        raise ValueConversionError(f"{schema.name} has no field {name!r}")
    return converter_for(field)


def _key_pairs(config: SyncConfig) -> list[tuple[str, str]]:
    by_target = {f.target: f.column for f in config.fields}
    return [(by_target[key], key) for key in config.keys]
