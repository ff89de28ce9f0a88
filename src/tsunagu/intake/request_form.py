"""情報提供依頼書 (request form): a label/value form, xlsx or CSV (項目,値) -> RequestForm.

Every value is found by its label (include/templates/request_form/<version>.yaml), never by its
position: the value is in the first non-blank cell to the label's right (at most two cells away,
so notes further right are never taken for a value), or in the cell below when the label has no
value to its right. Values are normalised here (wareki dates and fiscal years, full-width text,
同意する -> True, CC lists split); checks between fields and against the jurisdiction belong to
tsunagu.validate.request_form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsunagu import normalize
from tsunagu.findings import Finding, UnreadableFile, column_letter, error, warning
from tsunagu.intake.header import label_index, loose_key
from tsunagu.intake.home_care_report import converter, invalid_value, to_fiscal_year
from tsunagu.intake.reader import Sheet, read_sheets
from tsunagu.intake.templates import load_template, raw_template, templates_dir
from tsunagu.model import FieldSpec, FormTemplate, ParsedRow, ParsedTable

KIND = "request_form"
RIGHT_REACH = 2  # a value is at most this many cells to the right of its label
_MARKS = re.compile(r"^[\s■□●○◆◇▶▼・*＊※]+|[（(]\s*(?:必須|任意|必ず記入|省略可)\s*[)）]|[*＊]+$|※.*$")
_CC_SPLIT = re.compile(r"[,;、，；\s]+")


def template_extras(template: FormTemplate) -> dict[str, Any]:
    """What the YAML says beyond FormTemplate: top-level keys (rules, programs) and per-field keys (format …),
    with ``extends:`` resolved as for the template itself (tsunagu.intake.templates.raw_template)."""
    data = raw_template(templates_dir(template.kind) / f"{template.version}.yaml")
    fields = {str(f["id"]): f for f in data.get("fields") or ()}
    return {**{k: v for k, v in data.items() if k != "fields"}, "field_options": fields}


def field_format(template: FormTemplate, field_id: str) -> str | None:
    return template_extras(template)["field_options"].get(field_id, {}).get("format")


def load_request_template(version: str | None = None, fiscal_year: int | None = None) -> FormTemplate:
    return load_template(KIND, version=version, fiscal_year=fiscal_year)


# ----------------------------------------------------------------------------------------- values


def to_bool(value: object, spec: FieldSpec) -> bool | None:
    """同意する / はい / ✓ / 実施 / ○ / 1 -> True; 同意しない / 未実施 / × / 0 -> False (the enum of the field)."""
    if normalize.is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    key = normalize.label_key(value).lower()
    mapping = {k.lower(): v for k, v in (spec.enum or {}).items()}
    if key in mapping:
        return mapping[key] == "true"
    raise ValueError(value)


def split_emails(value: object) -> tuple[str, ...]:
    """CC addresses separated by , ; 、 spaces or line breaks (full-width separators too), in order, no repeats."""
    if normalize.is_blank(value):
        return ()
    text = normalize.nfkc(value)
    return tuple(dict.fromkeys(p for p in _CC_SPLIT.split(text) if p))


def to_email(value: object) -> str | None:
    if normalize.is_blank(value):
        return None
    return normalize.nfkc(value).replace(" ", "").removeprefix("mailto:")


def read_value(spec: FieldSpec, fmt: str | None, value: object) -> Any:
    """The normalised value of a cell, or ValueError."""
    if fmt == "fiscal_year":
        return to_fiscal_year(value)
    if fmt == "boolean":
        return to_bool(value, spec)
    if fmt == "email":
        return to_email(value)
    if fmt == "email_list":
        return split_emails(value)
    if fmt in ("prefecture", "phone"):
        return None if normalize.is_blank(value) else normalize.nfkc(value)
    if spec.type == "enum" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return converter(spec)(value)


# ----------------------------------------------------------------------------------------- layout


def label_of(cell: object) -> str:
    """A label cell without its decorations (■, ※ notes, （必須）)."""
    if not isinstance(cell, str):
        return ""
    return _MARKS.sub("", normalize.nfkc(cell)).strip()


def _field_at(index, cell: object) -> str | None:
    text = label_of(cell)
    if not text or len(text) > 40:
        return None
    return index.resolve(normalize.label_key(text), loose_key(text))


@dataclass
class LabelHit:
    field_id: str
    label_row: int  # 0-based
    label_col: int
    value_row: int  # 0-based cell where the value is (or should be)
    value_col: int
    value: Any  # the cell as read ('' when blank)


def _cell(rows: list[list[Any]], r: int, c: int) -> Any:
    if 0 <= r < len(rows) and 0 <= c < len(rows[r]):
        return rows[r][c]
    return ""


def find_labels(rows: list[list[Any]], template: FormTemplate) -> list[LabelHit]:
    """Every label cell of the sheet and the cell that holds (or should hold) its value."""
    index = label_index(template)
    is_label = {}
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell.strip():
                fid = _field_at(index, cell)
                if fid is not None:
                    is_label[(r, c)] = fid
    hits: list[LabelHit] = []
    for (r, c), fid in sorted(is_label.items()):
        target: tuple[int, int] | None = None
        right_is_label = False
        for dc in range(1, RIGHT_REACH + 1):
            if (r, c + dc) in is_label:
                right_is_label = True
                break
            v = _cell(rows, r, c + dc)
            if _is_candidate(v):
                target = (r, c + dc)
                break
        if target is None:
            below = _cell(rows, r + 1, c)
            if (r + 1, c) not in is_label and _is_candidate(below):
                target = (r + 1, c)
            elif right_is_label and (r + 1, c) not in is_label:
                target = (r + 1, c)  # a row of labels: the values go in the row below
            else:
                target = (r, c + 1)  # the input cell next to the label
        hits.append(LabelHit(fid, r, c, target[0], target[1], _cell(rows, *target)))
    return hits


def _is_note(value: object) -> bool:
    return isinstance(value, str) and normalize.nfkc(value).startswith(("※", "(注", "注:", "注）", "例:", "記入例"))


def _is_candidate(value: object) -> bool:
    """A cell that can hold a value: not blank, and not a note (※…, 例: …)."""
    if normalize.is_blank(value):
        return False
    return not isinstance(value, str) or not _is_note(value)


# ----------------------------------------------------------------------------------------- parse


@dataclass
class RequestForm:
    template: FormTemplate
    source_format: str
    sheet: str
    values: dict[str, Any]  # field id -> normalised value (None when blank, missing or unreadable)
    raw: dict[str, Any]  # field id -> the cell as read
    cells: dict[str, tuple[int, str]]  # field id -> (1-based row, column letter) of the value cell
    findings: list[Finding]
    grid: list[list[Any]] = field(default_factory=list)
    encoding: str | None = None
    title_found: bool = False

    def where(self, field_id: str) -> dict[str, Any]:
        """sheet/row/column/field keyword arguments for a finding about a field's value cell."""
        row, col = self.cells.get(field_id, (None, None))
        return {"sheet": self.sheet, "row": row, "column": col, "field": field_id}

    def as_table(self) -> ParsedTable:
        """A ParsedTable view (one row), for the annotated-copy report of tsunagu.validate.reports."""
        columns = {fid: col for fid, (_, col) in self.cells.items()}
        first_row = min((r for r, _ in self.cells.values()), default=1)
        return ParsedTable(
            kind=KIND, template=self.template, source_format=self.source_format, sheet=self.sheet,
            header_rows=(), columns=columns,
            rows=[ParsedRow(sheet=self.sheet, row=first_row, values=dict(self.values), raw=dict(self.raw),
                            columns=columns)],
            findings=list(self.findings), grid=self.grid, encoding=self.encoding,
        )


