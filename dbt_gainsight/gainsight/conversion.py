"""What every value converter shares: the Converter type, the reject messages, the limits.

A reject names the field, shows the value briefly (never ``<object at 0x...>``) and says what
was expected, so a rejects-table row tells the analytics engineer how to fix the model.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dbt_gainsight.errors import ValueConversionError

Converter = Callable[[Any], Any]

MAX_INT = 2**53  # every integer up to this magnitude is a double exactly
BINARY = (bytes, bytearray, memoryview)
_HINTS = {
    "dict": "turn it into text in the model (to_json() on DuckDB, ::text on Postgres)",
    "list": "cast it to text in the model to send it as text",
    "tuple": "cast it to text in the model to send it as text",
}


def shown(value: Any) -> str:
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
    """``a list``, ``an int``: the value's type with its article."""
    name = type(value).__name__
    if name == "bytes":
        return name
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def cannot_read(field: str, value: Any, data_type: str, expected: str) -> ValueConversionError:
    """The reject for a value of a readable type that does not fit the field."""
    return ValueConversionError(f"{field}: cannot read {shown(value)} as {data_type} ({expected})")


def wrong_type(field: str, value: Any, data_type: str, expected: str) -> ValueConversionError:
    """The reject for a value whose Python type the field cannot take (with a hint)."""
    hint = _HINTS.get(type(value).__name__, expected)
    return ValueConversionError(f"{field}: cannot read {_a(value)} as {data_type} ({hint})")
