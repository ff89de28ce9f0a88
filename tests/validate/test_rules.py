"""Project rules (rules.py) and the Python field-rule layer: exact findings for each rule."""

from __future__ import annotations

import datetime as dt

import pytest

from tsunagu.findings import error
from tsunagu.validate.home_care_report import validate_home_care_report

from .factory import PREF, SHEET, codes_of, good_values, make_table, number_for, roster_for


def run(rows, *, roster="auto", previous=None, pref=PREF, **table_kw):
    table = make_table(rows, **table_kw)
    if roster == "auto":
        roster = roster_for(rows, pref=pref)
    return validate_home_care_report(table, prefecture_code=pref, fiscal_year=2025, roster=roster,
                                     previous=previous, use_gx=False)


def test_clean_file_is_accepted_with_records():
    rows = [good_values(1), good_values(2)]
    result = run(rows)
    assert result.findings == []
    assert result.status == "accepted"
    assert result.rows == 2
    rec = result.records[0]
    assert rec["institution_code"] == f"111{number_for(1)}"
    assert rec["fiscal_year"] == 2025
    assert rec["report_date"] == dt.date(2025, 8, 1)
    assert rec["source_sheet"] == SHEET and rec["source_row"] == 5
    assert result.records[1]["source_row"] == 6
    assert set(rec) == set(make_table([]).template.field_ids) | {"source_sheet", "source_row"}


def test_structure_findings_are_carried_over_and_not_repeated():
    parse = error("invalid_value", "5行目 I列『合計診療患者数』: 読めません", "unreadable", sheet=SHEET, row=5,
                  column="I", field="total_patients")
    missing = error("missing_column", "『死亡患者数』の列が見つかりません", "missing", sheet=SHEET, field="severe_children")
    cols = {k: v for k, v in make_table([]).columns.items() if k != "severe_children"}
    row = good_values(1, total_patients=None, institution_name=None)
    result = run([row], findings=[parse, missing], columns=cols)
    assert codes_of(result.findings) == [
        ("missing_column", "error", None, None, "severe_children"),
        ("missing_value", "error", 5, "C", "institution_name"),
        ("invalid_value", "error", 5, "I", "total_patients"),
    ]
    assert result.status == "rejected"


def test_field_rules_python():
    row = good_values(1, institution_number="0101", municipality_code="12345", facility_type="診療所",
                      total_patients=-1, month_home_ratio=101.0, avg_care_months=-0.5)
    result = run([row], roster=None)
    assert codes_of(result.findings) == [
        ("roster_unavailable", "warning", None, None, None),
        ("bad_format", "error", 5, "B", "institution_number"),
        ("bad_format", "error", 5, "E", "municipality_code"),
        ("not_in_set", "error", 5, "F", "facility_type"),
        ("out_of_range", "error", 5, "H", "avg_care_months"),
        ("out_of_range", "error", 5, "I", "total_patients"),
        ("out_of_range", "error", 5, "W", "month_home_ratio"),
    ]
    by_field = {f.field: f for f in result.findings}
    assert by_field["total_patients"].message_ja == "5行目 I列『合計診療患者数』: 値(-1)が範囲外です。0以上で記入してください"
    assert by_field["month_home_ratio"].message_ja == (
        "5行目 W列『③ ②／① (%)』: 値(101)が範囲外です。0〜100の範囲で記入してください")
    assert by_field["institution_number"].message_ja == "5行目 B列『医療機関番号』: 『0101』は7桁の数字で記入してください"
    assert by_field["facility_type"].message_ja == "5行目 F列『区分』: 『診療所』は選択肢にありません(在支診、在支病のいずれか)"
    assert by_field["total_patients"].message_en == "Row 5, column I (total_patients): value -1 is out of range (must be ≥ 0)"


def test_check_digits():
    bad_number = number_for(1)[:6] + str((int(number_for(1)[6]) + 1) % 10)
    row = good_values(1, institution_number=bad_number, municipality_code="111075")
    result = run([row], roster=roster_for([row]))
    assert codes_of(result.findings) == [
        ("check_digit", "error", 5, "B", "institution_number"),
        ("check_digit", "error", 5, "E", "municipality_code"),
    ]
    assert result.findings[0].message_ja == (
        f"5行目 B列『医療機関番号』: 医療機関番号 {bad_number} の検査数字(末尾の1桁)が正しくありません。番号を確認してください")


def test_check_digit_uses_the_prefix_rule_for_tochigi():
    row = good_values(1, pref="09")
    assert run([row], pref="09", roster=roster_for([row], pref="09")).findings == []
    wrong_rule = good_values(1, pref="09", institution_number=number_for(1, "11"))
    if wrong_rule["institution_number"] != row["institution_number"]:
        result = run([wrong_rule], pref="09", roster=roster_for([wrong_rule], pref="09"))
        assert codes_of(result.findings) == [("check_digit", "error", 5, "B", "institution_number")]


