"""Reads: query bodies and paging, and which keys exist in Gainsight (``find_gsids``).

Key values are compared in a normalised form (:func:`key_text`), so the warehouse's value and
the one Gainsight returns compare equal (5 and 5.0; ``Bob@X.com`` and ``bob@x.com`` for an
EMAIL field, which Gainsight matches case-insensitively).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from dbt_gainsight.errors import GainsightAPIError
from dbt_gainsight.gainsight.limits import (
    CASE_INSENSITIVE_TYPES,
    MAX_IN_VALUES,
    MAX_PAGE,
    OPERATORS,
)
from dbt_gainsight.gainsight.responses import means_no_rows, rows_of
from dbt_gainsight.gainsight.transport import Transport

Condition = tuple[str, str, Iterable[Any]]


def key_text(value: Any, data_type: str | None = None) -> str | None:
    """Normalise a key value so the warehouse's and Gainsight's forms compare equal.

    ``data_type`` is the field's describe type: an EMAIL is case-folded.
    """
    if data_type is not None and data_type.upper() in CASE_INSENSITIVE_TYPES:
        text = key_text(value)
        return None if text is None else text.lower()  # as SQL and Gainsight: 'ß' stays
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return key_text(int(value) if value == value.to_integral_value() else float(value))
    if isinstance(value, str):
        return value
    return str(value)


def _aliases() -> Iterator[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    yield from letters
    n = 1
    while True:
        for letter in letters:
            yield f"{letter}{n}"
        n += 1


def query_body(
    select: Sequence[str],
    where: Sequence[Condition] | None,
    order_by: Mapping[str, str] | Sequence[str] | None,
    page_size: int,
) -> dict[str, Any]:
    """The query call's body: conditions ANDed, ``value`` always a list."""
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE}")
    body: dict[str, Any] = {"select": list(select), "limit": page_size, "offset": 0}
    if where:
        conditions = []
        for alias, (name, operator, values) in zip(_aliases(), where, strict=False):
            op = operator.upper()
            if op not in OPERATORS:
                raise ValueError(f"unknown query operator {operator!r}")
            if values is None:
                values = []
            elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                values = [values]
            conditions.append({"name": name, "alias": alias, "value": list(values), "operator": op})
        body["where"] = {
            "conditions": conditions,
            "expression": " AND ".join(c["alias"] for c in conditions),
        }
    if order_by:
        if isinstance(order_by, Mapping):
            body["orderBy"] = dict(order_by)
        else:
            body["orderBy"] = {name: "asc" for name in order_by}
    return body


def pages(
    transport: Transport, object_name: str, body: dict[str, Any], page_size: int
) -> Iterator[dict[str, Any]]:
    """Yield every row, one call per page; "no data found" is an empty result, not an error."""
    path = f"/v1/data/objects/query/{quote(object_name, safe='')}"
    offset = 0
    while True:
        body["offset"] = offset
        try:
            envelope = transport.call("POST", path, body, idempotent=True, obj=object_name)
        except GainsightAPIError as exc:
            if means_no_rows(exc):
                return
            raise
        rows = rows_of(envelope.get("data"))
        yield from rows
        if len(rows) < page_size:
            return
        offset += len(rows)


def find_gsids(
    transport: Transport,
    object_name: str,
    key_fields: Sequence[str],
    key_values: Sequence[tuple[Any, ...]],
    field_types: Mapping[str, str] | None = None,
) -> dict[tuple[Any, ...], str]:
    """Which of these key tuples exist in Gainsight, and their Gsids.

    One query per chunk of up to MAX_IN_VALUES values, with an IN condition per key field
    (ANDed); the rows are then matched to exact tuples here, comparing values normalised by
    ``field_types`` (describe types by field name). An EMAIL field's IN list also carries
    the case-folded values, in case the server compares them as typed.
    Tuples holding a None cannot match and are left out.
    """
    fields = tuple(key_fields)
    if not fields:
        raise ValueError("find_gsids needs at least one key field")
    types = [(field_types or {}).get(name) for name in fields]
    folded = [t is not None and t.upper() in CASE_INSENSITIVE_TYPES for t in types]
    step = MAX_IN_VALUES // 2 if any(folded) else MAX_IN_VALUES
    wanted = [
        t
        for t in dict.fromkeys(tuple(v) for v in key_values)
        if len(t) == len(fields) and all(v is not None for v in t)
    ]
    found: dict[tuple[Any, ...], str] = {}
    for start in range(0, len(wanted), step):
        chunk = wanted[start : start + step]
        by_norm: dict[tuple[str | None, ...], list[tuple[Any, ...]]] = {}
        for t in chunk:
            by_norm.setdefault(tuple(map(key_text, t, types)), []).append(t)
        where = []
        for pos, name in enumerate(fields):
            values = [t[pos] for t in chunk]
            if folded[pos]:
                values += [key_text(v, types[pos]) for v in values]
            where.append((name, "IN", list(dict.fromkeys(values))))
        body = query_body(["Gsid", *fields], where, {"Gsid": "asc"}, MAX_PAGE)
        for row in pages(transport, object_name, body, MAX_PAGE):
            gsid = row.get("Gsid")
            originals = by_norm.get(tuple(map(key_text, (row.get(f) for f in fields), types)))
            if gsid and originals:
                for t in originals:
                    found.setdefault(t, str(gsid))
    return found
