"""Request bodies: the ``lookups`` block of a write, and JSON encoding of every body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dbt_gainsight.gainsight.limits import MULTI_MATCH_OPTIONS, NO_MATCH_OPTIONS
from dbt_gainsight.gainsight.types import format_datetime


def lookup_payload(
    field: str,
    object_name: str,
    match: Mapping[str, str],
    multi_match: str = "FIRSTMATCH",
    on_no_match: str = "ERROR",
) -> dict[str, Any]:
    """The ``lookups`` entry that makes Gainsight resolve ``field`` to another object's Gsid.

    ``match`` maps the key each record carries (the source value) to the field of
    ``object_name`` it must equal, e.g. ``{"CsmEmail": "Email"}``. Returns ``{field: {...}}``
    so several lookups merge with ``{**a, **b}``.
    """
    if multi_match not in MULTI_MATCH_OPTIONS:
        raise ValueError(f"multi_match must be one of {sorted(MULTI_MATCH_OPTIONS)}")
    if on_no_match not in NO_MATCH_OPTIONS:
        raise ValueError(f"on_no_match must be one of {sorted(NO_MATCH_OPTIONS)}")
    if not match:
        raise ValueError(f"lookup {field}: match needs at least one source key")
    return {
        field: {
            "fields": dict(match),
            "lookupField": "Gsid",
            "objectName": object_name,
            "multiMatchOption": multi_match,
            "onNoMatch": on_no_match,
        }
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to Gainsight")


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and Infinity refused (not JSON); dates as Gainsight reads them."""
    return json.dumps(
        body, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    ).encode("utf-8")