def test_wrong_prefecture_on_the_row():
    row = good_values(1, prefecture_code="12")
    result = run([row], roster=roster_for([row], pref="12"))
    assert codes_of(result.findings) == [("wrong_prefecture", "error", 5, "A", "prefecture_code")]
    assert result.findings[0].message_ja == (
        "5行目 A列『都道府県コード』: 都道府県コード 12 が送付元の埼玉県(11)と異なります。他県の医療機関が含まれていないか確認してください")


def test_office_outside_the_jurisdiction():
    row = good_values(1, prefecture_code="27")
    result = run([row], pref="27", roster=None)
    assert codes_of(result.findings) == [
        ("roster_unavailable", "warning", None, None, None),
        ("wrong_prefecture", "error", None, None, "prefecture_code"),
    ]


def test_institution_code_column_checked_against_number_and_office():
    cols = {**make_table([]).columns, "institution_code": "Z"}
    ok = good_values(1, institution_code=f"111{number_for(1)}")
    other_pref = good_values(2, institution_code=f"121{number_for(2)}")
    mismatch = good_values(3, institution_code=f"111{number_for(4)}")
    rows = [ok, other_pref, mismatch]
    roster = roster_for(rows) | {f"121{number_for(2)}": roster_for([other_pref])[f"111{number_for(2)}"]}
    result = run(rows, roster=roster, columns=cols)
    assert codes_of(result.findings) == [
        ("wrong_prefecture", "error", 6, "Z", "institution_code"),
        ("code_mismatch", "error", 7, "Z", "institution_code"),
        ("not_in_roster", "error", 7, "Z", "institution_code"),
    ]


def test_roster_membership_and_unknown_roster():
    rows = [good_values(1), good_values(2)]
    result = run(rows, roster=roster_for(rows[:1]))
    assert codes_of(result.findings) == [("not_in_roster", "error", 6, "B", "institution_number")]
    code = f"111{number_for(2)}"
    assert result.findings[0].message_ja == (
        f"6行目 B列『医療機関番号』: 医療機関コード {code}(つなぐ診療所2)は届出受理医療機関名簿に在支診・在支病として登録されていません")
    unknown = run(rows, roster=None)
    assert codes_of(unknown.findings) == [("roster_unavailable", "warning", None, None, None)]
    assert unknown.status == "accepted"


def test_roster_fills_facility_type_and_class_when_absent():
    cols = {k: v for k, v in make_table([]).columns.items() if k not in ("facility_type", "notification_class")}
    row = good_values(1, facility_type=None, notification_class=None)
    roster = roster_for([row], facility_type="hospital", notification_class="enhanced_network")
    result = run([row], roster=roster, columns=cols)
    assert result.records[0]["facility_type"] == "hospital"
    assert result.records[0]["notification_class"] == "enhanced_network"
    # filled as 連携型, so the network fields are required and the thresholds apply
    assert codes_of(result.findings) == [("network_fields_required", "error", 5, "Y", "partner_institutions")]


def test_deaths_sum_and_not_more_than_patients():
    rows = [
        good_values(1, deaths_total=5),  # parts sum to 6
        good_values(2, total_patients=5, deaths_total=6),
    ]
    result = run(rows)
    assert codes_of(result.findings) == [
        ("death_sum", "error", 5, "J", "deaths_total"),
        ("death_sum", "error", 6, "J", "deaths_total"),
    ]
    assert result.findings[0].message_ja == "5行目 J列『死亡患者数』: 内訳(①〜④)の合計(6)と一致しません(5)"
    assert result.findings[1].message_ja == "6行目 J列『死亡患者数』: 死亡患者数(6)が合計診療患者数(5)を超えています"


def test_emergency_house_calls():
    result = run([good_values(1, emergency_house_calls=21)])
    assert codes_of(result.findings) == [("emergency_exceeds_house_calls", "error", 5, "R", "emergency_house_calls")]
    assert result.findings[0].message_ja == "5行目 R列『うち緊急の往診』: うち緊急の往診(21)が往診の回数(20)を超えています"


def test_visits_sum():
    result = run([good_values(1, visits_total=99)])
    assert codes_of(result.findings) == [("visits_sum", "error", 5, "P", "visits_total")]
    assert result.findings[0].message_ja == (
        "5行目 P列『訪問診療等の実施回数 合計』: ①往診+②訪問診療+③訪問看護の合計(100)と一致しません(99)")


