"""Build the grant files prefectures send (real xlsx / CSV written with openpyxl), for tests/grants.

A file is a title row, a blank row, the header (row 3) and one row per insurer × 事業区分 from row 4:
``write_grant(path, stage, rows)``. Rows are dicts of canonical field ids (``cs_row`` computes the
computed columns with tsunagu.grants.money, as a clerk's spreadsheet would).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import openpyxl

from tsunagu.grants import money

PREF = "19"  # 山梨県: 27 insurers; caps configured for 甲府市 192013 and 北杜市 192096 (FY2024)
KOFU, HOKUTO, FUJIYOSHIDA, TSURU = "192013", "192096", "192021", "192047"
NAMES = {KOFU: "甲府市", HOKUTO: "北杜市", FUJIYOSHIDA: "富士吉田市", TSURU: "都留市"}
CATEGORY_JA = {
    "general": "介護予防・日常生活支援総合事業",
    "comprehensive": "包括的支援事業（地域包括支援センターの運営）及び任意事業",
    "social_security": "包括的支援事業（社会保障充実分）",
}
RATES = {"general": Fraction(20, 100), "comprehensive": Fraction(385, 1000), "social_security": Fraction(385, 1000)}
RATE_TEXT = {"general": "20%", "comprehensive": "38.5%", "social_security": "38.5%"}

BASE = [
    ("insurer_number", "保険者番号"), ("insurer_name", "保険者名"), ("category", "事業区分"),
    ("total_cost", "総事業費"), ("donations", "寄附金その他の収入額"), ("difference", "差引額"),
    ("base_amount", "基準額"), ("selected", "選定額"), ("rate", "負担率"), ("grant", "交付額"),
]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "pre_consultation": BASE,
    "application": BASE,
    "change": BASE,
    "actual_report": [*BASE, ("decided", "交付決定額"), ("confirmed", "確定額"), ("refund", "返還額")],
    "redetermination": [*BASE, ("previous_confirmed", "前回確定額"), ("change", "増減額")],
    "adjustment_survey": [
        ("insurer_number", "保険者番号"), ("insurer_name", "保険者名"), ("first_insured", "第1号被保険者数"),
        ("late_elderly_factor", "後期高齢者加入割合補正係数"), ("income_factor", "所得段階別加入割合補正係数"),
        ("adjustment_rate", "調整交付金交付割合"), ("target_cost", "対象事業費"), ("adjustment_grant", "調整交付金額"),
    ],
}
TITLE = {
    "pre_consultation": "地域支援事業交付金 事前協議書", "application": "地域支援事業交付金 交付申請書",
    "change": "地域支援事業交付金 変更交付申請書", "actual_report": "地域支援事業交付金 実績報告書",
    "redetermination": "地域支援事業交付金 過年度再確定に係る報告書",
    "adjustment_survey": "地域支援事業交付金（調整交付金）算定に関する調査票",
}


def letter(stage: str, field: str) -> str:
    """The column letter of a field in the files built here."""
    index = [f for f, _ in COLUMNS[stage]].index(field)
    return chr(ord("A") + index)


def cs_row(insurer: str, item: str, total: int, donations: int, base: int, *, decided: int | None = None,
           previous: int | None = None, rate: Any = None, **overrides: Any) -> dict[str, Any]:
    """One correct row of 事業区分 ``item`` (the computed columns from tsunagu.grants.money), then ``overrides``."""
    computed = money.community_support_row(total, donations, base, RATES[item])
    row: dict[str, Any] = {
        "insurer_number": insurer, "insurer_name": NAMES.get(insurer, "保険者"), "category": CATEGORY_JA[item],
        "total_cost": total, "donations": donations, "difference": computed["difference"], "base_amount": base,
        "selected": computed["selected"], "rate": RATE_TEXT[item] if rate is None else rate,
        "grant": computed["grant"],
    }
    if decided is not None:
        row["decided"] = decided
        row["confirmed"], row["refund"] = money.settle(decided, computed["grant"])
    if previous is not None:
        row["previous_confirmed"] = previous
        row["change"] = computed["grant"] - previous
    row.update(overrides)
    return row


def survey_row(insurer: str, first_insured: int, late: str, income: str, rate: str, target: int,
               **overrides: Any) -> dict[str, Any]:
    row = {
        "insurer_number": insurer, "insurer_name": NAMES.get(insurer, "保険者"), "first_insured": first_insured,
        "late_elderly_factor": late, "income_factor": income, "adjustment_rate": rate, "target_cost": target,
        "adjustment_grant": money.apply_rate(target, _ratio(rate), unit=1000),
    }
    row.update(overrides)
    return row


def _ratio(text: str) -> Fraction:
    return Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)


def grid(stage: str, rows: Iterable[Mapping[str, Any]], *, labels: Mapping[str, str] | None = None,
         title: bool = True, total_row: bool = False, extra_column: str | None = None) -> list[list[Any]]:
    """The sheet as rows of cells: title, blank, header (row 3), data from row 4 (or header row 1 without title)."""
    columns = COLUMNS[stage]
    header = [(labels or {}).get(f, label) for f, label in columns]
    if extra_column:
        header.append(extra_column)
    out: list[list[Any]] = []
    if title:
        out += [[f"令和6年度 {TITLE[stage]}（山梨県）"], []]
    out.append(header)
    data = [list(rows_) for rows_ in ([r.get(f) for f, _ in columns] for r in rows)]
    out += data
    if total_row:
        amounts = {f for f, _ in columns if f not in ("insurer_number", "insurer_name", "category", "rate")}
        total: list[Any] = []
        for i, (f, _) in enumerate(columns):
            if f == "insurer_name":
                total.append("合計")
            elif f in amounts:
                total.append(sum(r[i] for r in data if isinstance(r[i], int)))
            else:
                total.append(None)
        out.append(total)
    return out


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], *, sheet: str = "保険者別一覧",
               merges: Iterable[str] = ()) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(list(r))
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], encoding: str = "cp932") -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows([["" if c is None else c for c in r] for r in rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_grant(path: Path, stage: str, rows: Iterable[Mapping[str, Any]], **kwargs: Any) -> Path:
    """An xlsx (or, for a .csv path, a CP932 CSV) of ``rows`` in the layout of ``grid``."""
    path = Path(path)
    cells = grid(stage, rows, **kwargs)
    return write_csv(path, cells) if path.suffix == ".csv" else write_xlsx(path, cells)


# ------------------------------------------------------------------- one program's files, checked and loaded


def letter_of(columns: Sequence[tuple[str, str]], field: str) -> str:
    """The column letter of ``field`` in a file written from ``columns`` (at most 26 columns)."""
    return chr(ord("A") + [f for f, _ in columns].index(field))


def write_titled(path: Path, title: str, columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]],
                 *, sheet: str) -> Path:
    """Title row, blank row, header on row 3 (``columns``' labels), data from row 4."""
    cells: list[list[Any]] = [[title], [], [label for _, label in columns]]
    cells += [[r.get(f) for f, _ in columns] for r in rows]
    return write_xlsx(path, cells, sheet=sheet)


def finding_tuples(checked) -> list[tuple]:
    return [(f.code, f.severity, f.row, f.column, f.field, f.message_ja, f.message_en)
            for f in checked.result.findings]


def accept_and_load(warehouse, checked, path: Path, *, program: str, stage: str, prefecture_code: str,
                    fiscal_year: int) -> dict:
    """Require ``checked`` accepted, and load it as the stage's current rows; -> the current amounts."""
    import hashlib

    from tsunagu.warehouse.grants import current_amounts, load_grant, submission_kind

    assert checked.result.status == "accepted", finding_tuples(checked)
    sid, _ = warehouse.register_submission(
        kind=submission_kind(program, stage), sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        original_name=path.name, sender=prefecture_code, fiscal_year=fiscal_year,
    )
    load_grant(warehouse, sid, program=program, stage=stage, prefecture_code=prefecture_code,
               fiscal_year=fiscal_year, records=checked.result.records)
    return current_amounts(warehouse, program, stage, fiscal_year, prefecture_code)
