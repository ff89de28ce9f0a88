"""The two field-rule evaluators give identical findings: GX 1.x (``run_gx``) and pure Python (``evaluate_python``).

The pipeline (ingest, the DAG tasks) runs the generated suite with Great Expectations and keeps its
Data Docs; the one-shot CLI (``tsunagu validate``, every kind) evaluates the same suite in Python so
that one file does not pay GX's import. Each case below runs the real validation twice, with
use_gx=True and use_gx=False, and must give the same result: the same findings (code, severity,
sheet, row, column, field, both messages), records and status. On top of that, for every expectation
GX evaluated itself (``gx_outcomes``), its failing rows must be exactly Python's; and where the values
came from a parser, GX must have evaluated every expectation (no silent fallback to Python).

The cases: the tables of tests/validate, the files of tests/intake, the demo files, grant files built
with tests/grants/builders.py and the care_fund / integrated_health builders, and generated edge cases
(blanks, out-of-range and boundary values, bad enums, bad codes, decimals with too many places, dates),
typed into files as an office would and put straight into tables (types no parser produces).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.grants import builders as gb
from tests.intake.builders import FLAT_FIELDS, FLAT_HEADER, write_csv, write_xlsx
from tsunagu.findings import error
from tsunagu.intake.home_care_report import parse_home_care_report
from tsunagu.intake.templates import load_template
from tsunagu.model import ValidationResult
from tsunagu.validate import home_care_report as hcr
from tsunagu.validate.expectations import evaluate_python, field_expectations, gx_outcomes
from tsunagu.validate.home_care_report import present_fields, validate_home_care_report

from .factory import COLUMNS, PREF, TEMPLATE, good_values, make_table, number_for, roster_for

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"

Run = Callable[[Path, bool], ValidationResult]


@dataclass(frozen=True)
class Case:
    id: str
    run: Run  # (a folder for its files, use_gx) -> the validation result
    parsed: bool = True  # the values come from a parser: GX must evaluate every expectation itself


CASES: list[Case] = []


def case(id: str, *, parsed: bool = True) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        CASES.append(Case(id, run, parsed))
        return run

    return register


# ------------------------------------------------------------------------------------------------ helpers


def table_case(id: str, rows: list[dict[str, Any]], *, roster: Any = "auto", previous=None, pref: str = PREF,
               parsed: bool = True, **table_kw: Any) -> None:
    """A 様式11の3 table built by hand (tests/validate/factory.py), validated as tests/validate does."""

    def run(_: Path, use_gx: bool) -> ValidationResult:
        table = make_table(rows, **table_kw)
        ros = roster_for(rows, pref=pref) if roster == "auto" else roster
        return validate_home_care_report(table, prefecture_code=pref, fiscal_year=2025, roster=ros,
                                         previous=previous, use_gx=use_gx)

    CASES.append(Case(id, run, parsed))


@cache
def register_roster(pref: str) -> dict:
    """The roster of a demo register (include/demo/register), as the warehouse would give it."""
    from tsunagu.intake.register import parse_register

    paths = sorted((DEMO / "register").glob(f"{pref}*.xlsx"))
    return {e.institution_code: e for e in parse_register(paths[0]).roster} if paths else {}


def file_case(id: str, write: Callable[[Path], Path], *, pref: str, fiscal_year: int | None = 2025,
              template: str | None = None, validate_year: int = 2025, roster: bool = False) -> None:
    """A 様式11の3 file written by ``write``, parsed and validated (with the demo roster of ``pref``)."""

    def run(folder: Path, use_gx: bool) -> ValidationResult:
        folder.mkdir(parents=True, exist_ok=True)
        path = write(folder)
        tmpl = load_template("home_care_report", template) if template else load_template(
            "home_care_report", fiscal_year=fiscal_year or validate_year)
        table = parse_home_care_report(path, template=tmpl, prefecture_code=pref, fiscal_year=fiscal_year)
        return validate_home_care_report(table, prefecture_code=pref, fiscal_year=validate_year,
                                         roster=register_roster(pref) if roster else None, use_gx=use_gx)

    CASES.append(Case(id, run))


def grant_case(id: str, program: str, stage: str, write: Callable[[Path], Path], *, pref: str = gb.PREF,
               fiscal_year: int = 2024) -> None:
    def run(folder: Path, use_gx: bool) -> ValidationResult:
        from tsunagu.grants.validate import check_grant_file

        folder.mkdir(parents=True, exist_ok=True)
        return check_grant_file(write(folder), program=program, stage=stage, prefecture_code=pref,
                                fiscal_year=fiscal_year, use_gx=use_gx).result

    CASES.append(Case(id, run))


# ---------------------------------------------------------------------- tests/validate: tables by hand

table_case("validate/clean", [good_values(1), good_values(2)])
table_case("validate/gx_bad_rows", [
    good_values(1),
    good_values(2, avg_care_months=-0.5),
    good_values(3, institution_name=None, municipality_code="1234", notification_class="支援診9"),
    good_values(4, month_home_ratio=100.5, month_patients_home=60),
])
table_case("validate/missing_required_column", [good_values(1)],
           columns={k: v for k, v in COLUMNS.items() if k != "severe_children"})
table_case(
    "validate/structure_findings_carried_over", [good_values(1, total_patients=None, institution_name=None)],
    findings=[error("invalid_value", "5行目 I列『合計診療患者数』: 読めません", "unreadable", sheet="報告", row=5,
                    column="I", field="total_patients"),
              error("missing_column", "『死亡患者数』の列が見つかりません", "missing", sheet="報告", field="severe_children")],
    columns={k: v for k, v in COLUMNS.items() if k != "severe_children"},
)
table_case("validate/field_rules", [good_values(1, institution_number="0101", municipality_code="12345",
                                                facility_type="診療所", total_patients=-1, month_home_ratio=101.0,
                                                avg_care_months=-0.5)], roster=None)
_bad_number = number_for(1)[:6] + str((int(number_for(1)[6]) + 1) % 10)
table_case("validate/check_digits", [good_values(1, institution_number=_bad_number, municipality_code="111075")])
table_case("validate/tochigi_prefix_rule", [good_values(1, pref="09"),
                                            good_values(2, pref="09", institution_number=number_for(2, "11"))],
           pref="09")
table_case("validate/wrong_prefecture_on_the_row", [good_values(1, prefecture_code="12")])
table_case("validate/office_outside_the_jurisdiction", [good_values(1, prefecture_code="27")], pref="27", roster=None)
table_case("validate/institution_code_column", [
    good_values(1, institution_code=f"111{number_for(1)}"), good_values(2, institution_code=f"121{number_for(2)}"),
    good_values(3, institution_code=f"111{number_for(4)}")], columns={**COLUMNS, "institution_code": "Z"})
table_case("validate/roster_fills_type_and_class", [good_values(1, facility_type=None, notification_class=None)],
           roster=roster_for([good_values(1)], facility_type="hospital", notification_class="enhanced_network"),
           columns={k: v for k, v in COLUMNS.items() if k not in ("facility_type", "notification_class")})
table_case("validate/project_rules", [
    good_values(1, deaths_total=5), good_values(2, total_patients=5, deaths_total=6),
    good_values(3, emergency_house_calls=21), good_values(4, visits_total=99),
    good_values(5, month_home_ratio=41.5), good_values(6, month_patients_home=61, month_home_ratio=100.0),
    good_values(7, month_home_ratio=0.417), good_values(8, month_patients_all=0, month_patients_home=0,
                                                       month_home_ratio=5.0),
    good_values(9, month_home_ratio=None), good_values(1, institution_name="つなぐ診療所1(再掲)"),
])
table_case("validate/enhanced_classes", [
    good_values(1, notification_class="enhanced_network", fulltime_doctors=None, partner_institutions=None,
                emergency_house_calls=5, deaths_home=3, deaths_other_residence=0, deaths_total=5),
    good_values(2, notification_class="enhanced_single", fulltime_doctors=2, emergency_house_calls=10),
    good_values(3, notification_class="enhanced_network", fulltime_doctors=1, partner_institutions=3,
                emergency_house_calls=3, deaths_home=2, deaths_other_residence=2, deaths_total=6),
])
table_case("validate/year_over_year", [good_values(i, total_patients=40) for i in (1, 2, 3)],
           previous={f"111{number_for(1)}": {"total_patients": 13}, f"111{number_for(2)}": {"total_patients": 120}})
table_case("validate/reports_rows", [good_values(1, deaths_total=5),
                                     good_values(2, emergency_house_calls=21, visits_total=99), good_values(1)],
           roster=None)
for _pref in ("08", "09", "10", "11", "12", "13", "14", "15", "19", "20"):
    table_case(f"validate/valid_numbers_{_pref}", [good_values(7, pref=_pref)], pref=_pref)
table_case("validate/no_rows", [], roster={})


# ------------------------------------------------------------------- tests/intake: files as offices send

MITO = ["0110056", "水戸在宅クリニック", "水戸市三の丸3-12-48", 14.5, 120, 10, 5, 2, 2, 1, 0, 300, 40, 12, 250, 10,
        90, 60, 66.7, 3, 0]
KASAMA = ["0810027", "笠間ホームケア診療所", "笠間市笠間1", 8, 35, 3, 2, 0, 1, 0, 1, 95, 5, 1, 90, 0, 30, 28, 93.3, 1, 4]
assert len(MITO) == len(KASAMA) == len(FLAT_FIELDS)

file_case("intake/flat_header_titles_totals", lambda d: write_xlsx(d / "ibaraki.xlsx", [
    ["令和7年度 在宅療養支援診療所・在宅療養支援病院 定例報告 集計表"], ["茨城事務所", None, None, "令和7年8月1日現在"], [],
    FLAT_HEADER, MITO, [], KASAMA, [None, "合計", None, None, 155, 13], ["小計"], [None, "総　計", None, None, 155]]),
    pref="08")
file_case("intake/two_row_merged_header", lambda d: write_xlsx(d / "two.xlsx", [
    ["定例報告集計表"], [],
    ["No.", "医療機関番号", "医療機関名称", "平均診療期間（月）", "合計診療患者数", "死亡患者数", None, None, None, None,
     "超重症児・準超重症児の患者数", "訪問診療等の実施回数", None, None, None, None, "直近1月", None, None, "備考"],
    [None, None, None, None, None, "合計", "①医療機関以外・自宅", "②医療機関以外・自宅以外", "③医療機関・連携医療機関",
     "④医療機関・連携医療機関以外", None, "合計", "①往診", "うち緊急の往診", "②訪問診療", "③訪問看護",
     "①初診・再診・往診・訪問診療を実施した患者数", "②往診又は訪問診療を実施した患者数", "③ ②／①(%)", None],
    [1, "0110056", "水戸在宅クリニック", 14.5, 120, 10, 5, 2, 2, 1, 0, 300, 40, 12, 250, 10, 90, 60, 66.7, "新規"]],
    merges=["A3:A4", "B3:B4", "C3:C4", "D3:D4", "E3:E4", "F3:J3", "K3:K4", "L3:P3", "Q3:S3", "T3:T4"]), pref="08")
file_case("intake/three_row_header", lambda d: write_xlsx(d / "three.xlsx", [
    ["医療機関番号", "医療機関名称", "平均診療期間", "合計診療患者数", "死亡患者数", None, None, None, None],
    [None, None, None, None, "合計", "医療機関以外", None, "医療機関", None],
    [None, None, None, None, None, "自宅", "自宅以外", "連携医療機関", "連携医療機関以外"],
    ["0110056", "水戸在宅クリニック", 3, 12, 4, 1, 1, 1, 1]],
    merges=["A1:A3", "B1:B3", "C1:C3", "D1:D3", "E1:I1", "E2:E3", "F2:G2", "H2:I2"]), pref="08", fiscal_year=None)
file_case("intake/line_breaks_full_width_extra_columns", lambda d: write_xlsx(d / "messy.xlsx", [
    ["備考", "医療機関\n名称", "ＮＯ．", "医療機関番号\n（７桁）", "合計診療\n患者数", "死亡\u3000患者数",
     "１　医療機関以外・自宅", "②医療機関以外\n・自宅以外", "③　医療機関・連携医療機関", "④医療機関・\r\n連携医療機関以外",
     "超重症児・準超重症児の患者数", "訪問診療等の実施回数　合計", " ①往診 ", "（うち緊急の往診）", "② 訪問診療", "③訪問看護",
     "平均診療期間\n（か月）", "①初診・再診・往診・訪問診療を\n実施した患者数", "②往診又は訪問診療を\n実施した患者数",
     "③　②／①（％）", "担当者"],
    ["", "笠間ホームケア診療所", 1, "0810027", 35, 3, 2, 0, 1, 0, 1, 95, 5, 1, 90, 0, 8, 30, 28, 93.3, "鈴木"]]),
    pref="08")
_serial = (dt.date(2025, 8, 1) - dt.date(1899, 12, 30)).days
file_case("intake/value_variants", lambda d: write_xlsx(d / "values.xlsx", [
    ["医療機関番号", "医療機関名称", "報告基準日", "報告年度", "合計診療患者数", "死亡患者数", "平均診療期間（月）",
     "訪問診療等の実施回数", "③ ②／① (%)", "都道府県コード", "医療機関コード"],
    [110056, "水戸在宅クリニック", "令和7年8月1日", "令和7年度", "１２３", "－", "１４．５", "1,234", "66.7", 8, None],
    [810027.0, "笠間ホームケア", "R7.8.1", 2025, 45.0, "―", 8, "12,345", "－", "08", 810810027],
    ["０８１００２７", "友部診療所", _serial, "R7", "  7 ", "", "3.75", " 1 , 000 ", 100, None, None],
    ["0810027", "岩間医院", dt.datetime(2025, 8, 1), "2025年度", 0, 0, 0, 0, 0, None, None]]),
    pref="08", fiscal_year=None)
file_case("intake/invalid_values", lambda d: write_xlsx(d / "bad.xlsx", [
    ["定例報告"], FLAT_HEADER,
    ["0110056", "水戸在宅クリニック", "水戸市", "約3か月", 120, "abc", 5, 2, 2, 1, 0, 300, 40, 12.5, 250, 10, 90, 60,
     "66.7%", 3, 0],
    ["01100X6", "不明クリニック", "水戸市", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]), pref="08")
file_case("intake/missing_required_columns", lambda d: write_xlsx(d / "missing.xlsx", [
    [h for h in FLAT_HEADER if h not in ("死亡患者数", "うち緊急の往診")],
    [v for h, v in zip(FLAT_HEADER, MITO, strict=True) if h not in ("死亡患者数", "うち緊急の往診")]]), pref="08")
file_case("intake/header_on_a_later_sheet", lambda d: write_xlsx(
    d / "sheets.xlsx", [FLAT_HEADER, MITO], before={"記入要領": [["記入要領"], ["医療機関番号は7桁で記入"]]}), pref="08")
file_case("intake/file_columns_win", lambda d: write_xlsx(d / "full.xlsx", [
    ["都道府県コード", "医療機関コード", "区分", "受理記号", *FLAT_HEADER],
    ["8", "0810110056", "在支診", "支援診１", *MITO], [9, None, "在宅療養支援病院", "従来型", *KASAMA]]), pref="08")
for _encoding in ("cp932", "utf-8", "utf-8-sig"):
    file_case(f"intake/csv_{_encoding}", lambda d, e=_encoding: write_csv(d / f"report-{e}.csv", [
        ["医療機関番号", "医療機関名称", "合計診療患者数", "死亡患者数", "①医療機関以外・自宅", "備考"],
        ["0110056", "医療法人髙橋会　①クリニック", "1,200", "－", "１２", "ｶﾅ"], ["", "", "", "", "", ""],
        ["", "合計", "1,200", "0", "12", ""], ["110064", "㈱テスト診療所", "３", "―", "0", ""]], e), pref="08")
file_case("intake/template_2022_july_date", lambda d: write_xlsx(
    d / "2023.xlsx", [["7月1日現在", *FLAT_HEADER], ["令和5年7月1日", *MITO]]), pref="08", fiscal_year=2023,
    validate_year=2023)
file_case("intake/template_2020", lambda d: write_xlsx(d / "2020.xlsx", [FLAT_HEADER, MITO]), pref="08",
          fiscal_year=2021, template="2020-07", validate_year=2021)
file_case("intake/thousands_of_rows", lambda d: write_csv(d / "big.csv", [FLAT_HEADER] + [
    [f"{i:06d}0", f"診療所{i}", "市", "1.5", "1,200", "－", *MITO[6:]] for i in range(5000)], "cp932"), pref="08")
file_case("intake/totals_only_by_label_columns", lambda d: write_xlsx(d / "totals.xlsx", [
    ["No.", *FLAT_HEADER, "備考"], [1, *MITO, ""], ["合計", None, None, None, None, 155, 13],
    [None, None, "名称未記入", None, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "計算中"]]), pref="08")


def _office_file(d: Path) -> Path:
    """tests/validate/test_integration.py: the office's layout (no 都道府県コード, title rows)."""
    layout = ["institution_name", "institution_number", "address", "municipality_code", "notification_class",
              "avg_care_months", "total_patients", "deaths_total", "deaths_home", "deaths_other_residence",
              "deaths_partner_hospital", "deaths_other_hospital", "severe_children", "visits_total", "house_calls",
              "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all", "month_patients_home",
              "month_home_ratio", "fulltime_doctors", "partner_institutions"]
    template = load_template("home_care_report", fiscal_year=2025)
    rows = [good_values(1), good_values(2, deaths_total=7), good_values(3, total_patients="四十"), good_values(1)]
    return write_xlsx(d / "saitama.xlsx", [
        ["令和7年度 在宅療養支援診療所・在宅療養支援病院 定例報告 集計表(埼玉事務所)"], [],
        [template.field(f).label_ja for f in layout],
        *[["支援診３" if f == "notification_class" and r[f] == "standard" else r[f] for f in layout] for r in rows],
        ["合計"]])