def test_month_ratio():
    rows = [
        good_values(1, month_home_ratio=41.6),  # within 0.1 of 41.7
        good_values(2, month_home_ratio=41.5),  # 0.2 off
        good_values(3, month_patients_home=61, month_home_ratio=100.0),  # ② > ①
        good_values(4, month_home_ratio=0.417),  # typed as a fraction in a % cell: accepted, normalised
        good_values(5, month_patients_all=0, month_patients_home=0, month_home_ratio=5.0),
        good_values(6, month_home_ratio=None),  # blank ratio: nothing to compare (the field rule may require it)
    ]
    result = run(rows)
    assert codes_of(result.findings) == [
        ("month_ratio", "error", 6, "W", "month_home_ratio"),
        ("month_ratio", "error", 7, "V", "month_patients_home"),
        ("month_ratio", "error", 9, "W", "month_home_ratio"),
    ]
    assert result.findings[0].message_ja == "6行目 W列『③ ②／① (%)』: ②÷①×100 = 41.7% と一致しません(41.5)"
    assert result.records[3]["month_home_ratio"] == 41.7


def test_network_fields_required():
    rows = [
        good_values(1, notification_class="enhanced_network", fulltime_doctors=None, partner_institutions=None,
                    emergency_house_calls=5, deaths_home=3, deaths_other_residence=0, deaths_total=5),
        good_values(2, notification_class="enhanced_network", fulltime_doctors=2, partner_institutions=3,
                    emergency_house_calls=5, deaths_home=3, deaths_other_residence=0, deaths_total=5),
    ]
    result = run(rows)
    assert codes_of(result.findings) == [
        ("network_fields_required", "error", 5, "X", "fulltime_doctors"),
        ("network_fields_required", "error", 5, "Y", "partner_institutions"),
    ]
    assert result.findings[0].message_ja == (
        "5行目 X列『在宅医療を担当する常勤の医師数』: 機能強化型(連携型)の医療機関は記入が必要です(空欄になっています)")


def test_duplicate_institution_names_the_first_row():
    rows = [good_values(1), good_values(2), good_values(1, institution_name="つなぐ診療所1(再掲)")]
    result = run(rows)
    assert codes_of(result.findings) == [("duplicate_institution", "error", 7, "B", "institution_number")]
    assert result.findings[0].message_ja == (
        f"7行目 B列『医療機関番号』: 医療機関コード 111{number_for(1)} が5行目と重複しています。どちらか一方にしてください")


def test_enhanced_thresholds_are_warnings():
    single = good_values(1, notification_class="enhanced_single", fulltime_doctors=2, emergency_house_calls=10)
    network = good_values(2, notification_class="enhanced_network", fulltime_doctors=1, partner_institutions=3,
                          emergency_house_calls=3, deaths_home=2, deaths_other_residence=2, deaths_total=6)
    result = run([single, network])
    assert codes_of(result.findings) == [
        ("enhanced_threshold", "warning", 5, "K", "deaths_home"),
        ("enhanced_threshold", "warning", 5, "X", "fulltime_doctors"),
        ("enhanced_threshold", "warning", 6, "R", "emergency_house_calls"),
    ]
    assert result.status == "accepted"
    assert result.findings[1].message_ja == (
        "5行目 X列『在宅医療を担当する常勤の医師数』: 機能強化型(単独型)の目安(在宅医療を担当する常勤の医師数 3以上)を下回っています(2)。"
        "届出区分と実績を確認してください")


def test_year_over_year_jump_is_a_warning():
    rows = [good_values(1, total_patients=40), good_values(2, total_patients=40), good_values(3, total_patients=40)]
    previous = {
        f"111{number_for(1)}": {"total_patients": 13},  # ×3.08
        f"111{number_for(2)}": {"total_patients": 120},  # ÷3
        f"111{number_for(3)}": {"total_patients": 30},
    }
    result = run(rows, previous=previous)
    assert codes_of(result.findings) == [
        ("yoy_jump", "warning", 5, "I", "total_patients"),
        ("yoy_jump", "warning", 6, "I", "total_patients"),
    ]
    assert result.status == "accepted"
    assert result.findings[0].message_ja == (
        "5行目 I列『合計診療患者数』: 前年度(13)から大きく変動しています(40)。記入誤りがないか確認してください")


def test_findings_sorted_by_row_then_column_width():
    cols = {**make_table([]).columns, "partner_institutions": "AB"}
    row = good_values(1, notification_class="enhanced_network", fulltime_doctors=None, partner_institutions=None,
                      emergency_house_calls=5, deaths_home=3, deaths_other_residence=0, deaths_total=5, visits_total=1)
    result = run([row], columns=cols)
    assert [f.column for f in result.findings] == ["P", "X", "AB"]


@pytest.mark.parametrize("pref", ["08", "09", "10", "11", "12", "13", "14", "15", "19", "20"])
def test_every_prefecture_accepts_its_own_valid_numbers(pref):
    row = good_values(7, pref=pref)
    assert run([row], pref=pref, roster=roster_for([row], pref=pref)).findings == []


def test_a_table_without_rows_is_rejected():
    result = run([], roster={})
    assert codes_of(result.findings) == [("no_rows", "error", None, None, None)]
    assert result.findings[0].message_ja == "シート『報告』に医療機関の行がありません。見出しの下にデータを記入してください"
    assert result.status == "rejected" and result.rows == 0 and result.records == []
