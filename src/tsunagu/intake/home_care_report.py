"""様式11の3 (在支診/在支病 定例報告) as tabulated by the prefectural offices: file -> ParsedTable.

Structure problems (missing columns) and cells that cannot be converted become
findings that name the sheet, row and column; the rest of the file is still parsed.
Checks between fields (sums, thresholds, roster) belong to the validator.

Offices send Excel, CSV or PDF (design.md §2.1). Besides institutions, a table has rows
that are none: 合計/小計 rows, the header (and the title above it) printed again on each
page of a PDF or pasted again into a sheet, and notes under the table (※1 …, 注）…,
（注）…, 以下余白). Those are skipped without a finding. A table may identify the
institutions by their 10-digit 医療機関コード instead of the 7-digit 医療機関番号: the
number is then taken from the code (都道府県コード 2 + 点数表 1 + 医療機関番号 7) and
the rules check the code's check digit, prefecture and 点数表.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsunagu import normalize
from tsunagu.codes import institution_code as make_institution_code
from tsunagu.findings import Finding, UnreadableFile, column_letter, error
from tsunagu.intake.header import Header, best_header, has_marker, header_findings
from tsunagu.intake.reader import Sheet, read_sheets
from tsunagu.model import FieldSpec, FormTemplate, ParsedRow, ParsedTable

KIND = "home_care_report"
MAX_ROWS = 10_000  # one prefecture's 在支診/在支病: a few hundred, 2,000 in the largest; more is not this table

# A note under the table: ※1 …, *1 …, 注）…, 注1 …, （注）…, (注1) …, 備考: …, 出典: …, 以下余白 (after NFKC).
_NOTE = re.compile(r"^(?:※|\*|\(?注(?:記|意|\d|[)）:.、．\s]|$)|\(?(?:備考|出典|資料)[)）:]|以下余白)")

_ERA_FY = re.compile(r"^(令和|平成|R|H)\s*(元|\d{1,2})\s*(?:年度?)?$", re.IGNORECASE)
_WEST_FY = re.compile(r"^(\d{4})\s*(?:年度?)?$")
_ERA_BASE = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}

_TYPE_WORDS = {  # what the cell should have been, for the message
    "int": ("数値", "a number"),
    "decimal": ("数値", "a number"),
    "date": ("日付", "a date"),
}


def to_fiscal_year(value: object) -> int | None:
    """2025, 2025年度, 令和7年度, R7 -> 2025."""
    if normalize.is_blank(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        year = normalize.to_int(value)
    else:
        text = normalize.nfkc(value).replace(" ", "")
        if m := _ERA_FY.match(text):
            era = m[1].upper() if len(m[1]) == 1 else m[1]
            year = _ERA_BASE[era] + (1 if m[2] == "元" else int(m[2]))
        elif m := _WEST_FY.match(text):
            year = int(m[1])
        else:
            raise ValueError(value)
    if year is None or not 1900 <= year <= 2200:
        raise ValueError(value)
    return year


def to_enum(value: object, spec: FieldSpec) -> str | None:
    if normalize.is_blank(value):
        return None
    key = normalize.label_key(value)
    mapping = spec.enum or {}
    if key in mapping:
        return mapping[key]
    # 「支援診１（機能強化型・単独型）」: the longest known value the text starts with.
    for known in sorted(mapping, key=len, reverse=True):
        if key.startswith(known) and len(known) >= 2:
            return mapping[known]
    raise ValueError(value)


def converter(spec: FieldSpec) -> Callable[[Any], Any]:
    if spec.id == "fiscal_year":
        return to_fiscal_year
    if spec.type == "int":
        return normalize.to_int
    if spec.type == "decimal":
        places = spec.places
        return lambda v: normalize.to_decimal(v, places)
    if spec.type == "code":
        digits = spec.digits or 0
        return lambda v: normalize.to_code(v, digits)
    if spec.type == "date":
        return normalize.to_date
    if spec.type == "enum":
        return lambda v: to_enum(v, spec)
    return normalize.to_text


def shown(value: object, limit: int = 40) -> str:
    """A cell as the clerk sees it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    text = str(value).replace("\r", "").replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invalid_value(spec: FieldSpec, value: object, sheet: str, row: int, col: str) -> Finding:
    v = shown(value)
    where_ja = f"{col}列 {row}行目"
    where_en = f"Cell {col}{row}"
    if spec.type in _TYPE_WORDS:
        ja_word, en_word = _TYPE_WORDS[spec.type]
        if spec.type == "int" and _is_number(value):
            ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』は整数ではありません"
            en = f"{where_en}: '{spec.id}' value '{v}' is not a whole number"
        else:
            ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』を{ja_word}として読めません"
            en = f"{where_en}: '{spec.id}' value '{v}' is not {en_word}"
    elif spec.type == "code":
        ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』を{spec.digits}桁の番号として読めません"
        en = f"{where_en}: '{spec.id}' value '{v}' is not a {spec.digits}-digit code"
    elif spec.id == "fiscal_year":
        ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』を年度として読めません"
        en = f"{where_en}: '{spec.id}' value '{v}' is not a fiscal year"
    elif spec.type == "enum":
        choices = "、".join(sorted({k for k in (spec.enum or {}) if not k.isascii()})[:8])
        ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』は想定された区分（{choices} など）にありません"
        en = f"{where_en}: '{spec.id}' value '{v}' is not one of the expected values"
    else:
        ja = f"{where_ja}: 『{spec.label_ja}』の値『{v}』を読めません"
        en = f"{where_en}: '{spec.id}' value '{v}' cannot be read"
    return error("invalid_value", ja, en, sheet=sheet, row=row, column=col, field=spec.id)


