"""Normalising the values that real office files contain.

Full-width digits, numbers as text with commas, "－"/"―" for zero, wareki dates
(令和7年8月1日, R7.8.1), Excel serial dates and float-typed integers all become
plain Python values here. Each parser raises ValueError on text it cannot read,
and the caller turns that into a finding that names the cell.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

# Dashes offices use for "zero / none".
ZERO_DASHES = frozenset("－―ー‐-−–—")

ERAS = {  # era -> first Western year (year 1 of the era)
    "令和": 2019, "R": 2019,
    "平成": 1989, "H": 1989,
    "昭和": 1926, "S": 1926,
}
_WAREKI = re.compile(
    r"^(令和|平成|昭和|[RHS])\s*(元|\d{1,2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$"
)
_ISO = re.compile(r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?(?:[ T]00:00(?::00)?)?$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_SPACES = re.compile(r"\s+")


def nfkc(value: object) -> str:
    """Full-width to half-width, trimmed; None -> ''."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def label_key(value: object) -> str:
    """Key for matching header labels: NFKC, no whitespace or line breaks, no brackets."""
    text = _SPACES.sub("", nfkc(value))
    return text.translate(str.maketrans("", "", "()（）[]［］「」【】:：・･"))


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _number_text(value: object) -> str:
    text = nfkc(value).replace(",", "").replace("，", "").replace(" ", "")
    if text in ZERO_DASHES or (text and set(text) <= ZERO_DASHES):
        return "0"
    return text


def to_int(value: object) -> int | None:
    """None for blank; ValueError for anything that is not a whole number."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = _number_text(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(value) from None
    if number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


def to_decimal(value: object, places: int | None = None) -> float | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        number = Decimal(repr(value))
    else:
        text = _number_text(value).rstrip("%")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places))
    return float(number)


def to_code(value: object, digits: int) -> str | None:
    """A fixed-width numeric code. Restores leading zeros lost when a code was typed as a number."""
    if is_blank(value):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        value = int(value)
    text = nfkc(value).replace("-", "").replace(" ", "")
    if not text.isdigit() or len(text) > digits:
        raise ValueError(value)
    return text.zfill(digits)


def to_date(value: object) -> dt.date | None:
    """Dates as Excel gives them, Excel serials, ISO text and wareki (令和7年8月1日, R7.8.1)."""
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not float(value).is_integer() or not 1 <= value <= 2958465:
            raise ValueError(value)
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = nfkc(value)
    if m := _ISO.match(text):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    if m := _WAREKI.match(_SPACES.sub("", text)):
        era_year = 1 if m[2] == "元" else int(m[2])
        return dt.date(ERAS[m[1]] + era_year - 1, int(m[3]), int(m[4]))
    if text.isdigit():
        return to_date(int(text))
    raise ValueError(value)


def to_text(value: object) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # Keep the submitter's characters, but collapse the runs of spaces offices pad with.
    return storable(_SPACES.sub(" ", str(value).replace("\u3000", " ")).strip())


def storable(text: str) -> str:
    """``text`` as every database and file format can hold it: NUL (PostgreSQL text cannot) and the lone
    surrogates that stand for undecodable bytes in a file name become U+FFFD, the same on every backend."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # a name read from disk: its raw bytes, decoded with replacement
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def fiscal_year_of(day: dt.date) -> int:
    """Japanese fiscal year (年度): April to March."""
    return day.year if day.month >= 4 else day.year - 1