file_case("validate/integration_office_file", _office_file, pref="11")


# ------------------------------------------------------------------------------------------ demo files


def _demo_home_care() -> list[Path]:
    paths = sorted(DEMO.glob("home_care_reports/*/*/*")) + sorted(DEMO.glob("cycle/*/home_care_reports/*/*/*"))
    return [p for p in paths if p.suffix.lower() in (".xlsx", ".csv")]


for _path in _demo_home_care():
    _fy, _pref = int(_path.parent.parent.name), _path.parent.name
    file_case(f"demo/{_path.relative_to(DEMO).as_posix()}", lambda d, p=_path: p, pref=_pref, fiscal_year=_fy,
              validate_year=_fy, roster=True)

for _path in sorted(DEMO.glob("grants/*/grants/*/*/*/*/*.xlsx")):
    _program, _stage, _fy, _pref = _path.parts[-5:-1]
    grant_case(f"demo/{_path.relative_to(DEMO).as_posix()}", _program, _stage, lambda d, p=_path: p, pref=_pref,
               fiscal_year=int(_fy))


# --------------------------------------------------------------------- grant files (tests/grants builders)

CS_CLEAN = [
    gb.cs_row(gb.KOFU, "general", 500_000_000, 1_234_567, 480_000_000),
    gb.cs_row(gb.KOFU, "comprehensive", 300_000_000, 0, 350_000_000),
    gb.cs_row(gb.KOFU, "social_security", 80_000_000, 500_000, 60_000_000),
    gb.cs_row(gb.HOKUTO, "comprehensive", 90_123_456, 0, 100_000_000),
]
CS_BAD = [
    *CS_CLEAN[:2],
    {**gb.cs_row(gb.TSURU, "general", 1_000, 0, 1_000), "category": "その他", "donations": None},
    {**gb.cs_row(gb.FUJIYOSHIDA, "comprehensive", 5, 0, 1_000), "total_cost": -5, "donations": -1},
    gb.cs_row("19201", "comprehensive", 1_000, 0, 1_000),  # 5 digits
    gb.cs_row("1920133", "comprehensive", 1_000, 0, 1_000),  # 7 digits
    gb.cs_row(None, "comprehensive", 1_000, 0, 1_000, insurer_name=None),
    gb.cs_row("192014", "comprehensive", 1_000, 0, 1_000),  # a wrong check digit
    gb.cs_row(gb.KOFU, "comprehensive", 1_000, 0, 1_000, total_cost="1,000", base_amount="１，０００"),
    gb.cs_row(gb.HOKUTO, "social_security", 1_000, 0, 1_000, total_cost=1000.5),  # not a whole number
    gb.cs_row(gb.TSURU, "comprehensive", 1_000, 0, 1_000, rate="38.5", grant=""),
]
for _stage in ("pre_consultation", "application", "change"):
    grant_case(f"grants/community_support/{_stage}/clean", "community_support", _stage,
               lambda d, s=_stage: gb.write_grant(d / f"{s}.xlsx", s, CS_CLEAN))
    grant_case(f"grants/community_support/{_stage}/edge", "community_support", _stage,
               lambda d, s=_stage: gb.write_grant(d / f"{s}.xlsx", s, CS_BAD))
