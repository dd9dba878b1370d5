"""Column types against field types: catch a mapping whose every row Gainsight would refuse.

An integer column mapped to a DATE field converts no value at all, so the sync would reject
each row (VALUE_CONVERSION) one by one. ``validate --online`` compares the warehouse type the
adapter reports with the describe type and says so up front. Only certain mismatches count:
a string column may hold dates or numbers, so it is never a problem here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.errors import ConfigProblem, GainsightAPIError

# Warehouse type families, from the adapter's type names (Postgres, DuckDB, Snowflake, ...).
NUMBER, TEXT, DATE, TIMESTAMP, BOOLEAN, OTHER = (
    "number",
    "text",
    "date",
    "timestamp",
    "boolean",
    "other",
)
_FAMILIES = (
    (BOOLEAN, r"^bool"),
    (TIMESTAMP, r"^(timestamp|datetime)"),
    (DATE, r"^date$"),
    (
        NUMBER,
        r"^(tinyint|smallint|int|integer|bigint|hugeint|ubigint|uinteger|usmallint|utinyint|"
        r"int\d|serial|bigserial|decimal|numeric|number|real|float|double|money)",
    ),
    (TEXT, r"^(varchar|char|character|text|string|nvarchar|nchar|bpchar|citext|uuid)"),
)
#: Gainsight field types and the warehouse families whose values can never convert to them.
NEVER = {
    "DATE": {NUMBER, BOOLEAN},
    "DATETIME": {NUMBER, BOOLEAN, DATE},
    "NUMBER": {DATE, TIMESTAMP, BOOLEAN},
    "CURRENCY": {DATE, TIMESTAMP, BOOLEAN},
    "PERCENTAGE": {DATE, TIMESTAMP, BOOLEAN},
    "BOOLEAN": {DATE, TIMESTAMP},
    "EMAIL": {NUMBER, DATE, TIMESTAMP, BOOLEAN},
    "GSID": {NUMBER, DATE, TIMESTAMP, BOOLEAN},
}


def family(warehouse_type: str) -> str:
    """The family of an adapter's type name: ``integer``, ``DECIMAL(14,2)``, ``text`` ..."""
    name = warehouse_type.strip().lower()
    for fam, pattern in _FAMILIES:
        if re.match(pattern, name):
            return fam
    return OTHER


def type_problems(
    config: SyncConfig,
    column_types: Mapping[str, str],
    describe: Callable[[str], object],
) -> list[ConfigProblem]:
    """Problems for mapped columns whose warehouse type can never convert to the field's type.

    ``column_types`` maps column names (any case) to the adapter's type names; ``describe``
    returns an ObjectSchema (the client's cached describe). Fields that do not exist are
    the online validation's to report, not this check's.
    """
    by_fold = {name.casefold(): kind for name, kind in column_types.items()}
    problems: list[ConfigProblem] = []
    schemas: dict[str, object | None] = {}
    main = config.fields_object
    for mapping in config.fields:
        prefix, _, name = mapping.target.rpartition(".")
        obj = prefix or main
        if obj not in schemas:
            try:
                schemas[obj] = describe(obj)
            except GainsightAPIError:
                schemas[obj] = None
        schema = schemas[obj]
        field = schema.field(name) if schema is not None else None
        warehouse_type = by_fold.get(mapping.column.casefold())
        if field is None or not warehouse_type:
            continue
        fam = family(warehouse_type)
        if fam in NEVER.get(field.data_type.upper(), set()):
            problems.append(
                ConfigProblem(
                    config.model,
                    config.yaml_path,
                    f"meta.gainsight.fields.{mapping.column}",
                    f"column {mapping.column!r} is {warehouse_type} in the warehouse but "
                    f"{obj}.{name} is a {field.data_type} field: no value would convert "
                    "(every row would be rejected); cast the column in the model or map "
                    "another field",
                )
            )
    return problems


def column_types(wh, configs) -> dict[str, dict[str, str]]:
    """Per model unique id, its built relation's column types (models not built are left out)."""
    from dbt_gainsight.errors import ModelNotBuiltError

    found: dict[str, dict[str, str]] = {}
    for config, node in configs:
        try:
            relation = wh.model_relation(node)
        except ModelNotBuiltError:
            continue
        columns = wh.adapter.get_columns_in_relation(relation)
        found[config.unique_id] = {c.name: c.dtype for c in columns}
    return found


def not_checked(config: SyncConfig) -> str:
    """The warning for a model whose columns could not be checked at all."""
    return (
        f"{config.yaml_path}: {config.model}: its columns were not checked: the model was "
        f"never built and its YAML declares no columns (`dbt build -s {config.model}`, "
        "then validate again)"
    )
