"""地域医療介護総合確保基金（介護分） (care_fund) end to end: real xlsx files built with openpyxl, checked with
``check_grant_file`` (field rules in pure Python except in the GX test), exact findings for every rule and
computed column, clean files with exact records, and the stages read against each other through the
warehouse."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.grants.builders import accept_and_load as load_accepted
from tests.grants.builders import finding_tuples, letter_of, write_titled
from tsunagu.grants import money
from tsunagu.grants.config import load_program
from tsunagu.grants.programs import care_fund, program_module
from tsunagu.grants.validate import check_grant_file

PROGRAM, PREF, FY = "care_fund", "19", 2024  # 山梨県
SHEET = "区分・事業別"

BASE = [("prefecture_code", "都道府県コード"), ("category", "区分"), ("project", "事業"),
        ("eligible_cost", "対象経費"), ("national", "国庫"), ("prefecture", "都道府県")]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "requirement_survey": BASE,
    "application": [*BASE, ("naiji", "内示額")],
    "balance_survey": [*BASE, ("previous_balance", "前年度末残高"), ("deposits", "積立額"), ("interest", "運用益"),
                       ("withdrawals", "取崩額"), ("year_end_balance", "年度末残高"), ("executed", "執行額"),
                       ("budget", "予算額")],
    "actual_report": BASE,
}
CATEGORY_JA = {"facility": "施設分", "workforce": "人材分"}
PROJECT_JA = {
    "facility_development": "地域密着型サービス施設等の整備", "opening_preparation": "施設開設準備経費",
    "renovation": "既存施設等の改修", "entry_promotion": "参入促進", "skill_improvement": "資質の向上",
    "working_conditions": "労働環境・処遇の改善",
}
PROJECT_CATEGORY = {p: ("facility" if i < 3 else "workforce") for i, p in enumerate(PROJECT_JA)}


# ------------------------------------------------------------------------------- building files


def letter(stage: str, field: str) -> str:
    return letter_of(COLUMNS[stage], field)


def split(cost: int) -> tuple[int, int]:
    """国庫 (2/3, 1円未満切捨て) and 都道府県 (the rest), as a clerk's spreadsheet computes them."""
    national = cost * 2 // 3
    return national, cost - national


def row(project: str, cost: int, *, category: str | None = None, **overrides: Any) -> dict[str, Any]:
    """One correct row of a 区分・事業 (labels in Japanese, as a prefecture types them), then ``overrides``."""
    national, prefecture = split(cost)
    out: dict[str, Any] = {
        "prefecture_code": PREF, "category": CATEGORY_JA[category or PROJECT_CATEGORY[project]],
        "project": PROJECT_JA[project], "eligible_cost": cost, "national": national, "prefecture": prefecture,
    }
    out.update(overrides)
    return out


def balance(project: str, cost: int, previous: int, deposits: int, interest: int, withdrawals: int,
            executed: int, budget: int, **overrides: Any) -> dict[str, Any]:
    out = row(project, cost, previous_balance=previous, deposits=deposits, interest=interest,
              withdrawals=withdrawals, year_end_balance=previous + deposits + interest - withdrawals,
              executed=executed, budget=budget)
    out.update(overrides)
    return out


def write(path: Path, stage: str, rows: Iterable[Mapping[str, Any]], *, drop: Iterable[str] = ()) -> Path:
    """Title row, blank row, header on row 3, data from row 4 (``drop``: columns left out of the file)."""
    columns = [(f, label) for f, label in COLUMNS[stage] if f not in set(drop)]
    return write_titled(path, f"令和6年度 地域医療介護総合確保基金（介護分）{stage}（山梨県）", columns, rows, sheet=SHEET)


def check(path: Path, stage: str, *, warehouse: Any = None, use_gx: bool = False, prefecture_code: str = PREF):
    return check_grant_file(path, program=PROGRAM, stage=stage, prefecture_code=prefecture_code, fiscal_year=FY,
                            warehouse=warehouse, use_gx=use_gx)


def findings(checked) -> list[tuple]:
    return finding_tuples(checked)


