"""Warehouse value -> the JSON value Gainsight stores for a field's type, or a reject.

``converter_for`` is called once per field per model; the function it returns does no
dispatch on the field's type, only on the value's Python type, with the common case first.
Every converter maps None to None, returns only JSON-safe values (str, int, finite float,
bool) and raises ValueConversionError, naming the field, for a value it cannot send exactly.
It raises nothing else.

The field types live by role: numbers in ``numbers.py``, dates and datetimes in ``dates.py``,
the shared reject messages in ``conversion.py``; text, e-mail, Gsid, boolean, picklist and
multiselect values here.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.conversion import (
    BINARY,
    MAX_INT,
    Converter,
    cannot_read,
    shown,
    wrong_type,
)
from dbt_gainsight.gainsight.dates import (
    date_converter,
    datetime_converter,
    format_datetime,
    format_instant,
)
from dbt_gainsight.gainsight.numbers import number_converter
from dbt_gainsight.gainsight.objects import FieldSchema

__all__ = ["Converter", "converter_for", "format_datetime"]

# The spellings PostgreSQL reads as booleans.
_BOOLEANS = {
    **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
}
_isfinite = math.isfinite
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")


def converter_for(field: FieldSchema) -> Converter:
    """Return the converter for ``field``'s data type (unknown types pass JSON values through)."""
    make = _FACTORIES.get(field.data_type.upper(), _generic)
    return make(field)


# --- text ------------------------------------------------------------------------------


def _text_maker(name: str, data_type: str) -> Callable[[Any], str]:
    """The text form of a non-None value for a text-like field: deliberate, never a repr."""

    def checked(value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise cannot_read(name, value, data_type, "not valid UTF-8 text") from None
        return value

    def to_text(value: Any) -> str:
        cls = value.__class__
        if cls is str:
            return value if value.isascii() else checked(value)
        if cls is bool:
            return "true" if value else "false"
        if cls is int:
            try:
                return str(value)
            except ValueError:  # more digits than Python will print
                raise cannot_read(name, value, data_type, "too many digits") from None
        if cls is float:
            if not _isfinite(value):
                raise cannot_read(name, value, data_type, "not a finite number")
            if value.is_integer() and -MAX_INT <= value <= MAX_INT:
                return str(int(value))
            return repr(value)
        if cls is Decimal:
            if not value.is_finite():
                raise cannot_read(name, value, data_type, "not a finite number")
            return str(value)
        if isinstance(value, datetime):
            return format_instant(value, name, data_type)
        if isinstance(value, (date, time)):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, BINARY):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise wrong_type(
                    name, value, data_type, "binary data that is not UTF-8 text"
                ) from None
        if isinstance(value, str):
            return to_text(str(value))
        if isinstance(value, bool):
            return to_text(bool(value))
        if isinstance(value, numbers.Integral):
            return to_text(operator.index(value))
        if isinstance(value, float):
            return to_text(float(value))
        if isinstance(value, Decimal):
            return to_text(Decimal(value))
        raise wrong_type(name, value, data_type, "expected text, a number, a date or a uuid")

    return to_text