def _is_number(value: object) -> bool:
    try:
        normalize.to_decimal(value)
        return True
    except ValueError:
        return False


def _choose(sheets: list[Sheet], template: FormTemplate) -> tuple[Sheet, Header]:
    best = best_header(sheets, template)
    needed = [f for f in template.fields if f.required and not f.derived]
    if best is None or best[1].score < min(3, len(needed) or 1):
        labels = "、".join(f"『{f.label_ja}』" for f in needed[:3])
        raise UnreadableFile(
            "header_not_found",
            f"見出し行（{labels} など）が見つかりません。様式11の3の集計表か確認してください。",
            "No header row with the form's column labels (institution number, name, patients …) was found. "
            "Please check that this is the tabulated form 11-3.",
        )
    return best


def _label_columns(header: Header, template: FormTemplate) -> list[int]:
    """Columns where a 合計/小計 label can stand: text/code fields, and unmapped columns left of the numbers."""
    numeric = [c for fid, c in header.columns.items() if template.field(fid).type in ("int", "decimal")]
    first_numeric = min(numeric, default=10**6)
    mapped = set(header.columns.values())
    cols = {c for fid, c in header.columns.items() if template.field(fid).type in ("text", "code", "enum")}
    cols |= {c for c in header.labels if c not in mapped and c < first_numeric}
    cols |= {c for c in range(first_numeric) if c not in mapped}  # unlabeled leading columns (No.)
    return sorted(cols)


def _is_skip_row(row: list[Any], markers: tuple[str, ...], number_col: int | None, label_cols: list[int],
                 code_col: int | None = None) -> bool:
    """合計・小計・総計 rows: a marker in a label cell, and no institution number (or code)."""
    if _has_institution(row, number_col, code_col):
        return False
    return has_marker(row, markers, label_cols)


CODE_FOR_NUMBER = {"institution_number": ("institution_code",)}  # a 医療機関コード column stands for the number


def _code_in(row: list[Any], col: int | None, digits: int) -> bool:
    if col is None or col >= len(row) or normalize.is_blank(row[col]):
        return False
    try:
        return bool(normalize.to_code(row[col], digits))
    except ValueError:
        return False


def _has_institution(row: list[Any], number_col: int | None, code_col: int | None) -> bool:
    """A 医療機関番号 (7 digits) or 医療機関コード (10 digits) in its column: the row is an institution."""
    return _code_in(row, number_col, 7) or _code_in(row, code_col, 10)


def _row_key(row: list[Any]) -> tuple[str, ...]:
    keys = [normalize.label_key(c) if not normalize.is_blank(c) else "" for c in row]
    while keys and not keys[-1]:
        keys.pop()
    return tuple(keys)


def _header_band(grid: list[list[Any]], header: Header) -> set[tuple[str, ...]]:
    """The rows above the data (title, header, units), as they would look printed again on a later page."""
    band = {_row_key(grid[i]) for i in range(min(header.first_data_row, len(grid)))}
    band.discard(())
    return band


def _first_text(row: list[Any]) -> str | None:
    for cell in row:
        if not normalize.is_blank(cell):
            return cell if isinstance(cell, str) else None
    return None


def _is_note(row: list[Any]) -> bool:
    """※1 …, 注）…, （注）…, 以下余白: a note under the table (its first cell says so)."""
    text = _first_text(row)
    return text is not None and bool(_NOTE.match(normalize.nfkc(text).replace(" ", "")))


def _is_note_continuation(row: list[Any], numeric_cols: set[int]) -> bool:
    """The next line of a note: one cell of text (not a number in a numeric column)."""
    filled = [(i, c) for i, c in enumerate(row) if not normalize.is_blank(c)]
    if len(filled) != 1:
        return False
    i, cell = filled[0]
    return isinstance(cell, str) and not (i in numeric_cols and _is_number(cell))