def record(stage: str, r: Mapping[str, Any], source_row: int, **values: Any) -> dict[str, Any]:
    """The validator's record of a row built with ``row``: canonical values, filer, item and lineage."""
    category = next(k for k, v in CATEGORY_JA.items() if v == r["category"])
    project = next(k for k, v in PROJECT_JA.items() if v == r["project"])
    out: dict[str, Any] = {f: r.get(f) for f, _ in COLUMNS[stage]}
    out.update(category=category, project=project, **values)
    out.update(filer_code=out["prefecture_code"] or PREF, item_key=f"{category}/{project}", source_sheet=SHEET,
               source_row=source_row)
    return out


def at(stage: str, n: int, field: str, label: str) -> tuple[str, str]:
    """The 「4行目 E列『国庫』: 」 / 「Row 4, column E (national): 」 prefixes of a finding."""
    col = letter(stage, field)
    return f"{n}行目 {col}列『{label}』: ", f"Row {n}, column {col} ({field}): "


def accept_and_load(warehouse, path: Path, stage: str) -> dict:
    """Check a file with the warehouse, require it accepted, and load it as the stage's current rows."""
    return load_accepted(warehouse, check(path, stage, warehouse=warehouse), path, program=PROGRAM, stage=stage,
                         prefecture_code=PREF, fiscal_year=FY)


# ------------------------------------------------------------------------------- the module


def test_module_declares_the_interface():
    module = program_module(PROGRAM)
    assert module is care_fund
    assert module.COMPUTED == ("national", "prefecture", "year_end_balance")
    assert module.FILER_FIELD == "prefecture_code" and module.ITEM_FIELDS == ("category", "project")
    assert [r.code for r in module.RULES] == [
        "project_not_in_category", "exceeds_naiji", "negative_balance", "execution_rate",
        "execution_without_budget", "exceeds_application", "no_application"]
    assert {r.code: r.severity for r in module.RULES}["execution_rate"] == "warning"
    assert care_fund.item_key({"category": "facility", "project": "renovation"}) == "facility/renovation"
    assert care_fund.item_key({"category": "facility", "project": None}) == ""
    assert set(care_fund.PROJECTS) == set(PROJECT_JA)
    assert load_program(PROGRAM).rates(FY)["national"] == Fraction(2, 3)


def test_compute_follows_the_stage():
    class Ctx:
        config, fiscal_year, stage, prefecture_code = load_program(PROGRAM), FY, "balance_survey", PREF

    values = {"eligible_cost": 1_000, "national": None, "previous_balance": 100, "deposits": 50, "interest": 1,
              "withdrawals": 30}
    assert care_fund.compute(values, Ctx) == {"national": 666, "prefecture": 334, "year_end_balance": 121}
    # the 都道府県 share is the rest of the stated 国庫 when it is readable (one wrong 国庫, one finding)
    assert care_fund.compute({**values, "national": 700}, Ctx)["prefecture"] == 300
    Ctx.stage = "application"
    assert care_fund.compute(values, Ctx) == {"national": 666, "prefecture": 334}
    assert care_fund.compute({"eligible_cost": None}, Ctx) == {}
    assert care_fund.filer_of({"prefecture_code": None}, Ctx) == PREF
    assert care_fund.filer_of({"prefecture_code": "13"}, Ctx) == "13"


# ------------------------------------------------------------------------------- clean files


ALL_ROWS = [
    row("facility_development", 120_000_000), row("opening_preparation", 30_000_001), row("renovation", 9_999_999),
    row("entry_promotion", 5_000_000), row("skill_improvement", 1), row("working_conditions", 0),
]


def test_clean_requirement_survey_is_accepted_with_exact_records(tmp_path):
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", ALL_ROWS), "requirement_survey")
    assert checked.result.status == "accepted"
    assert findings(checked) == []
    assert checked.template_version == "2024" and checked.fiscal_year == FY
    assert checked.result.rows == 6
    assert checked.result.records == [record("requirement_survey", r, 4 + i) for i, r in enumerate(ALL_ROWS)]
    assert checked.result.records[1] == {
        "prefecture_code": "19", "category": "facility", "project": "opening_preparation",
        "eligible_cost": 30_000_001, "national": 20_000_000, "prefecture": 10_000_001, "filer_code": "19",
        "item_key": "facility/opening_preparation", "source_sheet": SHEET, "source_row": 5,
    }


def test_without_a_prefecture_column_the_sender_is_the_filer(tmp_path):
    rows = [row("renovation", 3_000), row("entry_promotion", 4_000)]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows, drop=["prefecture_code"]),
                    "requirement_survey")
    assert checked.result.status == "accepted" and findings(checked) == []
    assert [(r["prefecture_code"], r["filer_code"], r["item_key"], r["national"], r["prefecture"])
            for r in checked.result.records] == [
        (None, "19", "facility/renovation", 2_000, 1_000), (None, "19", "workforce/entry_promotion", 2_666, 1_334)]


