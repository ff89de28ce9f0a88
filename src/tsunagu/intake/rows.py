"""The row loop of the label-mapped forms (survey returns, grant forms): header found, columns mapped; each
data row's mapped cells converted, one ``invalid_value`` finding per cell that cannot be read, and blank or
合計・小計 rows skipped. 様式11の3 has a loop of its own (code columns, roster checks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tsunagu import normalize
from tsunagu.findings import Finding, column_letter
from tsunagu.intake.header import Header, header_findings
from tsunagu.intake.home_care_report import invalid_value
from tsunagu.intake.reader import Sheet
from tsunagu.model import FormTemplate, ParsedRow, ParsedTable


def read_rows(sheet: Sheet, header: Header, template: FormTemplate,
              converters: Mapping[str, Callable[[Any], Any]], skip: Callable[[list[Any]], bool]) -> ParsedTable:
    """The table of ``sheet`` under ``header``: ``converters`` by field id; rows for which ``skip`` is true
    (and blank rows) are left out."""
    name = sheet.name
    findings: list[Finding] = header_findings(header, template, name)
    specs = {f.id: f for f in template.fields}
    mapped = [(fid, col, column_letter(col), specs[fid], converters[fid]) for fid, col in header.columns.items()]
    letters = {fid: letter for fid, _, letter, _, _ in mapped}
    rows: list[ParsedRow] = []
    grid = sheet.rows
    for i in range(header.first_data_row, len(grid)):
        row = grid[i]
        if all(normalize.is_blank(c) for c in row) or skip(row):
            continue
        excel_row = i + 1
        values: dict[str, Any] = dict.fromkeys(specs)
        raw: dict[str, Any] = {}
        for fid, col, letter, spec, convert in mapped:
            cell = row[col] if col < len(row) else None
            raw[fid] = cell
            try:
                values[fid] = convert(cell)
            except (ValueError, TypeError, ArithmeticError):
                findings.append(invalid_value(spec, cell, name, excel_row, letter))
        rows.append(ParsedRow(sheet=name, row=excel_row, values=values, raw=raw, columns=dict(letters)))
    return ParsedTable(
        kind=template.kind, template=template, source_format=sheet.source_format, sheet=name,
        header_rows=header.rows_1based(), columns=dict(letters), rows=rows, findings=findings,
        extra_columns=list(header.extra_columns), grid=grid, encoding=sheet.encoding,
    )
