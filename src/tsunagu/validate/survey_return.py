"""Validation of a survey return (地域支援事業 実施状況) against the municipality master.

Every municipality of the submitting prefecture must appear exactly once (Tokyo's special wards
included, designated-city wards never: the city answers), with a valid code of that prefecture,
and each 事業's values must agree (a count or a start date only when the 事業 is running).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tsunagu.findings import Finding, error, sort_key, status_of, warning
from tsunagu.intake.survey_return import programs
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.model import ParsedTable, ValidationResult
from tsunagu.municipalities import MunicipalityMaster, load_municipalities
from tsunagu.normalize import label_key

MAX_LISTED = 80  # municipalities named in one missing_municipalities message


def validate_survey_return(
    table: ParsedTable,
    *,
    prefecture_code: str,
    fiscal_year: int,
    master: MunicipalityMaster | None = None,
) -> ValidationResult:
    """Check a parsed survey return from ``prefecture_code`` for ``fiscal_year``. Records are long: one per
    municipality and 事業 (survey, fiscal_year, prefecture_code, municipality_code, program, implemented,
    started, count, lineage)."""
    from tsunagu.codes import municipality_code_is_valid

    pref = load_jurisdiction().get(prefecture_code)
    master = master or load_municipalities()
    findings: list[Finding] = list(table.findings)
    bad_cells = {(f.row, f.field) for f in findings if f.row is not None}
    progs = programs(table.template)
    sheet = table.sheet
    col = table.columns
    expected = {m.code: m for m in master.of_prefecture(prefecture_code)}
    seen: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    fy_end = dt.date(fiscal_year + 1, 3, 31)

    def at(row: int, fid: str) -> dict[str, Any]:
        return {"sheet": sheet, "row": row, "column": col.get(fid), "field": fid}

    if not table.rows:
        findings.append(error(
            "no_rows", f"シート『{sheet}』に市町村の行がありません。見出しの下に記入してください",
            f"sheet '{sheet}' has no municipality rows under the header", sheet=sheet,
        ))
    for r in table.rows:
        v, n = r.values, r.row
        code = v.get("municipality_code")
        if code is None:
            if (n, "municipality_code") not in bad_cells:
                findings.append(error(
                    "missing_value", f"{col['municipality_code']}列 {n}行目: 『市町村コード』が記入されていません",
                    f"Cell {col['municipality_code']}{n}: the municipality code is blank", **at(n, "municipality_code"),
                ))
            continue
        where = at(n, "municipality_code")
        m = master.get(code)
        if not municipality_code_is_valid(code):
            findings.append(error(
                "invalid_municipality_code",
                f"{col['municipality_code']}列 {n}行目: 市町村コード『{code}』の検査数字が正しくありません",
                f"Cell {col['municipality_code']}{n}: municipality code {code} fails its check digit", **where,
            ))
            continue
        if m is None:
            findings.append(error(
                "unknown_municipality",
                f"{col['municipality_code']}列 {n}行目: 市町村コード『{code}』は市町村一覧にありません",
                f"Cell {col['municipality_code']}{n}: municipality code {code} is not in the municipality master",
                **where,
            ))
            continue
        if m.is_ward:
            city = master.get(m.city_code or "")
            city_ja = f"{city.name}（{city.code}）" if city else "市"
            findings.append(error(
                "designated_city_ward",
                f"{col['municipality_code']}列 {n}行目: 『{m.name}』（{code}）は政令指定都市の区です。"
                f"{city_ja}として1行で回答してください",
                f"Cell {col['municipality_code']}{n}: {code} is a ward of a designated city; "
                f"answer once for the city{f' ({city.code})' if city else ''}",
                **where,
            ))
            continue
        if m.prefecture_code != prefecture_code:
            findings.append(error(
                "municipality_other_prefecture",
                f"{col['municipality_code']}列 {n}行目: 『{m.name}』（{code}）は{m.prefecture_name}の市町村です"
                f"（{pref.name_ja}の調査票には含めません）",
                f"Cell {col['municipality_code']}{n}: {code} ({m.name}) is in prefecture {m.prefecture_code}, "
                f"not {prefecture_code}",
                **where,
            ))
            continue
        if code in seen:
            findings.append(error(
                "duplicate_municipality",
                f"{col['municipality_code']}列 {n}行目: 『{m.name}』（{code}）が{seen[code]}行目と重複しています",
                f"Cell {col['municipality_code']}{n}: municipality {code} already appears in row {seen[code]}",
                **where,
            ))
            continue
        seen[code] = n
        name = v.get("municipality_name")
        if name and label_key(name) != label_key(m.name):
            findings.append(warning(
                "municipality_name_mismatch",
                f"{col.get('municipality_name')}列 {n}行目: 市町村名『{name}』がコード{code}の『{m.name}』と一致しません",
                f"Cell {col.get('municipality_name')}{n}: name '{name}' does not match {code} ({m.name})",
                **at(n, "municipality_name"),
            ))
        for p in progs:
            implemented, started, count = v.get(p.implemented), v.get(p.started), v.get(p.count)
            if implemented is None:
                if (n, p.implemented) not in bad_cells and p.implemented in col:
                    c = col[p.implemented]
                    findings.append(error(
                        "missing_value", f"{c}列 {n}行目: 『{p.name_ja}』の実施状況が記入されていません（実施／未実施）",
                        f"Cell {c}{n}: the status of '{p.id}' is blank (実施 or 未実施)", **at(n, p.implemented),
                    ))
                continue
            if count is not None and count < 0:
                c = col[p.count]
                findings.append(error(
                    "negative_count", f"{c}列 {n}行目: 『{p.name_ja}』の回数・件数『{count}』が負の値です",
                    f"Cell {c}{n}: the count of '{p.id}' is negative ({count})", **at(n, p.count),
                ))
            if not implemented and count:
                c = col[p.count]
                findings.append(error(
                    "count_without_implementation",
                    f"{c}列 {n}行目: 『{p.name_ja}』が未実施なのに回数・件数（{count}）が記入されています",
                    f"Cell {c}{n}: '{p.id}' is not running but has a count ({count})", **at(n, p.count),
                ))
            if not implemented and started is not None:
                c = col[p.started]
                findings.append(warning(
                    "start_without_implementation",
                    f"{c}列 {n}行目: 『{p.name_ja}』が未実施なのに開始年月が記入されています",
                    f"Cell {c}{n}: '{p.id}' is not running but has a start month", **at(n, p.started),
                ))
            if started is not None and started > fy_end:
                c = col[p.started]
                findings.append(error(
                    "start_after_fiscal_year",
                    f"{c}列 {n}行目: 『{p.name_ja}』の開始年月（{started.year}年{started.month}月）が"
                    f"{fiscal_year}年度より後です",
                    f"Cell {c}{n}: the start month of '{p.id}' ({started:%Y-%m}) is after fiscal year {fiscal_year}",
                    **at(n, p.started),
                ))
            records.append({
                "fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "municipality_code": code,
                "municipality_name": m.name, "program": p.id, "implemented": bool(implemented),
                "started": started if implemented else None, "count": count if implemented else (count or None),
                "source_sheet": r.sheet, "source_row": n,
            })
    missing = [m for c, m in expected.items() if c not in seen]
    if missing and table.rows:
        names = "、".join(f"{m.name}（{m.code}）" for m in missing[:MAX_LISTED])
        more = f" ほか{len(missing) - MAX_LISTED}団体" if len(missing) > MAX_LISTED else ""
        findings.append(error(
            "missing_municipalities",
            f"{pref.name_ja}の市町村のうち{len(missing)}団体の行がありません: {names}{more}",
            f"{len(missing)} municipalities of prefecture {prefecture_code} are missing: "
            + ", ".join(m.code for m in missing[:MAX_LISTED]),
            sheet=sheet, field="municipality_code",
        ))
    findings.sort(key=sort_key)
    status = status_of(findings)
    return ValidationResult(status=status, findings=findings, records=records, rows=len(seen))
