"""Reports: JSON, the annotated Excel copy and GX Data Docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from tsunagu.findings import UnreadableFile, error, warning
from tsunagu.model import ValidationResult
from tsunagu.validate.home_care_report import validate_home_care_report
from tsunagu.validate.reports import ERROR_COLOR, LIST_SHEET, WARNING_COLOR, write_reports

from .factory import PREF, SHEET, good_values, make_table, roster_for

ROWS = [
    good_values(1, deaths_total=5),  # death_sum at J5
    good_values(2, emergency_house_calls=21, visits_total=99),  # R6 + P6
    good_values(1),  # duplicate of row 5 → B7
]


def submitter_xlsx(path: Path, table) -> Path:
    """The office's own workbook: a merged title, a wide name column, a second sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    for row in table.grid:
        ws.append(row)
    ws.merge_cells("A1:F1")
    ws.column_dimensions["C"].width = 40
    wb.create_sheet("メモ")["A1"] = "提出者のメモ"
    wb.save(path)
    return path


@pytest.fixture
def validated():
    table = make_table(ROWS)
    result = validate_home_care_report(table, prefecture_code=PREF, fiscal_year=2025, roster=None, use_gx=False)
    return table, result


def fill_of(cell) -> str:
    return cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type == "solid" else ""


def test_xlsx_source_is_annotated_in_place(tmp_path, validated):
    table, result = validated
    src = submitter_xlsx(tmp_path / "office.xlsx", table)
    paths = write_reports(result, table, src, tmp_path / "out", stem="r1")
    assert set(paths) == {"json", "xlsx"}  # no GX result → no Data Docs
    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == [SHEET, "メモ", LIST_SHEET]
    ws = wb[SHEET]
    assert "A1:F1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws.column_dimensions["C"].width == 40
    j5 = ws["J5"]
    assert fill_of(j5) == ERROR_COLOR
    assert j5.comment.text == "【エラー】5行目 J列『死亡患者数』: 内訳(①〜④)の合計(6)と一致しません(5)"
    assert fill_of(ws["R6"]) == ERROR_COLOR and fill_of(ws["P6"]) == ERROR_COLOR
    assert ws["B7"].comment.text.startswith("【エラー】7行目 B列『医療機関番号』: 医療機関コード")
    assert fill_of(ws["C5"]) == "" and ws["C5"].comment is None
    # the file-level warning (roster unavailable) is in the list only
    lst = wb[LIST_SHEET]
    rows = list(lst.iter_rows(values_only=True))
    assert rows[0] == ("行", "列", "項目", "重大度", "内容", "message_en", "コード")
    assert rows[1][:4] == (None, None, None, "警告") and rows[1][6] == "roster_unavailable"
    assert rows[2] == (5, "J", "死亡患者数", "エラー", "5行目 J列『死亡患者数』: 内訳(①〜④)の合計(6)と一致しません(5)",
                       "Row 5, column J (deaths_total): does not equal the sum of its breakdown ①–④ (6 ≠ 5)", "death_sum")
    assert len(rows) == 1 + len(result.findings)


def test_several_findings_on_one_cell_and_warning_fill(tmp_path, validated):
    table, _ = validated
    findings = [
        warning("yoy_jump", "5行目 I列『合計診療患者数』: 前年度から大きく変動", "jump", sheet=SHEET, row=5, column="I",
                field="total_patients"),
        error("out_of_range", "6行目 I列『合計診療患者数』: 範囲外", "range", sheet=SHEET, row=6, column="I",
              field="total_patients"),
        warning("yoy_jump", "6行目 I列『合計診療患者数』: 前年度から大きく変動", "jump", sheet=SHEET, row=6, column="I",
                field="total_patients"),
        error("duplicate_row", "7行目: 行全体の誤り", "row-level", sheet=SHEET, row=7),
    ]
    result = ValidationResult(status="rejected", findings=findings, records=[], rows=3)
    paths = write_reports(result, table, tmp_path / "office.csv", tmp_path, stem="r2")  # CSV: grid into a new book
    ws = load_workbook(paths["xlsx"])[SHEET]
    assert ws["A1"].value == "様式11の3 集計表" and ws["C5"].value == "つなぐ診療所1"
    assert fill_of(ws["I5"]) == WARNING_COLOR
    assert fill_of(ws["I6"]) == ERROR_COLOR
    assert ws["I6"].comment.text == (
        "【エラー】6行目 I列『合計診療患者数』: 範囲外\n【警告】6行目 I列『合計診療患者数』: 前年度から大きく変動")
    assert fill_of(ws["A7"]) == ERROR_COLOR  # row-level: the row's first cell
    assert ws["A7"].comment.text == "【エラー】7行目: 行全体の誤り"


