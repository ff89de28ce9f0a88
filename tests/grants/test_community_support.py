"""地域支援事業交付金 (community_support): real xlsx / CSV files through the common grant intake → validate.

Every rule, computed column and stage-consistency case gives an exact finding (code, severity, row,
column, field, Japanese and English message). Files are built by tests/grants/builders.py; earlier
stages and 個別協議 approvals are given directly (``validate_grant``) — the warehouse path is in
test_grant_warehouse.py.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.grants.builders import (
    CATEGORY_JA,
    FUJIYOSHIDA,
    HOKUTO,
    KOFU,
    PREF,
    RATES,
    TSURU,
    cs_row,
    grid,
    survey_row,
    write_csv,
    write_grant,
    write_xlsx,
)
from tsunagu.grants import money
from tsunagu.grants.programs import community_support as cs
from tsunagu.grants.programs import program_module, template_kind
from tsunagu.grants.validate import COMMON, check_grant_file, validate_grant
from tsunagu.intake.grant import load_grant_template, parse_grant, to_ratio

PROGRAM, FY, SHEET = "community_support", 2024, "保険者別一覧"
INSURERS_19 = 27


def check(path: Path, stage: str, **kw):
    return check_grant_file(path, program=PROGRAM, stage=stage, prefecture_code=kw.pop("pref", PREF),
                            fiscal_year=kw.pop("fy", FY), use_gx=kw.pop("use_gx", False), **kw)


def validate(tmp_path: Path, stage: str, rows: list[dict], *, earlier=None, approvals=None, name="f.xlsx", **kw):
    template = load_grant_template(PROGRAM, stage, FY)
    table = parse_grant(write_grant(tmp_path / name, stage, rows, **kw), template=template)
    return validate_grant(table, program=PROGRAM, stage=stage, prefecture_code=PREF, fiscal_year=FY,
                          earlier=earlier, approvals=approvals, use_gx=False)


def shown(findings, *, skip=("missing_filers", "general_cap_unknown")):
    """Findings as tuples, without the warnings most tests do not look at."""
    return [(f.code, f.severity, f.row, f.column, f.field, f.message_ja, f.message_en)
            for f in findings if f.code not in skip]


def codes(findings):
    return [(f.code, f.row, f.field) for f in findings]


# ---------------------------------------------------------------------------------- the interface


def test_program_module_interface_and_templates():
    module = program_module(PROGRAM)
    assert module is cs and module.FILER_FIELD == "insurer_number" and module.ITEM_FIELDS == ("category",)
    assert set(module.FORMULAS) == set(module.COMPUTED)
    assert template_kind(PROGRAM, "application") == "grant_community_support_application"
    with pytest.raises(ValueError, match="unknown grant program"):
        program_module("nope")
    for stage in ("pre_consultation", "application", "change", "actual_report", "adjustment_survey",
                  "redetermination"):
        template = load_grant_template(PROGRAM, stage, FY)
        assert template.kind == f"grant_community_support_{stage}" and template.valid_from_fiscal_year == 2024
        assert template.field("insurer_number").digits == 6
        assert all(template.field(f).type == "int" for f in template.field_ids
                   if f in cs.COMPUTED or f in ("total_cost", "donations", "base_amount", "decided"))
    actual = load_grant_template(PROGRAM, "actual_report", FY)
    assert actual.field_ids[-3:] == ["decided", "confirmed", "refund"]
    assert "交付決定額" in actual.field("decided").labels and "実支出額" in actual.field("total_cost").labels
    assert load_grant_template(PROGRAM, "redetermination", FY).field_ids[-2:] == ["previous_confirmed", "change"]
    assert [r.name for r in COMMON] == ["filer_code_is_valid", "filer_in_sending_prefecture", "filer_is_expected",
                                        "one_row_per_key", "computed_columns", "expected_filers_missing"]


@pytest.mark.parametrize(("text", "value"), [
    ("20%", Fraction(1, 5)), ("38.5％", Fraction(77, 200)), ("0.385", Fraction(77, 200)), (0.385, Fraction(77, 200)),
    (0.2, Fraction(1, 5)), ("３８．５％", Fraction(77, 200)), (1, Fraction(1)), ("20", Fraction(20)), ("", None),
])
def test_rates_are_read_exactly(text, value):
    assert to_ratio(text) == value


@pytest.mark.parametrize("text", ["二割", "20%%", "abc", True])
def test_unreadable_rates(text):
    with pytest.raises(ValueError):
        to_ratio(text)


def test_compute_follows_money():
    class Ctx:
        stage, fiscal_year = "actual_report", FY
        config = __import__("tsunagu.grants.config", fromlist=["load_program"]).load_program(PROGRAM)

    values = {"category": "comprehensive", "total_cost": 1_000_000, "donations": 1, "base_amount": 900_000,
              "rate": Fraction(1, 2), "decided": 400_000}
    # the config's rate (38.5%) is used, not the stated one
    assert cs.compute(values, Ctx) == {"difference": 999_999, "selected": 900_000, "grant": 346_000,
                                       "confirmed": 346_000, "refund": 54_000}
    assert cs.compute({**values, "base_amount": None}, Ctx) == {"difference": 999_999}
    assert cs.compute({**values, "donations": None}, Ctx) == {}
    assert cs.compute({"target_cost": 10_123_456, "adjustment_rate": Fraction(5, 100)},
                      type("S", (), {"stage": "adjustment_survey"})) == {"adjustment_grant": 506_000}


# ---------------------------------------------------------------------------------- clean files


CLEAN = [
    cs_row(KOFU, "general", 500_000_000, 1_234_567, 480_000_000),
    cs_row(KOFU, "comprehensive", 300_000_000, 0, 350_000_000),
    cs_row(KOFU, "social_security", 80_000_000, 500_000, 60_000_000),
    cs_row(HOKUTO, "comprehensive", 90_123_456, 0, 100_000_000),
]


def test_clean_file_accepted_with_exact_records(tmp_path):
    checked = check(write_grant(tmp_path / "事前協議.xlsx", "pre_consultation", CLEAN), "pre_consultation")
    result = checked.result
    assert (result.status, result.rows, checked.template_version, checked.fiscal_year) == ("accepted", 4, "2024", FY)
    assert [(f.code, f.severity, f.row, f.sheet) for f in result.findings] == [("missing_filers", "warning", None, SHEET)]
    missing = result.findings[0]
    assert missing.message_ja.startswith(
        f"山梨県の保険者のうち{INSURERS_19 - 2}件の行がありません（地域支援事業交付金 当初交付 事前協議）: "
        f"{FUJIYOSHIDA} 富士吉田市、{TSURU} 都留市、")
    assert missing.message_ja.endswith("194431 丹波山村。後から別のファイルで送付できます")
    assert missing.message_en.startswith(f"25 expected filers (insurer) of prefecture 19 have no rows for "
                                         f"pre_consultation: {FUJIYOSHIDA}, {TSURU}, ")
    assert result.records == [
        {"insurer_number": KOFU, "insurer_name": "甲府市", "category": "general", "total_cost": 500_000_000,
         "donations": 1_234_567, "difference": 498_765_433, "base_amount": 480_000_000, "selected": 480_000_000,
         "rate": Fraction(1, 5), "grant": 96_000_000, "filer_code": KOFU, "item_key": "general",
         "source_sheet": SHEET, "source_row": 4},
        {"insurer_number": KOFU, "insurer_name": "甲府市", "category": "comprehensive", "total_cost": 300_000_000,
         "donations": 0, "difference": 300_000_000, "base_amount": 350_000_000, "selected": 300_000_000,
         "rate": Fraction(77, 200), "grant": 115_500_000, "filer_code": KOFU, "item_key": "comprehensive",
         "source_sheet": SHEET, "source_row": 5},
        {"insurer_number": KOFU, "insurer_name": "甲府市", "category": "social_security", "total_cost": 80_000_000,
         "donations": 500_000, "difference": 79_500_000, "base_amount": 60_000_000, "selected": 60_000_000,
         "rate": Fraction(77, 200), "grant": 23_100_000, "filer_code": KOFU, "item_key": "social_security",
         "source_sheet": SHEET, "source_row": 6},
        {"insurer_number": HOKUTO, "insurer_name": "北杜市", "category": "comprehensive", "total_cost": 90_123_456,
         "donations": 0, "difference": 90_123_456, "base_amount": 100_000_000, "selected": 90_123_456,
         "rate": Fraction(77, 200), "grant": 34_697_000, "filer_code": HOKUTO, "item_key": "comprehensive",
         "source_sheet": SHEET, "source_row": 7},
    ]


def test_gx_and_python_field_rules_agree(tmp_path):
    rows = [*CLEAN, {**cs_row(TSURU, "general", 1_000, 0, 1_000), "category": "その他", "donations": None}]
    path = write_grant(tmp_path / "f.xlsx", "pre_consultation", rows)
    with_gx, without = check(path, "pre_consultation", use_gx=True), check(path, "pre_consultation")
    assert shown(with_gx.result.findings, skip=()) == shown(without.result.findings, skip=())
    assert with_gx.result.gx_result is not None
    assert shown(without.result.findings) == [
        ("invalid_value", "error", 8, "C", "category",
         "C列 8行目: 『事業区分』の値『その他』は想定された区分（介護予防日常生活支援総合事業、介護予防日常生活支援総合事業費、"
         "包括的支援事業任意事業、包括的支援事業及び任意事業、包括的支援事業地域包括支援センターの運営任意事業、"
         "包括的支援事業地域包括支援センターの運営及び任意事業、包括的支援事業地域包括支援センター運営及び任意事業、"
         "包括的支援事業社会保障充実分 など）にありません",
         "Cell C8: 'category' value 'その他' is not one of the expected values"),
        ("missing_value", "error", 8, "E", "donations", "8行目 E列『寄附金その他の収入額』: 記入が必要です(空欄になっています)",
         "Row 8, column E (donations): a value is required, but the cell is blank"),
    ]


def test_label_variants_two_row_header_units_and_totals_tolerated(tmp_path):
    """Another layout: other label texts, a section row over the items, a units row, text numbers, a 合計 row."""
    header_top = ["保険者", None, "区分", "事業費", None, None, None, None, None, None]
    header_items = ["番号", "名称", None, "総事業費(A)", "寄附金等", "差引額(A－B)", "交付基準額", "選定額", "国庫負担率",
                    "交付金額"]
    units = [None, None, None, "(円)", "(円)", "(円)", "(円)", "(円)", None, "(円)"]
    rows = [
        ["令和６年度 地域支援事業交付金 事前協議（山梨県）"], [],
        header_top, header_items, units,
        ["192013", "甲府市", "総合事業", "500,000,000", "－", 500_000_000, "４８０，０００，０００", 480_000_000, 0.2,
         96_000_000],
        [192013, "甲府市", "包括的支援事業・任意事業", 300_000_000, 0, 300_000_000, 350_000_000, 300_000_000,
         "38.5％", 115_500_000],
        [None, "小計", None, 800_000_000, 0, 800_000_000, None, 780_000_000, None, 211_500_000],
        ["192096", "北杜市", "社会保障充実分", 10_000_000, 0, 10_000_000, 9_000_000, 9_000_000, 0.385, 3_465_000],
        [],
        [None, "合計", None, 810_000_000, 0, 810_000_000, None, 789_000_000, None, 214_965_000],
    ]
    path = write_xlsx(tmp_path / "variants.xlsx", rows, merges=["A3:B3", "D3:J3"])
    result = check(path, "pre_consultation").result
    assert result.status == "accepted" and shown(result.findings) == []
    assert [(r["source_row"], r["filer_code"], r["item_key"], r["total_cost"], r["donations"], r["base_amount"],
             r["rate"]) for r in result.records] == [
        (6, KOFU, "general", 500_000_000, 0, 480_000_000, Fraction(1, 5)),
        (7, KOFU, "comprehensive", 300_000_000, 0, 350_000_000, Fraction(77, 200)),
        (9, HOKUTO, "social_security", 10_000_000, 0, 9_000_000, Fraction(77, 200)),
    ]


def test_cp932_csv_accepted(tmp_path):
    path = write_csv(tmp_path / "申請.csv", grid("application", CLEAN))
    result = check(path, "application").result
    assert result.status == "accepted"
    assert [r["grant"] for r in result.records] == [96_000_000, 115_500_000, 23_100_000, 34_697_000]
    assert {f.code for f in result.findings} == {"missing_filers", "no_pre_consultation"}


def test_a_real_layout_is_mapped_by_adding_labels_only(tmp_path, monkeypatch):
    """A header text the template does not know makes a missing column; adding it to `labels` maps it."""
    import shutil

    from tsunagu.intake import templates as templates_module

    rows = grid("pre_consultation", CLEAN, labels={"base_amount": "基準額（国庫補助基準）"})
    path = write_xlsx(tmp_path / "real.xlsx", rows)
    # the 国庫補助基準 wording is not among the labels: the column is missing
    assert [(f.code, f.field) for f in check(path, "pre_consultation").result.findings if f.severity == "error"] == [
        ("missing_column", "base_amount")]
    include = tmp_path / "include"
    shutil.copytree(templates_module.include_dir() / "templates", include / "templates")
    base = include / "templates" / "grant_community_support_pre_consultation" / "2024.yaml"
    base.write_text(base.read_text(encoding="utf-8").replace(
        "labels: [基準額, 基準額(D), 交付基準額, 基準額(上限)]",
        "labels: [基準額, 基準額(D), 交付基準額, 基準額(上限), 基準額（国庫補助基準）]"), encoding="utf-8")
    monkeypatch.setattr(templates_module, "include_dir", lambda: include)
    result = check(path, "pre_consultation").result
    assert result.status == "accepted" and result.records[0]["base_amount"] == 480_000_000


# ---------------------------------------------------------------------------------- unreadable / structure


def test_float_amount_rejected(tmp_path):
    result = validate(tmp_path, "pre_consultation", [cs_row(KOFU, "comprehensive", 300_000_000, 0, 350_000_000,
                                                            total_cost=1234.5)])
    assert result.status == "rejected"
    assert shown(result.findings) == [
        ("invalid_value", "error", 4, "D", "total_cost", "D列 4行目: 『総事業費』の値『1234.5』は整数ではありません",
         "Cell D4: 'total_cost' value '1234.5' is not a whole number")]


def test_unreadable_and_headerless_files(tmp_path):
    junk = tmp_path / "申請.xlsx"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    checked = check(junk, "application")
    assert checked.result.status == "unreadable" and checked.table is None
    assert [(f.code, f.severity, f.message_ja) for f in checked.result.findings] == [
        ("not_a_spreadsheet", "error",
         "このファイルは表計算ファイルではありません（PNG画像）。Excel（.xlsx）またはCSV形式で保存し直して、再送してください。")]
    assert (checked.template_version, checked.fiscal_year) == ("2024", FY)
    other = write_xlsx(tmp_path / "other.xlsx", [["氏名", "住所"], ["山田", "甲府市"]])
    checked = check(other, "application")
    assert checked.result.status == "unreadable"
    (f,) = checked.result.findings
    assert (f.code, f.message_ja) == (
        "header_not_found",
        "見出し行（『保険者番号』、『保険者名』、『事業区分』 など）が見つかりません。地域支援事業交付金 交付申請書（保険者別・事業区分別）の様式か確認してください。")


def test_header_without_rows_rejected(tmp_path):
    result = validate(tmp_path, "application", [])
    assert [(f.code, f.severity, f.sheet, f.message_en) for f in result.findings] == [
        ("no_rows", "error", SHEET, f"sheet '{SHEET}' has no rows under the header")]


def test_missing_column(tmp_path):
    rows = [[c for i, c in enumerate(r) if i != 8] for r in grid("pre_consultation", CLEAN)]  # no 負担率
    result = check(write_xlsx(tmp_path / "f.xlsx", rows), "pre_consultation").result
    assert [(f.code, f.field, f.message_ja) for f in result.findings if f.severity == "error"] == [
        ("missing_column", "rate", "必須の列『負担率』が見つかりません（見出し行 3行目）")]


# ---------------------------------------------------------------------------------- computed columns


def test_each_computed_column_of_an_application_row(tmp_path):
    rows = [
        cs_row(KOFU, "comprehensive", 300_000_000, 1_000, 350_000_000, difference=300_000_000),
        cs_row(KOFU, "social_security", 80_000_000, 0, 60_000_000, selected=80_000_000),
        cs_row(HOKUTO, "comprehensive", 90_123_456, 0, 100_000_000, grant=34_697_456),
    ]
    result = validate(tmp_path, "pre_consultation", rows)
    assert shown(result.findings) == [
        ("computed_mismatch", "error", 4, "F", "difference",
         "4行目 F列『差引額』: 300,000,000円と記入されていますが、総事業費 − 寄附金その他の収入額で計算すると299,999,000円です（差 1,000円）",
         "Row 4, column F (difference): stated 300,000,000 yen, but total cost − donations gives 299,999,000 yen "
         "(difference 1,000)"),
        ("computed_mismatch", "error", 5, "H", "selected",
         "5行目 H列『選定額』: 80,000,000円と記入されていますが、差引額と基準額のいずれか少ない額で計算すると60,000,000円です（差 20,000,000円）",
         "Row 5, column H (selected): stated 80,000,000 yen, but min(difference, base amount) gives 60,000,000 yen "
         "(difference 20,000,000)"),
        ("computed_mismatch", "error", 6, "J", "grant",
         "6行目 J列『交付額』: 34,697,456円と記入されていますが、選定額 × 負担率（千円未満切捨て）で計算すると34,697,000円です（差 456円）",
         "Row 6, column J (grant): stated 34,697,456 yen, but selected × rate (truncated to 1,000 yen) gives "
         "34,697,000 yen (difference 456)"),
    ]


def test_wrong_rate_reports_the_rate_and_the_grant_it_should_give(tmp_path):
    row = cs_row(KOFU, "general", 100_000_000, 0, 100_000_000, rate="25%", grant=25_000_000)
    result = validate(tmp_path, "pre_consultation", [row])
    assert shown(result.findings) == [
        ("rate_mismatch", "error", 4, "I", "rate", "4行目 I列『負担率』: 負担率 25% が2024年度の介護予防・日常生活支援総合事業の負担率 20% と異なります",
         "Row 4, column I (rate): rate 25% differs from the 2024 rate of general (20%)"),
        ("computed_mismatch", "error", 4, "J", "grant",
         "4行目 J列『交付額』: 25,000,000円と記入されていますが、選定額 × 負担率（千円未満切捨て）で計算すると20,000,000円です（差 5,000,000円）",
         "Row 4, column J (grant): stated 25,000,000 yen, but selected × rate (truncated to 1,000 yen) gives "
         "20,000,000 yen (difference 5,000,000)"),
    ]


def test_donations_above_cost_is_a_warning(tmp_path):
    result = validate(tmp_path, "pre_consultation", [cs_row(KOFU, "comprehensive", 1_000_000, 1_500_000, 900_000)])
    assert result.status == "accepted"
    assert shown(result.findings) == [
        ("donations_exceed_cost", "warning", 4, "E", "donations",
         "4行目 E列『寄附金その他の収入額』: 寄附金その他の収入額 1,500,000円が総事業費 1,000,000円を上回っています（選定額は0円になります）",
         "Row 4, column E (donations): donations (1,500,000 yen) exceed the total cost (1,000,000 yen); "
         "the selected amount is 0")]
    assert result.records[0]["difference"] == -500_000 and result.records[0]["grant"] == 0


# ---------------------------------------------------------------------------------- 総合事業 上限額


OVER_CAP = cs_row(HOKUTO, "general", 200_000_000, 0, 180_000_000)  # cap of 北杜市 (FY2024): 170,000,000


def test_general_cap_exceeded(tmp_path):
    result = validate(tmp_path, "pre_consultation", [OVER_CAP])
    assert shown(result.findings) == [
        ("general_cap_exceeded", "error", 4, "H", "selected",
         "4行目 H列『選定額』: 総合事業の選定額 180,000,000円が192096（北杜市）の上限額 170,000,000円を超えています。"
         "上限額を超えるには個別協議の承認が必要です",
         "Row 4, column H (selected): the general (総合事業) selected amount 180,000,000 yen exceeds the cap of 192096 "
         "(170,000,000 yen); above the cap only with an approved individual consultation (個別協議)")]


def test_general_cap_within_an_approved_individual_consultation(tmp_path):
    result = validate(tmp_path, "pre_consultation", [OVER_CAP], approvals={(HOKUTO, "general"): 180_000_000})
    assert result.status == "accepted"
    assert shown(result.findings) == [
        ("general_cap_approved", "warning", 4, "H", "selected",
         "4行目 H列『選定額』: 総合事業の選定額 180,000,000円は上限額 170,000,000円を超えていますが、個別協議の承認額 180,000,000円の範囲内です",
         "Row 4, column H (selected): the general selected amount 180,000,000 yen exceeds the cap (170,000,000 yen) "
         "within the approved individual consultation amount (180,000,000 yen)")]


def test_general_cap_above_the_approval(tmp_path):
    result = validate(tmp_path, "pre_consultation", [OVER_CAP], approvals={(HOKUTO, "general"): 175_000_000})
    (f,) = [f for f in result.findings if f.severity == "error"]
    assert (f.code, f.message_ja) == (
        "general_cap_exceeded",
        "4行目 H列『選定額』: 総合事業の選定額 180,000,000円が192096（北杜市）の上限額 170,000,000円を超えています"
        "（個別協議の承認額 175,000,000円も超えています）")
    # an approval of another item does not count
    other = validate(tmp_path, "pre_consultation", [OVER_CAP], approvals={(HOKUTO, "comprehensive"): 10**9}, name="g.xlsx")
    assert [f.code for f in other.findings if f.severity == "error"] == ["general_cap_exceeded"]


def test_general_cap_unknown_is_a_warning(tmp_path):
    result = validate(tmp_path, "pre_consultation", [cs_row(TSURU, "general", 10_000_000, 0, 9_000_000)])
    assert result.status == "accepted"
    assert shown(result.findings, skip=("missing_filers",)) == [
        ("general_cap_unknown", "warning", 4, "H", "selected",
         "4行目 H列『選定額』: 192047（都留市）の2024年度の総合事業の上限額が設定にないため、上限額を確認できませんでした",
         "Row 4, column H (selected): no general (総合事業) cap of 192047 for 2024 in the config: the cap was not checked")]


# ---------------------------------------------------------------------------------- filers


def test_filer_problems(tmp_path):
    rows = [
        cs_row("192015", "comprehensive", 1_000, 0, 1_000),  # 甲府市's 全国地方公共団体コード
        cs_row("111015", "comprehensive", 1_000, 0, 1_000),  # さいたま市 西区's 全国地方公共団体コード
        cs_row("111013", "comprehensive", 1_000, 0, 1_000),  # さいたま市 西区's JIS + Luhn
        cs_row("192014", "comprehensive", 1_000, 0, 1_000),  # a wrong check digit
        cs_row("112011", "comprehensive", 1_000, 0, 1_000),  # 川越市 (埼玉県)
        cs_row("199992", "comprehensive", 1_000, 0, 1_000),  # valid check digit, no such insurer in 山梨県
        cs_row(KOFU, "comprehensive", 1_000, 0, 1_000),
        cs_row(KOFU, "comprehensive", 2_000, 0, 2_000, category="包括的支援事業及び任意事業"),  # the same key again
    ]
    result = validate(tmp_path, "pre_consultation", rows)
    assert shown(result.findings) == [
        ("invalid_filer", "error", 4, "A", "insurer_number",
         "4行目 A列『保険者番号』: 192015 は甲府市の全国地方公共団体コードで、保険者番号ではありません。甲府市の保険者番号は 192013 です（検証番号の計算が異なります）",
         "Row 4, column A (insurer_number): 192015 is the local government code of 19201, not its insurer number "
         "(192013; the check digits differ)"),
        ("invalid_filer", "error", 5, "A", "insurer_number",
         "5行目 A列『保険者番号』: 111015 は政令指定都市の区（さいたま市 西区）の全国地方公共団体コードです。保険者は市です: "
         "さいたま市の保険者番号 111005 を記入してください",
         "Row 5, column A (insurer_number): 111015 is the local government code of a ward of a designated city "
         "(111015); the insurer is the city: use 11100's insurer number 111005"),
        ("invalid_filer", "error", 6, "A", "insurer_number",
         "6行目 A列『保険者番号』: 111013 は政令指定都市の区（さいたま市 西区）の番号です。保険者は市です: さいたま市の保険者番号 111005 を記入してください",
         "Row 6, column A (insurer_number): 111013 is the number of a ward of a designated city (111015); "
         "the insurer is the city: use 11100's insurer number 111005"),
        ("invalid_filer", "error", 7, "A", "insurer_number",
         "7行目 A列『保険者番号』: 保険者番号 192014 の検証番号（末尾の1桁）が正しくありません。保険者番号は都道府県番号2桁＋保険者別番号3桁＋検証番号1桁です",
         "Row 7, column A (insurer_number): the check digit (last digit) of insurer number 192014 is wrong"),
        ("wrong_prefecture", "error", 8, "A", "insurer_number",
         "8行目 A列『保険者番号』: 保険者 112011 は埼玉県(11)の保険者です。送付元の山梨県(19)の分だけを記入してください",
         "Row 8, column A (insurer_number): insurer 112011 belongs to prefecture 11, not to the sending prefecture 19"),
        ("unexpected_filer", "error", 9, "A", "insurer_number",
         "9行目 A列『保険者番号』: 199992 は山梨県の地域支援事業交付金 当初交付 事前協議の提出者（保険者）にありません。番号を確認してください",
         "Row 9, column A (insurer_number): 199992 is not an expected filer (insurer) of pre_consultation for "
         "prefecture 19; please check the number"),
        ("duplicate_row", "error", 11, "C", "category",
         "11行目 C列『事業区分』: 192013・comprehensive の行が10行目と重複しています。1行にまとめてください",
         "Row 11, column C (category): 192013 / comprehensive is also on row 10; give one row per filer and item"),
    ]


# ---------------------------------------------------------------------------------- between stages


def test_application_within_the_pre_consultation(tmp_path):
    rows = [cs_row(KOFU, "comprehensive", 300_000_000, 0, 350_000_000),  # 115,500,000
            cs_row(KOFU, "general", 100_000_000, 0, 100_000_000),  # 20,000,000 = agreed
            cs_row(HOKUTO, "comprehensive", 1_000_000, 0, 1_000_000)]  # no pre-consultation row
    earlier = {"pre_consultation": {(KOFU, "comprehensive"): {"grant": 115_499_000},
                                    (KOFU, "general"): {"grant": 20_000_000}}}
    result = validate(tmp_path, "application", rows, earlier=earlier)
    assert shown(result.findings) == [
        ("exceeds_pre_consultation", "error", 4, "J", "grant",
         "4行目 J列『交付額』: 交付額 115,500,000円が事前協議で受け付けた交付額 115,499,000円を超えています",
         "Row 4, column J (grant): grant 115,500,000 yen exceeds the amount accepted at the pre-consultation "
         "(115,499,000 yen)"),
        ("no_pre_consultation", "warning", 6, "J", "grant",
         "6行目 J列『交付額』: 192096（北杜市）の包括的支援事業（地域包括支援センターの運営）及び任意事業について、2024年度の事前協議の受付がありません",
         "Row 6, column J (grant): no accepted pre-consultation row for this insurer and category in 2024"),
    ]


def test_change_needs_an_application(tmp_path):
    rows = [cs_row(KOFU, "comprehensive", 1_000_000, 0, 1_000_000), cs_row(HOKUTO, "comprehensive", 1_000, 0, 1_000)]
    result = validate(tmp_path, "change", rows, earlier={"application": {(KOFU, "comprehensive"): {"grant": 1}}})
    assert result.status == "accepted"
    assert shown(result.findings) == [
        ("no_application", "warning", 5, "J", "grant",
         "5行目 J列『交付額』: 192096（北杜市）の包括的支援事業（地域包括支援センターの運営）及び任意事業について、2024年度の交付申請の受付がありません",
         "Row 5, column J (grant): no accepted application row for this insurer and category in 2024")]


def test_actual_report_settlement_and_decision(tmp_path):
    # 甲府市 comprehensive: actuals give 38,500,000 < decided 40,000,000 -> confirmed 38,500,000, refund 1,500,000
    good = cs_row(KOFU, "comprehensive", 100_000_000, 0, 120_000_000, decided=40_000_000)
    assert (good["confirmed"], good["refund"]) == (38_500_000, 1_500_000)
    rows = [
        good,
        cs_row(KOFU, "general", 50_000_000, 0, 50_000_000, decided=10_000_000, confirmed=10_000_000, refund=0),
        cs_row(HOKUTO, "comprehensive", 10_000_000, 0, 10_000_000, decided=4_000_000, refund=0),
        cs_row(TSURU, "comprehensive", 1_000_000, 0, 1_000_000, decided=385_000),
    ]
    earlier = {
        "application": {(KOFU, "comprehensive"): {"grant": 41_000_000}, (KOFU, "general"): {"grant": 9_000_000},
                        (HOKUTO, "comprehensive"): {"grant": 4_000_000}},
        "change": {(KOFU, "comprehensive"): {"grant": 40_000_000}},  # the change is the decision
    }
    result = validate(tmp_path, "actual_report", rows, earlier=earlier)
    assert shown(result.findings) == [
        ("decided_mismatch", "error", 5, "K", "decided",
         "5行目 K列『交付決定額』: 交付決定額 10,000,000円が受け付けた交付申請の交付額 9,000,000円と一致しません",
         "Row 5, column K (decided): decided 10,000,000 yen does not equal the accepted application grant "
         "(9,000,000 yen)"),
        ("computed_mismatch", "error", 6, "M", "refund",
         "6行目 M列『返還額』: 0円と記入されていますが、交付決定額 − 確定額で計算すると150,000円です（差 -150,000円）",
         "Row 6, column M (refund): stated 0 yen, but decided − confirmed gives 150,000 yen (difference -150,000)"),
        ("no_decision", "warning", 7, "K", "decided",
         "7行目 K列『交付決定額』: 192047（都留市）の包括的支援事業（地域包括支援センターの運営）及び任意事業について、"
         "2024年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
         "Row 7, column K (decided): no accepted application (or change) row for this insurer and category in 2024: "
         "the decided amount was not checked"),
    ]


def test_actual_report_confirmed_mismatch(tmp_path):
    row = cs_row(KOFU, "comprehensive", 100_000_000, 0, 120_000_000, decided=40_000_000, confirmed=40_000_000,
                 refund=0)
    result = validate(tmp_path, "actual_report", [row],
                      earlier={"application": {(KOFU, "comprehensive"): {"grant": 40_000_000}}})
    assert [(f.code, f.column, f.message_en) for f in result.findings if f.severity == "error"] == [
        ("computed_mismatch", "L", "Row 4, column L (confirmed): stated 40,000,000 yen, but min(decided, grant "
         "recomputed from the actuals) gives 38,500,000 yen (difference 1,500,000)"),
        ("computed_mismatch", "M", "Row 4, column M (refund): stated 0 yen, but decided − confirmed gives "
         "1,500,000 yen (difference -1,500,000)"),
    ]


def test_redetermination(tmp_path):
    rows = [
        cs_row(KOFU, "comprehensive", 110_000_000, 0, 120_000_000, previous=38_500_000),  # +3,850,000
        cs_row(KOFU, "general", 50_000_000, 0, 50_000_000, previous=10_000_000),  # 0: no warning
        cs_row(HOKUTO, "comprehensive", 10_000_000, 0, 10_000_000, previous=4_000_000, change=0),
        cs_row(TSURU, "comprehensive", 1_000_000, 0, 1_000_000, previous=385_000),
    ]
    earlier = {"actual_report": {(KOFU, "comprehensive"): {"confirmed": 38_000_000},
                                 (KOFU, "general"): {"confirmed": 10_000_000},
                                 (HOKUTO, "comprehensive"): {"confirmed": 4_000_000}}}
    result = validate(tmp_path, "redetermination", rows, earlier=earlier)
    assert shown(result.findings) == [
        ("previous_confirmed_mismatch", "error", 4, "K", "previous_confirmed",
         "4行目 K列『前回確定額』: 前回確定額 38,500,000円が2024年度の実績報告で確定した額 38,000,000円と一致しません",
         "Row 4, column K (previous_confirmed): previous confirmed 38,500,000 yen does not equal the amount "
         "confirmed at the 2024 actual report (38,000,000 yen)"),
        ("redetermination_change", "warning", 4, "L", "change",
         "4行目 L列『増減額』: 再確定により増額（追加交付） 3,850,000円（前回確定額 38,500,000円 → 42,350,000円）",
         "Row 4, column L (change): the redetermination increases the grant by 3,850,000 yen "
         "(38,500,000 → 42,350,000 yen)"),
        ("computed_mismatch", "error", 6, "L", "change",
         "6行目 L列『増減額』: 0円と記入されていますが、交付額（再確定後） − 前回確定額で計算すると-150,000円です（差 150,000円）",
         "Row 6, column L (change): stated 0 yen, but redetermined grant − previous confirmed gives -150,000 yen "
         "(difference 150,000)"),
        ("no_actual_report", "warning", 7, "K", "previous_confirmed",
         "7行目 K列『前回確定額』: 192047（都留市）の包括的支援事業（地域包括支援センターの運営）及び任意事業について、"
         "2024年度の実績報告の受付がないため、前回確定額を確認できませんでした",
         "Row 7, column K (previous_confirmed): no accepted actual report row for this insurer and category in 2024: "
         "the previous confirmed amount was not checked"),
    ]
    decrease = validate(tmp_path, "redetermination", [cs_row(KOFU, "comprehensive", 90_000_000, 0, 120_000_000,
                                                              previous=38_500_000)],
                        earlier={"actual_report": {(KOFU, "comprehensive"): {"confirmed": 38_500_000}}},
                        name="g.xlsx")
    assert shown(decrease.findings) == [
        ("redetermination_change", "warning", 4, "L", "change",
         "4行目 L列『増減額』: 再確定により減額（返還） 3,850,000円（前回確定額 38,500,000円 → 34,650,000円）",
         "Row 4, column L (change): the redetermination decreases the grant by 3,850,000 yen "
         "(38,500,000 → 34,650,000 yen)")]


def test_adjustment_survey(tmp_path):
    # 23% + 5% − 23% × 1.02 × 0.98 = 28% − 22.9908% = 5.0092%
    rows = [
        survey_row(KOFU, 52_000, "1.02", "0.98", "5.0092%", 1_000_000_000),
        survey_row(HOKUTO, 15_000, "0.95", "1.05", "5.5%", 300_000_000),  # expected 5.0575%
        survey_row(TSURU, 9_000, "1.00", "1.00", "5%", 123_456_789, adjustment_grant=6_172_839),
    ]
    result = validate(tmp_path, "adjustment_survey", rows)
    assert result.records[0]["item_key"] == "general" and result.records[0]["adjustment_rate"] == Fraction(50092, 1_000_000)
    assert shown(result.findings) == [
        ("adjustment_rate_mismatch", "error", 5, "F", "adjustment_rate",
         "5行目 F列『調整交付金交付割合』: 調整交付金交付割合 5.5% が補正係数から計算した 5.0575% と一致しません"
         "（23% + 5% − 23% × 後期高齢者加入割合補正係数 × 所得段階別加入割合補正係数）",
         "Row 5, column F (adjustment_rate): adjustment rate 5.5% does not match 5.0575% computed from the correction "
         "factors (23% + 5% − 23% × late-elderly factor × income factor)"),
        ("computed_mismatch", "error", 6, "H", "adjustment_grant",
         "6行目 H列『調整交付金額』: 6,172,839円と記入されていますが、対象事業費 × 調整交付金交付割合（千円未満切捨て）で計算すると6,172,000円です（差 839円）",
         "Row 6, column H (adjustment_grant): stated 6,172,839 yen, but target cost × adjustment rate (truncated to "
         "1,000 yen) gives 6,172,000 yen (difference 839)"),
    ]


# ---------------------------------------------------------------------------------- property


AMOUNT = st.integers(min_value=0, max_value=10**10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=AMOUNT, donations=AMOUNT, base=AMOUNT, category=st.sampled_from(sorted(CATEGORY_JA)),
       delta=st.integers(min_value=1, max_value=999), up=st.booleans())
def test_rows_from_money_are_accepted_and_one_perturbation_is_one_mismatch(
        tmp_path, total, donations, base, category, delta, up):
    row = cs_row(TSURU, category, total, donations, base)  # 都留市: no 上限額 configured (a warning only)
    assert row["grant"] == money.community_support_row(total, donations, base, RATES[category])["grant"]
    result = validate(tmp_path, "pre_consultation", [row], name="ok.xlsx")
    assert result.status == "accepted", shown(result.findings)
    assert result.records[0]["grant"] == row["grant"]
    stated = row["grant"] + delta if up or row["grant"] < delta else row["grant"] - delta
    result = validate(tmp_path, "pre_consultation", [{**row, "grant": stated}], name="bad.xlsx")
    errors = [f for f in result.findings if f.severity == "error"]
    assert [(f.code, f.row, f.column, f.field) for f in errors] == [("computed_mismatch", 4, "J", "grant")]
    assert f"{stated:,}円と記入されていますが" in errors[0].message_ja
    assert f"計算すると{row['grant']:,}円です" in errors[0].message_ja