def _string(field: FieldSchema) -> Converter:
    name, data_type, length = field.name, field.data_type, field.length
    to_text = _text_maker(name, data_type)

    if length is None:

        def convert(value: Any) -> Any:
            if value is None or (value.__class__ is str and value.isascii()):
                return value
            return to_text(value)

        return convert

    def convert_checked(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is not str or not value.isascii():
            value = to_text(value)
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
    text = _string(field)
    match = _EMAIL.match

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is not str or not value.isascii() or (length and len(value) > length):
            value = text(value)
        if match(value) is None:
            raise cannot_read(
                name, value, data_type, "expected an address such as name@example.com"
            )
        return value

    return convert


def _gsid(field: FieldSchema) -> Converter:
    """A Gsid (or a lookup's Gsid): text that is not blank."""
    name, data_type = field.name, field.data_type
    text = _string(field)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        value = text(value)
        if not value.strip():
            raise cannot_read(name, value, data_type, "expected a Gsid, not blank text")
        return value

    return convert


# --- numbers ---------------------------------------------------------------------------
def _boolean(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected true/false, yes/no, on/off, t/f or 1/0"

    def convert(value: Any) -> Any:
        if value is None or value.__class__ is bool:
            return value
        if isinstance(value, str):
            found = _BOOLEANS.get(value.strip().lower())
            if found is not None:
                return found
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            if isinstance(value, Decimal) and not value.is_finite():
                raise cannot_read(name, value, data_type, expected)
            if value == 1:
                return True
            if value == 0:
                return False
        else:
            raise wrong_type(name, value, data_type, expected)
        raise cannot_read(name, value, data_type, expected)

    return convert


# --- dates and datetimes ---------------------------------------------------------------
# --- picklists -------------------------------------------------------------------------


def _active_labels(field: FieldSchema) -> dict[str, str]:
    """Each active label, as written, to itself: the one look-up most values need."""
    return {o.label: o.label for o in field.picklist if o.active}


def _picklist_lookup(field: FieldSchema) -> Callable[[str], str] | None:
    """Map a written label (any case) or item Gsid to the canonical active label."""
    options = field.picklist
    if not options:
        return None
    active = _active_labels(field)
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
            raise ValueConversionError(f"{name}: {shown(text)} is an inactive {data_type} option")
        raise ValueConversionError(
            f"{name}: {shown(text)} is not an option of the {data_type} (options: {listed})"
        )

    return lookup


def _picklist(field: FieldSchema) -> Converter:
    lookup = _picklist_lookup(field)
    to_text = _text_maker(field.name, field.data_type)

    active = _active_labels(field)

    def convert(value: Any) -> Any:
        label = active.get(value) if value.__class__ is str else None
        if label is not None:  # an active label as written: the common case, one look-up
            return label
        if value is None:
            return None
        text = value if value.__class__ is str and value.isascii() else to_text(value)
        return lookup(text) if lookup is not None else text

    return convert


def _multiselect(field: FieldSchema) -> Converter:
    """A list of labels (or one ';'-separated text), sent as ``"a;b"``."""
    lookup = _picklist_lookup(field)
    name, data_type = field.name, field.data_type
    to_text = _text_maker(name, data_type)
    expected = "expected a list or a ';'-separated text of labels"

    def item_text(item: Any) -> str:
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            raise wrong_type(name, item, data_type, "expected a label in the list")
        text = to_text(item)
        if ";" in text:
            raise cannot_read(name, text, data_type, "a label in a list cannot contain ';'")
        return text

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, *BINARY)):
            items = to_text(value).split(";")
        elif isinstance(value, (list, tuple)):
            items = [item_text(v) for v in value if v is not None]
        elif isinstance(value, (set, frozenset)):
            items = sorted(item_text(v) for v in value if v is not None)
        else:
            raise wrong_type(name, value, data_type, expected)
        labels = [item.strip() for item in items if item.strip()]
        if lookup is not None:
            labels = [lookup(label) for label in labels]
        return ";".join(labels) if labels else None

    return convert


# --- anything else ---------------------------------------------------------------------


def _generic(field: FieldSchema) -> Converter:
    """Unknown data type: keep JSON values, send numbers exactly, the rest as text."""
    number = number_converter(field)
    to_text = _text_maker(field.name, field.data_type)

    def convert(value: Any) -> Any:
        if value is None or value.__class__ is bool:
            return value
        if value.__class__ in (int, float, Decimal) or (
            isinstance(value, numbers.Number) and not isinstance(value, bool)
        ):
            return number(value)
        return to_text(value)

    return convert


_FACTORIES: dict[str, Callable[[FieldSchema], Converter]] = {
    "STRING": _string,
    "EMAIL": _email,
    "URL": _string,
    "RICHTEXTAREA": _string,
    "TEXTAREA": _string,
    "GSID": _gsid,
    "LOOKUP": _gsid,
    "NUMBER": number_converter,
    "CURRENCY": number_converter,
    "PERCENTAGE": number_converter,
    "BOOLEAN": _boolean,
    "DATE": date_converter,
    "DATETIME": datetime_converter,
    "PICKLIST": _picklist,
    "MULTISELECTDROPDOWNLIST": _multiselect,
}
