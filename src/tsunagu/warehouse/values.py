"""Value coercion shared by the warehouse repositories, so every area stores the same types the same way.

Spreadsheet cells arrive as str, int, float (``12.0``), date or datetime; the warehouse wants
text without empty strings, exact integers and decimals, plain dates, and naive UTC timestamps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def utcnow() -> dt.datetime:
    """Naive UTC to the second: TIMESTAMP columns are naive on both dialects."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def as_date(value: Any) -> dt.date | None:
    """A date from a date, a datetime or ISO text (SQLite returns DATE columns read raw as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def as_text(value: Any) -> str | None:
    """Text, None for empty; ``12.0`` from a spreadsheet becomes ``"12"`` (codes are typed as numbers)."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value)
    return s if s != "" else None


def as_int(value: Any) -> int | None:
    """An exact integer; refuses booleans and fractions rather than silently truncating."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"boolean is not an integer value: {value!r}")
    if isinstance(value, int):
        return value
    d = Decimal(str(value))
    if d != d.to_integral_value():
        raise ValueError(f"not an integer: {value!r}")
    return int(d)


def as_decimal(value: Any) -> Decimal | None:
    """A Decimal via ``str`` so that a float like 12.3 is stored as 12.3, not its binary expansion."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))
