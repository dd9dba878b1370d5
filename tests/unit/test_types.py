from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from dbt_gainsight.errors import ValueConversionError
from dbt_gainsight.gainsight.objects import FieldSchema, PicklistOption
from dbt_gainsight.gainsight.types import converter_for


def conv(data_type, **kw):
    return converter_for(FieldSchema(name=kw.pop("name", "F"), data_type=data_type, **kw))


ALL_TYPES = [
    "STRING",
    "EMAIL",
    "URL",
    "RICHTEXTAREA",
    "GSID",
    "LOOKUP",
    "NUMBER",
    "CURRENCY",
    "PERCENTAGE",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "PICKLIST",
    "MULTISELECTDROPDOWNLIST",
    "ODDTYPE",
]


@pytest.mark.parametrize("data_type", ALL_TYPES)
def test_none_stays_none(data_type):
    assert conv(data_type)(None) is None


# --- DATE ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 11, 27), "2026-11-27"),
        (datetime(2026, 11, 27, 23, 30), "2026-11-27"),
        (datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "2026-11-28"),
        ("2026-11-27", "2026-11-27"),
        (" 2026-11-27 ", "2026-11-27"),
        ("2026-11-27T10:00:00Z", "2026-11-27"),
        ("2026-11-27 10:00:00", "2026-11-27"),
        ("20261127", "2026-11-27"),
    ],
)
def test_date_good(value, expected):
    assert conv("DATE")(value) == expected


@pytest.mark.parametrize("value", ["soon", "2026-13-01", "27/11/2026", 20261127, 1.5, True])
def test_date_bad(value):
    with pytest.raises(ValueConversionError, match=r"expected yyyy-MM-dd"):
        conv("DATE", name="RenewalDate")(value)


def test_date_message_is_exact():
    with pytest.raises(ValueConversionError) as exc:
        conv("DATE", name="RenewalDate")("soon")
    assert str(exc.value) == "RenewalDate: cannot read 'soon' as a DATE (expected yyyy-MM-dd)"


# --- DATETIME --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 27, 13, 45), "2026-11-27T13:45:00.000+00:00"),
        (datetime(2026, 11, 27, 13, 45, 1, 987654), "2026-11-27T13:45:01.987+00:00"),
        (datetime(2026, 11, 27, 13, 45, tzinfo=timezone.utc), "2026-11-27T13:45:00.000+00:00"),
        (
            datetime(2026, 11, 27, 8, 45, tzinfo=timezone(timedelta(hours=-5))),
            "2026-11-27T13:45:00.000+00:00",
        ),
        (
            datetime(2026, 11, 28, 0, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2026-11-27T18:45:00.000+00:00",
        ),
        (date(2026, 11, 27), "2026-11-27T00:00:00.000+00:00"),
        ("2026-11-27T13:45:00Z", "2026-11-27T13:45:00.000+00:00"),
        ("2026-11-27T14:45:00+01:00", "2026-11-27T13:45:00.000+00:00"),
        ("2026-11-27 13:45:00.5", "2026-11-27T13:45:00.500+00:00"),
        ("2026-11-27", "2026-11-27T00:00:00.000+00:00"),
    ],
)
def test_datetime_good(value, expected):
    assert conv("DATETIME")(value) == expected


def test_datetime_with_zoneinfo():
    from zoneinfo import ZoneInfo

    value = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))  # CEST, +02:00
    assert conv("DATETIME")(value) == "2026-07-01T10:00:00.000+00:00"


@pytest.mark.parametrize("value", ["yesterday", "2026-11-27T25:00", 1700000000000, 3.5, [1]])
def test_datetime_bad(value):
    with pytest.raises(ValueConversionError, match=r"^F: cannot read .* as a DATETIME"):
        conv("DATETIME")(value)


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("data_type", ["NUMBER", "CURRENCY", "PERCENTAGE"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        (5.25, 5.25),
        (-0.5, -0.5),
        (Decimal("1200.00"), 1200),
        (Decimal("12.34"), 12.34),
        ("42", 42),
        (" 42.50 ", 42.5),
        ("1e3", 1000),
        (True, 1),
        (10**20, 10**20),
    ],
)
def test_number_good(data_type, value, expected):
    got = conv(data_type)(value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        "nan",
        "inf",
        "12abc",
        "",
        "1,000",
        date(2026, 1, 1),
        [1],
    ],
)
def test_number_bad(value):
    with pytest.raises(ValueConversionError, match=r"^Arr: cannot read .* as a CURRENCY"):
        conv("CURRENCY", name="Arr")(value)


