"""Scope checks made at send time, before anything leaves the bureau (design.md §5).

* recipients: when the caller gives ``allowed_recipients`` (the addresses of the prefecture's valid
  request form), every To/Cc address must be one of them (case-insensitive);
* attachments: when the caller gives ``scope_prefecture``, every attachment that holds rows is opened
  and every row's prefecture must be that prefecture: ``.csv`` (column ``prefecture_code`` or
  ``都道府県コード``) and ``.xlsx`` (sheet ``データ``, or every sheet with such a column when there is no
  ``データ`` sheet). A spreadsheet whose rows cannot be attributed to a prefecture is refused;
* archives (``.zip``, ``.7z``, …) are never sent: password-protected ZIPs (PPAP) were abandoned by the
  government; the files themselves are attached, or placed in the outbox and linked.

Every refusal raises :class:`ScopeViolation` with a Japanese and an English reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from email.utils import getaddresses
from pathlib import Path

PREFECTURE_COLUMNS = ("prefecture_code", "都道府県コード")
DATA_SHEET = "データ"
ARCHIVE_SUFFIXES = frozenset({".zip", ".7z", ".rar", ".lzh", ".lha", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".cab"})
# Documents without rows that may accompany a delivery (cover letters, terms of use, descriptors).
DOCUMENT_SUFFIXES = frozenset({".pdf", ".txt", ".md", ".json"})
ROW_SUFFIXES = frozenset({".csv", ".xlsx"})
_ZIP_MAGIC = b"PK\x03\x04"
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


class ScopeViolation(Exception):
    """A mail would reach someone it must not reach, or carry rows of another prefecture. Nothing was sent."""

    def __init__(self, message_ja: str, message_en: str):
        super().__init__(f"{message_en} / {message_ja}")
        self.message_ja = message_ja
        self.message_en = message_en

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.message_ja, self.message_en))


def address_of(value: str) -> str:
    """The bare address of ``'名前 <a@b.jp>'`` or ``'a@b.jp'``, lower-cased; ValueError when malformed."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"line break in an e-mail address: {value!r}")
    parsed = getaddresses([value])
    if len(parsed) != 1 or not _ADDRESS.match(parsed[0][1]):
        raise ValueError(f"not one e-mail address: {value!r}")
    return parsed[0][1].lower()


def check_recipients(addresses: Iterable[str], allowed: Iterable[str]) -> None:
    allowed_set = {address_of(a) for a in allowed}
    outside = [a for a in addresses if address_of(a) not in allowed_set]
    if outside:
        shown = ", ".join(outside)
        raise ScopeViolation(
            f"依頼書に記載のない宛先が含まれています: {shown}",
            f"recipient(s) not on the prefecture's request form: {shown}",
        )


