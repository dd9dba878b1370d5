"""Compare a model's rows with the records Gainsight holds, as Gainsight stores them.

Both sides are brought to the form the sync sends: a model value goes through the same
converter the sync uses; a value read back from Gainsight is first turned from the query
API's read form (dates as epoch ms, picklists as item Gsids, lookups as the looked-up
record's field, e.g. ``Csm__gr.Email``) into that form. Equal here means equal as Gainsight
stores it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema, ObjectSchema
from dbt_gainsight.gainsight.query import key_text as query_key_text
from dbt_gainsight.gainsight.types import converter_for, format_datetime
from dbt_gainsight.sync.fetch import NUMERIC_FIELDS
from dbt_gainsight.sync.records import LINK_PREFIX, PARENT_ID_FIELD

PERSON_PATH = "Person_ID__gr."  # a link record's person, in a query's select

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ULPS = 4 * sys.float_info.epsilon  # how far two prints of one double may be apart
MISSING = object()  # a field the record does not carry (a null under ``nulls: skip``)


@dataclass(frozen=True)
class Compared:
    """One compared value: its name in reports and its path in a query's ``select``."""

    name: str  # Gainsight field (``Arr``) or lookup path (``Csm__gr.Email``)
    path: str
    source: str  # the key of the built record that holds the model's value
    read: Callable[[Any], Any]  # Gainsight read form -> sync form
    folded: bool  # compared case-insensitively (emails, lookup match values)
    places: int | None = None  # a number field's decimalPlaces: Gainsight rounds to them


def lookup_path(field: str, match_field: str) -> str:
    """The query path of a lookup's match field: ``Csm`` + ``Email`` -> ``Csm__gr.Email``."""
    base = field[:-4] if field.endswith("__gc") else field
    return f"{base}__gr.{match_field}"


def read_object(config: SyncConfig) -> str:
    """The object an audit reads: the model's, or for people the link record each row makes.

    A Company Person row is one Company_Person record (its person's fields through
    ``Person_ID__gr``, its company's through ``Company_ID__gr``); a Person row is a Person.
    """
    return LINK_PREFIX.get(config.kind, config.fields_object)


def compared_fields(config: SyncConfig, schemas: Mapping[str, ObjectSchema]) -> list[Compared]:
    """Every mapped field and lookup match of a model, compiled once.

    ``schemas``: the describes of every object the mapping names (``objects_to_describe``).
    Names are the mapping's targets (``Email``, ``Company.Name``, ``Company_Person.Title``),
    as ``RecordBuilder.flat`` keys a row's values; paths are relative to ``read_object``.
    """
    link = LINK_PREFIX.get(config.kind)
    via = PERSON_PATH if link else ""  # people fields, seen from the link record
    out: list[Compared] = []
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        if prefix in PARENT_ID_FIELD:  # matched by this field of the parent: read as text
            field = schemas[prefix].field(name)
            path = f"{PARENT_ID_FIELD[prefix]}__gr.{name}"
            folded = field is not None and field.data_type == "EMAIL"
            out.append(Compared(mapping.target, path, mapping.target, _lookup_text, folded))
            continue
        field = schemas[prefix or config.fields_object].field(name)
        if field is None:
            continue
        path = name if prefix else via + name
        read, folded = read_converter(field), field.data_type == "EMAIL"
        places = field.decimal_places if field.data_type in NUMERIC_FIELDS else None
        out.append(Compared(mapping.target, path, mapping.target, read, folded, places))
    for lk in config.lookups:
        for column, match_field in lk.match:
            path = lookup_path(lk.field, match_field)
            out.append(Compared(path, via + path, column, _lookup_text, folded=True))
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
            instant = EPOCH + timedelta(milliseconds=value)  # exact: no float seconds
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
    """Whether two values in the sync's form are equal as Gainsight stores them.

    An empty text is a null: Gainsight reads '' back as null (``read_converter``), so a
    model's '' against it is no drift (an audit would fail on it for ever, and repair it
    for nothing).
    """
    if model == "":
        model = None
    if model is None or gainsight is None:
        return model is None and gainsight is None
    if folded and isinstance(model, str) and isinstance(gainsight, str):
        return model.lower() == gainsight.lower()  # lower(), not casefold(): 'ß' is not 'ss'
    if isinstance(model, bool) or isinstance(gainsight, bool):
        return type(model) is type(gainsight) and model == gainsight
    numbers = (int, float)
    if isinstance(model, numbers) and isinstance(gainsight, numbers):
        # Both are the double Gainsight stores; a few units in its last place allow for a
        # reader that prints it other than by its shortest repr, and no more.
        return model == gainsight or math.isclose(model, gainsight, rel_tol=ULPS, abs_tol=0.0)
    return model == gainsight


def key_text(value: Any, folded: bool) -> str | None:
    """A key value as one comparable text (5 == 5.0; emails case-folded).

    The existence check's rule (``query.key_text``), so the two never disagree.
    """
    return query_key_text(value, "EMAIL" if folded else None)


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

    def texts_of(self, values: Mapping[str, Any]) -> list[str] | None:
        """A record's key values as texts, case kept, for the warehouse to hash.

        ``diff.key_hashes`` lower-cases the folded ones the warehouse's way, as the diff does;
        Python's ``casefold`` would differ (``Straße``).
        """
        out = [key_text(values.get(f.name), False) for f in self.fields]
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
        if not (same(model, theirs, f.folded) or rounded_same(model, theirs, f.places)):
            out.append((f.name, model, theirs))
    return out


def rounded_same(model: Any, gainsight: Any, places: int | None) -> bool:
    """Whether Gainsight's number is the model's rounded to the field's decimal places.

    Within half a unit of the last place, as the sync lets such a value go (numbers.py), so
    whichever way Gainsight rounds a tie, the value it stored is not drift.
    """
    numbers = (int, float)
    if places is None or places < 0 or isinstance(model, bool) or isinstance(gainsight, bool):
        return False
    if not (isinstance(model, numbers) and isinstance(gainsight, numbers)):
        return False
    return abs(model - gainsight) <= 0.5 * 10.0**-places * (1 + 1e-9)