grant_case("grants/community_support/application/csv_total_row_extra_column", "community_support", "application",
           lambda d: gb.write_grant(d / "application.csv", "application", CS_BAD, total_row=True, extra_column="備考"))
grant_case("grants/community_support/actual_report", "community_support", "actual_report",
           lambda d: gb.write_grant(d / "actual.xlsx", "actual_report", [
               gb.cs_row(gb.KOFU, "comprehensive", 100_000_000, 0, 120_000_000, decided=40_000_000),
               gb.cs_row(gb.KOFU, "general", 50_000_000, 0, 50_000_000, decided=10_000_000, confirmed=10_000_000,
                         refund=0),
               gb.cs_row(gb.HOKUTO, "comprehensive", 10_000_000, 0, 10_000_000, decided=4_000_000, refund=-1),
               gb.cs_row(gb.TSURU, "comprehensive", 1_000_000, 0, 1_000_000, decided=None)]))
grant_case("grants/community_support/redetermination", "community_support", "redetermination",
           lambda d: gb.write_grant(d / "redetermination.xlsx", "redetermination", [
               gb.cs_row(gb.KOFU, "comprehensive", 110_000_000, 0, 120_000_000, previous=38_500_000),
               gb.cs_row(gb.KOFU, "general", 50_000_000, 0, 50_000_000, previous=10_000_000),
               gb.cs_row(gb.HOKUTO, "comprehensive", 10_000_000, 0, 10_000_000, previous=4_000_000, change=0),
               gb.cs_row(gb.TSURU, "comprehensive", 1_000_000, 0, 1_000_000, previous=None)]))
