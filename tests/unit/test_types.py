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
    assert str(exc.value) == "RenewalDate: cannot read 'soon' as DATE (expected yyyy-MM-dd)"


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
    with pytest.raises(ValueConversionError, match=r"^F: cannot read .* as DATETIME"):
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
        ("-0.25", -0.25),
        (10**20, 10**20),  # beyond 2**53 but a double exactly: sent digit for digit
        (2**53, 2**53),
        (Decimal("1E+20"), 10**20),
        (Decimal("0.1"), 0.1),  # sent as 0.1, read back as 0.1
        (Decimal("123456789012.345"), 123456789012.345),
        (1e300, 1e300),
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
        "1_000",
        "\u0661\u0662",  # Arabic-Indic digits: int() reads them, Gainsight would not
        "0x10",
        True,
        False,
        date(2026, 1, 1),
        [1],
        {"a": 1},
        b"12",
        memoryview(b"12"),
    ],
)
def test_number_bad(value):
    with pytest.raises(ValueConversionError, match=r"^Arr: cannot read .* as CURRENCY"):
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
    with pytest.raises(ValueConversionError, match=r"as BOOLEAN"):
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
        with pytest.raises(ValueConversionError, match=r"^Email: cannot read .* as EMAIL"):
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


# --- odd values: each is a reject with a reason, never a repr, never a crash ----------

STRING_TYPES = ["STRING", "URL", "RICHTEXTAREA", "GSID", "LOOKUP", "PICKLIST"]
EVERY_TYPE = [t for t in ALL_TYPES if t != "ODDTYPE"]


@pytest.mark.parametrize("data_type", STRING_TYPES)
def test_bytes_are_decoded_as_utf8(data_type):
    c = conv(data_type)
    for value in (b"caf\xc3\xa9", bytearray(b"caf\xc3\xa9"), memoryview(b"caf\xc3\xa9")):
        assert c(value) == "café"


@pytest.mark.parametrize("data_type", STRING_TYPES + ["EMAIL", "ODDTYPE"])
@pytest.mark.parametrize("value", [b"\xff\xfe", memoryview(b"ab\x80")])
def test_bytes_that_are_not_utf8_are_rejected(data_type, value):
    with pytest.raises(ValueConversionError, match=r"^Notes: .*(UTF-8|bytes|memoryview)"):
        conv(data_type, name="Notes")(value)


@pytest.mark.parametrize("data_type", EVERY_TYPE + ["ODDTYPE"])
@pytest.mark.parametrize(
    "value",
    [
        {"plan": "pro"},
        {},
        [{"a": 1}],
        object(),
        timedelta(days=1),
        float("nan"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
    ],
    ids=lambda value: type(value).__name__ if type(value) is object else repr(value),
)
def test_values_no_field_takes_are_rejected_naming_the_field(data_type, value):
    with pytest.raises(ValueConversionError) as exc:
        conv(data_type, name="Plan")(value)
    message = str(exc.value)
    assert message.startswith("Plan: ")
    assert " at 0x" not in message  # no Python repr of an arbitrary object


@pytest.mark.parametrize("data_type", STRING_TYPES + ["EMAIL"])
def test_lists_are_rejected_by_text_fields(data_type):
    with pytest.raises(ValueConversionError, match=r"^Tags: .*list"):
        conv(data_type, name="Tags")(["a@x.io", "b@x.io"])


def test_unknown_objects_are_rejected_with_their_type_name():
    class Money:
        def __str__(self):
            return "EUR 5"

    with pytest.raises(ValueConversionError, match=r"^Note: .*\bMoney\b"):
        conv("STRING", name="Note")(Money())


def test_text_fields_format_known_types_deliberately():
    import uuid
    from datetime import time

    c = conv("STRING")
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert c(u) == "12345678-1234-5678-1234-567812345678"
    assert c(Decimal("1E+3")) == "1E+3"
    assert c(Decimal("-0.50")) == "-0.50"
    assert c(time(13, 45, 1)) == "13:45:01"
    assert c(1e300) == "1e+300"
    assert c(2.0**60) == "1.152921504606847e+18"  # not the 19 digits of the binary value
    assert c(10**30) == "1000000000000000000000000000000"
    assert c(False) == "false"


def test_json_text_column_is_fine_as_text():
    assert conv("STRING")('{"plan": "pro"}') == '{"plan": "pro"}'
    assert conv("RICHTEXTAREA")("[1, 2]") == "[1, 2]"


def test_huge_int_is_rejected_not_a_crash():
    huge = 10**5000  # str() refuses ints this long in Python 3.11+
    for data_type in EVERY_TYPE:
        with pytest.raises(ValueConversionError, match=r"^Big: "):
            conv(data_type, name="Big")(huge)


def test_lone_surrogates_are_rejected():
    with pytest.raises(ValueConversionError, match=r"^Note: .*UTF-8"):
        conv("STRING", name="Note")("bad \ud800 text")


@pytest.mark.parametrize("data_type", ["GSID", "LOOKUP"])
def test_blank_gsid_is_rejected(data_type):
    with pytest.raises(ValueConversionError, match=r"^Ref: "):
        conv(data_type, name="Ref")("  ")


def test_multiselect_takes_a_list_of_labels_and_nothing_else():
    c = conv("MULTISELECTDROPDOWNLIST", name="Tags", picklist=OPTIONS)
    assert c(["Software", None, "1I002"]) == "Software;Financial Services"
    assert conv("MULTISELECTDROPDOWNLIST")([1, "b"]) == "1;b"
    assert c(b"software") == "Software"  # bytes are UTF-8 text wherever text is taken
    for bad in ({"a": 1}, [{"a": 1}], [["Software"]], [float("nan")], [b"\xff"]):
        with pytest.raises(ValueConversionError, match=r"^Tags: "):
            c(bad)
    with pytest.raises(ValueConversionError, match=r"^Tags: .*';'"):
        conv("MULTISELECTDROPDOWNLIST", name="Tags")(["a;b"])  # would arrive as two labels


# --- numbers: sent exactly or rejected --------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1e5000"),  # Postgres numeric: beyond the double range
        Decimal("-1e309"),
        Decimal("1E-400"),  # would arrive as 0
        Decimal("12345678901234567890.5"),  # would arrive as 12345678901234567168
        Decimal("0.1234567890123456789"),
        2**53 + 1,
        -(2**63) + 1,
        "12345678901234567890.5",
        "1e400",
        Decimal("9E+308"),  # few digits, just beyond the largest double
        "-2e308",
    ],
    ids=str,
)
def test_numbers_that_cannot_be_sent_exactly_are_rejected(value):
    with pytest.raises(ValueConversionError, match=r"^Arr: .*CURRENCY"):
        conv("CURRENCY", name="Arr")(value)