def _choose(sheets: list[Sheet], template: FormTemplate) -> tuple[Sheet, list[LabelHit]]:
    best: tuple[Sheet, list[LabelHit]] | None = None
    for sheet in sheets:
        hits = find_labels(sheet.rows, template)
        if best is None or len({h.field_id for h in hits}) > len({h.field_id for h in best[1]}):
            best = (sheet, hits)
    if best is None or len({h.field_id for h in best[1]}) < 3:
        raise UnreadableFile(
            "form_not_found",
            "情報提供依頼書の項目（都道府県名、担当者名、メールアドレス など）が見つかりません。"
            "様式の情報提供依頼書に記入して再送してください。",
            "No request-form labels (prefecture, contact name, email …) were found. "
            "Please fill in the request form template and send it again.",
        )
    return best


def parse_request_form(path: Path, *, template: FormTemplate | None = None) -> RequestForm:
    """Read a request form. Raises UnreadableFile when the file cannot be read or is not a request form."""
    template = template or load_request_template()
    sheets = read_sheets(Path(path))
    sheet, hits = _choose(sheets, template)
    specs = {f.id: f for f in template.fields}
    values: dict[str, Any] = dict.fromkeys(specs)
    raw: dict[str, Any] = {}
    cells: dict[str, tuple[int, str]] = {}
    findings: list[Finding] = []
    name = sheet.name
    seen: dict[str, LabelHit] = {}
    for hit in hits:
        first = seen.get(hit.field_id)
        if first is not None:
            if not normalize.is_blank(hit.value) and normalize.nfkc(hit.value) != normalize.nfkc(first.value):
                if normalize.is_blank(first.value):
                    seen[hit.field_id] = hit  # the first label had no value: use this one
                    continue
                letter = column_letter(hit.value_col)
                findings.append(warning(
                    "duplicate_field",
                    f"{letter}列 {hit.value_row + 1}行目: 『{specs[hit.field_id].label_ja}』が2か所に記入されています。"
                    f"{column_letter(first.value_col)}列 {first.value_row + 1}行目の値を使います",
                    f"Cell {letter}{hit.value_row + 1}: '{hit.field_id}' is filled in twice; the value in "
                    f"{column_letter(first.value_col)}{first.value_row + 1} is used",
                    sheet=name, row=hit.value_row + 1, column=letter, field=hit.field_id,
                ))
            continue
        seen[hit.field_id] = hit
    for fid, hit in seen.items():
        spec = specs[fid]
        letter = column_letter(hit.value_col)
        cells[fid] = (hit.value_row + 1, letter)
        raw[fid] = hit.value
        try:
            values[fid] = read_value(spec, field_format(template, fid), hit.value)
        except (ValueError, TypeError, ArithmeticError):
            values[fid] = None
            findings.append(invalid_value(spec, hit.value, name, hit.value_row + 1, letter))
    title_key = normalize.label_key(template.title_ja)
    title_found = any(
        isinstance(c, str) and title_key and title_key in normalize.label_key(c) for row in sheet.rows[:10] for c in row
    )
    for spec in template.fields:
        if spec.required and spec.id not in seen:
            findings.append(error(
                "missing_field",
                f"『{spec.label_ja}』の欄が見つかりません。様式の項目名のまま記入してください",
                f"The field '{spec.id}' ({spec.label_ja}) was not found on the form",
                sheet=name, field=spec.id,
            ))
    return RequestForm(
        template=template, source_format=sheet.source_format, sheet=name, values=values, raw=raw, cells=cells,
        findings=findings, grid=sheet.rows, encoding=sheet.encoding, title_found=title_found,
    )
