"""Small package files for the deliver tests: a CSV with prefecture_code and an xlsx with a データ sheet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook


def write_csv(path: Path, codes: list[str], *, column: str = "prefecture_code") -> Path:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["fiscal_year", column, "institution_code", "institution_name"])
    for i, code in enumerate(codes, start=1):
        w.writerow([2025, code, f"{code}1000{i:03d}0", f"テスト診療所{i}"])
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def write_xlsx(path: Path, codes: list[object], *, sheet: str = "データ", column: str = "都道府県コード") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["報告年度", column, "医療機関コード", "医療機関名称"])
    for i, code in enumerate(codes, start=1):
        ws.append([2025, code, f"{code}1000{i:03d}0", f"テスト診療所{i}"])
    wb.create_sheet("定義書").append(["項目ID", "項目名"])
    wb.save(path)
    return path


def read_csv_bytes(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
