"""Warehouse value -> the JSON value Gainsight accepts for a field's type.

``converter_for`` is called once per field per model; the function it returns does no
dispatch on the field's type, only on the value's Python type, with the common case first.
Every converter maps None to None and raises ValueConversionError with the field name,
the value and the expected form when a value cannot be converted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema

Converter = Callable[[Any], Any]

_UTC = timezone.utc
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_isfinite = math.isfinite
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")


def converter_for(field: FieldSchema) -> Converter:
    """Return the converter for ``field``'s data type (unknown types pass JSON values through)."""
    make = _FACTORIES.get(field.data_type.upper(), _generic)
    return make(field)


def _fail(field: str, value: Any, data_type: str, expected: str) -> ValueConversionError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ValueConversionError(f"{field}: cannot read {shown} as a {data_type} ({expected})")


# --- strings ---------------------------------------------------------------------------


def _to_text(value: Any) -> str:
    if value.__class__ is bool:
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _string(field: FieldSchema) -> Converter:
    name, data_type, length = field.name, field.data_type, field.length
    if data_type == "EMAIL":
        return _email(field)

    if length is None:

        def convert(value: Any) -> Any:
            if value is None or value.__class__ is str:
                return value
            return _to_text(value)

        return convert

    def convert_checked(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is not str:
            value = _to_text(value)
        if len(value) > length:
            raise ValueConversionError(
                f"{name}: {len(value)} characters is longer than the {data_type}"
                f" field's length of {length}"
            )
        return value

    return convert_checked


def _email(field: FieldSchema) -> Converter:
    """Text that must look like an address: Gainsight rejects the whole batch otherwise."""
    name, data_type, length = field.name, field.data_type, field.length
    match = _EMAIL.match

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is not str:
            value = _to_text(value)
        if match(value) is None:
            raise _fail(name, value, data_type, "expected an address such as name@example.com")
        if length is not None and len(value) > length:
            raise ValueConversionError(
                f"{name}: {len(value)} characters is longer than the {data_type}"
                f" field's length of {length}"
            )
        return value

    return convert


# --- numbers ---------------------------------------------------------------------------


def _number(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected a finite number"

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is int or value is None:
            return value
        if cls is float:
            if not _isfinite(value):
                raise _fail(name, value, data_type, expected)
            return int(value) if value.is_integer() else value
        if cls is Decimal:
            if not value.is_finite():
                raise _fail(name, value, data_type, expected)
            integral = value.to_integral_value()
            return int(integral) if value == integral else float(value)
        if cls is bool:
            return int(value)
        if cls is str:
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                pass
            try:
                number = float(text)
            except ValueError:
                raise _fail(name, value, data_type, expected) from None
            if not _isfinite(number):
                raise _fail(name, value, data_type, expected)
            return int(number) if number.is_integer() else number
        if isinstance(value, (date, list, tuple, dict)):
            raise _fail(name, value, data_type, expected)
        try:  # numpy scalars and other numeric types
            number = float(value)
        except (TypeError, ValueError):
            raise _fail(name, value, data_type, expected) from None
        return convert(number)

    return convert


def _boolean(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected true/false, yes/no, t/f or 1/0"

    def convert(value: Any) -> Any:
        if value is None or value.__class__ is bool:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            if value == 1:
                return True
            if value == 0:
                return False
        raise _fail(name, value, data_type, expected)

    return convert


# --- dates and datetimes ---------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """Gainsight's DATETIME form: ISO 8601 in UTC with milliseconds; naive means UTC."""
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


def _date(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected yyyy-MM-dd"
    fromisoformat = date.fromisoformat

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is date:
            return value.isoformat()
        if value is None:
            return None
        if cls is str:
            text = value.strip()
            try:
                if len(text) == 10:
                    return fromisoformat(text).isoformat()
                value = datetime.fromisoformat(text)
            except ValueError:
                raise _fail(name, value, data_type, expected) from None
        if isinstance(value, datetime):
            if value.tzinfo is not None and value.utcoffset() is not None:
                value = value.astimezone(_UTC)
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        raise _fail(name, value, data_type, expected)

    return convert


def _datetime(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected an ISO 8601 date-time such as 2026-11-27T13:45:00Z"

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is datetime:
            return format_datetime(value)
        if value is None:
            return None
        if cls is str:
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise _fail(name, value, data_type, expected) from None
            return format_datetime(value)
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, date):
            return value.isoformat() + "T00:00:00.000+00:00"
        raise _fail(name, value, data_type, expected)

    return convert


# --- picklists -------------------------------------------------------------------------


def _picklist_lookup(field: FieldSchema) -> Callable[[str], str] | None:
    """Map a written label (any case) or item Gsid to the canonical active label."""
    options = field.picklist
    if not options:
        return None
    active = {o.label: o.label for o in options if o.active}
    folded = {o.label.casefold(): o.label for o in options if o.active}
    by_value = {o.value: o.label for o in options if o.active}
    inactive = {o.label.casefold() for o in options if not o.active}
    name, data_type = field.name, field.data_type
    listed = ", ".join(active)

    def lookup(text: str) -> str:
        label = active.get(text)
        if label is not None:
            return label
        stripped = text.strip()
        label = folded.get(stripped.casefold()) or by_value.get(stripped)
        if label is not None:
            return label
        if stripped.casefold() in inactive:
            raise ValueConversionError(f"{name}: {text!r} is an inactive {data_type} option")
        raise ValueConversionError(
            f"{name}: {text!r} is not an option of the {data_type} (options: {listed})"
        )

    return lookup


def _picklist(field: FieldSchema) -> Converter:
    lookup = _picklist_lookup(field)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        text = value if value.__class__ is str else _to_text(value)
        return lookup(text) if lookup is not None else text

    return convert


def _multiselect(field: FieldSchema) -> Converter:
    lookup = _picklist_lookup(field)
    name, data_type = field.name, field.data_type

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            items = value.split(";")
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = [v if isinstance(v, str) else _to_text(v) for v in value if v is not None]
        else:
            raise _fail(name, value, data_type, "expected a list or a ';'-separated string")
        labels = [item.strip() for item in items if item.strip()]
        if lookup is not None:
            labels = [lookup(label) for label in labels]
        return ";".join(labels) if labels else None

    return convert


# --- anything else ---------------------------------------------------------------------


def _generic(field: FieldSchema) -> Converter:
    """Unknown data type: keep JSON values, turn the rest into their usual JSON form."""
    number = _number(field)

    def convert(value: Any) -> Any:
        if value is None or value.__class__ in (str, int, float, bool):
            return value
        if value.__class__ is Decimal:
            return number(value)
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return convert


_FACTORIES: dict[str, Callable[[FieldSchema], Converter]] = {
    "STRING": _string,
    "EMAIL": _string,
    "URL": _string,
    "RICHTEXTAREA": _string,
    "TEXTAREA": _string,
    "GSID": _string,
    "LOOKUP": _string,
    "NUMBER": _number,
    "CURRENCY": _number,
    "PERCENTAGE": _number,
    "BOOLEAN": _boolean,
    "DATE": _date,
    "DATETIME": _datetime,
    "PICKLIST": _picklist,
    "MULTISELECTDROPDOWNLIST": _multiselect,
}
