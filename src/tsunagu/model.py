"""Shared data shapes passed between intake, validation, the warehouse and publication."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tsunagu.findings import Finding, Status


@dataclass(frozen=True)
class FieldSpec:
    """One field of a versioned form template (include/templates/<kind>/<version>.yaml)."""

    id: str  # canonical field id (design.md §2.1)
    label_ja: str  # label used in outputs and the 定義書 sheet
    labels: tuple[str, ...]  # header label variants accepted on input (matched after label_key())
    type: str  # int | decimal | code | date | text | enum
    required: bool = False  # the column must be present
    not_null: bool = False  # every row must have a value
    digits: int | None = None  # for code
    places: int | None = None  # for decimal
    min: float | None = None
    max: float | None = None
    enum: dict[str, str] | None = None  # input text (after label_key) -> canonical value
    description_ja: str = ""
    derived: bool = False  # filled by the parser/validator (e.g. institution_code), not required in the file


@dataclass(frozen=True)
class FormTemplate:
    kind: str  # e.g. home_care_report
    version: str  # e.g. 2024-08
    title_ja: str
    valid_from_fiscal_year: int
    report_month: int | None
    fields: tuple[FieldSpec, ...]
    skip_row_markers: tuple[str, ...] = ("合計", "小計", "総計", "計")
    warnings: dict[str, Any] = field(default_factory=dict)  # thresholds for warning rules

    def field(self, field_id: str) -> FieldSpec:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    @property
    def field_ids(self) -> list[str]:
        return [f.id for f in self.fields]


@dataclass
class ParsedRow:
    sheet: str
    row: int  # 1-based Excel row, or CSV line counting the header as 1
    values: dict[str, Any]  # field id -> normalised value (None when blank or unreadable)
    raw: dict[str, Any]  # field id -> the cell as read
    columns: dict[str, str]  # field id -> column letter


@dataclass
class ParsedTable:
    kind: str
    template: FormTemplate
    source_format: str  # xlsx | xls | csv
    sheet: str
    header_rows: tuple[int, ...]  # 1-based rows that make up the header
    columns: dict[str, str]  # field id -> column letter
    rows: list[ParsedRow]
    findings: list[Finding]  # structure and value-conversion findings found while parsing
    extra_columns: list[str] = field(default_factory=list)  # header labels that map to no field
    grid: list[list[Any]] = field(default_factory=list)  # the sheet as read, for the annotated copy
    encoding: str | None = None  # for CSV


@dataclass(frozen=True)
class RosterEntry:
    """An institution that must file 様式11の3 (在支診/在支病 in the register)."""

    institution_code: str
    institution_number: str
    prefecture_code: str
    institution_name: str
    facility_type: str  # clinic | hospital
    notification_class: str  # enhanced_single | enhanced_network | standard
    notification_symbol: str  # 支援診１ … 支援病３
    address: str | None = None
    municipality_code: str | None = None


@dataclass
class ValidationResult:
    status: Status
    findings: list[Finding]
    records: list[dict[str, Any]]  # one per institution row, canonical field ids + lineage (sheet, row)
    rows: int = 0
    gx_result: Any = None  # the GX validation result, for Data Docs

    def to_json(self) -> dict:
        return {"status": self.status, "rows": self.rows, "errors": [f.to_dict() for f in self.findings]}