grant_case("grants/community_support/adjustment_survey", "community_support", "adjustment_survey",
           lambda d: gb.write_grant(d / "survey.xlsx", "adjustment_survey", [
               gb.survey_row(gb.KOFU, 52_000, "1.02", "0.98", "5.0092%", 1_000_000_000),
               gb.survey_row(gb.HOKUTO, 15_000, "0.95", "1.05", "5.5%", 300_000_000),
               gb.survey_row(gb.TSURU, 9_000, "1.00", "1.00", "5%", 123_456_789, adjustment_grant=6_172_839),
               gb.survey_row(gb.FUJIYOSHIDA, -1, "", "1.00001", "120%", 0)]))


def _care_fund(d: Path, stage: str, rows_of: Callable[[Any], list[dict]]) -> Path:
    from tests.grants import test_care_fund as cf

    return cf.write(d / f"{stage}.xlsx", stage, rows_of(cf))


grant_case("grants/care_fund/requirement_survey", "care_fund", "requirement_survey", lambda d: _care_fund(
    d, "requirement_survey", lambda cf: [*cf.ALL_ROWS, cf.row("entry_promotion", -3, national=-2, prefecture=-1),
                                         {**cf.row("renovation", 3_000), "category": "その他", "project": None}]))
grant_case("grants/care_fund/balance_survey", "care_fund", "balance_survey", lambda d: _care_fund(
    d, "balance_survey", lambda cf: [cf.balance("renovation", 3_000, 1_000, 500, 1, 200, 100, 400),
                                     {**cf.balance("skill_improvement", 9_000, 0, 0, 0, 0, 0, 0), "deposits": -1}]))
