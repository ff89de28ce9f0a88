"""Validation of one office's 様式11の3 table: structure → field rules (GX) → project rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tsunagu.findings import Finding, error, sort_key, status_of
from tsunagu.jurisdiction import Jurisdiction, load_jurisdiction
from tsunagu.model import ParsedTable, RosterEntry, ValidationResult
from tsunagu.validate.expectations import evaluate_python, field_expectations, findings_for, run_gx
from tsunagu.validate.rules import RowView, RuleContext, fill_row, run_rules

LINEAGE = ("source_sheet", "source_row")


def no_rows(table: ParsedTable) -> Finding:
    """A table with a header but no institution rows: rejected, so it can never replace a loaded year with nothing."""
    return error(
        "no_rows",
        f"シート『{table.sheet}』に医療機関の行がありません。見出しの下にデータを記入してください",
        f"sheet '{table.sheet}' has no institution rows under the header",
        sheet=table.sheet,
    )


def row_views(table: ParsedTable, ctx: RuleContext) -> list[RowView]:
    ids = table.template.field_ids
    views = []
    for parsed in table.rows:
        values = fill_row({fid: parsed.values.get(fid) for fid in ids}, ctx)
        columns = {**table.columns, **(parsed.columns or {})}
        views.append(RowView(sheet=parsed.sheet, row=parsed.row, values=values, columns=columns))
    return views


def present_fields(table: ParsedTable, rows: list[RowView]) -> set[str]:
    """Fields the file has a column for, plus derived fields the parser or the filler produced."""
    present = {fid for fid in table.columns if fid in table.template.field_ids}
    for spec in table.template.fields:
        if spec.derived and any(r.values.get(spec.id) is not None for r in rows):
            present.add(spec.id)
    return present


def field_rule_findings(
    table: ParsedTable, rows: list[RowView], *, name: str, use_gx: bool
) -> tuple[list[Finding], Any]:
    present = present_fields(table, rows)
    expectations = field_expectations(table.template, present)
    gx_result = None
    if use_gx:
        outcomes, gx_result = run_gx(rows, table.template, present, expectations, name=name)
    else:
        outcomes = [evaluate_python(e, rows, present) for e in expectations]
    out: list[Finding] = []
    for exp, outcome in zip(expectations, outcomes, strict=True):
        out.extend(findings_for(exp, outcome, rows, table.template, table.columns, table.sheet))
    # A cell the parser could not read is already reported (invalid_value); don't report it again as blank.
    seen_cells = {(f.row, f.field) for f in table.findings if f.row is not None}
    seen_columns = {f.field for f in table.findings if f.code == "missing_column"}
    out = [
        f for f in out
        if not (f.row is not None and (f.row, f.field) in seen_cells)
        and not (f.code == "missing_column" and f.field in seen_columns)
    ]
    return out, gx_result


def validate_home_care_report(
    table: ParsedTable,
    *,
    prefecture_code: str,
    fiscal_year: int,
    roster: Mapping[str, RosterEntry] | None,
    previous: Mapping[str, Mapping[str, Any]] | None = None,
    use_gx: bool = True,
    jurisdiction: Jurisdiction | None = None,
) -> ValidationResult:
    """Validate a parsed 様式11の3 table. Errors reject the file; warnings never do."""
    ctx = RuleContext(
        template=table.template, prefecture_code=prefecture_code, fiscal_year=fiscal_year,
        jurisdiction=jurisdiction or load_jurisdiction(), roster=roster, previous=previous,
        columns=dict(table.columns),
    )
    rows = row_views(table, ctx)
    findings: list[Finding] = list(table.findings)  # 1. structure
    if not rows:
        findings.append(no_rows(table))
    name = f"{table.kind}_{table.template.version}_{prefecture_code}_{fiscal_year}"
    field_findings, gx_result = field_rule_findings(table, rows, name=name, use_gx=use_gx)  # 2. field rules
    findings.extend(field_findings)
    bad: dict[int, set[str]] = {}
    for f in findings:
        if f.row is not None and f.field and f.severity == "error":
            bad.setdefault(f.row, set()).add(f.field)
    for r in rows:
        r.bad = bad.get(r.row, set())
    findings.extend(run_rules(rows, ctx))  # 3. project rules
    findings.sort(key=sort_key)
    records = [{**r.values, "source_sheet": r.sheet, "source_row": r.row} for r in rows]
    return ValidationResult(
        status=status_of(findings), findings=findings, records=records, rows=len(rows), gx_result=gx_result,
    )
