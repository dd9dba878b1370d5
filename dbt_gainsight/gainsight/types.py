"""Warehouse value -> the JSON value Gainsight stores for a field's type, or a reject.

``converter_for`` is called once per field per model; the function it returns does no
dispatch on the field's type, only on the value's Python type, with the common case first.
Every converter maps None to None, returns only JSON-safe values (str, int, finite float,
bool) and raises ValueConversionError, naming the field, for a value it cannot send exactly.
It raises nothing else.

Numbers: Gainsight holds a NUMBER as a double and shows it by its shortest decimal, so a
value is sent only when that decimal is the value itself (within the field's decimalPlaces,
when describe gives them): every integer up to 2**53, any finite float, a Decimal of up to
15 significant digits. ``12345678901234567890.5``, ``1E-400`` or ``1e5000`` are rejected.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from uuid import UUID

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema

Converter = Callable[[Any], Any]

_UTC = timezone.utc
# The spellings PostgreSQL reads as booleans.
_BOOLEANS = {
    **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
}
_isfinite = math.isfinite
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_MAX_INT = 2**53  # every integer up to this magnitude is a double exactly
_BINARY = (bytes, bytearray, memoryview)
_OUT_OF_TIME = "out of range: not within years 1-9999 in UTC"
# How drivers give dates Python cannot hold: as text ('10000-01-01 01:00:00+00', '0044-03-15 BC').
_BEYOND_YEARS = re.compile(r"\s*(?:[+-]?[0-9]{5,}-|.*\sBC\s*\Z)")
_EXACT = Context(prec=80, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])  # never raises
_HINTS = {
    "dict": "cast it to text in the model to send its JSON",
    "list": "cast it to text in the model to send it as text",
    "tuple": "cast it to text in the model to send it as text",
}


def converter_for(field: FieldSchema) -> Converter:
    """Return the converter for ``field``'s data type (unknown types pass JSON values through)."""
    make = _FACTORIES.get(field.data_type.upper(), _generic)
    return make(field)


