"""Generate the blank forms the bureau sends out (include/forms/), from the versioned template YAML.

    .venv/bin/python scripts/make_blank_forms.py [out_dir]

- 情報提供依頼書_様式.xlsx / .csv  the request form (label / input cell / note), with a drop-down for
  利用規約への同意 and for the dataset
- 地域支援事業実施状況調査票_<code>_<name>.xlsx  one survey form per prefecture, its municipalities
  filled in (designated cities once, Tokyo's special wards included), drop-downs 実施／未実施

The bytes are deterministic (fixed workbook times and zip entry times): rerunning changes nothing
unless a template or the municipality master changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from tsunagu.intake.request_form import field_format, load_request_template
from tsunagu.intake.survey_return import load_survey_template, programs
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.municipalities import load_municipalities
from tsunagu.settings import include_dir
from tsunagu.validate.reports import save_deterministic

INPUT_FILL = PatternFill(fill_type="solid", start_color="FFFFF2CC", end_color="FFFFF2CC")
LABEL_FILL = PatternFill(fill_type="solid", start_color="FFDDEBF7", end_color="FFDDEBF7")
THIN = Side(style="thin", color="FF808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
NOTE_FONT = Font(size=9, color="FF595959")
REQUEST_XLSX = "情報提供依頼書_様式.xlsx"
REQUEST_CSV = "情報提供依頼書_様式.csv"
TERMS_CHOICES = ("同意する", "同意しない")
DATASET_CHOICES = ("在宅療養支援診療所・病院 定例報告",)
STATUS_CHOICES = ("実施", "未実施")
NOTES = (
    "※ 黄色の欄に記入してください。項目名（左の列）は変更しないでください。",
    "※ データは、上記のメールアドレス及びCCのアドレスにのみ送付します。いずれも貴都県の公用ドメインのアドレスに限ります。",
    "※ 同じ年度について依頼書を再提出された場合は、最新の依頼書の内容で送付します。",
    "※ Excelのほか、「項目,値」の2列のCSV（UTF-8またはShift_JIS）でも提出できます。",
)


def build_request_form():
    template = load_request_template()
    jurisdiction = load_jurisdiction()
    wb = Workbook()
    ws = wb.active
    ws.title = "情報提供依頼書"
    ws["A1"] = template.title_ja
    ws["A1"].font = Font(bold=True, size=16)
    ws.merge_cells("A1:D1")
    ws["A2"] = f"{jurisdiction.bureau_ja} {jurisdiction.division_ja} 宛"
    for col, width in zip("ABCD", (26, 48, 2, 60), strict=True):
        ws.column_dimensions[col].width = width
    row = 4
    cells = {}
    for spec in template.fields:
        label = ws.cell(row=row, column=1, value=spec.label_ja)
        label.font, label.fill, label.border = Font(bold=True), LABEL_FILL, BOX
        value = ws.cell(row=row, column=2)
        value.fill, value.border = INPUT_FILL, BOX
        value.alignment = Alignment(wrap_text=True, vertical="top")
        required = "（必須）" if spec.required else "（任意）"
        note = ws.cell(row=row, column=4, value=f"※{required}{spec.description_ja}")
        note.font = NOTE_FONT
        cells[spec.id] = value.coordinate
        if field_format(template, spec.id) == "email_list" or spec.id == "purpose":
            ws.row_dimensions[row].height = 45
        row += 1
    terms = DataValidation(type="list", formula1='"' + ",".join(TERMS_CHOICES) + '"', allow_blank=True,
                           showErrorMessage=True, errorTitle="利用規約への同意", error="一覧から選択してください")
    terms.add(cells["terms_accepted"])
    dataset = DataValidation(type="list", formula1='"' + ",".join(DATASET_CHOICES) + '"', allow_blank=True)
    dataset.add(cells["dataset"])
    ws.add_data_validation(terms)
    ws.add_data_validation(dataset)
    row += 1
    for text in NOTES:
        ws.cell(row=row, column=1, value=text).font = NOTE_FONT
        row += 1
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    return wb


def request_form_csv() -> bytes:
    """The CSV blank: 項目,値,説明 (UTF-8 with BOM so that Excel opens it in Japanese)."""
    template = load_request_template()
    lines = ["項目,値,説明"]
    for spec in template.fields:
        required = "（必須）" if spec.required else "（任意）"
        note = f"※{required}{spec.description_ja}".replace('"', '""')
        lines.append(f'{spec.label_ja},,"{note}"')
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def build_survey_form(prefecture_code: str):
    template = load_survey_template()
    progs = programs(template)
    pref = load_jurisdiction().get(prefecture_code)
    units = load_municipalities().of_prefecture(prefecture_code)
    wb = Workbook()
    ws = wb.active
    ws.title = "調査票"
    ws["A1"] = f"{template.title_ja}（{pref.name_ja}）"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = "※ 実施状況は「実施」「未実施」から選択。開始年月は実施している事業のみ（例：令和3年4月）。回数・件数は0以上の整数。"
    ws["A2"].font = NOTE_FONT
    top, item = 4, 5
    for col, text in ((1, "市町村コード"), (2, "市町村名")):
        cell = ws.cell(row=top, column=col, value=text)
        ws.merge_cells(start_row=top, start_column=col, end_row=item, end_column=col)
    item_labels = {"implemented": "実施状況", "started": "開始年月"}
    for i, p in enumerate(progs):
        first = 3 + 3 * i
        ws.cell(row=top, column=first, value=p.name_ja)
        ws.merge_cells(start_row=top, start_column=first, end_row=top, end_column=first + 2)
        count_label = template.field(p.count).label_ja.split(" ", 1)[-1]
        for j, text in enumerate((item_labels["implemented"], item_labels["started"], count_label)):
            ws.cell(row=item, column=first + j, value=text)
    width = 2 + 3 * len(progs)
    for r in (top, item):
        for c in range(1, width + 1):
            cell = ws.cell(row=r, column=c)
            cell.font, cell.fill, cell.border = Font(bold=True), LABEL_FILL, BOX
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for r, m in enumerate(units, start=item + 1):
        ws.cell(row=r, column=1, value=m.code).border = BOX
        ws.cell(row=r, column=2, value=m.name).border = BOX
        ws.cell(row=r, column=1).number_format = "@"
        for c in range(3, width + 1):
            cell = ws.cell(row=r, column=c)
            cell.fill, cell.border = INPUT_FILL, BOX
    last = item + len(units)
    status = DataValidation(type="list", formula1='"' + ",".join(STATUS_CHOICES) + '"', allow_blank=True)
    counts = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                            showErrorMessage=True, error="0以上の整数を入力してください")
    for i in range(len(progs)):
        status_col, count_col = get_column_letter(3 + 3 * i), get_column_letter(5 + 3 * i)
        status.add(f"{status_col}{item + 1}:{status_col}{last}")
        counts.add(f"{count_col}{item + 1}:{count_col}{last}")
    ws.add_data_validation(status)
    ws.add_data_validation(counts)
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 16
    for c in range(3, width + 1):
        ws.column_dimensions[get_column_letter(c)].width = 13
    ws.freeze_panes = ws.cell(row=item + 1, column=3)
    return wb


def survey_form_name(prefecture_code: str) -> str:
    pref = load_jurisdiction().get(prefecture_code)
    return f"地域支援事業実施状況調査票_{prefecture_code}_{pref.name_ja}.xlsx"


def make_blank_forms(out_dir: Path | None = None) -> list[Path]:
    out = Path(out_dir or include_dir() / "forms")
    out.mkdir(parents=True, exist_ok=True)
    written = [save_deterministic(build_request_form(), out / REQUEST_XLSX)]
    csv_path = out / REQUEST_CSV
    csv_path.write_bytes(request_form_csv())
    written.append(csv_path)
    for code in load_jurisdiction().prefectures:
        written.append(save_deterministic(build_survey_form(code), out / survey_form_name(code)))
    return written


if __name__ == "__main__":
    for path in make_blank_forms(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(path)
