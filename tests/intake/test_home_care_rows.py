"""Rows of an office's table that are not institutions, and tables that name institutions by 医療機関コード.

Notes under the table (※1 …, 注）…, （注）…, 以下余白) and the header pasted again are never institutions
and never findings; a table with the 10-digit 医療機関コード instead of the 7-digit 医療機関番号 is read,
and both the number in the code and the code itself are checked (design.md §3).
"""

from __future__ import annotations

import pytest

from tsunagu.findings import UnreadableFile
from tsunagu.intake.home_care_report import parse_home_care_report
from tsunagu.intake.templates import load_template
from tsunagu.validate.home_care_report import validate_home_care_report

from .builders import FLAT_HEADER, clinic_row, roster_of, valid_number, write_csv, write_xlsx

T2024 = load_template("home_care_report", "2024-08")
TITLE = ["令和7年度 在宅療養支援診療所・病院 定例報告 集計表（茨城事務所）"]


def _validate(table, roster):
    return validate_home_care_report(table, prefecture_code="08", fiscal_year=2025, roster=roster, use_gx=False)


def _where(findings) -> list[tuple]:
    return [(f.code, f.severity, f.row, f.column, f.field) for f in findings]


# --------------------------------------------------------------------------- notes under the table


NOTES = [
    [],
    ["※1 死亡患者数は、①～④の合計です。"],
    ["　　なお、医療機関以外での死亡には介護施設等での死亡を含みます。"],  # the note's second line
    ["※2　直近1月は令和7年7月の実績です。"],
    ["注）数値は令和7年8月1日現在。"],
    ["（注）連携型の医療機関は常勤医師数と連携医療機関数を記入。"],
    ["(注1) 平均診療期間は小数第1位まで。"],
    ["＊ 空欄は0件。"],
    [None, None, "以下余白"],
]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_notes_under_the_table_are_not_institutions(tmp_path, fmt):
    rows = [TITLE, FLAT_HEADER, clinic_row(1), clinic_row(2), clinic_row(3), *NOTES]
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "notes.xlsx", rows)
    else:
        path = write_csv(tmp_path / "notes.csv", [[c if c is not None else "" for c in r] for r in rows], "cp932")
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.header_rows == (2,)
    assert [r.row for r in table.rows] == [3, 4, 5]
    assert [r.values["institution_number"] for r in table.rows] == [valid_number(i) for i in (1, 2, 3)]
    assert table.findings == []
    result = _validate(table, roster_of(valid_number(i) for i in (1, 2, 3)))
    assert result.findings == [] and result.status == "accepted" and result.rows == 3