def test_json_is_exact_and_deterministic(tmp_path):
    f = error("death_sum", "5行目 J列『死亡患者数』: 内訳の合計(6)と一致しません(5)", "Row 5, column J: sum",
              sheet=SHEET, row=5, column="J", field="deaths_total")
    result = ValidationResult(status="rejected", findings=[f], records=[], rows=1)
    meta = {"prefecture_code": "11", "fiscal_year": 2025, "sha256": "ab" * 32}
    paths = write_reports(result, None, tmp_path / "埼玉.xlsx", tmp_path, stem="r3", metadata=meta)
    text = paths["json"].read_text(encoding="utf-8")
    assert json.loads(text) == {
        "status": "rejected",
        "rows": 1,
        "counts": {"error": 1, "warning": 0},
        "source_file": "埼玉.xlsx",
        "submission": meta,
        "errors": [{
            "code": "death_sum", "severity": "error", "sheet": SHEET, "row": 5, "column": "J", "field": "deaths_total",
            "message_ja": "5行目 J列『死亡患者数』: 内訳の合計(6)と一致しません(5)", "message_en": "Row 5, column J: sum",
        }],
    }
    assert "死亡患者数" in text and text.endswith("\n")  # ensure_ascii=False
    assert text.index('"counts"') < text.index('"errors"') < text.index('"rows"')  # sorted keys
    first_xlsx = paths["xlsx"].read_bytes()
    again = write_reports(result, None, tmp_path / "埼玉.xlsx", tmp_path, stem="r3", metadata=meta)
    assert again["json"].read_text(encoding="utf-8") == text
    assert again["xlsx"].read_bytes() == first_xlsx


def test_annotated_xlsx_is_byte_deterministic(tmp_path, validated):
    table, result = validated
    src = submitter_xlsx(tmp_path / "office.xlsx", table)
    a = write_reports(result, table, src, tmp_path / "a", stem="r")["xlsx"].read_bytes()
    b = write_reports(result, table, src, tmp_path / "b", stem="r")["xlsx"].read_bytes()
    assert a == b


def test_unreadable_file_gets_json_and_the_list_only(tmp_path):
    exc = UnreadableFile("encrypted", "パスワード付きのファイルは読めません", "the file is password-protected")
    result = ValidationResult(status="unreadable", findings=[exc.finding()], records=[], rows=0)
    paths = write_reports(result, None, tmp_path / "locked.xlsx", tmp_path, stem="u")
    assert set(paths) == {"json", "xlsx"}
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["status"] == "unreadable"
    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == [LIST_SHEET]
    assert list(wb[LIST_SHEET].iter_rows(values_only=True))[1] == (
        None, None, None, "エラー", "パスワード付きのファイルは読めません", "the file is password-protected", "encrypted")


def test_data_docs_from_the_gx_result(tmp_path):
    rows = [good_values(1), good_values(2, avg_care_months=-0.5)]
    table = make_table(rows)
    result = validate_home_care_report(table, prefecture_code=PREF, fiscal_year=2025, roster=roster_for(rows))
    paths = write_reports(result, table, tmp_path / "office.csv", tmp_path, stem="gx")
    index = paths["data_docs"]
    assert index == tmp_path / "gx_data_docs" / "index.html" and index.is_file()
    pages = list((tmp_path / "gx_data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1
    assert "avg_care_months" in pages[0].read_text(encoding="utf-8")
    # rerun: regenerated, not duplicated
    write_reports(result, table, tmp_path / "office.csv", tmp_path, stem="gx")
    assert len(list((tmp_path / "gx_data_docs" / "validations").rglob("*.html"))) == 1


def test_finding_on_a_merged_cell_goes_to_its_top_left(tmp_path, validated):
    table, _ = validated
    src = submitter_xlsx(tmp_path / "office.xlsx", table)
    f = error("bad_title", "1行目 C列: 表題の誤り", "title", sheet=SHEET, row=1, column="C")
    paths = write_reports(ValidationResult("rejected", [f], [], 0), table, src, tmp_path, stem="m")
    ws = load_workbook(paths["xlsx"])[SHEET]
    assert ws["A1"].comment.text == "【エラー】1行目 C列: 表題の誤り" and fill_of(ws["A1"]) == ERROR_COLOR
