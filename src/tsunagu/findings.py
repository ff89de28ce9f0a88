"""Validation findings: what went wrong, where, in Japanese and English."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]
Status = Literal["accepted", "rejected", "unreadable"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message_ja: str
    message_en: str
    sheet: str | None = None
    row: int | None = None  # 1-based Excel row, or CSV line counting the header as 1
    column: str | None = None  # spreadsheet column letter, e.g. "E"
    field: str | None = None  # canonical field id (design.md §2.1)

    def to_dict(self) -> dict:
        d = asdict(self)
        # Stable key order for the JSON contract.
        return {k: d[k] for k in ("code", "severity", "sheet", "row", "column", "field", "message_ja", "message_en")}


def error(code: str, ja: str, en: str, **where) -> Finding:
    return Finding(code=code, severity="error", message_ja=ja, message_en=en, **where)


def warning(code: str, ja: str, en: str, **where) -> Finding:
    return Finding(code=code, severity="warning", message_ja=ja, message_en=en, **where)


def status_of(findings: list[Finding]) -> Status:
    return "rejected" if any(f.severity == "error" for f in findings) else "accepted"


def sort_key(f: Finding) -> tuple:
    column = f.column or ""
    return (f.row or 0, len(column), column, f.code, f.field or "", f.message_ja)  # B before AA


class UnreadableFile(Exception):
    """The file is not what it claims to be: encrypted, not a spreadsheet, empty, or a bomb."""

    def __init__(self, code: str, message_ja: str, message_en: str):
        super().__init__(message_en)
        self.code = code
        self.message_ja = message_ja
        self.message_en = message_en

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.code, self.message_ja, self.message_en))

    def finding(self) -> Finding:
        return error(self.code, self.message_ja, self.message_en)


def column_letter(index: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