def normalise_code(value: object) -> str:
    """'09', 9, 9.0, '９', ' 09 ' -> '09'; anything else is returned stripped (and will not match)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip().lstrip("'")
    return text.zfill(2) if text.isdigit() and len(text) < 2 else text


def check_attachment(path: Path, scope_prefecture: str | None) -> int:
    """Check one attachment; return the number of rows checked. Archives are refused even without a scope."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        raise ScopeViolation(
            f"圧縮ファイル（{name}）は送付できません（パスワード付きZIPは廃止）。ファイルそのものを添付してください",
            f"archive {name} cannot be sent (password-protected ZIPs were abandoned); attach the files themselves",
        )
    if not path.is_file():
        raise ScopeViolation(f"添付ファイルがありません: {name}", f"attachment not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC and suffix not in (".xlsx", ".xlsm", ".docx", ".pptx"):
        raise ScopeViolation(
            f"{name} の中身は圧縮ファイル（ZIP）です。送付できません",
            f"{name} is a ZIP archive in disguise; it cannot be sent",
        )
    if scope_prefecture is None:
        return 0
    scope = normalise_code(scope_prefecture)
    if suffix == ".csv":
        return _check_rows(name, _csv_rows(path), scope)
    if suffix == ".xlsx":
        return _check_xlsx(path, scope)
    if suffix == ".json":
        _check_json(path, scope)
        return 0
    if suffix in DOCUMENT_SUFFIXES:
        return 0
    raise ScopeViolation(
        f"{name} は都道府県の範囲を確認できない形式です（CSV・xlsx・PDF・JSON のみ送付可）",
        f"cannot verify the prefecture scope of {name} (only CSV, xlsx, PDF, JSON, text may be sent)",
    )


def check_attachments(paths: Iterable[Path], scope_prefecture: str | None) -> int:
    return sum(check_attachment(Path(p), scope_prefecture) for p in paths)


# ----------------------------------------------------------------------------- readers
def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ScopeViolation("CSVの文字コードを判別できません", "cannot decode the CSV (neither UTF-8 nor CP932)")


def _csv_rows(path: Path) -> tuple[list[str], Iterable[tuple[int, list[object]]]]:
    reader = csv.reader(io.StringIO(_decode(path.read_bytes()), newline=""))
    header = next(reader, [])
    return [str(h) for h in header], ((i, list(r)) for i, r in enumerate(reader, start=2) if any(c.strip() for c in r))


def _column(header: list[str]) -> int | None:
    names = [unicodedata.normalize("NFKC", str(h or "")).strip() for h in header]
    for wanted in PREFECTURE_COLUMNS:
        if wanted in names:
            return names.index(wanted)
    return None


def _check_rows(where: str, table: tuple[list[str], Iterable[tuple[int, list[object]]]], scope: str) -> int:
    header, rows = table
    col = _column(header)
    checked = 0
    for row_no, row in rows:
        if col is None:
            raise ScopeViolation(
                f"{where} に都道府県コード列がなく、行の都道府県を確認できません",
                f"{where} has rows but no prefecture_code/都道府県コード column: its scope cannot be verified",
            )
        value = normalise_code(row[col] if col < len(row) else None)
        if value != scope:
            raise ScopeViolation(
                f"{where} の{row_no}行目は都道府県コード{value or '（空欄）'}の行です（送付先は{scope}）",
                f"{where} row {row_no} belongs to prefecture {value or '(blank)'}, not {scope}",
            )
        checked += 1
    return checked


def _check_xlsx(path: Path, scope: str) -> int:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # corrupt, encrypted, not a workbook
        raise ScopeViolation(f"{path.name} を開けません", f"cannot open {path.name}: {exc}") from None
    try:
        checked, attributed = 0, False
        for sheet in wb.sheetnames:
            # データ may have title rows above its header; other sheets (定義書 lists field names as values) use row 1
            search = 10 if sheet == DATA_SHEET or DATA_SHEET not in wb.sheetnames else 1
            header, rows = _sheet_table(wb[sheet], search_rows=search)
            if _column(header) is None and (sheet != DATA_SHEET or not rows):
                continue  # 定義書, 集計 and other sheets without a prefecture column hold no data rows
            attributed = True
            checked += _check_rows(f"{path.name}（{sheet}）", (header, rows), scope)
        if not attributed:
            raise ScopeViolation(
                f"{path.name} に都道府県コード列のあるシートがなく、範囲を確認できません",
                f"{path.name} has no sheet with a prefecture_code column: its scope cannot be verified",
            )
        return checked
    finally:
        wb.close()


def _sheet_table(ws, search_rows: int = 10) -> tuple[list[str], list[tuple[int, list[object]]]]:
    """(header, data rows): the header is the first of the top rows naming a prefecture column, else row 1."""
    top: list[tuple[int, list[object]]] = []
    rows: list[tuple[int, list[object]]] = []
    header_at = None
    for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
        values = list(r)
        if header_at is None and i <= search_rows:
            top.append((i, values))
            if _column([str(v) if v is not None else "" for v in values]) is not None:
                header_at = i
            continue
        if any(v is not None and str(v).strip() for v in values):
            rows.append((i, values))
    if header_at is None:  # no prefecture column: row 1 is the header, everything below it is data
        rows = [(i, v) for i, v in top[1:] if any(x is not None and str(x).strip() for x in v)] + rows
        header = top[0][1] if top else []
    else:
        rows = [(i, v) for i, v in top if i > header_at and any(x is not None and str(x).strip() for x in v)] + rows
        header = top[header_at - 1][1]
    return [str(v) if v is not None else "" for v in header], rows


def _check_json(path: Path, scope: str) -> None:
    """manifest.json / datapackage.json carry no rows, but a prefecture stated in them must match."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise ScopeViolation(f"{path.name} はJSONとして読めません", f"{path.name} is not valid JSON") from None
    pref = data.get("prefecture") if isinstance(data, dict) else None
    code = pref.get("code") if isinstance(pref, dict) else None
    if code is not None and normalise_code(code) != scope:
        raise ScopeViolation(
            f"{path.name} は都道府県コード{code}のものです（送付先は{scope}）",
            f"{path.name} describes prefecture {code}, not {scope}",
        )