# --- BOOLEAN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        (Decimal(0), False),
        ("true", True),
        ("FALSE", False),
        ("Yes", True),
        ("no", False),
        ("t", True),
        ("f", False),
        (" 1 ", True),
        ("0", False),
    ],
)
def test_boolean_good(value, expected):
    assert conv("BOOLEAN")(value) is expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", date(2026, 1, 1)])
def test_boolean_bad(value):
    with pytest.raises(ValueConversionError, match=r"as a BOOLEAN"):
        conv("BOOLEAN")(value)


# --- PICKLIST / MULTISELECT ------------------------------------------------------------

OPTIONS = (
    PicklistOption("Software", "1I001"),
    PicklistOption("Financial Services", "1I002"),
    PicklistOption("Legacy", "1I003", active=False),
)


def test_picklist_canonical_label():
    c = conv("PICKLIST", name="Industry", picklist=OPTIONS)
    assert c("Software") == "Software"
    assert c("software") == "Software"
    assert c(" FINANCIAL services ") == "Financial Services"
    assert c("1I002") == "Financial Services"  # an item Gsid is accepted too


def test_picklist_unknown_and_inactive():
    c = conv("PICKLIST", name="Industry", picklist=OPTIONS)
    with pytest.raises(ValueConversionError, match=r"Industry: 'Sofware' is not an option.*Soft"):
        c("Sofware")
    with pytest.raises(ValueConversionError, match=r"inactive"):
        c("legacy")


def test_picklist_without_options_passes_text():
    c = conv("PICKLIST")
    assert c("Anything") == "Anything"
    assert c(3) == "3"


def test_multiselect():
    c = conv("MULTISELECTDROPDOWNLIST", picklist=OPTIONS)
    assert c(["software", "Financial Services"]) == "Software;Financial Services"
    assert c("Software; financial services;") == "Software;Financial Services"
    assert c(("Software",)) == "Software"
    assert c([]) is None
    assert c("") is None
    with pytest.raises(ValueConversionError):
        c(["Software", "Nope"])
    with pytest.raises(ValueConversionError, match="list or a ';'-separated"):
        c(5)
    assert conv("MULTISELECTDROPDOWNLIST")(["a", "b"]) == "a;b"


# --- strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("data_type", ["STRING", "URL", "RICHTEXTAREA", "GSID", "LOOKUP"])
def test_strings(data_type):
    c = conv(data_type)
    assert c("abc") == "abc"
    assert c(12) == "12"
    assert c(12.0) == "12"
    assert c(1.5) == "1.5"
    assert c(Decimal("1.50")) == "1.50"
    assert c(True) == "true"
    assert c(date(2026, 1, 2)) == "2026-01-02"
    assert c(datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00.000+00:00"


def test_email():
    c = conv("EMAIL", name="Email", length=22)
    assert c("ava.patel@example.com") == "ava.patel@example.com"
    for bad in ["ava", "ava@example", "a b@example.com", "a@b@c.com", "ava@example.com."]:
        with pytest.raises(ValueConversionError, match=r"^Email: cannot read .* as a EMAIL"):
            c(bad)
    with pytest.raises(ValueConversionError, match="longer"):
        c("someone.long@example.com")


def test_string_length_checked():
    c = conv("STRING", name="ExternalId", length=5)
    assert c("12345") == "12345"
    assert c(12345) == "12345"
    with pytest.raises(ValueConversionError, match=r"^ExternalId: 6 characters is longer .* 5"):
        c("123456")


def test_unknown_type_makes_json_values():
    c = conv("ODDTYPE")
    assert c("x") == "x" and c(1) == 1 and c(True) is True
    assert c(Decimal("2.0")) == 2
    assert c(date(2026, 1, 2)) == "2026-01-02"
    assert c(datetime(2026, 1, 2)) == "2026-01-02T00:00:00.000+00:00"


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ValueConversionError) as exc:
        conv("NUMBER")("x" * 500)
    assert len(str(exc.value)) < 150


# --- speed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        ("STRING", "Acme Corp"),
        ("NUMBER", 1234),
        ("NUMBER", 12.5),
        ("BOOLEAN", True),
        ("DATE", date(2026, 11, 27)),
        ("STRING", None),
    ],
)
def test_simple_values_are_fast(data_type, value):
    c = conv(data_type, length=255 if data_type == "STRING" else None)
    n = 100_000
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            c(value)
        best = min(best, (time.perf_counter() - start) / n)
    assert best < 1e-6, f"{data_type}: {best * 1e9:.0f} ns per value"
