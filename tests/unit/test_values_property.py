"""Property: any warehouse value either converts to exactly what Gainsight stores or is rejected.

For every field type and any value from a broad strategy, the converter either returns a
JSON-safe value (str, int, finite float, bool, None) that the emulator's validator, the model
of what Gainsight stores, accepts and stores as the same value the warehouse held (numbers
equal, dates the same day, datetimes the same instant to the millisecond, text the same
characters), or raises ValueConversionError naming the field. Never any other exception.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbt_gainsight.emulator.objects import FieldDef
from dbt_gainsight.emulator.validation import ApiError, convert_value
from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema, PicklistOption
from dbt_gainsight.gainsight.types import converter_for

LABELS = ["Software", "Financial Services", "Retail"]
TRUE = {"true", "t", "yes", "y", "on", "1"}
FALSE = {"false", "f", "no", "n", "off", "0"}
EPOCH = datetime(1970, 1, 1)
MS = timedelta(milliseconds=1)

# (data type, length, decimal places, with picklist options)
FIELDS = [
    ("STRING", 255, None, False),
    ("STRING", None, None, False),
    ("EMAIL", 255, None, False),
    ("URL", 1024, None, False),
    ("RICHTEXTAREA", 32768, None, False),
    ("NUMBER", None, None, False),
    ("NUMBER", None, 0, False),
    ("CURRENCY", None, 2, False),
    ("PERCENTAGE", None, None, False),
    ("BOOLEAN", None, None, False),
    ("DATE", None, None, False),
    ("DATETIME", None, None, False),
    ("PICKLIST", None, None, True),
    ("PICKLIST", None, None, False),
    ("MULTISELECTDROPDOWNLIST", None, None, True),
    ("MULTISELECTDROPDOWNLIST", None, None, False),
    ("GSID", None, None, False),
    ("LOOKUP", None, None, False),
]


def _fields(data_type: str, length, places, options: bool) -> tuple[FieldSchema, FieldDef]:
    """Our schema (as describe reports it) and the emulator's definition of the same field."""
    emulated = FieldDef("Odd", data_type, length=length, decimal_places=places)
    if options:
        emulated.set_options("Thing", LABELS)
    schema = FieldSchema(
        name="Odd",
        data_type=data_type,
        length=emulated.length,
        decimal_places=places,
        picklist=tuple(PicklistOption(o.label, o.value, o.active) for o in emulated.options),
    )
    return schema, emulated


# --- values ----------------------------------------------------------------------------

offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
edge_datetimes = st.sampled_from(
    [
        datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1),
        datetime(1, 1, 1, 23, tzinfo=timezone(timedelta(hours=-1))),
    ]
)
decimals_any = st.builds(
    lambda digits, exponent, sign: Decimal(f"{sign}{digits}E{exponent}"),
    st.integers(0, 10**40),
    st.integers(-6000, 6000) | st.integers(-30, 30),
    st.sampled_from(["", "-"]),
)
number_text = st.from_regex(r"\A[ ]?[+-]?(\d{1,25}(\.\d{0,20})?|\.\d{1,20})([eE][+-]?\d{1,4})?\Z")
odd_text = st.sampled_from(
    [
        "1_000",
        "nan",
        "Infinity",
        "-inf",
        "0x1F",
        "\u0661\u0662",
        "1,5",
        "",
        " ",
        "yes",
        "No",
        "on",
        "T",
        "2026-11-27",
        "2026-02-30",
        "2026-11-27T13:45:00Z",
        "2026-11-27 13:45:00.123456+05:30",
        "9999-12-31T20:00:00-05:00",
        "0001-01-01T01:00:00+05:00",
        "20261127",
        "ann@example.com",
        "software",
        "Software;Retail",
        " Retail ; software ",
        "a;b",
        '{"plan": "pro"}',
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.just(5000).map(lambda digits: 10**digits),  # too long for str()
    st.floats(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.decimals(),
    decimals_any,
    st.builds(
        lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
        st.integers(1, 99),
        st.integers(300, 310) | st.integers(-330, -300),
    ),
    st.sampled_from([Decimal("1e5000"), Decimal("1E-400"), Decimal("sNaN"), Decimal("-0")]),
    st.fractions(max_denominator=10),
    st.text(max_size=30),
    number_text,
    odd_text,
    st.sampled_from(LABELS),
    st.binary(max_size=12),
    st.text(max_size=12).map(str.encode),
    st.binary(max_size=12).map(memoryview),
    st.text(max_size=12).map(lambda s: memoryview(s.encode())),
    st.binary(max_size=8).map(bytearray),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=offsets),
    edge_datetimes,
    st.times(),
    st.times(timezones=offsets),
    st.timedeltas(),
    st.uuids(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.lists(st.sampled_from(LABELS) | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
    st.tuples(st.sampled_from(LABELS)),
)


# --- what Gainsight stores, and is that the warehouse's value? -------------------------


def _json_safe(value: Any) -> bool:
    if value is None or value.__class__ in (str, bool, int):
        return True
    if value.__class__ is float:
        return math.isfinite(value)
    if value.__class__ is list:
        return all(item.__class__ is str for item in value)
    return False


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value.strip() if isinstance(value, str) else value)


def _instant_ms(value: datetime) -> int:
    """Epoch ms of an instant (naive means UTC), computed without leaving datetime's range."""
    offset = value.utcoffset() or timedelta(0)
    return (value.replace(tzinfo=None) - EPOCH - offset) // MS


def _utc_date(value: datetime) -> str:
    return (EPOCH + _instant_ms(value) * MS).date().isoformat()


def _text_of(value: Any) -> str:
    return bytes(value).decode() if isinstance(value, (bytes, bytearray, memoryview)) else value


def _check_text(value: Any, out: str) -> None:
    """A text field got ``out``: it must be the value, formatted deliberately."""
    if isinstance(value, str):
        assert out == value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        assert out == bytes(value).decode("utf-8")
    elif isinstance(value, bool):
        assert out == ("true" if value else "false")
    elif isinstance(value, int):
        assert int(out) == value
    elif isinstance(value, (float, Decimal, Fraction)):
        assert _as_decimal(out) == _as_decimal(value)
    elif isinstance(value, datetime):
        assert _instant_ms(datetime.fromisoformat(out)) == _instant_ms(value)
    elif isinstance(value, date):
        assert date.fromisoformat(out) == value
    elif isinstance(value, time):
        assert time.fromisoformat(out) == value
    elif isinstance(value, uuid.UUID):
        assert uuid.UUID(out) == value
    else:
        raise AssertionError(f"a {type(value).__name__} became text: {out!r}")


def _check_stored(data_type: str, places, options: bool, value: Any, out: Any, stored: Any):
    if data_type in ("NUMBER", "CURRENCY", "PERCENTAGE"):
        assert not isinstance(value, bool)
        if isinstance(stored, int) and abs(stored) > 2**53:
            stored = float(stored)  # the emulator's int(round(x)) shows the binary digits
        if places is None:
            assert _as_decimal(stored) == _as_decimal(value), (value, out, stored)
        else:  # Gainsight rounds to the field's places; our value must be that close
            assert abs(_as_decimal(stored) - _as_decimal(value)) <= Decimal(10) ** -places
    elif data_type == "BOOLEAN":
        if isinstance(value, str):
            assert stored is (value.strip().lower() in TRUE)
            assert value.strip().lower() in TRUE | FALSE
        else:
            assert stored is (value == 1)
    elif data_type == "DATE":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.strip())
        expected = _utc_date(value) if isinstance(value, datetime) else value.isoformat()
        assert stored == expected
    elif data_type == "DATETIME":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.strip())
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        assert stored == _instant_ms(value)
    elif data_type == "PICKLIST":
        if options:
            folded = {label.casefold(): label for label in LABELS}
            assert out == folded[_text_of(value).strip().casefold()]
        else:
            _check_text(value, out)
    elif data_type == "MULTISELECTDROPDOWNLIST":
        if isinstance(value, (list, tuple)):
            items = [v for v in value if v is not None]
        else:
            items = _text_of(value).split(";")
        items = [
            _text_of(i).strip() if isinstance(i, (str, bytes, bytearray, memoryview)) else i
            for i in items
        ]
        items = [i for i in items if i != ""]
        labels = out.split(";")
        assert len(labels) == len(items)
        for item, label in zip(items, labels, strict=True):
            if options:
                assert label == {x.casefold(): x for x in LABELS}[item.casefold()]
            else:
                _check_text(item, label)
    else:  # text types
        _check_text(value, out)
        assert stored == out


@pytest.mark.parametrize(("data_type", "length", "places", "options"), FIELDS)
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(value=values)
def test_converted_or_rejected_with_a_reason(data_type, length, places, options, value):
    schema, emulated = _fields(data_type, length, places, options)
    convert = converter_for(schema)
    try:
        out = convert(value)
    except ValueConversionError as exc:
        assert str(exc).startswith("Odd: "), str(exc)
        assert " at 0x" not in str(exc)
        return
    assert _json_safe(out), (value, out)
    json.dumps(out, allow_nan=False).encode("utf-8")
    if value is None or out is None:
        assert value is None or data_type == "MULTISELECTDROPDOWNLIST"
        return
    if data_type in ("PICKLIST", "MULTISELECTDROPDOWNLIST") and not options:
        stored = out  # the emulator refuses labels of a picklist without options
    else:
        try:
            stored = convert_value(emulated, out)
        except ApiError as exc:  # we would have sent something Gainsight refuses
            raise AssertionError(f"{value!r} -> {out!r}: Gainsight says {exc.desc}") from exc
    _check_stored(data_type, places, options, value, out, stored)