grant_case("grants/care_fund/application", "care_fund", "application", lambda d: _care_fund(
    d, "application", lambda cf: [cf.row("renovation", 3_000, naiji=2_000), cf.row("entry_promotion", 4_000)]))


def _integrated_health(d: Path, stage: str, rows_of: Callable[[Any], list[dict]]) -> Path:
    from tests.grants import test_integrated_health as ih

    return ih.write(d / f"{stage}.xlsx", stage, rows_of(ih))


grant_case("grants/integrated_health/pre_application", "integrated_health", "pre_application",
           lambda d: _integrated_health(d, "pre_application", lambda ih: [
               *ih.CLEAN, ih.row(ih.TSURU, -1, 0, 0, 0), ih.row("1920", 1, 0, 0, 0), ih.row(ih.YAMANASHI, 0, 1, 2, 3)]))
grant_case("grants/integrated_health/actual_report", "integrated_health", "actual_report",
           lambda d: _integrated_health(d, "actual_report", lambda ih: [
               ih.row(ih.KOFU, 2, 1_000_000, 2_000_000, 3_000_000, actual=5_999_000, decided=6_000_000),
               ih.row(ih.FUJIYOSHIDA, 3, 4_000_000, 2_500_000, 1_234_567, decided=-1)]))


# ----------------------------------------------------------------------------- generated edge cases

