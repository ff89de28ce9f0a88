"""End to end on a real file: intake parser + the 2024-08 template → validation → annotated report."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from tsunagu.validate import validate_home_care_report, write_reports
from tsunagu.validate.reports import ERROR_COLOR, WARNING_COLOR

from .factory import codes_of, good_values, roster_for

templates = pytest.importorskip("tsunagu.intake.templates")
intake = pytest.importorskip("tsunagu.intake.home_care_report")

# The office's layout: no 都道府県コード column, the name first, title rows above the header.
LAYOUT = ["institution_name", "institution_number", "address", "municipality_code", "notification_class",
          "avg_care_months", "total_patients", "deaths_total", "deaths_home", "deaths_other_residence",
          "deaths_partner_hospital", "deaths_other_hospital", "severe_children", "visits_total", "house_calls",
          "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all", "month_patients_home",
          "month_home_ratio", "fulltime_doctors", "partner_institutions"]


def office_file(path: Path, rows: list[dict], template) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "集計表"
    ws.append(["令和7年度 在宅療養支援診療所・在宅療養支援病院 定例報告 集計表(埼玉事務所)"])
    ws.append([])
    ws.append([template.field(fid).label_ja for fid in LAYOUT])
    for r in rows:
        ws.append(["支援診３" if fid == "notification_class" and r[fid] == "standard" else r[fid] for fid in LAYOUT])
    ws.append(["合計"])
    wb.save(path)
    return path


def test_office_file_end_to_end(tmp_path):
    template = templates.load_template("home_care_report", fiscal_year=2025)
    rows = [
        good_values(1),
        good_values(2, deaths_total=7),  # death_sum → H5
        good_values(3, total_patients="四十"),  # unreadable → parser's invalid_value at G6
        good_values(1),  # duplicate of row 4 → B7
    ]
    path = office_file(tmp_path / "saitama.xlsx", rows, template)
    table = intake.parse_home_care_report(path, template=template, prefecture_code="11", fiscal_year=2025)
    previous = {f"111{rows[1]['institution_number']}": {"total_patients": 200}}  # 200 → 40: ÷5
    result = validate_home_care_report(table, prefecture_code="11", fiscal_year=2025, roster=roster_for(rows),
                                       previous=previous, use_gx=False)
    assert codes_of(result.findings) == [
        ("yoy_jump", "warning", 5, "G", "total_patients"),
        ("death_sum", "error", 5, "H", "deaths_total"),
        ("invalid_value", "error", 6, "G", "total_patients"),
        ("duplicate_institution", "error", 7, "B", "institution_number"),
    ]
    assert result.rows == 4
    rec = result.records[0]
    assert rec["prefecture_code"] == "11" and rec["institution_code"] == f"111{rows[0]['institution_number']}"
    assert rec["notification_class"] == "standard" and rec["facility_type"] == "clinic"  # from the roster
    assert (rec["source_sheet"], rec["source_row"]) == ("集計表", 4)

    paths = write_reports(result, table, path, tmp_path / "out", stem="saitama")
    ws = openpyxl.load_workbook(paths["xlsx"])["集計表"]
    assert ws["H5"].fill.fgColor.rgb == ERROR_COLOR
    assert ws["H5"].comment.text == "【エラー】5行目 H列『死亡患者数』: 内訳(①〜④)の合計(6)と一致しません(7)"
    assert ws["G5"].fill.fgColor.rgb == WARNING_COLOR
    assert ws["G6"].comment.text.startswith("【エラー】")
    assert ws["A1"].value.startswith("令和7年度")  # the submitter's sheet, as sent
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["status"] == "rejected" and [e["code"] for e in data["errors"]] == [f.code for f in result.findings]
