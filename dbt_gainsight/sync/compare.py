"""Compare a model's rows with the records Gainsight holds, as Gainsight stores them.

Both sides are brought to the form the sync sends: a model value goes through the same
converter the sync uses; a value read back from Gainsight is first turned from the query
API's read form (dates as epoch ms, picklists as item Gsids, lookups as the looked-up
record's field, e.g. ``Csm__gr.Email``) into that form. Equal here means equal as Gainsight
stores it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema, ObjectSchema
from dbt_gainsight.gainsight.types import converter_for, format_datetime

MISSING = object()  # a field the record does not carry (a null under ``nulls: skip``)


@dataclass(frozen=True)
class Compared:
    """One compared value: its name in reports and its path in a query's ``select``."""

    name: str  # Gainsight field (``Arr``) or lookup path (``Csm__gr.Email``)
    path: str
    source: str  # the key of the built record that holds the model's value
    read: Callable[[Any], Any]  # Gainsight read form -> sync form
    folded: bool  # compared case-insensitively (emails, lookup match values)


def lookup_path(field: str, match_field: str) -> str:
    """The query path of a lookup's match field: ``Csm`` + ``Email`` -> ``Csm__gr.Email``."""
    base = field[:-4] if field.endswith("__gc") else field
    return f"{base}__gr.{match_field}"


def compared_fields(config: SyncConfig, schema: ObjectSchema) -> list[Compared]:
    """Every mapped field and lookup match of a data-object model, compiled once."""
    out: list[Compared] = []
    for mapping in config.fields:
        field = schema.field(mapping.target)
        if field is None:
            continue
        out.append(
            Compared(
                name=mapping.target,
                path=mapping.target,
                source=mapping.target,
                read=read_converter(field),
                folded=field.data_type == "EMAIL",
            )
        )
    for lk in config.lookups:
        for column, match_field in lk.match:
            path = lookup_path(lk.field, match_field)
            out.append(Compared(path, path, column, _lookup_text, folded=True))
    return out


def read_converter(field: FieldSchema) -> Callable[[Any], Any]:
    """Gainsight's read form of ``field`` -> the form the sync writes."""
    convert = converter_for(field)
    data_type = field.data_type
    labels = {o.value: o.label for o in field.picklist}

    def read(value: Any) -> Any:
        if value is None or value == "":
            return None
        if data_type in ("DATE", "DATETIME") and isinstance(value, (int, float)):
            instant = datetime.fromtimestamp(value / 1000, timezone.utc)
            return instant.date().isoformat() if data_type == "DATE" else format_datetime(instant)
        if data_type == "PICKLIST" and isinstance(value, str):
            value = labels.get(value, value)
        elif data_type == "MULTISELECTDROPDOWNLIST" and isinstance(value, str):
            value = ";".join(labels.get(v, v) for v in value.split(";") if v)
        try:
            return convert(value)
        except (ValueConversionError, TypeError, ValueError):
            return value

    return read


def _lookup_text(value: Any) -> Any:
    return None if value is None else str(value)


def same(model: Any, gainsight: Any, folded: bool) -> bool:
    """Whether two values in the sync's form are equal as Gainsight stores them."""
    if model is None or gainsight is None:
        return model is None and gainsight is None
    if folded and isinstance(model, str) and isinstance(gainsight, str):
        return model.casefold() == gainsight.casefold()
    if isinstance(model, bool) or isinstance(gainsight, bool):
        return type(model) is type(gainsight) and model == gainsight
    numbers = (int, float)
    if isinstance(model, numbers) and isinstance(gainsight, numbers):
        return math.isclose(model, gainsight, rel_tol=1e-9, abs_tol=1e-9)
    return model == gainsight


def key_text(value: Any, folded: bool) -> str | None:
    """A key value as one comparable text (5 == 5.0; emails case-folded)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text.casefold() if folded else text


class KeyMaker:
    """Builds the comparable key of a built record or of a Gainsight row."""

    def __init__(self, keys: tuple[str, ...], fields: Mapping[str, Compared]):
        self.keys = keys
        self.fields = [fields[k] for k in keys]

    def of_record(self, record: Mapping[str, Any]) -> tuple | None:
        """The key of a record built from a model row (None if a key value is null)."""
        out = tuple(key_text(record.get(f.source), f.folded) for f in self.fields)
        return None if None in out else out

    def of_values(self, values: Mapping[str, Any]) -> tuple | None:
        """The key of a Gainsight record whose values are already in the sync's form."""
        out = tuple(key_text(values.get(f.name), f.folded) for f in self.fields)
        return None if None in out else out


def differences(
    record: Mapping[str, Any], gainsight: Mapping[str, Any], fields: list[Compared]
) -> list[tuple[str, Any, Any]]:
    """(field, model value, Gainsight value) for every value that differs.

    A field the record does not carry (a null under ``nulls: skip``, which never overwrites)
    is not compared.
    """
    out = []
    for f in fields:
        model = record.get(f.source, MISSING)
        if model is MISSING:
            continue
        theirs = gainsight.get(f.name)
        if not same(model, theirs, f.folded):
            out.append((f.name, model, theirs))
    return out
