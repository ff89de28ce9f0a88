"""Builders of request forms and survey returns (files written in tmp_path)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook

from tsunagu.municipalities import municipalities_of

TODAY = dt.date(2025, 9, 15)
TITLE = "定例報告データ 情報提供依頼書"

# label -> value; the xlsx puts the title in row 1 and these in rows 3.. (label A, value B)
VALID_FORM = {
    "都道府県名": "山梨県",
    "担当部署": "福祉保健部 健康長寿推進課",
    "担当者名": "甲斐 花子",
    "メールアドレス": "kai-hanako@pref.yamanashi.lg.jp",
    "CC": "chiiki@pref.yamanashi.lg.jp; kenkou@pref.yamanashi.lg.jp",
    "電話番号": "055-223-1234",
    "提供を希望するデータ": "在宅療養支援診療所・病院 定例報告",
    "対象年度": "令和7年度",
    "利用目的": "市町村への情報提供及び在宅医療の推進施策の検討",
    "依頼日": "令和7年9月10日",
    "利用規約への同意": "同意する",
}
# the row of each value in the default layout
ROW = {label: 3 + i for i, label in enumerate(VALID_FORM)}


def form(**changes) -> dict:
    """VALID_FORM with values replaced by label (None removes the label)."""
    out = dict(VALID_FORM)
    for label, value in changes.items():
        if value is None:
            out.pop(label)
        else:
            out[label] = value
    return out


def write_request_xlsx(path: Path, values: dict, *, layout: str = "right", title: bool = True,
                       label_col: int = 1) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "依頼書"
    if title:
        ws.cell(row=1, column=1, value=TITLE)
    for i, (label, value) in enumerate(values.items()):
        if layout == "right":
            ws.cell(row=3 + i, column=label_col, value=label)
            ws.cell(row=3 + i, column=label_col + 1, value=value)
        else:  # a row of labels with the values below
            ws.cell(row=3, column=1 + i, value=label)
            ws.cell(row=4, column=1 + i, value=value)
    wb.save(path)
    return path


def write_request_csv(path: Path, values: dict, *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["項目", "値"])
        for label, value in values.items():
            w.writerow([label, value])
    return path


# ------------------------------------------------------------------------------------------------ surveys

PROGRAMS = ("総合事業", "在宅医療・介護連携推進事業", "生活支援体制整備事業", "認知症総合支援事業", "地域ケア会議推進事業")
COUNT_LABELS = ("実施件数", "実施回数", "実施回数", "実施件数", "開催回数")
FIRST_DATA_ROW = 6  # xlsx: title row 1, note row 2, header rows 4-5


def survey_rows(prefecture_code: str = "19", not_running: dict[int, set[str]] | None = None) -> list[list]:
    """One row per municipality from the master: [code, name, (status, start, count) × 5].

    ``not_running`` maps a program index (0-4) to the names of the municipalities not running it.
    """
    not_running = not_running or {}
    rows = []
    for n, m in enumerate(municipalities_of(prefecture_code)):
        row: list = [m.code, m.name]
        for p in range(5):
            if m.name in not_running.get(p, set()):
                row += ["未実施", None, None]
            else:
                row += ["実施", f"令和{1 + (n + p) % 6}年4月", 3 + n + p]
        rows.append(row)
    return rows


def write_survey_xlsx(path: Path, rows: list[list]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "調査票"
    ws["A1"] = "地域支援事業 実施状況調査票（山梨県）"
    ws["A2"] = "※ 実施状況は「実施」「未実施」から選択"
    ws["A4"], ws["B4"] = "市町村コード", "市町村名"
    for i, name in enumerate(PROGRAMS):
        first = 3 + 3 * i
        ws.cell(row=4, column=first, value=name)
        ws.merge_cells(start_row=4, start_column=first, end_row=4, end_column=first + 2)
        for j, item in enumerate(("実施状況", "開始年月", COUNT_LABELS[i])):
            ws.cell(row=5, column=first + j, value=item)
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    wb.save(path)
    return path


def write_survey_csv(path: Path, rows: list[list], *, encoding: str = "cp932") -> Path:
    header = ["市町村コード", "市町村名"]
    for i, name in enumerate(PROGRAMS):
        header += [f"{name} 実施状況", f"{name}（開始年月）", f"{name} {COUNT_LABELS[i]}"]
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path