def test_notes_without_a_blank_row_and_ijo_yohaku_right_under_the_data(tmp_path):
    rows = [FLAT_HEADER, clinic_row(1), ["以下余白"], ["※ 本表は事務所で集計。"]]
    table = parse_home_care_report(write_xlsx(tmp_path / "a.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert [r.row for r in table.rows] == [2] and table.findings == []


def test_a_row_with_data_after_the_notes_is_still_read(tmp_path):
    """Notes end nothing: an institution (or a row with numbers) after them is read and checked."""
    late = clinic_row(4)
    no_number = [None, "番号未記入クリニック", "水戸市", 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    rows = [FLAT_HEADER, clinic_row(1), [], ["※1 死亡患者数は①～④の合計。"], ["続きの説明です。"], late, no_number]
    table = parse_home_care_report(write_xlsx(tmp_path / "late.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert [r.row for r in table.rows] == [2, 6, 7]
    result = _validate(table, roster_of(valid_number(i) for i in (1, 4)))
    assert _where(result.findings) == [("missing_value", "error", 7, "A", "institution_number")]


def test_not_notes(tmp_path):
    """注射… is a name, not 注); a 合計 row stays a total; an institution whose name starts with ※ is read."""
    rows = [FLAT_HEADER, clinic_row(1), clinic_row(2, institution_name="※新規 水戸クリニック"),
            [None, "注射室のある診療所", "水戸市", 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    table = parse_home_care_report(write_xlsx(tmp_path / "n.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert [r.row for r in table.rows] == [2, 3, 4]
    assert table.rows[1].values["institution_name"] == "※新規 水戸クリニック"


def test_header_pasted_again_in_a_sheet(tmp_path):
    """An office that pasted page after page of a printout: the title and header again, then more rows."""
    rows = [TITLE, FLAT_HEADER, clinic_row(1), clinic_row(2), [], TITLE, FLAT_HEADER, clinic_row(3)]
    table = parse_home_care_report(write_xlsx(tmp_path / "pasted.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert [r.row for r in table.rows] == [3, 4, 8] and table.findings == []


def test_too_many_rows_is_refused(tmp_path, monkeypatch):
    import tsunagu.intake.home_care_report as hcr

    monkeypatch.setattr(hcr, "MAX_ROWS", 3)
    rows = [FLAT_HEADER, *(clinic_row(i) for i in range(1, 5))]
    with pytest.raises(UnreadableFile) as exc:
        parse_home_care_report(write_xlsx(tmp_path / "many.xlsx", rows), template=T2024, prefecture_code="08")
    assert exc.value.code == "too_many_rows"
    assert exc.value.message_ja == (
        "シート『集計表』の医療機関の行が多すぎます（3行を超えています）。1医療機関1行の集計表か確認してください。")


# --------------------------------------------------------------------------- 医療機関コード instead of 医療機関番号


CODE_HEADER = ["医療機関コード", *FLAT_HEADER[1:]]


def _code_row(code, seq: int, **changes) -> list:
    return [code, *clinic_row(seq, **changes)[1:]]


def test_code_column_only_gives_the_number(tmp_path):
    rows = [CODE_HEADER, _code_row("081" + valid_number(1), 1), _code_row(810100024, 2)]  # leading 0 lost
    table = parse_home_care_report(write_xlsx(tmp_path / "codes.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert table.findings == []  # no missing 医療機関番号 column: the code gives it
    assert table.columns["institution_code"] == table.columns["institution_number"] == "A"
    got = [(r.values["institution_code"], r.values["institution_number"], r.values["prefecture_code"])
           for r in table.rows]
    assert got == [("081" + valid_number(1), valid_number(1), "08"), ("0810100024", "0100024", "08")]
    assert table.rows[1].raw["institution_number"] == 810100024
    result = _validate(table, roster_of(valid_number(i) for i in (1, 2)))
    assert result.findings == [] and result.status == "accepted"
    assert [r["institution_number"] for r in result.records] == [valid_number(1), "0100024"]


def test_code_column_only_checks(tmp_path):
    good = "081" + valid_number(1)
    bad_digit = "081" + valid_number(2)[:6] + str((int(valid_number(2)[6]) + 1) % 10)
    tochigi = "091" + valid_number(3, "09")  # a valid 栃木 code, sent by 茨城's office
    dental = "083" + valid_number(4, "08", score_table="3")  # 歯科: 点数表 3, its number valid as such
    rows = [CODE_HEADER, _code_row(good, 1), _code_row(bad_digit, 2), _code_row(tochigi, 3), _code_row(dental, 4),
            _code_row(good, 5)]
    table = parse_home_care_report(write_csv(tmp_path / "codes.csv", rows, "utf-8"), template=T2024,
                                   prefecture_code="08", fiscal_year=2025)
    assert table.findings == []
    roster = roster_of([valid_number(1), bad_digit[3:]]) | roster_of([valid_number(3, "09")], "09")
    result = _validate(table, roster)
    assert _where(result.findings) == [
        ("check_digit", "error", 3, "A", "institution_code"),
        ("wrong_prefecture", "error", 4, "A", "institution_code"),
        ("code_mismatch", "error", 5, "A", "institution_code"),
        ("not_in_roster", "error", 5, "A", "institution_code"),
        ("duplicate_institution", "error", 6, "A", "institution_code"),
    ]
    by_row = {f.row: f for f in result.findings}
    assert by_row[3].message_ja == (
        f"3行目 A列『医療機関コード』: 医療機関コード {bad_digit} の医療機関番号(下7桁 {bad_digit[3:]})の検査数字"
        "(末尾の1桁)が正しくありません。コードを確認してください")
    assert by_row[3].message_en == (
        f"Row 3, column A (institution_code): the check digit of the institution number {bad_digit[3:]} in "
        f"institution code {bad_digit} is wrong")
    assert by_row[4].message_ja == (
        f"4行目 A列『医療機関コード』: 医療機関コード {tochigi} の先頭2桁(09)が送付元の茨城県(08)と異なります")
    assert [f.message_ja for f in result.findings if f.row == 5 and f.code == "code_mismatch"] == [
        f"5行目 A列『医療機関コード』: 医療機関コード {dental} の3桁目(点数表番号)が 3 です。在支診・在支病は医科(1)です"
        "(都道府県コード2桁 + 1 + 医療機関番号7桁)"]


def test_both_columns_still_checked_against_each_other(tmp_path):
    header = ["医療機関番号", "医療機関コード", *FLAT_HEADER[1:]]
    n1, n2, n3 = valid_number(1), valid_number(2), valid_number(3)
    rows = [header,
            [n1, "081" + n1, *clinic_row(1)[1:]],
            [n2, "081" + n3, *clinic_row(2)[1:]],  # the code of another institution
            [n3, "083" + n3, *clinic_row(3)[1:]],  # 歯科's 点数表
            [n1[:6] + "0" if n1[6] != "0" else n1[:6] + "1", None, *clinic_row(4)[1:]]]  # no code: made from the number
    table = parse_home_care_report(write_xlsx(tmp_path / "both.xlsx", rows), template=T2024, prefecture_code="08",
                                   fiscal_year=2025)
    assert table.columns["institution_number"] == "A" and table.columns["institution_code"] == "B"
    result = _validate(table, roster_of([n1, n2, n3]))
    assert _where(result.findings) == [
        ("code_mismatch", "error", 3, "B", "institution_code"),
        ("code_mismatch", "error", 4, "B", "institution_code"),
        ("not_in_roster", "error", 4, "B", "institution_code"),
        ("check_digit", "error", 5, "A", "institution_number"),
        ("not_in_roster", "error", 5, "B", "institution_code"),
    ]
    assert result.findings[0].message_ja == (
        f"3行目 B列『医療機関コード』: 医療機関コード 081{n3} が医療機関番号 {n2} と一致しません"
        "(都道府県コード2桁 + 1 + 医療機関番号7桁)")
