"""The 山梨 demo report as the CSV rows an office would send (two header rows, 89 institutions), for the
tests that spoil one value or one name."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

REPO = Path(__file__).resolve().parents[2]
V2 = REPO / "include" / "demo" / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"


def office_rows(data_rows: int | None = None) -> list[list[str]]:
    """The two header rows and the first ``data_rows`` data rows (all 89 when None), as CSV text."""
    ws = openpyxl.load_workbook(V2).active
    last = ws.max_row - 1 if data_rows is None else 5 + data_rows
    return [["" if v is None else str(v) for v in r] for r in ws.iter_rows(min_row=4, max_row=last, values_only=True)]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path
