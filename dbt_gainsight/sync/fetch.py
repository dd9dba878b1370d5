"""How the stream query hands values to Python: exact DECIMAL columns as doubles.

DuckDB's and psycopg2's cursors build a Python ``Decimal`` for every DECIMAL/NUMERIC value
(about 1 us each, the dearest part of a first sync's fetch), which the NUMBER converter then
turns into the double Gainsight stores. For a column of at most 15 digits of precision that
double is known in the warehouse already: the value is an integer below 10**15 over a power
of ten, both exact in a double, so the cast is one correctly rounded division (DuckDB) or a
correctly rounded decimal-to-binary conversion (Postgres), the same double as
``float(Decimal)``. Such a column, mapped only to a NUMBER, CURRENCY or PERCENTAGE field, is
fetched as a double; the row hash is still taken from the column as stored, so state is
unchanged. Other adapters keep the driver's values until their casts are shown exact too.

DuckDB's cursor needs two more: it widens a 4-byte FLOAT to a double (0.1 arrives as
0.10000000149011612), so such a column is fetched through its shortest text, as psycopg2
reads Postgres's ``real``; and it hands ``infinity`` dates over as Python's largest and
smallest (9999-12-31, 0001-01-01), which a real value may be too, so a date or timestamp
column used only by DATE and DATETIME fields is fetched as ISO text, which says ``infinity``
(rejected) and reads back on every Python this supports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dbt_gainsight.gainsight.objects import ObjectSchema
from dbt_gainsight.sync.records import LINK_PREFIX

if TYPE_CHECKING:
    from dbt_gainsight.sync.plan import ModelPlan

#: The warehouse's 64-bit float, per adapter whose DECIMAL -> double cast is tested exact.
DOUBLE = {"duckdb": "double", "postgres": "double precision"}
NUMERIC_FIELDS = frozenset({"NUMBER", "CURRENCY", "PERCENTAGE"})
MAX_EXACT_DIGITS = 15  # every decimal of up to 15 significant digits survives a double
_DECIMAL = re.compile(r"(?:decimal|numeric)\s*\(\s*(\d+)\s*(?:,\s*\d+\s*)?\)", re.IGNORECASE)


#: Where a column stands in a fetch expression that is not a plain cast (``fetch_expr``).
COLUMN = "{column}"
#: A JSON column used only by numeric fields is fetched as its scalar's text, so the number
#: converter sees the number as written: psycopg2 decodes JSON numbers into doubles, and
#: 12345678901234567890.5 or 1E-400 would reach it already rounded. (DuckDB hands JSON over
#: as its text.)
JSON_SCALAR_TEXT = {"postgres": "(" + COLUMN + " #>> '{}')"}
_JSON = re.compile(r"jsonb?", re.IGNORECASE)


TEMPORAL_FIELDS = frozenset({"DATE", "DATETIME"})
#: DuckDB date and timestamp columns as ISO text (microseconds, cut as the driver cuts them;
#: instants in UTC). A TIMESTAMP_S or _MS goes through TIMESTAMP first: DuckDB formats them
#: with the nanosecond strftime, which fails the whole query for a year past 2262.
_ISO = "'%Y-%m-%dT%H:%M:%S.%f'"
_ISO_UTC = "'%Y-%m-%dT%H:%M:%S.%f+00:00'"
DUCKDB_TEMPORAL_TEXT = {
    "DATE": "cast(" + COLUMN + " as varchar)",
    **dict.fromkeys(("TIMESTAMP", "DATETIME", "TIMESTAMP_NS"), f"strftime({COLUMN}, {_ISO})"),
    **dict.fromkeys(
        ("TIMESTAMP_S", "TIMESTAMP_MS"), f"strftime(cast({COLUMN} as timestamp), {_ISO})"
    ),
    **dict.fromkeys(
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS"),
        f"strftime(timezone('UTC', {COLUMN}), {_ISO_UTC})",
    ),
}
DUCKDB_FLOAT4 = frozenset({"FLOAT", "FLOAT4", "REAL"})
SHORTEST_DOUBLE = "cast(cast(" + COLUMN + " as varchar) as double)"


def fetch_expr(quoted: str, spec: str) -> str:
    """The SQL that fetches a column: ``spec`` is a type to cast to, or a COLUMN template."""
    return spec.replace(COLUMN, quoted) if COLUMN in spec else f"cast({quoted} as {spec})"


def fetch_casts(
    plan: ModelPlan, adapter_type: str, schemas: Mapping[str, ObjectSchema] | None = None
) -> dict[str, str]:
    """Real column name -> how to fetch it (``fetch_expr``), where not as stored.

    Never a key (keys are hashed and matched as stored). Columns only numeric fields use:
    short decimals as doubles, JSON as its scalar's text; on DuckDB, 4-byte floats through
    their text, and dates only DATE/DATETIME fields use as ISO text. The field types come from
    ``schemas`` or the plan's describes; without them (counting, before validation) nothing
    is cast.
    """
    out: dict[str, str] = {}
    double, json_text = DOUBLE.get(adapter_type), JSON_SCALAR_TEXT.get(adapter_type)
    duckdb = adapter_type == "duckdb"
    for column, types in _field_types(plan, schemas or plan.schemas or {}).items():
        column_type = (plan.column_types.get(column) or "").strip()
        if None in types:  # a key, a lookup's match or a link field: as stored
            continue
        match = _DECIMAL.fullmatch(column_type)
        numeric_only = all(t in NUMERIC_FIELDS for t in types)
        if numeric_only and double and match and int(match.group(1)) <= MAX_EXACT_DIGITS:
            out[column] = double
        elif numeric_only and json_text and _JSON.fullmatch(column_type):
            out[column] = json_text
        elif duckdb and column_type.upper() in DUCKDB_FLOAT4:
            out[column] = SHORTEST_DOUBLE
        elif duckdb and all(t in TEMPORAL_FIELDS for t in types):
            template = DUCKDB_TEMPORAL_TEXT.get(column_type.upper())
            if template:
                out[column] = template
    return out


def _field_types(
    plan: ModelPlan, schemas: Mapping[str, ObjectSchema]
) -> dict[str, list[str | None]]:
    """Each mapped column (its real name) -> the field type of each of its uses.

    None stands for a key, a lookup's or a parent's match value (sent as stored), or a field
    the describes do not type; empty without the describe.
    """
    config = plan.config
    schema = schemas.get(config.fields_object)
    if schema is None:
        return {}
    link = schemas.get(LINK_PREFIX.get(config.kind, ""))  # a person's Company_Person fields
    uses: dict[str, list[str | None]] = {}  # folded column -> the field type of each use
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        field = None
        if mapping.target in config.keys:
            pass
        elif not prefix:
            field = schema.field(name)
        elif link is not None and prefix == link.name:
            field = link.field(name)
        uses.setdefault(mapping.column.casefold(), []).append(field and field.data_type.upper())
    for lookup in config.lookups:
        for column, _ in lookup.match:
            uses.setdefault(column.casefold(), []).append(None)
    real = {c.casefold(): c for c in plan.columns}
    return {real[folded]: types for folded, types in uses.items() if folded in real}