def test_clean_file_with_gx_field_rules(tmp_path):
    """The same checks with the Great Expectations suite for the field rules; one cell breaks a field rule."""
    rows = [row("renovation", 3_000), row("entry_promotion", -3, national=-2, prefecture=-1)]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey", use_gx=True)
    assert checked.result.gx_result is not None
    assert findings(checked) == [
        ("out_of_range", "error", 5, col, field, f"5行目 {col}列『{label}』: 値({value})が範囲外です。0以上で記入してください",
         f"Row 5, column {col} ({field}): value {value} is out of range (must be ≥ 0)")
        for col, field, label, value in (("D", "eligible_cost", "対象経費", -3), ("E", "national", "国庫", -2),
                                         ("F", "prefecture", "都道府県", -1))
    ]
    assert checked.result.status == "rejected"
    clean = check(write(tmp_path / "clean.xlsx", "requirement_survey", ALL_ROWS), "requirement_survey", use_gx=True)
    assert clean.result.status == "accepted" and findings(clean) == []
    assert clean.result.records == [record("requirement_survey", r, 4 + i) for i, r in enumerate(ALL_ROWS)]


# ------------------------------------------------------------------------------- computed columns


def test_national_share_is_two_thirds_truncated(tmp_path):
    rows = [row("renovation", 1_000, national=667, prefecture=333),  # rounded up instead of truncated
            row("entry_promotion", 1_000, prefecture=300),  # the rest is wrong
            row("skill_improvement", 1_000, national=700, prefecture=300)]  # 国庫 wrong, 都道府県 its rest
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    ja4, en4 = at("requirement_survey", 4, "national", "国庫")
    ja5, en5 = at("requirement_survey", 5, "prefecture", "都道府県")
    ja6, en6 = at("requirement_survey", 6, "national", "国庫")
    assert findings(checked) == [
        ("computed_mismatch", "error", 4, "E", "national",
         ja4 + "667円と記入されていますが、対象経費 × 2/3（1円未満切捨て）で計算すると666円です（差 1円）",
         en4 + "stated 667 yen, but eligible cost × 2/3 (truncated to 1 yen) gives 666 yen (difference 1)"),
        ("computed_mismatch", "error", 5, "F", "prefecture",
         ja5 + "300円と記入されていますが、対象経費 − 国庫で計算すると334円です（差 -34円）",
         en5 + "stated 300 yen, but eligible cost − national share gives 334 yen (difference -34)"),
        ("computed_mismatch", "error", 6, "E", "national",
         ja6 + "700円と記入されていますが、対象経費 × 2/3（1円未満切捨て）で計算すると666円です（差 34円）",
         en6 + "stated 700 yen, but eligible cost × 2/3 (truncated to 1 yen) gives 666 yen (difference 34)"),
    ]
    assert checked.result.status == "rejected"


def test_year_end_balance_is_computed(tmp_path):
    rows = [balance("renovation", 3_000, 1_000_000, 500_000, 1_234, 200_000, 150, 300, year_end_balance=1_301_235)]
    checked = check(write(tmp_path / "balance.xlsx", "balance_survey", rows), "balance_survey")
    ja, en = at("balance_survey", 4, "year_end_balance", "年度末残高")
    jx, ex = at("balance_survey", 4, "executed", "執行額")
    assert findings(checked) == [
        ("computed_mismatch", "error", 4, "K", "year_end_balance",
         ja + "1,301,235円と記入されていますが、前年度末残高 + 積立額 + 運用益 − 取崩額で計算すると1,301,234円です（差 1円）",
         en + "stated 1,301,235 yen, but previous balance + deposits + interest − withdrawals gives 1,301,234 yen "
              "(difference 1)"),
        ("execution_rate", "warning", 4, "L", "executed",
         jx + "執行率 50.0%（500‰）: 執行額 150円 ÷ 予算額 300円", ex + "execution rate 50.0% (500‰): executed 150 yen ÷ budget 300 yen"),
    ]


# ------------------------------------------------------------------------------- rules


