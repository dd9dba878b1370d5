"""NUMBER, CURRENCY and PERCENTAGE values: sent only when Gainsight stores the value itself.

Gainsight holds a NUMBER as a double and shows it by its shortest decimal, so a value is sent
only when that decimal is the value itself (within the field's decimalPlaces, when describe
gives them): every integer up to 2**53, any finite float, a Decimal of up to 15 significant
digits. ``12345678901234567890.5``, ``1E-400`` or ``1e5000`` are rejected.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.conversion import MAX_INT, Converter, cannot_read, wrong_type
from dbt_gainsight.gainsight.objects import FieldSchema

_isfinite = math.isfinite
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_EXACT = Context(prec=80, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])  # never raises


def number_converter(field: FieldSchema) -> Converter:
    """The converter for a numeric field (``decimal_places`` sets the tolerance)."""
    name, data_type, places = field.name, field.data_type, field.decimal_places
    # A value within half a unit of the field's last decimal place is the same to Gainsight.
    tolerance = Decimal(5).scaleb(-places - 1) if places is not None and places >= 0 else None

    def fail(value: Any, expected: str) -> ValueConversionError:
        return cannot_read(name, value, data_type, expected)

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
            return int(number) if -MAX_INT <= number <= MAX_INT else int(value)
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

    low, high = -MAX_INT, MAX_INT

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
            raise wrong_type(name, value, data_type, "expected a number")
        if isinstance(value, float):
            return convert(float(value))
        if isinstance(value, Decimal):
            return from_decimal(Decimal(value), value)
        if isinstance(value, numbers.Integral):
            return convert(operator.index(value))
        if isinstance(value, numbers.Real):
            return from_real(value)
        raise wrong_type(name, value, data_type, "expected a real number")

    return convert
