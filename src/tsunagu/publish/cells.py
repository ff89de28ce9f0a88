"""What every workbook we write may hold: inert text and characters XML accepts.

One rule for all of them (the annotated copy, the packages, the survey summary, the grant boards):

- ``inert(text)``: text a spreadsheet would evaluate (a leading ``=``, ``+``, ``-``, ``@``, tab or CR)
  gets an apostrophe in front, so it shows as text and is never run (CSV cells and formulas made text).
- ``clean(text)``: characters XML 1.0 forbids (the C0 controls but tab, LF and CR — NUL included —,
  lone surrogates, U+FFFE/U+FFFF) would make openpyxl raise ``IllegalCharacterError`` or write a broken
  file. Each is replaced by U+FFFD (not removed), so the reader sees that something was there.

A control character in a sender's value is not a validation finding: the value is loaded as parsed
(``\\x0b`` is how some systems export a line break inside a cell, and a text field turns it into a
space), the CSVs keep it, and only the workbooks show U+FFFD in its place.
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.cell.cell import Cell

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REPLACEMENT = "\ufffd"
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def inert(text: str) -> str:
    """Neutralise text a spreadsheet would evaluate (=, +, -, @, tab, CR) by prefixing an apostrophe."""
    return "'" + text if text.startswith(DANGEROUS_PREFIXES) else text


def clean(text: str) -> str:
    """``text`` with every character XML cannot hold replaced by U+FFFD."""
    return _ILLEGAL.sub(REPLACEMENT, text)


def safe(value: Any, *, make_inert: bool = True) -> Any:
    """A value ready for a cell: text cleaned (and made inert unless told not to), anything else unchanged."""
    if not isinstance(value, str):
        return value
    return inert(clean(value)) if make_inert else clean(value)


def put(cell: Cell, value: Any, *, make_inert: bool = True) -> Cell:
    """Write ``value`` into ``cell``; text becomes an explicit string cell, never a formula."""
    if isinstance(value, str):
        cell.value = safe(value, make_inert=make_inert)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


__all__ = ["DANGEROUS_PREFIXES", "REPLACEMENT", "clean", "inert", "put", "safe"]