def test_project_must_belong_to_its_category(tmp_path):
    rows = [row("renovation", 3_000, category="workforce"), row("entry_promotion", 3_000, category="facility")]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    ja4, en4 = at("requirement_survey", 4, "project", "事業")
    ja5, en5 = at("requirement_survey", 5, "project", "事業")
    assert findings(checked) == [
        ("project_not_in_category", "error", 4, "C", "project",
         ja4 + "事業『既存施設等の改修』は人材分の事業ではありません（人材分の事業: 参入促進、資質の向上、労働環境・処遇の改善）",
         en4 + "project renovation is not a project of category workforce (its projects: entry_promotion, "
               "skill_improvement, working_conditions)"),
        ("project_not_in_category", "error", 5, "C", "project",
         ja5 + "事業『参入促進』は施設分の事業ではありません（施設分の事業: 地域密着型サービス施設等の整備、施設開設準備経費、既存施設等の改修）",
         en5 + "project entry_promotion is not a project of category facility (its projects: facility_development, "
               "opening_preparation, renovation)"),
    ]


def test_the_filer_is_the_sending_prefecture(tmp_path):
    rows = [row("renovation", 3_000), row("entry_promotion", 3_000, prefecture_code="13")]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    ja, en = at("requirement_survey", 5, "prefecture_code", "都道府県コード")
    assert findings(checked) == [
        ("wrong_prefecture", "error", 5, "A", "prefecture_code",
         ja + "都道府県 13 は東京都(13)の都道府県です。送付元の山梨県(19)の分だけを記入してください",
         en + "prefecture 13 belongs to prefecture 13, not to the sending prefecture 19"),
    ]
    assert checked.result.status == "rejected"


def test_a_file_of_another_prefecture_sent_as_ours(tmp_path):
    """Every row says 長野 (20) but 山梨 (19) sent it: every row is out of scope, and 山梨 has no row."""
    rows = [row("renovation", 3_000, prefecture_code="20")]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    assert [(f.code, f.severity, f.row, f.field) for f in checked.result.findings] == [
        ("missing_filers", "warning", None, None), ("wrong_prefecture", "error", 4, "prefecture_code")]
    assert checked.result.findings[0].message_ja == (
        "山梨県の都道府県のうち1件の行がありません（地域医療介護総合確保基金（介護分） 所要額調査（国庫補助協議））: 19 山梨県。"
        "後から別のファイルで送付できます")


