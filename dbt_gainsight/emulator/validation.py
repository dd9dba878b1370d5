"""Field values: check a written value against its type and convert it to the stored form.

Stored forms are compact and comparable: text, numbers and booleans as themselves, DATE as
``"YYYY-MM-DD"``, DATETIME as epoch milliseconds (UTC), PICKLIST as the item Gsid,
MULTISELECTDROPDOWNLIST as ``"gsid;gsid"``, LOOKUP as the target's Gsid.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dbt_gainsight.emulator.objects import FieldDef

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$"
)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


class ApiError(Exception):
    """A contract violation answered with an error envelope (HTTP ``status``, ``code``)."""

    def __init__(self, code: str | None, desc: str, status: int = 400, data: Any = None):
        super().__init__(desc)
        self.code = code
        self.desc = desc
        self.status = status
        self.data = data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int_ms(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_MS <= value <= _MAX_MS
    return isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_MS


def parse_date(value: Any) -> str | None:
    """``yyyy-MM-dd`` or epoch ms -> ``"YYYY-MM-DD"``; None when invalid."""
    if isinstance(value, str):
        m = _DATE_RE.match(value)
        if not m:
            return None
        try:
            date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
        return sys.intern(value)  # few distinct dates, millions of records: share them
    if _is_int_ms(value):
        return sys.intern((_EPOCH + timedelta(milliseconds=int(value))).date().isoformat())
    return None


def parse_datetime(value: Any) -> int | None:
    """ISO 8601 with an offset (Z, +00:00, +0000) or epoch ms -> epoch ms; None when invalid."""
    if isinstance(value, str):
        m = _DATETIME_RE.match(value)
        if not m:
            return None
        frac = (m[7] or "").ljust(6, "0")[:6]
        off = m[8]
        if off == "Z":
            tz = timezone.utc
        else:
            sign = -1 if off[0] == "-" else 1
            digits = off[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                return None
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        try:
            dt = datetime(
                int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), int(frac), tz
            )
        except ValueError:
            return None
        return (dt - _EPOCH) // timedelta(milliseconds=1)
    if _is_int_ms(value):
        return int(value)
    return None


def parse_number(value: Any) -> int | float | None:
    """A JSON number or a numeric string -> a finite number; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        num = float(value)
        if not math.isfinite(num):
            return None
        return (
            int(num) if num.is_integer() and "." not in value and "e" not in value.lower() else num
        )
    return None


def date_to_ms(stored: str) -> int:
    """A stored DATE -> epoch ms at UTC midnight (how queries return dates)."""
    d = date.fromisoformat(stored)
    return (d - date(1970, 1, 1)).days * 86400000


