"""Reports sent back to an office: JSON, an annotated Excel copy of their sheet, and GX Data Docs.

- <stem>.json: result.to_json() plus submission metadata; UTF-8, sorted, indented (deterministic).
- <stem>.xlsx: the submitter's sheet with every finding's cell filled (red = error, yellow = warning) and a
  Japanese comment on it, plus a sheet 「エラー一覧」 listing all findings. Byte-deterministic. It holds no
  live formula (a formula becomes its cached value, else its text made inert) and no character XML
  cannot hold (:mod:`tsunagu.publish.cells`).
- <stem>_data_docs/: Great Expectations Data Docs of the field-rule run (skipped without a GX result).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string

from tsunagu.findings import Finding
from tsunagu.model import ParsedTable, ValidationResult
from tsunagu.normalize import storable
from tsunagu.publish.cells import clean, inert, put, safe

ERROR_COLOR = "FFFFC7CE"  # Excel's light red ("bad")
WARNING_COLOR = "FFFFEB9C"  # Excel's light yellow ("neutral")
ERROR_FILL = PatternFill(fill_type="solid", start_color=ERROR_COLOR, end_color=ERROR_COLOR)
WARNING_FILL = PatternFill(fill_type="solid", start_color=WARNING_COLOR, end_color=WARNING_COLOR)
LIST_SHEET = "エラー一覧"
LIST_HEADER = ("行", "列", "項目", "重大度", "内容", "message_en", "コード")
SEVERITY_JA = {"error": "エラー", "warning": "警告"}
COMMENT_AUTHOR = "tsunagu"
FIXED_TIME = dt.datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def write_reports(
    result: ValidationResult,
    table: ParsedTable | None,
    source_path: Path,
    out_dir: Path,
    *,
    stem: str,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the JSON, the annotated Excel and (if there is a GX result) the Data Docs. Returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json(result, out_dir / f"{stem}.json", source_path=Path(source_path), metadata=metadata),
        "xlsx": write_annotated_xlsx(result, table, Path(source_path), out_dir / f"{stem}.xlsx"),
    }
    if result.gx_result is not None:
        from tsunagu.validate.expectations import build_data_docs

        docs = out_dir / f"{stem}_data_docs"
        if docs.exists():
            shutil.rmtree(docs)  # a report, regenerated on rerun (the raw file is never touched)
        build_data_docs(result.gx_result, docs)
        paths["data_docs"] = docs / "index.html"
    return paths


# --------------------------------------------------------------------------- JSON


def report_json(result: ValidationResult, *, source_path: Path | None = None, metadata: Mapping[str, Any] | None = None) -> dict:
    data = result.to_json()
    data["counts"] = {
        "error": sum(f.severity == "error" for f in result.findings),
        "warning": sum(f.severity == "warning" for f in result.findings),
    }
    if source_path is not None:
        data["source_file"] = storable(source_path.name)
    if metadata:
        data["submission"] = dict(metadata)
    return data


def write_json(result: ValidationResult, path: Path, *, source_path: Path | None = None,
               metadata: Mapping[str, Any] | None = None) -> Path:
    data = report_json(result, source_path=source_path, metadata=metadata)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2, default=str) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Excel


def _sheet_title(name: str | None) -> str:
    title = _BAD_SHEET_CHARS.sub("_", clean(name or "データ")).strip("'")[:31]
    return title or "データ"


def _cell_value(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, bool, dt.date, dt.datetime, dt.time)):
        return value
    return clean(str(value))  # openpyxl refuses control characters


def _open_source(table: ParsedTable, source_path: Path):
    """The submitter's own workbook when it is .xlsx (layout preserved), else their grid in a new one."""
    if source_path.suffix.lower() in XLSX_SUFFIXES and source_path.exists():
        try:
            wb = load_workbook(source_path)
            ws = wb[table.sheet] if table.sheet in wb.sheetnames else wb.active
            _make_inert(wb, source_path)
            return wb, ws
        except Exception:  # noqa: BLE001 - encrypted or odd files: fall back to the parsed grid
            pass
    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_title(table.sheet)
    for row in table.grid:
        ws.append([_cell_value(v) for v in row])
    _make_inert(wb, None)  # CSV text starting with "=" was just made a formula by openpyxl
    return wb, ws