def test_one_row_per_category_and_project(tmp_path):
    rows = [row("renovation", 3_000), row("renovation", 6_000)]
    checked = check(write(tmp_path / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    ja, en = at("requirement_survey", 5, "category", "区分")
    assert findings(checked) == [
        ("duplicate_row", "error", 5, "B", "category",
         ja + "19・facility/renovation の行が4行目と重複しています。1行にまとめてください",
         en + "19 / facility/renovation is also on row 4; give one row per filer and item"),
    ]


def test_application_national_within_naiji(tmp_path):
    rows = [row("renovation", 3_000, naiji=2_000),  # 国庫 2,000 = 内示額: fine
            row("entry_promotion", 3_000, naiji=1_999)]  # 国庫 2,000 > 内示額 1,999
    checked = check(write(tmp_path / "application.xlsx", "application", rows), "application")
    ja, en = at("application", 5, "national", "国庫")
    assert findings(checked) == [
        ("exceeds_naiji", "error", 5, "E", "national",
         ja + "国庫 2,000円が人材分・参入促進の内示額 1,999円を超えています",
         en + "national share 2,000 yen exceeds the notified amount (内示額) of workforce/entry_promotion (1,999 yen)"),
    ]
    ok = check(write(tmp_path / "ok.xlsx", "application", rows[:1]), "application")
    assert ok.result.status == "accepted" and findings(ok) == []
    assert ok.result.records == [record("application", rows[0], 4)]


def test_balance_survey_clean_reports_every_execution_rate(tmp_path):
    rows = [balance("facility_development", 90_000_000, 500_000_000, 120_000_000, 35_000, 90_000_000,
                    90_000_000, 135_000_000),
            balance("entry_promotion", 3_000, 10_000, 0, 0, 0, 1, 3),
            balance("skill_improvement", 0, 0, 0, 0, 0, 0, 0)]  # no budget, nothing executed: no rate
    checked = check(write(tmp_path / "balance.xlsx", "balance_survey", rows), "balance_survey")
    assert checked.result.status == "accepted"
    ja4, en4 = at("balance_survey", 4, "executed", "執行額")
    ja5, en5 = at("balance_survey", 5, "executed", "執行額")
    assert findings(checked) == [
        ("execution_rate", "warning", 4, "L", "executed",
         ja4 + "執行率 66.7%（667‰）: 執行額 90,000,000円 ÷ 予算額 135,000,000円",
         en4 + "execution rate 66.7% (667‰): executed 90,000,000 yen ÷ budget 135,000,000 yen"),
        ("execution_rate", "warning", 5, "L", "executed",
         ja5 + "執行率 33.3%（333‰）: 執行額 1円 ÷ 予算額 3円",
         en5 + "execution rate 33.3% (333‰): executed 1 yen ÷ budget 3 yen"),
    ]
    assert checked.result.records == [record("balance_survey", r, 4 + i) for i, r in enumerate(rows)]
    assert checked.result.records[0]["year_end_balance"] == 530_035_000


def test_execution_rate_in_the_json_report(tmp_path):
    """The 執行率 is a finding, so it is in the JSON report (records are not)."""
    from tsunagu.validate.reports import report_json

    rows = [balance("renovation", 3_000, 0, 1_000, 0, 600, 600, 800)]
    checked = check(write(tmp_path / "balance.xlsx", "balance_survey", rows), "balance_survey")
    data = report_json(checked.result)
    assert data["status"] == "accepted" and data["counts"] == {"error": 0, "warning": 1}
    assert data["errors"] == [{
        "code": "execution_rate", "severity": "warning", "sheet": SHEET, "row": 4, "column": "L",
        "field": "executed", "message_ja": "4行目 L列『執行額』: 執行率 75.0%（750‰）: 執行額 600円 ÷ 予算額 800円",
        "message_en": "Row 4, column L (executed): execution rate 75.0% (750‰): executed 600 yen ÷ budget 800 yen",
    }]


def test_fund_balance_never_below_zero_and_execution_without_budget(tmp_path):
    rows = [balance("renovation", 3_000, 100, 50, 1, 152, 0, 0),  # withdraws 152 from 151
            balance("entry_promotion", 3_000, 100, 0, 0, 0, 5, 0)]  # executed without a budget
    checked = check(write(tmp_path / "balance.xlsx", "balance_survey", rows), "balance_survey")
    ja4, en4 = at("balance_survey", 4, "withdrawals", "取崩額")
    ja5, en5 = at("balance_survey", 5, "budget", "予算額")
    assert checked.result.records[0]["year_end_balance"] == -1  # as stated (no min on a balance)
    assert findings(checked) == [
        ("negative_balance", "error", 4, "J", "withdrawals",
         ja4 + "取崩額 152円が前年度末残高・積立額・運用益の合計 151円を超えています（年度末残高 -1円）",
         en4 + "withdrawals 152 yen exceed previous balance + deposits + interest (151 yen); the year-end balance "
               "would be -1 yen"),
        ("execution_without_budget", "warning", 5, "M", "budget",
         ja5 + "予算額が0円のため執行率を計算できません（執行額 5円）", en5 + "the budget is 0, so no execution rate (executed 5 yen)"),
    ]


# ------------------------------------------------------------------------------- between stages


def test_actual_report_without_an_accepted_application_warns(tmp_path):
    rows = [row("renovation", 3_000)]
    checked = check(write(tmp_path / "actual.xlsx", "actual_report", rows), "actual_report")
    ja, en = at("actual_report", 4, "national", "国庫")
    assert findings(checked) == [
        ("no_application", "warning", 4, "E", "national",
         ja + "施設分・既存施設等の改修について、2024年度の交付申請の受付がないため、国庫の上限を確認できませんでした",
         en + "no accepted application row for facility/renovation in 2024: the national share was not checked"),
    ]
    assert checked.result.status == "accepted"


def test_actual_report_national_within_the_accepted_application(tmp_path, wh):
    applied = accept_and_load(wh, write(tmp_path / "application.xlsx", "application", [
        row("renovation", 3_000, naiji=2_000), row("entry_promotion", 6_000, naiji=5_000)]), "application")
    assert applied == {
        ("19", "facility/renovation"): {"eligible_cost": 3_000, "naiji": 2_000, "national": 2_000, "prefecture": 1_000},
        ("19", "workforce/entry_promotion"): {"eligible_cost": 6_000, "naiji": 5_000, "national": 4_000,
                                              "prefecture": 2_000},
    }
    rows = [row("renovation", 3_000),  # 国庫 2,000 = applied: fine
            row("entry_promotion", 6_002),  # 国庫 4,001 > applied 4,000
            row("skill_improvement", 30)]  # not applied for
    checked = check(write(tmp_path / "actual.xlsx", "actual_report", rows), "actual_report", warehouse=wh)
    ja5, en5 = at("actual_report", 5, "national", "国庫")
    ja6, en6 = at("actual_report", 6, "national", "国庫")
    assert findings(checked) == [
        ("exceeds_application", "error", 5, "E", "national",
         ja5 + "国庫 4,001円が受け付けた交付申請の人材分・参入促進の国庫 4,000円を超えています",
         en5 + "national share 4,001 yen exceeds the accepted application's national share for "
               "workforce/entry_promotion (4,000 yen)"),
        ("no_application", "warning", 6, "E", "national",
         ja6 + "人材分・資質の向上について、2024年度の交付申請の受付がないため、国庫の上限を確認できませんでした",
         en6 + "no accepted application row for workforce/skill_improvement in 2024: the national share was not checked"),
    ]
    ok = check(write(tmp_path / "ok.xlsx", "actual_report", rows[:1] + [row("entry_promotion", 5_000)]),
               "actual_report", warehouse=wh)
    assert ok.result.status == "accepted" and findings(ok) == []


def test_every_stage_in_turn_through_the_warehouse(tmp_path, warehouse):
    """所要額調査 → 交付申請 → 執行状況・残高調査 → 実績報告 on SQLite and real PostgreSQL."""
    survey = accept_and_load(warehouse, write(tmp_path / "s.xlsx", "requirement_survey", ALL_ROWS), "requirement_survey")
    assert len(survey) == 6
    application = [row(p, r["eligible_cost"], naiji=r["national"])
                   for p, r in zip(PROJECT_JA, ALL_ROWS, strict=True)]
    applied = accept_and_load(warehouse, write(tmp_path / "a.xlsx", "application", application), "application")
    assert applied[("19", "facility/facility_development")]["national"] == 80_000_000
    rows = [balance("facility_development", 120_000_000, 0, 120_000_000, 0, 80_000_000, 80_000_000, 80_000_000)]
    checked = check(write(tmp_path / "b.xlsx", "balance_survey", rows), "balance_survey", warehouse=warehouse)
    assert [f.code for f in checked.result.findings] == ["execution_rate"]
    assert checked.result.findings[0].message_ja.endswith("執行率 100.0%（1000‰）: 執行額 80,000,000円 ÷ 予算額 80,000,000円")
    actual = [row(p, r["eligible_cost"]) for p, r in zip(PROJECT_JA, ALL_ROWS, strict=True)]
    actual[0] = row("facility_development", 120_000_002)  # 国庫 80,000,001 > 80,000,000
    checked = check(write(tmp_path / "r.xlsx", "actual_report", actual), "actual_report", warehouse=warehouse)
    assert [(f.code, f.row) for f in checked.result.findings] == [("exceeds_application", 4)]


# ------------------------------------------------------------------------------- properties


@given(st.integers(min_value=0, max_value=10**13))
def test_split_adds_up_for_any_cost(cost):
    class Ctx:
        config, fiscal_year, stage, prefecture_code = load_program(PROGRAM), FY, "requirement_survey", PREF

    computed = care_fund.compute({"eligible_cost": cost}, Ctx)
    assert computed["national"] + computed["prefecture"] == cost
    assert (computed["national"], computed["prefecture"]) == money.split_national(cost, Fraction(2, 3))
    assert 0 <= cost * 2 - 3 * computed["national"] < 3  # floor(cost × 2/3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=6))
def test_a_file_stating_the_split_is_accepted(costs):
    rows = [row(project, cost) for project, cost in zip(PROJECT_JA, costs, strict=False)]
    assert all(r["national"] + r["prefecture"] == r["eligible_cost"] for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        checked = check(write(Path(tmp) / "survey.xlsx", "requirement_survey", rows), "requirement_survey")
    assert checked.result.status == "accepted" and findings(checked) == []
    assert [(r["national"], r["prefecture"]) for r in checked.result.records] == [
        money.split_national(c, Fraction(2, 3)) for c in costs]
