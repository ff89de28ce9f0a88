"""様式11の3 sent as PDF (design.md §2.1): a text PDF's ruled table is read; a scan asks for Excel.

The PDFs are built for real (tests/intake/pdfs.py: text in a CJK font, ruled grid, merged header cells)
and read through read_sheets(pdf=True) → parse → validate → reports, as a landed file is.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tsunagu.findings import UnreadableFile
from tsunagu.intake.home_care_report import parse_home_care_report
from tsunagu.intake.pdf import read_pdf
from tsunagu.intake.reader import read_sheets
from tsunagu.intake.templates import load_template
from tsunagu.validate.home_care_report import validate_home_care_report
from tsunagu.validate.reports import ERROR_COLOR, LIST_SHEET, write_reports

from .builders import FLAT_FIELDS, clinic_row, roster_of, valid_number
from .pdfs import LEFT, UP, Page, paginate, scanned_pdf, table_pdf, write_pdf

T2024 = load_template("home_care_report", "2024-08")
A3_LANDSCAPE = (1191.0, 842.0)

# The form's two header rows as an office's Excel prints them: sections over items, labels broken over lines.
TOP = ["医療機関\n番号", "医療機関名称", "所在地", "平均診療\n期間（月）", "合計診療\n患者数", "死亡患者数", LEFT, LEFT,
       LEFT, LEFT, "超重症児・\n準超重症児\nの患者数", "訪問診療等の\n実施回数", LEFT, LEFT, LEFT, LEFT, "直近1月", LEFT,
       LEFT, "在宅医療を\n担当する常勤\nの医師数", "連携する\n保険医療\n機関数"]
ITEM = [UP, UP, UP, UP, UP, "合計", "①医療機関\n以外・自宅", "②医療機関\n以外・自宅以外", "③医療機関・\n連携医療機関",
        "④医療機関・\n連携医療機関\n以外", UP, "合計", "①往診", "うち緊急\nの往診", "②訪問\n診療", "③訪問\n看護",
        "①初診・再診・\n往診・訪問診療を\n実施した患者数", "②往診又は\n訪問診療を実施\nした患者数", "③ ②／①\n(%)", UP, UP]
WIDTHS = [40, 95, 110, 38, 38, 34, 44, 50, 50, 50, 44, 44, 34, 38, 34, 34, 60, 60, 38, 46, 42]
TITLE = ["令和7年度 在宅療養支援診療所・在宅療養支援病院 定例報告 集計表（茨城事務所）", "令和7年8月1日現在"]
NOTES = ["※1 死亡患者数は①～④の合計。", "注）直近1月は令和7年7月の実績。", "以下余白"]


def number(seq: int) -> str:
    return valid_number(seq, "08")


def clinic(seq: int, **changes) -> list:
    return clinic_row(seq, "08", **changes)


def roster(rows: list[list]) -> dict:
    return roster_of(r[0] for r in rows)


CLINICS = [clinic(1), clinic(2, deaths_total=11), clinic(3), clinic(4, emergency_house_calls=41), clinic(5)]


def office_pdf(path, rows=CLINICS, *, per_page: int = 2, notes=NOTES):
    return table_pdf(path, paginate([TOP, ITEM], rows, per_page=per_page, title=TITLE, notes=notes, widths=WIDTHS),
                     size=A3_LANDSCAPE)


# --------------------------------------------------------------------------- the grid


def test_text_pdf_grid_pages_title_and_notes(tmp_path):
    path = office_pdf(tmp_path / "茨城_集計表.pdf")
    (sheet,) = read_sheets(path, pdf=True)
    assert (sheet.name, sheet.source_format, sheet.encoding) == ("pdf", "pdf", None)
    grid = sheet.rows
    assert grid[0] == [TITLE[0]] and grid[1] == [TITLE[1]]
    # Labels broken over lines come back whole; a merged section title stands in its first column.
    assert grid[2][:6] == ["医療機関番号", "医療機関名称", "所在地", "平均診療期間（月）", "合計診療患者数", "死亡患者数"]
    assert grid[2][6:10] == ["", "", "", ""] and grid[2][16] == "直近1月"
    assert grid[3][5:7] == ["合計", "①医療機関以外・自宅"]
    assert grid[3][16] == "①初診・再診・往診・訪問診療を実施した患者数"
    assert grid[4][:3] == [number(1), "水戸在宅クリニック1", "水戸市三の丸1-12-48"]
    assert grid[4][3:6] == ["14.5", "120", "10"]
    # Page 2 starts with the header again (the parser drops it), then its rows; page 3 the same.
    assert grid[6] == grid[2] and grid[7] == grid[3] and grid[10] == grid[2]
    assert [grid[i][0] for i in (4, 5, 8, 9, 12)] == [number(i) for i in range(1, 6)]
    # Under the table on the last page: a blank row, the notes; page numbers ("- 1 -") are not content.
    assert grid[13:] == [[], ["※1 死亡患者数は①〜④の合計。"], ["注）直近1月は令和7年7月の実績。"], ["以下余白"]]
    assert len(grid) == 17


def test_pdf_is_refused_without_pdf_support(tmp_path):
    """Kinds that take no PDF (registers, request forms …) refuse it as before, without reading it."""
    path = office_pdf(tmp_path / "r.pdf", rows=CLINICS[:1])
    with pytest.raises(UnreadableFile) as exc:
        read_sheets(path)
    assert exc.value.code == "unsupported_pdf"


def test_pdf_table_parses_like_the_excel_table(tmp_path):
    path = office_pdf(tmp_path / "茨城_集計表.pdf")
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert (table.source_format, table.sheet, table.header_rows) == ("pdf", "pdf", (3, 4))
    assert table.findings == [] and table.extra_columns == []
    assert [r.row for r in table.rows] == [5, 6, 9, 10, 13]  # repeated headers (7–8, 11–12) and notes dropped
    assert table.columns["institution_number"] == "A" and table.columns["month_home_ratio"] == "S"
    first = table.rows[0].values
    assert {f: first[f] for f in FLAT_FIELDS} == {
        "institution_number": number(1), "institution_name": "水戸在宅クリニック1", "address": "水戸市三の丸1-12-48",
        "avg_care_months": 14.5, "total_patients": 120, "deaths_total": 10, "deaths_home": 5,
        "deaths_other_residence": 2, "deaths_partner_hospital": 2, "deaths_other_hospital": 1, "severe_children": 0,
        "visits_total": 300, "house_calls": 40, "emergency_house_calls": 12, "home_visits": 250, "nursing_visits": 10,
        "month_patients_all": 90, "month_patients_home": 60, "month_home_ratio": 66.7, "fulltime_doctors": 3,
        "partner_institutions": 0,
    }
    assert first["institution_code"] == "081" + number(1) and first["prefecture_code"] == "08"
    assert [r.values["institution_name"] for r in table.rows] == [f"水戸在宅クリニック{i}" for i in range(1, 6)]


def test_pdf_validation_and_reports(tmp_path):
    path = office_pdf(tmp_path / "茨城_集計表.pdf")
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    result = validate_home_care_report(table, prefecture_code="08", fiscal_year=2025, roster=roster(CLINICS),
                                       use_gx=False)
    assert result.status == "rejected" and result.rows == 5
    got = [(f.code, f.severity, f.sheet, f.row, f.column, f.field) for f in result.findings]
    assert got == [
        ("death_sum", "error", "pdf", 6, "F", "deaths_total"),
        ("emergency_exceeds_house_calls", "error", "pdf", 10, "N", "emergency_house_calls"),
    ]
    assert result.findings[0].message_ja == "6行目 F列『死亡患者数』: 内訳(①〜④)の合計(10)と一致しません(11)"
    assert [r["source_row"] for r in result.records] == [5, 6, 9, 10, 13]

    paths = write_reports(result, table, path, tmp_path / "out", stem="r1")
    assert set(paths) == {"json", "xlsx"}
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["source_file"] == "茨城_集計表.pdf" and data["counts"] == {"error": 2, "warning": 0}
    # The copy sent back is the grid read from the PDF (as for a CSV), annotated, with the findings list.
    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["pdf", LIST_SHEET]
    ws = wb["pdf"]
    assert ws["A1"].value == TITLE[0] and ws["A3"].value == "医療機関番号" and ws["A5"].value == number(1)
    assert ws["F6"].fill.fgColor.rgb == ERROR_COLOR and "内訳(①〜④)の合計" in ws["F6"].comment.text
    assert ws["N10"].fill.fgColor.rgb == ERROR_COLOR
    assert [c.value for c in wb[LIST_SHEET]["A"]][1:] == [6, 10]


def test_header_on_every_page_single_row_header(tmp_path):
    """A one-row header repeated on 4 pages, no title and no notes: every repeat dropped, rows continue."""
    header = ["医療機関番号", "医療機関名称", "合計診療患者数", "死亡患者数", "①医療機関以外・自宅"]
    rows = [[number(i), f"診療所{i}", 10 + i, 1, 1] for i in range(1, 8)]
    pages = paginate([header], rows, per_page=2, widths=[80, 120, 80, 80, 100])
    path = table_pdf(tmp_path / "p.pdf", pages)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.header_rows == (1,)
    assert [r.row for r in table.rows] == [2, 3, 5, 6, 8, 9, 11]
    assert [r.values["total_patients"] for r in table.rows] == [11, 12, 13, 14, 15, 16, 17]
    assert {f.code for f in table.findings} == {"missing_column"}  # the columns this short table lacks, only


# --------------------------------------------------------------------------- what cannot be read


def test_scanned_pdf_needs_manual_entry(tmp_path):
    path = scanned_pdf(tmp_path / "栃木_集計表_スキャン.pdf", pages=2)
    with pytest.raises(UnreadableFile) as exc:
        parse_home_care_report(path, template=T2024, prefecture_code="09", fiscal_year=2025)
    e = exc.value
    assert e.code == "needs_manual_entry"
    assert e.message_ja == (
        "このPDF（2ページ）は紙をスキャンした画像で、文字のデータがないため読み取れません（このままでは手入力が必要になります）。"
        "お手数ですが、集計表をExcel（.xlsx）形式で送付してください（CSVでも受け付けます）。")
    assert "scanned image without a text layer" in e.message_en and "Excel (.xlsx)" in e.message_en


def test_scanned_pdf_through_the_flow_is_unreadable(tmp_path):
    from tsunagu.flows import get_flow

    checked = get_flow("home_care_report").check(scanned_pdf(tmp_path / "scan.pdf"), prefecture_code="09",
                                                 fiscal_year=2025, use_gx=False)
    assert checked.result.status == "unreadable" and checked.result.rows == 0
    assert [f.code for f in checked.result.findings] == ["needs_manual_entry"]


def test_cli_exit_code_for_a_scan(tmp_path, monkeypatch, capsys):
    from tsunagu.cli import main

    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TSUNAGU_DB_URL", raising=False)
    path = scanned_pdf(tmp_path / "scan.pdf")
    args = ["validate", "--kind", "home_care_report", "--prefecture", "09", "--fiscal-year", "2025", "--json"]
    assert main([*args, str(path)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "unreadable" and [e["code"] for e in out["errors"]] == ["needs_manual_entry"]


@pytest.mark.parametrize(("data", "code"), [
    (b"%PDF-1.4\n% scanned by the office copier\n%%EOF\n", "unsupported_pdf"),  # the demo's stub: no page at all
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "unsupported_pdf"),  # cut short
])
def test_damaged_pdf(tmp_path, data, code):
    path = tmp_path / "x.pdf"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as exc:
        read_sheets(path, pdf=True)
    assert exc.value.code == code
    assert exc.value.message_ja == (
        "PDFファイルを読み取れません（ファイルが壊れているか、PDFとして開けません）。"
        "集計表をExcel（.xlsx）形式で送付してください（CSVでも受け付けます）。")


def test_text_pdf_without_a_ruled_table(tmp_path):
    content = "".join(f"BT /F1 10 Tf 40 {700 - 14 * i} Td <{''.join(f'{ord(c):04X}' for c in line)}> Tj ET\n"
                      for i, line in enumerate(["定例報告について", "集計表は別途送付します。"])).encode()
    path = write_pdf(tmp_path / "letter.pdf", [content])
    with pytest.raises(UnreadableFile) as exc:
        read_sheets(path, pdf=True)
    assert exc.value.code == "pdf_no_table"
    assert exc.value.message_ja.startswith("PDF（1ページ）に罫線で区切られた表が見つかりません。")


def test_too_many_pages(tmp_path):
    pages = [Page(rows=[["医療機関番号", "名称"], [number(i), "診療所"]]) for i in range(3)]
    path = table_pdf(tmp_path / "long.pdf", pages)
    with pytest.raises(UnreadableFile) as exc:
        read_pdf(path, max_pages=2)
    assert exc.value.code == "too_many_pages"
    assert exc.value.message_ja.startswith("PDFのページ数が多すぎます（3ページ、上限 2ページ）。")


def test_pdf_reader_memory_cap(tmp_path):
    """The reading process has its own address-space cap: a PDF that needs more is refused, the caller lives."""
    path = office_pdf(tmp_path / "茨城_集計表.pdf", rows=CLINICS[:1])
    with pytest.raises(UnreadableFile) as exc:
        read_pdf(path, max_memory=40 * 1024 * 1024)  # below what importing pdfplumber takes
    assert exc.value.code == "pdf_too_complex"
    assert exc.value.message_ja.startswith("PDFの内容が複雑すぎるため、読み取りを中止しました（メモリ上限 40 MiB、時間上限 120秒）。")


# --------------------------------------------------------------------------- a PDF as LibreOffice prints it


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_pdf_printed_by_libreoffice(tmp_path):
    """The office's workbook printed to PDF by a real office suite: embedded CJK font, ruled cells, the header
    repeated on each page by the print titles, a title above and notes under the table."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Side

    from .builders import FLAT_HEADER

    wb = Workbook()
    ws = wb.active
    ws.title = "集計表"
    ws.append([TITLE[0]])
    ws.append(FLAT_HEADER)
    rows = [clinic(i) for i in range(1, 61)]
    for r in rows:
        ws.append(r)
    ws.append([])
    ws.append([NOTES[0]])
    ws.append([NOTES[2]])
    thin = Side(style="thin")
    for line in ws.iter_rows(min_row=2, max_row=2 + len(rows), max_col=len(FLAT_HEADER)):
        for cell in line:
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
            cell.alignment = Alignment(wrap_text=cell.row == 2)
    for i, width in enumerate([9, 20, 22] + [7] * 18):
        ws.column_dimensions[chr(65 + i)].width = width
    ws.row_dimensions[2].height = 110
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    wb.save(tmp_path / "集計表.xlsx")
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(tmp_path / "集計表.xlsx")], check=True, capture_output=True,
                   timeout=120)
    path = tmp_path / "集計表.pdf"

    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.source_format == "pdf" and table.header_rows == (2,)
    assert table.findings == [] and table.extra_columns == []
    assert len(table.rows) == 60  # over two pages; the header printed on the second is dropped
    assert [r.values["institution_number"] for r in table.rows] == [number(i) for i in range(1, 61)]
    assert table.rows[0].values["month_home_ratio"] == 66.7 and table.rows[-1].values["partner_institutions"] == 0
    grid = read_sheets(path, pdf=True)[0].rows
    assert grid[-3:] == [[], ["※1 死亡患者数は①～④の合計。"], ["以下余白"]]
    result = validate_home_care_report(table, prefecture_code="08", fiscal_year=2025, roster=roster(rows),
                                       use_gx=False)
    assert result.findings == [] and result.status == "accepted"


@pytest.mark.parametrize(("text", "joined"), [
    ("医療機関\n番号", "医療機関番号"), ("水戸市三の丸\n3-12-48", "水戸市三の丸3-12-48"), ("Home\nClinic", "Home Clinic"),
    ("③ ②／①\n(%)", "③ ②／①(%)"), (None, ""), ("1,234\n", "1,234"),
])
def test_cell_lines_are_joined_as_typed(text, joined):
    from tsunagu.intake.pdf import _join_lines

    assert _join_lines(text) == joined


@pytest.mark.parametrize(("line", "is_number"), [
    ("- 2 -", True), ("－２－", True), ("2/3", True), ("Page 4", True), ("3ページ", True), ("12", True),
    ("※1 死亡患者数は①～④の合計。", False), ("以下余白", False), ("令和7年8月1日現在", False),
])
def test_page_numbers_are_not_content(line, is_number):
    from tsunagu.intake.pdf import _is_page_number

    assert _is_page_number(line) is is_number
