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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dbt_gainsight.gainsight.objects import ObjectSchema

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


def fetch_expr(quoted: str, spec: str) -> str:
    """The SQL that fetches a column: ``spec`` is a type to cast to, or a COLUMN template."""
    return spec.replace(COLUMN, quoted) if COLUMN in spec else f"cast({quoted} as {spec})"


def fetch_casts(
    plan: ModelPlan, adapter_type: str, schemas: Mapping[str, ObjectSchema] | None = None
) -> dict[str, str]:
    """Real column name -> how to fetch it (``fetch_expr``), where not as stored.

    Only columns that nothing but numeric fields use (keys are hashed and matched as stored):
    short decimals as doubles, JSON as its scalar's text. The field types come from
    ``schemas`` or the plan's describes; without them (counting, before validation) nothing
    is cast.
    """
    out: dict[str, str] = {}
    double, json_text = DOUBLE.get(adapter_type), JSON_SCALAR_TEXT.get(adapter_type)
    for column in _numeric_only_columns(plan, schemas or plan.schemas or {}):
        column_type = (plan.column_types.get(column) or "").strip()
        match = _DECIMAL.fullmatch(column_type)
        if double and match and int(match.group(1)) <= MAX_EXACT_DIGITS:
            out[column] = double
        elif json_text and _JSON.fullmatch(column_type):
            out[column] = json_text
    return out


def _numeric_only_columns(plan: ModelPlan, schemas: Mapping[str, ObjectSchema]) -> list[str]:
    """The model's real column names that only numeric, non-key fields use."""
    config = plan.config
    schema = schemas.get(config.fields_object)
    if schema is None:
        return []
    uses: dict[str, list[str | None]] = {}  # folded column -> the field type of each use
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        field = None if prefix or mapping.target in config.keys else schema.field(name)
        uses.setdefault(mapping.column.casefold(), []).append(field and field.data_type.upper())
    for lookup in config.lookups:
        for column, _ in lookup.match:
            uses.setdefault(column.casefold(), []).append(None)
    real = {c.casefold(): c for c in plan.columns}
    return [
        real[folded]
        for folded, types in uses.items()
        if folded in real and all(t in NUMERIC_FIELDS for t in types)
    ]
