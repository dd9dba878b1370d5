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


def double_columns(
    plan: ModelPlan, adapter_type: str, schemas: Mapping[str, ObjectSchema] | None = None
) -> dict[str, str]:
    """Real column name -> SQL type to fetch it as, for the columns fetched as doubles.

    The field types come from ``schemas`` or the plan's describes; without them (counting,
    before validation) nothing is cast.
    """
    double = DOUBLE.get(adapter_type)
    config, schemas = plan.config, schemas or plan.schemas or {}
    schema = schemas.get(config.fields_object)
    if double is None or schema is None:
        return {}
    uses: dict[str, list[str | None]] = {}  # folded column -> the field type of each use
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        field = None if prefix or mapping.target in config.keys else schema.field(name)
        uses.setdefault(mapping.column.casefold(), []).append(field and field.data_type.upper())
    for lookup in config.lookups:
        for column, _ in lookup.match:
            uses.setdefault(column.casefold(), []).append(None)
    real = {c.casefold(): c for c in plan.columns}
    out: dict[str, str] = {}
    for folded, types in uses.items():
        column = real.get(folded)
        if column is None or not all(t in NUMERIC_FIELDS for t in types):
            continue
        match = _DECIMAL.fullmatch((plan.column_types.get(column) or "").strip())
        if match and int(match.group(1)) <= MAX_EXACT_DIGITS:
            out[column] = double
    return out
