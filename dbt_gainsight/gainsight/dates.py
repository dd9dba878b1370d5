"""DATE and DATETIME values: ISO 8601, instants in UTC, years 1-9999 only.

Drivers give dates Python cannot hold (year 10000, BC) as text; those are rejected as out of
range with the same message as an aware timestamp that leaves UTC's range.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.conversion import Converter, cannot_read, wrong_type
from dbt_gainsight.gainsight.objects import FieldSchema

_UTC = timezone.utc
_OUT_OF_TIME = "out of range: not within years 1-9999 in UTC"
# How drivers give dates Python cannot hold, as text: '10000-01-01 01:00:00+00', '0044-03-15 BC'
# (Postgres), '0044-03-15 (BC)', '-43-03-15T00:00:00' (DuckDB), 'infinity', '-infinity'.
_BEYOND_YEARS = re.compile(
    r"\s*(?:[+-]?[0-9]{5,}-|-[0-9]+-|[+-]?infinity\s*\Z|.*\s\(?BC\)?\s*\Z)", re.IGNORECASE
)


def format_datetime(value: datetime) -> str:
    """Gainsight's DATETIME form: ISO 8601 in UTC with milliseconds; naive means UTC.

    Raises OverflowError when the instant falls outside years 1-9999 in UTC.
    """
    # Slicing isoformat() is the fastest way to this form.
    if value.tzinfo is None:
        text = value.isoformat()
    else:
        offset = value.utcoffset()
        if offset is None:
            text = value.isoformat()
        else:
            if offset:
                value = value.astimezone(_UTC)
            text = value.isoformat()[:-6]
    return text + ".000+00:00" if len(text) == 19 else text[:23] + "+00:00"


def format_instant(value: datetime, name: str, data_type: str) -> str:
    """``format_datetime`` for a field's value: out of range is a reject naming the field."""
    try:
        return format_datetime(value)
    except OverflowError:
        raise cannot_read(
            name, value, data_type, "out of range: not within years 1-9999 in UTC"
        ) from None


def _utc(value: datetime, name: str, data_type: str) -> datetime:
    """An aware datetime in UTC (naive stays naive: it already means UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    try:
        return value.astimezone(_UTC)
    except OverflowError:
        raise cannot_read(
            name, value, data_type, "out of range: not within years 1-9999 in UTC"
        ) from None


def _unreadable(name: str, text: str, data_type: str, expected: str) -> ValueConversionError:
    return cannot_read(
        name, text, data_type, _OUT_OF_TIME if _BEYOND_YEARS.match(text) else expected
    )


def date_converter(field: FieldSchema) -> Converter:
    """The converter for a DATE field: ``yyyy-MM-dd`` (a datetime gives its UTC date)."""
    name, data_type = field.name, field.data_type
    expected = "expected yyyy-MM-dd"
    fromisoformat = date.fromisoformat

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is date:
            return value.isoformat()
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            try:
                if len(text) == 10:
                    return fromisoformat(text).isoformat()
                value = datetime.fromisoformat(text)
            except ValueError:
                raise _unreadable(name, value, data_type, expected) from None
        if isinstance(value, datetime):
            return _utc(value, name, data_type).date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        raise wrong_type(name, value, data_type, expected)

    return convert


def datetime_converter(field: FieldSchema) -> Converter:
    """The converter for a DATETIME field: an instant in UTC, or a date at midnight UTC."""
    name, data_type = field.name, field.data_type
    expected = "expected an ISO 8601 date-time such as 2026-11-27T13:45:00Z"

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is datetime:
            return format_instant(value, name, data_type)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise _unreadable(name, value, data_type, expected) from None
            return format_instant(value, name, data_type)
        if isinstance(value, datetime):
            return format_instant(value, name, data_type)
        if isinstance(value, date):
            return value.isoformat() + "T00:00:00.000+00:00"
        raise wrong_type(name, value, data_type, expected)

    return convert