# One value per row of a 様式11の3 office file, typed as an office would (through the parser).
EDGE_CELLS: list[tuple[str, Any]] = [
    ("institution_number", None), ("institution_number", ""), ("institution_number", "　"),
    ("institution_number", "011005"), ("institution_number", "01100560"), ("institution_number", "01100X6"),
    ("institution_number", "０１１００５６"), ("institution_number", "011-0056"), ("institution_number", 110056),
    ("institution_number", 110056.0), ("institution_number", -110056), ("institution_name", None),
    ("institution_name", "  "), ("address", None), ("municipality_code", "08201"), ("municipality_code", "082015"),
    ("municipality_code", "0820150"), ("municipality_code", "ABCDEF"), ("municipality_code", 82015),
    ("avg_care_months", -0.1), ("avg_care_months", 0), ("avg_care_months", "12.345"), ("avg_care_months", 3.75),
    ("avg_care_months", "1.23456789"), ("avg_care_months", "－"), ("avg_care_months", "約3か月"),
    ("total_patients", -1), ("total_patients", 0), ("total_patients", "1,234"), ("total_patients", "１２"),
    ("total_patients", 12.5), ("total_patients", "12.0"), ("total_patients", None), ("total_patients", 10**12),
    ("deaths_total", "―"), ("deaths_home", -5), ("severe_children", "abc"), ("house_calls", "  7 "),
    ("month_home_ratio", 100), ("month_home_ratio", 100.05), ("month_home_ratio", "100.04"),
    ("month_home_ratio", -0.04), ("month_home_ratio", "66.7%"), ("month_home_ratio", 0.5),
    ("month_home_ratio", "1e2"), ("month_home_ratio", None), ("fulltime_doctors", -1), ("fulltime_doctors", ""),
    ("partner_institutions", 0), ("notification_class", "支援診１"), ("notification_class", "支援診9"),
    ("notification_class", "在宅療養支援診療所"), ("notification_class", ""), ("notification_class", 1),
    ("facility_type", "在支病"), ("facility_type", "診療所"), ("facility_type", None),
    ("report_date", "令和7年8月1日"), ("report_date", "R7.8.1"), ("report_date", _serial),
    ("report_date", "令和7年13月1日"), ("report_date", "2025-08-01"), ("report_date", "あした"),
    ("report_date", dt.datetime(2025, 8, 1, 12, 30)), ("prefecture_code", "8"), ("prefecture_code", "008"),
    ("prefecture_code", "ab"), ("prefecture_code", 11.0), ("prefecture_code", "11"),
]
EDGE_LAYOUT = ["prefecture_code", "report_date", "facility_type", "notification_class", "municipality_code",
               "address", *[f for f in FLAT_FIELDS if f != "address"]]