def test_decimals_are_exact_to_the_fields_decimal_places():
    c = conv("CURRENCY", name="Arr", decimal_places=2)
    assert c(Decimal("0.1234567890123456789")) == 0.12345678901234568
    assert c(Decimal("1200.005")) == 1200.005
    with pytest.raises(ValueConversionError, match=r"^Arr: "):
        c(Decimal("12345678901234567890.5"))  # off by 722: more than a cent
    assert c(Decimal("1E-400")) == 0  # the same to the cent
    assert conv("NUMBER", decimal_places=0)(Decimal("0.4")) == 0.4  # Gainsight rounds it


def test_number_subclasses_and_numeric_types():
    from fractions import Fraction

    c = conv("NUMBER", name="N")
    assert c(Fraction(1, 4)) == 0.25
    with pytest.raises(ValueConversionError, match=r"^N: "):
        c(Fraction(1, 3))

    class Score(float):
        pass

    got = c(Score(2.5))
    assert got == 2.5 and type(got) is float


# --- booleans ---------------------------------------------------------------------------


def test_boolean_spellings_are_postgres_ones():
    c = conv("BOOLEAN")
    assert c("on") is True and c("OFF") is False
    for bad in ("tru", "2", "nan", float("nan"), Decimal("sNaN"), b"t", [True]):
        with pytest.raises(ValueConversionError, match=r"^F: "):
            c(bad)


# --- dates and datetimes at the ends of time ---------------------------------------------

EST = timezone(timedelta(hours=-5))
PLUS14 = timezone(timedelta(hours=14))


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 20, 0, tzinfo=EST),  # "end of time" in New York: year 10000 UTC
        datetime(1, 1, 1, 0, 0, tzinfo=PLUS14),  # before year 1 in UTC
        "9999-12-31T20:00:00-05:00",
        "0001-01-01T01:00:00+05:00",
    ],
    ids=str,
)
@pytest.mark.parametrize("data_type", ["DATE", "DATETIME", "STRING", "ODDTYPE"])
def test_aware_timestamps_beyond_utc_range_are_rejected(data_type, value):
    if data_type in ("STRING", "ODDTYPE") and isinstance(value, str):
        assert conv(data_type)(value) == value  # text stays text
        return
    with pytest.raises(ValueConversionError, match=r"^Ends: .*(range|year)"):
        conv(data_type, name="Ends")(value)


def test_extreme_but_representable_timestamps_convert():
    c = conv("DATETIME")
    assert c(datetime(9999, 12, 31, 23, 59, 59, 999999)) == "9999-12-31T23:59:59.999+00:00"
    assert c(datetime(9999, 12, 31, 18, 0, tzinfo=EST)) == "9999-12-31T23:00:00.000+00:00"
    assert c(datetime(1, 1, 1, tzinfo=timezone.utc)) == "0001-01-01T00:00:00.000+00:00"
    assert c(datetime(1, 1, 1, 5, tzinfo=timezone(timedelta(hours=4)))) == (
        "0001-01-01T01:00:00.000+00:00"
    )
    assert conv("DATE")(datetime(9999, 12, 31, 18, 0, tzinfo=EST)) == "9999-12-31"
    assert conv("DATE")(date(1, 1, 1)) == "0001-01-01"


@pytest.mark.parametrize("data_type", ["DATE", "DATETIME"])
@pytest.mark.parametrize("text", ["10000-01-01 01:00:00+00", "10000-01-01", "0044-03-15 BC"])
def test_dates_drivers_give_as_text_beyond_year_9999_are_out_of_range(data_type, text):
    with pytest.raises(ValueConversionError, match=r"^Ends: .*out of range"):
        conv(data_type, name="Ends")(text)


def test_times_are_not_dates():
    from datetime import time

    for data_type in ("DATE", "DATETIME"):
        with pytest.raises(ValueConversionError, match=r"^F: "):
            conv(data_type)(time(12, 0))


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
        start = time.process_time()
        for _ in range(n):
            c(value)
        best = min(best, (time.process_time() - start) / n)
    assert best < 1e-6, f"{data_type}: {best * 1e9:.0f} ns per value"