def _make_inert(wb, source_path: Path | None) -> None:
    """No live formula and no character XML cannot hold in the copy we send back.

    A formula cell becomes the value Excel cached for it (read from ``source_path``), else its text made
    inert; other text stays a string cell as sent, cleaned. Only stored cells are visited: a sheet's
    dimension can claim a million rows.
    """
    cached = None
    for ws in wb.worksheets:
        for cell in list(ws._cells.values()):  # stored cells only: iter_rows() creates the rest
            if not isinstance(cell, Cell):
                continue
            if cell.data_type == "f":
                if cached is None and source_path is not None:
                    cached = load_workbook(source_path, data_only=True)
                value = cached[ws.title][cell.coordinate].value if cached is not None else None
                if value is None:  # no cached value (openpyxl-written files have none)
                    value = inert(getattr(cell.value, "text", None) or str(cell.value))
                put(cell, value)
            elif isinstance(cell.value, str):
                put(cell, cell.value, make_inert=False)  # a string cell already: never evaluated


def _first_column(table: ParsedTable | None) -> str:
    if table and table.columns:
        return min(table.columns.values(), key=lambda c: (len(c), c))
    return "A"


def _label(table: ParsedTable | None, field_id: str | None) -> str:
    if not field_id:
        return ""
    if table is not None:
        try:
            return table.template.field(field_id).label_ja
        except KeyError:
            pass
    return field_id


def _writable_cell(ws, row: int, col: int):
    """The cell itself, or the top-left cell of the merged range it belongs to (merged cells take no comment)."""
    cell = ws.cell(row=row, column=col)
    if isinstance(cell, MergedCell):
        for rng in ws.merged_cells.ranges:
            if rng.min_row <= row <= rng.max_row and rng.min_col <= col <= rng.max_col:
                return ws.cell(row=rng.min_row, column=rng.min_col)
    return cell


def annotate(ws, findings: list[Finding], first_column: str) -> None:
    """Fill and comment every cell that has a finding; several findings on one cell are joined."""
    by_cell: dict[tuple[int, str], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.row is None:
            continue  # file-level: only in the list
        by_cell[(f.row, f.column or first_column)].append(f)
    for (row, column), items in sorted(by_cell.items(), key=lambda kv: (kv[0][0], len(kv[0][1]), kv[0][1])):
        cell = _writable_cell(ws, row, column_index_from_string(column))
        is_error = any(f.severity == "error" for f in items)
        cell.fill = ERROR_FILL if is_error else WARNING_FILL
        text = "\n".join(f"【{SEVERITY_JA[f.severity]}】{f.message_ja}" for f in items)
        comment = Comment(clean(text), COMMENT_AUTHOR)  # a message may quote the sender's value
        comment.width = 320
        comment.height = min(60 + 40 * len(items) + len(text) // 2, 400)
        cell.comment = comment


def add_findings_sheet(wb, findings: list[Finding], table: ParsedTable | None) -> None:
    if LIST_SHEET in wb.sheetnames:
        del wb[LIST_SHEET]
    ws = wb.create_sheet(LIST_SHEET)
    ws.append(list(LIST_HEADER))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for f in findings:
        ws.append([safe(v) for v in (f.row, f.column, _label(table, f.field), SEVERITY_JA[f.severity], f.message_ja,
                                     f.message_en, f.code)])
        fill = ERROR_FILL if f.severity == "error" else WARNING_FILL
        ws.cell(row=ws.max_row, column=4).fill = fill
    for col, width in zip("ABCDEFG", (6, 6, 28, 8, 80, 80, 24), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"


def save_deterministic(wb, path: Path) -> Path:
    """Save with fixed document times and fixed zip entry times, so the same input gives the same bytes."""
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.lastModifiedBy = COMMENT_AUTHOR
    wb.properties.creator = wb.properties.creator or COMMENT_AUTHOR
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>",
                              rb"<dcterms:modified\1>2000-01-01T00:00:00Z</dcterms:modified>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    path.write_bytes(out.getvalue())
    return path


def write_annotated_xlsx(result: ValidationResult, table: ParsedTable | None, source_path: Path, path: Path) -> Path:
    if table is None:
        wb = Workbook()
        wb.remove(wb.active)
    else:
        wb, ws = _open_source(table, source_path)
        annotate(ws, [f for f in result.findings if f.sheet in (None, table.sheet, ws.title)], _first_column(table))
    add_findings_sheet(wb, result.findings, table)
    if table is None:
        wb.active = 0
    return save_deterministic(wb, path)


__all__ = [
    "ERROR_COLOR", "LIST_SHEET", "WARNING_COLOR", "add_findings_sheet", "annotate", "report_json",
    "save_deterministic", "write_annotated_xlsx", "write_json", "write_reports",
]