def _edge_grid(template_version: str = "2024-08") -> list[list[Any]]:
    template = load_template("home_care_report", template_version)
    header = [template.field(f).label_ja for f in EDGE_LAYOUT]
    out: list[list[Any]] = [["令和7年度 定例報告 集計表（境界値）"], header]
    for i, (field, value) in enumerate(EDGE_CELLS, start=1):
        base = good_values(i, pref="11", notification_class="支援診３", facility_type="在支診", report_date="令和7年8月1日")
        base[field] = value
        out.append([base.get(f) for f in EDGE_LAYOUT])
    return out


file_case("edge/office_xlsx", lambda d: write_xlsx(d / "edge.xlsx", _edge_grid()), pref="11")
file_case("edge/office_csv_cp932", lambda d: write_csv(d / "edge.csv", [
    ["" if v is None else (v.isoformat() if isinstance(v, dt.date) else v) for v in r] for r in _edge_grid()],
    "cp932"), pref="11")

# Values put straight into a table, bypassing the parser: what the field rules see when a parser or a
# filler hands them anything. Numeric-only columns stay float64 in GX's frame, so GX evaluates these itself.
NUMERIC_EDGES = {
    "fiscal_year": [1999, 2000, 2100, 2101, None], "avg_care_months": [-0.5, -1e-9, 0.0, 1e300, math.nan],
    "total_patients": [-1, 0, 2**53, -(2**31), None], "month_home_ratio": [100, 100.0000001, -0.0, 99.99, 0.417],
    "deaths_home": [0, -0.0, 1.5, -1, 7],
}
table_case("edge/numeric_values_in_a_table", [
    good_values(i, **{f: NUMERIC_EDGES[f][i % 5] for f in NUMERIC_EDGES}) for i in range(1, 11)],
    columns={**COLUMNS, "fiscal_year": "Z"}, roster=None)