def parse_home_care_report(
    path: Path,
    *,
    template: FormTemplate,
    prefecture_code: str | None = None,
    fiscal_year: int | None = None,
) -> ParsedTable:
    """Parse an office's tabulated 様式11の3 file (xlsx, xls, CSV, a text PDF).

    prefecture_code (the sending office's prefecture) and fiscal_year fill the columns
    a file does not have. Raises UnreadableFile when the file cannot be read at all or
    has no recognisable header.
    """
    sheets = read_sheets(Path(path), pdf=True)
    sheet, header = _choose(sheets, template)
    return parse_rows(sheet, header, template, prefecture_code=prefecture_code, fiscal_year=fiscal_year)


def parse_rows(
    sheet: Sheet,
    header: Header,
    template: FormTemplate,
    *,
    prefecture_code: str | None = None,
    fiscal_year: int | None = None,
) -> ParsedTable:
    name = sheet.name
    findings: list[Finding] = header_findings(header, template, name, alternatives=CODE_FOR_NUMBER)
    specs = {f.id: f for f in template.fields}

    mapped = [(fid, col, column_letter(col), specs[fid], converter(specs[fid])) for fid, col in header.columns.items()]
    letters = {fid: letter for fid, _, letter, _, _ in mapped}
    # Identified by 医療機関コード only: the number is the code's last 7 digits, and lives in the code's cell.
    number_from_code = "institution_number" not in header.columns and "institution_code" in header.columns
    if number_from_code:
        letters["institution_number"] = letters["institution_code"]
    pref_arg = normalize.to_code(prefecture_code, 2) if prefecture_code else None
    number_col = header.columns.get("institution_number")
    code_col = header.columns.get("institution_code")  # a row with either is an institution
    markers = template.skip_row_markers
    label_cols = _label_columns(header, template)
    numeric_cols = {c for fid, c in header.columns.items() if specs[fid].type in ("int", "decimal")}
    repeated = _header_band(sheet.rows, header)
    report_month = template.report_month

    rows: list[ParsedRow] = []
    grid = sheet.rows
    in_notes = False
    for i in range(header.first_data_row, len(grid)):
        row = grid[i]
        if all(normalize.is_blank(c) for c in row):
            continue
        if not _has_institution(row, number_col, code_col):
            if _is_skip_row(row, markers, None, label_cols):  # 合計, 小計
                continue
            if repeated and _row_key(row) in repeated:  # the header (or the title) again: a new page
                continue
            if _is_note(row):  # ※1 …, 注）…, 以下余白
                in_notes = True
                continue
            if in_notes and _is_note_continuation(row, numeric_cols):
                continue
        if len(rows) >= MAX_ROWS:
            raise UnreadableFile(
                "too_many_rows",
                f"シート『{name}』の医療機関の行が多すぎます（{MAX_ROWS:,}行を超えています）。"
                "1医療機関1行の集計表か確認してください。",
                f"Sheet '{name}' has too many institution rows (over {MAX_ROWS:,}). Please check that this is the "
                "tabulated form 11-3 (one row per institution).",
            )
        excel_row = i + 1
        values: dict[str, Any] = dict.fromkeys(specs)
        raw: dict[str, Any] = {}
        width = len(row)
        for fid, col, letter, spec, convert in mapped:
            cell = row[col] if col < width else None
            raw[fid] = cell
            try:
                values[fid] = convert(cell)
            except (ValueError, TypeError, ArithmeticError):
                values[fid] = None
                findings.append(invalid_value(spec, cell, name, excel_row, letter))
        # Derived values, for the columns a file does not have (or leaves blank).
        if number_from_code:
            raw["institution_number"] = raw.get("institution_code")
            code = values["institution_code"]
            values["institution_number"] = code[3:] if isinstance(code, str) and len(code) == 10 else None
        if values["prefecture_code"] is None:
            values["prefecture_code"] = pref_arg
        if values["report_date"] is None and report_month:
            fy = values["fiscal_year"] or fiscal_year
            if fy:
                values["report_date"] = dt.date(fy, report_month, 1)
        if values["fiscal_year"] is None:
            if fiscal_year is not None:
                values["fiscal_year"] = fiscal_year
            elif values["report_date"] is not None:
                values["fiscal_year"] = normalize.fiscal_year_of(values["report_date"])
        if values["institution_code"] is None and values["prefecture_code"] and values["institution_number"]:
            values["institution_code"] = make_institution_code(values["prefecture_code"], values["institution_number"])
        rows.append(ParsedRow(sheet=name, row=excel_row, values=values, raw=raw, columns=dict(letters)))

    return ParsedTable(
        kind=template.kind,
        template=template,
        source_format=sheet.source_format,
        sheet=name,
        header_rows=header.rows_1based(),
        columns=dict(letters),
        rows=rows,
        findings=findings,
        extra_columns=list(header.extra_columns),
        grid=grid,
        encoding=sheet.encoding,
    )