def ms_to_iso(ms: int) -> str:
    """Epoch ms -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (how the inspection API shows datetimes)."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    # strftime's %Y does not pad years before 1000 on Linux ('44-03-15').
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


Converter = Callable[[Any], Any]


def _text(f: FieldDef) -> Converter:
    length = f.length
    is_email = f.data_type == "EMAIL"

    def convert(v: Any) -> Any:
        if not isinstance(v, str):
            raise ApiError("GSOBJ_1002", f"Invalid value {_short(v)} for field {f.name}")
        if length is not None and len(v) > length:
            raise ApiError(
                "GSOBJ_1001",
                f"Value for field {f.name} exceeds the maximum length of {length} characters",
            )
        if is_email and not _EMAIL_RE.match(v):
            raise ApiError("GSOBJ_1002", f"Invalid email {_short(v)} for field {f.name}")
        return v

    return convert


def _number(f: FieldDef) -> Converter:
    code = "GSOBJ_1008" if f.data_type == "PERCENTAGE" else "GSOBJ_1002"
    dp = f.decimal_places

    def convert(v: Any) -> Any:
        num = parse_number(v)
        if num is None:
            raise ApiError(code, f"Invalid {f.data_type.lower()} {_short(v)} for field {f.name}")
        if dp is not None and isinstance(num, float):
            num = round(num, dp)
            if dp == 0:
                num = int(num)
        return num

    return convert


def _boolean(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        if v is True or v is False:
            return v
        raise ApiError("GSOBJ_1008", f"Invalid boolean {_short(v)} for field {f.name}")

    return convert


def _date(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        out = parse_date(v)
        if out is None:
            raise ApiError(
                "GSOBJ_1006",
                f"Invalid date {_short(v)} for field {f.name}; expected yyyy-MM-dd or epoch ms",
            )
        return out

    return convert


def _datetime(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        out = parse_datetime(v)
        if out is None:
            raise ApiError(
                "GSOBJ_1005",
                f"Invalid datetime {_short(v)} for field {f.name}; expected "
                "yyyy-MM-dd'T'HH:mm:ss.SSSZ (with an offset) or epoch ms",
            )
        return out

    return convert


def _picklist(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        opt = f.by_label.get(v) if isinstance(v, str) else None
        if opt is None:
            raise ApiError("GSOBJ_1002", f"Invalid picklist value {_short(v)} for field {f.name}")
        return opt.value

    return convert


def _multiselect(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        labels = v.split(";") if isinstance(v, str) else v
        if not isinstance(labels, list):
            raise ApiError("GSOBJ_1002", f"Invalid picklist value {_short(v)} for field {f.name}")
        out = []
        for label in labels:
            opt = f.by_label.get(label.strip()) if isinstance(label, str) else None
            if opt is None:
                raise ApiError(
                    "GSOBJ_1002", f"Invalid picklist value {_short(label)} for field {f.name}"
                )
            out.append(opt.value)
        return ";".join(out)

    return convert


def _gsid(f: FieldDef) -> Converter:
    def convert(v: Any) -> Any:
        if not isinstance(v, str) or not v.strip():
            raise ApiError("GSOBJ_1002", f"Invalid Gsid {_short(v)} for field {f.name}")
        return v

    return convert


_FACTORIES: dict[str, Callable[[FieldDef], Converter]] = {
    "STRING": _text,
    "EMAIL": _text,
    "URL": _text,
    "RICHTEXTAREA": _text,
    "NUMBER": _number,
    "CURRENCY": _number,
    "PERCENTAGE": _number,
    "BOOLEAN": _boolean,
    "DATE": _date,
    "DATETIME": _datetime,
    "PICKLIST": _picklist,
    "MULTISELECTDROPDOWNLIST": _multiselect,
    "GSID": _gsid,
    "LOOKUP": _gsid,
}


def converter(f: FieldDef) -> Converter:
    """The (cached) converter for a field: written value -> stored value, or ApiError."""
    conv = f.__dict__.get("_converter")
    if conv is None:
        conv = _FACTORIES[f.data_type](f)
        f.__dict__["_converter"] = conv
    return conv


def convert_value(f: FieldDef, value: Any) -> Any:
    """Convert one written value; null is checked against the field's nillability."""
    if value is None:
        if not f.nillable:
            raise ApiError("GSOBJ_1007", f"Field {f.name} cannot be null")
        return None
    return converter(f)(value)


def query_value(f: FieldDef, stored: Any) -> Any:
    """Stored value -> the query API's form (dates and datetimes as epoch ms)."""
    if stored is None:
        return None
    if f.data_type == "DATE":
        return date_to_ms(stored)
    return stored


def display_value(f: FieldDef, stored: Any) -> Any:
    """Stored value -> the inspection form (dates, ISO datetimes, picklist labels)."""
    if stored is None:
        return None
    t = f.data_type
    if t == "DATETIME":
        return ms_to_iso(stored)
    if t == "PICKLIST":
        opt = f.by_value.get(stored)
        return opt.label if opt else stored
    if t == "MULTISELECTDROPDOWNLIST":
        return ";".join(
            (f.by_value[g].label if g in f.by_value else g) for g in stored.split(";") if g
        )
    return stored


def condition_value(f: FieldDef, value: Any) -> Any:
    """A query condition value -> stored form so it compares with stored values."""
    if value is None:
        return None
    t = f.data_type
    if t == "DATE":
        out: Any = parse_date(value)
    elif t == "DATETIME":
        out = parse_datetime(value)
        if out is None:
            d = parse_date(value)
            out = date_to_ms(d) if d else None
    elif t in ("NUMBER", "CURRENCY", "PERCENTAGE"):
        out = parse_number(value)
    elif t == "BOOLEAN":
        out = (
            value
            if isinstance(value, bool)
            else {"true": True, "false": False}.get(str(value).lower())
        )
    elif t in ("PICKLIST", "MULTISELECTDROPDOWNLIST"):
        if isinstance(value, str) and value in f.by_value:
            out = value
        else:
            opt = f.by_label.get(value) if isinstance(value, str) else None
            out = opt.value if opt else None
    else:
        out = value if isinstance(value, str) else str(value)
    if out is None:
        raise ApiError("GSOBJ_1002", f"Invalid filter value {_short(value)} for field {f.name}")
    return out