table_case("edge/code_and_enum_values_in_a_table", [
    good_values(1, institution_number="0110056\n", municipality_code=" 111074", facility_type="CLINIC"),
    good_values(2, institution_number="１２３４５６７", municipality_code="١٢٣٤٥٦", notification_class="standard "),
    good_values(3, institution_number="", municipality_code="", facility_type="", notification_class=""),
    good_values(4, institution_number=None, institution_name="", prefecture_code="1", facility_type="hospital"),
    good_values(5, prefecture_code="110", institution_code="11101234567", notification_class="enhanced_single"),
], columns={**COLUMNS, "institution_code": "Z"}, roster=None)
table_case("edge/mixed_types_in_a_table", [
    good_values(1, total_patients="四十", avg_care_months=Decimal("12.50"), month_home_ratio=True),
    good_values(2, total_patients=True, deaths_home=Decimal("-1"), municipality_code=111074,
                institution_number=110056.0),
    good_values(3, facility_type=1, notification_class=None, institution_number=dt.date(2025, 1, 1)),
    good_values(4, fulltime_doctors="", partner_institutions=" ", severe_children=math.nan),
], roster=None, parsed=False)


def _random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    """Rows a parser could produce (numbers as int/float/None, codes and enums as text/None), chosen at random."""
    rng = random.Random(seed)
    pools: dict[str, list[Any]] = {
        "institution_number": [None, "0110056", "011005", "01100567", "01100X6", "０１１００５６", "", "0000000"],
        "institution_name": [None, "", "診療所", " "],
        "municipality_code": [None, "111074", "11107", "1110744", "abcdef", "111075"],
        "prefecture_code": [None, "11", "1", "111", "08"],
        "facility_type": [None, "clinic", "hospital", "在支診", "診療所", ""],
        "notification_class": [None, "standard", "enhanced_single", "enhanced_network", "支援診1", "x"],
    }
    numbers = [None, -1, 0, 1, 100, 101, -0.5, 0.0, 12.5, 100.0, 100.1, 1e9, math.nan]
    rows = []
    for i in range(1, n + 1):
        values = {f: rng.choice(pool) for f, pool in pools.items()}
        values |= {f.id: rng.choice(numbers) for f in TEMPLATE.fields if f.type in ("int", "decimal")
                   and f.id != "fiscal_year"}
        rows.append(good_values(i, **values))
    return rows


table_case("edge/random_parser_shaped_rows", _random_rows(20251112, 300), roster=None)


# ------------------------------------------------------------------------------------------------ the test


def _shown(result: ValidationResult) -> list[tuple]:
    return [(f.code, f.severity, f.sheet, f.row, f.column, f.field, f.message_ja, f.message_en)
            for f in result.findings]


def test_every_case_is_collected():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert sum(i.startswith("demo/") for i in ids) >= 10  # 様式11の3 and grant demo files
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gx_and_python_give_the_same_findings(case: Case, tmp_path: Path, monkeypatch):
    calls = []
    original = hcr.field_rule_findings

    def both(table, rows, *, name, use_gx):
        found, gx_result = original(table, rows, name=name, use_gx=use_gx)
        if use_gx:  # what GX itself computed, next to what Python computes, expectation by expectation
            present = present_fields(table, rows)
            expectations = field_expectations(table.template, present)
            calls.append((expectations, gx_outcomes(gx_result, expectations),
                          [evaluate_python(e, rows, present) for e in expectations]))
        return found, gx_result

    monkeypatch.setattr(hcr, "field_rule_findings", both)  # grants/validate.py imports it at call time
    with_gx = case.run(tmp_path, True)
    without = case.run(tmp_path, False)
    assert calls, "the case never reached the field rules"
    assert with_gx.gx_result is not None and without.gx_result is None
    assert _shown(without) == _shown(with_gx)
    assert without.findings == with_gx.findings
    assert (without.status, without.rows, without.records) == (with_gx.status, with_gx.rows, with_gx.records)
    for expectations, gx, python in calls:
        assert len(expectations) == len(gx) == len(python) > 0
        differ = [(e.type, e.field, g, p) for e, g, p in zip(expectations, gx, python, strict=True)
                  if g is not None and g != p]
        assert differ == []
        if case.parsed:
            assert [(e.type, e.field) for e, g in zip(expectations, gx, strict=True) if g is None] == []