def _shown(value: Any) -> str:
    """A short, safe rendering of a value for a message (no ``<object at 0x...>``)."""
    if value.__class__ is Decimal:
        text = str(value)
        return text if len(text) <= 30 else f"{value:.6E}"
    try:
        text = repr(value)
    except Exception:  # e.g. an int too long for str()
        text = " at 0x"
    if " at 0x" in text:
        return _a(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _a(value: Any) -> str:
    name = type(value).__name__
    if name == "bytes":
        return name
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def _fail(field: str, value: Any, data_type: str, expected: str) -> ValueConversionError:
    return ValueConversionError(
        f"{field}: cannot read {_shown(value)} as a {data_type} ({expected})"
    )


def _wrong_type(field: str, value: Any, data_type: str, expected: str) -> ValueConversionError:
    hint = _HINTS.get(type(value).__name__, expected)
    return ValueConversionError(f"{field}: cannot read {_a(value)} as a {data_type} ({hint})")


# --- text ------------------------------------------------------------------------------


def _text_maker(name: str, data_type: str) -> Callable[[Any], str]:
    """The text form of a non-None value for a text-like field: deliberate, never a repr."""

    def checked(value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(name, value, data_type, "not valid UTF-8 text") from None
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
                raise _fail(name, value, data_type, "too many digits") from None
        if cls is float:
            if not _isfinite(value):
                raise _fail(name, value, data_type, "not a finite number")
            if value.is_integer() and -_MAX_INT <= value <= _MAX_INT:
                return str(int(value))
            return repr(value)
        if cls is Decimal:
            if not value.is_finite():
                raise _fail(name, value, data_type, "not a finite number")
            return str(value)
        if isinstance(value, datetime):
            return _format_instant(value, name, data_type)
        if isinstance(value, (date, time)):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, _BINARY):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise _wrong_type(
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
        raise _wrong_type(name, value, data_type, "expected text, a number, a date or a uuid")

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
            raise _fail(name, value, data_type, "expected an address such as name@example.com")
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
            raise _fail(name, value, data_type, "expected a Gsid, not blank text")
        return value

    return convert


# --- numbers ---------------------------------------------------------------------------


def _number(field: FieldSchema) -> Converter:
    name, data_type, places = field.name, field.data_type, field.decimal_places
    # A value within half a unit of the field's last decimal place is the same to Gainsight.
    tolerance = Decimal(5).scaleb(-places - 1) if places is not None and places >= 0 else None

    def fail(value: Any, expected: str) -> ValueConversionError:
        return _fail(name, value, data_type, expected)

    def nearest(value: Any, shown: Any) -> float:
        """The double Gainsight would hold for ``value``, or a reject when there is none."""
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not _isfinite(number):
            raise fail(shown, "out of range: beyond what a Gainsight number can hold")
        return number

    def check_exact(value: Decimal, number: float, shown: Any) -> None:
        sent = Decimal(repr(number))
        if sent == value:
            return
        if tolerance is not None:
            off = _EXACT.abs(_EXACT.subtract(sent, value))
            if off.is_finite() and off <= tolerance:
                return
        raise fail(shown, f"cannot be sent exactly: Gainsight would store {number!r}")

    def from_decimal(value: Decimal, shown: Any) -> Any:
        if not value.is_finite():
            raise fail(shown, "not a finite number")
        text = str(value)
        if len(text) <= 15 and -307 <= value.adjusted() <= 307:
            number = float(text)  # at most 15 significant digits: a double holds them exactly
        else:
            number = nearest(value, shown)
            check_exact(value, number, shown)
        if number.is_integer():
            return int(number) if -_MAX_INT <= number <= _MAX_INT else int(value)
        return number

    def from_int(value: int) -> int:
        number = nearest(value, value)
        check_exact(Decimal(value), number, value)
        return value

    def from_real(value: Any) -> Any:
        number = nearest(value, value)
        if isinstance(value, numbers.Rational):  # exact, like a Decimal: its decimal must survive
            if Fraction(repr(number)) != value:
                raise fail(value, f"cannot be sent exactly: Gainsight would store {number!r}")
        elif number != value:  # a binary float of another width must fit a double
            raise fail(value, f"cannot be sent exactly: Gainsight would store {number!r}")
        return convert(number)

    low, high = -_MAX_INT, _MAX_INT

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is int:
            return value if low <= value <= high else from_int(value)
        if value is None:
            return None
        if cls is float:
            if not _isfinite(value):
                raise fail(value, "not a finite number")
            if value.is_integer() and low <= value <= high:
                return int(value)
            return value
        if cls is Decimal:
            return from_decimal(value, value)
        if isinstance(value, str):
            text = value.strip()
            if _PLAIN_NUMBER.match(text) is None:
                raise fail(value, "expected a number such as 1200 or -3.75")
            try:
                number = Decimal(text)
            except InvalidOperation:  # an exponent beyond what Decimal reads
                raise fail(value, "out of range: beyond what a Gainsight number can hold") from None
            return from_decimal(number, value)
        if isinstance(value, bool) or not isinstance(value, numbers.Number):
            raise _wrong_type(name, value, data_type, "expected a number")
        if isinstance(value, float):
            return convert(float(value))
        if isinstance(value, Decimal):
            return from_decimal(Decimal(value), value)
        if isinstance(value, numbers.Integral):
            return convert(operator.index(value))
        if isinstance(value, numbers.Real):
            return from_real(value)
        raise _wrong_type(name, value, data_type, "expected a real number")

    return convert


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
                raise _fail(name, value, data_type, expected)
            if value == 1:
                return True
            if value == 0:
                return False
        else:
            raise _wrong_type(name, value, data_type, expected)
        raise _fail(name, value, data_type, expected)

    return convert


# --- dates and datetimes ---------------------------------------------------------------


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


def _format_instant(value: datetime, name: str, data_type: str) -> str:
    try:
        return format_datetime(value)
    except OverflowError:
        raise _fail(
            name, value, data_type, "out of range: not within years 1-9999 in UTC"
        ) from None


def _utc(value: datetime, name: str, data_type: str) -> datetime:
    """An aware datetime in UTC (naive stays naive: it already means UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    try:
        return value.astimezone(_UTC)
    except OverflowError:
        raise _fail(
            name, value, data_type, "out of range: not within years 1-9999 in UTC"
        ) from None


def _unreadable(name: str, text: str, data_type: str, expected: str) -> ValueConversionError:
    return _fail(name, text, data_type, _OUT_OF_TIME if _BEYOND_YEARS.match(text) else expected)


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
        raise _wrong_type(name, value, data_type, expected)

    return convert


def _datetime(field: FieldSchema) -> Converter:
    name, data_type = field.name, field.data_type
    expected = "expected an ISO 8601 date-time such as 2026-11-27T13:45:00Z"

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is datetime:
            return _format_instant(value, name, data_type)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise _unreadable(name, value, data_type, expected) from None
            return _format_instant(value, name, data_type)
        if isinstance(value, datetime):
            return _format_instant(value, name, data_type)
        if isinstance(value, date):
            return value.isoformat() + "T00:00:00.000+00:00"
        raise _wrong_type(name, value, data_type, expected)

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
            raise ValueConversionError(f"{name}: {_shown(text)} is an inactive {data_type} option")
        raise ValueConversionError(
            f"{name}: {_shown(text)} is not an option of the {data_type} (options: {listed})"
        )

    return lookup


def _picklist(field: FieldSchema) -> Converter:
    lookup = _picklist_lookup(field)
    to_text = _text_maker(field.name, field.data_type)

    def convert(value: Any) -> Any:
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
            raise _wrong_type(name, item, data_type, "expected a label in the list")
        text = to_text(item)
        if ";" in text:
            raise _fail(name, text, data_type, "a label in a list cannot contain ';'")
        return text

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, *_BINARY)):
            items = to_text(value).split(";")
        elif isinstance(value, (list, tuple)):
            items = [item_text(v) for v in value if v is not None]
        elif isinstance(value, (set, frozenset)):
            items = sorted(item_text(v) for v in value if v is not None)
        else:
            raise _wrong_type(name, value, data_type, expected)
        labels = [item.strip() for item in items if item.strip()]
        if lookup is not None:
            labels = [lookup(label) for label in labels]
        return ";".join(labels) if labels else None

    return convert


# --- anything else ---------------------------------------------------------------------


def _generic(field: FieldSchema) -> Converter:
    """Unknown data type: keep JSON values, send numbers exactly, the rest as text."""
    number = _number(field)
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
    "NUMBER": _number,
    "CURRENCY": _number,
    "PERCENTAGE": _number,
    "BOOLEAN": _boolean,
    "DATE": _date,
    "DATETIME": _datetime,
    "PICKLIST": _picklist,
    "MULTISELECTDROPDOWNLIST": _multiselect,
}
