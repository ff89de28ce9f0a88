"""Grant forms (交付金, design.md §2.3): file -> ParsedTable, generic over the templates.

Every program × stage has its own versioned template, ``include/templates/grant_<program>_<stage>/``
(:func:`tsunagu.grants.programs.template_kind`). The header is found by its labels exactly as for
様式11の3 (:mod:`tsunagu.intake.header`: title rows, two-row headers, label variants, a units row);
cells are read with the same converters (:func:`tsunagu.intake.home_care_report.converter`), except:

* ``type: int`` — amounts in integer yen: ``1,234,000``, full-width digits and 「－」 (zero) are read;
  a decimal such as ``1234.5`` is an ``invalid_value`` error (not a whole number), never rounded;
* ``type: decimal`` — in a grant form every decimal is a rate or a ratio (負担率, 補正係数), read
  *exactly* as a :class:`~fractions.Fraction`: ``0.385`` → 77/200, ``"38.5%"`` / ``"38.5％"`` → 77/200,
  ``"20%"`` → 1/5. A number without ``%`` is the ratio itself (``20`` is 20, not 20 %); an Excel cell
  formatted as a percentage holds the ratio (0.2), so it reads right.

合計・小計 rows (a ``skip_row_markers`` word in a label cell, and no readable code in the template's
key code columns) and blank rows are skipped. A file that cannot be read, or has no recognisable
header, raises :class:`~tsunagu.findings.UnreadableFile`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from tsunagu import normalize
from tsunagu.findings import UnreadableFile
from tsunagu.intake.header import Header, best_header, has_marker
from tsunagu.intake.home_care_report import converter
from tsunagu.intake.reader import Sheet, read_sheets
from tsunagu.intake.rows import read_rows
from tsunagu.intake.templates import load_template
from tsunagu.model import FieldSpec, FormTemplate, ParsedTable

_PERCENT = ("%", "％")


def load_grant_template(program: str, stage: str, fiscal_year: int | None = None,
                        version: str | None = None) -> FormTemplate:
    """The template of a program's stage in force in ``fiscal_year`` (or a given version)."""
    from tsunagu.grants.programs import template_kind

    return load_template(template_kind(program, stage), version=version, fiscal_year=fiscal_year)


def to_ratio(value: object) -> Fraction | None:
    """A rate or ratio, exactly: 0.385, "0.385", "38.5%", "38.5％", "20 %" -> Fraction; blank -> None."""
    if normalize.is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(value)
        return Fraction(Decimal(repr(value)))  # 0.385 as typed, not its binary expansion
    text = normalize.nfkc(value).replace(",", "").replace(" ", "")
    percent = text.endswith(_PERCENT)
    if percent:
        text = text[:-1]
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    ratio = Fraction(number)
    return ratio / 100 if percent else ratio


def grant_converter(spec: FieldSpec) -> Callable[[Any], Any]:
    if spec.type == "decimal":
        return to_ratio
    return converter(spec)


def _choose(sheets: list[Sheet], template: FormTemplate) -> tuple[Sheet, Header]:
    best = best_header(sheets, template)
    needed = [f for f in template.fields if f.required and not f.derived]
    if best is None or best[1].score < min(3, len(needed) or 1):
        labels = "、".join(f"『{f.label_ja}』" for f in needed[:3])
        title = template.title_ja or template.kind
        raise UnreadableFile(
            "header_not_found",
            f"見出し行（{labels} など）が見つかりません。{title}の様式か確認してください。",
            f"No header row with the form's column labels ({', '.join(f.id for f in needed[:3])} …) was found. "
            f"Please check that this is the form '{template.kind}'.",
        )
    return best


def _key_columns(header: Header, template: FormTemplate) -> list[tuple[int, int]]:
    """(column, digits) of the code columns every row must fill: a readable code there means a real row."""
    return [(header.columns[f.id], f.digits or 0) for f in template.fields
            if f.type == "code" and f.not_null and f.id in header.columns]


def _label_columns(header: Header, template: FormTemplate) -> list[int]:
    """Where a 合計/小計 label can stand: text, code and enum columns, and unmapped columns left of the amounts."""
    numeric = [c for fid, c in header.columns.items() if template.field(fid).type in ("int", "decimal")]
    first_numeric = min(numeric, default=10**6)
    mapped = set(header.columns.values())
    cols = {c for fid, c in header.columns.items() if template.field(fid).type in ("text", "code", "enum")}
    cols |= {c for c in range(first_numeric) if c not in mapped}
    return sorted(cols)


def _has_code(row: list[Any], key_columns: list[tuple[int, int]]) -> bool:
    for col, digits in key_columns:
        if col < len(row) and not normalize.is_blank(row[col]):
            try:
                if normalize.to_code(row[col], digits):
                    return True
            except ValueError:
                pass
    return False


def is_total_row(row: list[Any], markers: tuple[str, ...], label_columns: list[int],
                 key_columns: list[tuple[int, int]]) -> bool:
    """合計・小計・総計 rows: a marker word in a label cell, and no readable code in the key columns."""
    return not _has_code(row, key_columns) and has_marker(row, markers, label_columns)


def parse_grant(path: Path, *, template: FormTemplate) -> ParsedTable:
    """Parse a grant form (xlsx, xls, CSV) with ``template``. Raises UnreadableFile (unreadable / no header)."""
    sheets = read_sheets(Path(path))
    sheet, header = _choose(sheets, template)
    return parse_grant_rows(sheet, header, template)


def parse_grant_rows(sheet: Sheet, header: Header, template: FormTemplate) -> ParsedTable:
    markers = template.skip_row_markers
    label_columns = _label_columns(header, template)
    key_columns = _key_columns(header, template)
    converters = {f.id: grant_converter(f) for f in template.fields}
    return read_rows(sheet, header, template, converters,
                     skip=lambda row: is_total_row(row, markers, label_columns, key_columns))
