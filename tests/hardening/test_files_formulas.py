"""The annotated copy holds no live formula: a formula (an xlsx formula cell, or CSV text starting with
``=``) becomes its cached value when Excel saved one, else its text made inert (an apostrophe in front).
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tsunagu.flows import get_flow
from tsunagu.settings import Settings

REPO = Path(__file__).resolve().parents[2]
V2 = REPO / "include" / "demo" / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
LINK = '=HYPERLINK("http://x","y")'


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")


def ingest(path: Path, settings: Settings):
    return get_flow("home_care_report").ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings,
                                               use_gx=False)


def no_formula(wb) -> bool:
    return all(c.data_type != "f" for ws in wb.worksheets for line in ws.iter_rows() for c in line)


def test_csv_formula_text_is_inert_in_the_annotated_copy(tmp_path, settings):
    ws = openpyxl.load_workbook(V2).active
    rows = [["" if v is None else str(v) for v in r] for r in ws.iter_rows(min_row=4, max_row=8, values_only=True)]
    rows[2][24] = LINK  # 備考, sheet row 3
    rows[3][24] = "@SUM(1)"  # not a formula to openpyxl: kept as a string cell, as sent
    rows[4][24] = "=1+1"
    path = tmp_path / "山梨.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    outcome = ingest(path, settings)
    assert outcome.status == "accepted"
    wb = openpyxl.load_workbook(outcome.reports["xlsx"])
    sheet = wb["csv"]
    assert [(sheet[a].value, sheet[a].data_type) for a in ("Y3", "Y4", "Y5")] == [
        ("'" + LINK, "s"), ("@SUM(1)", "s"), ("'=1+1", "s")]
    assert sheet["B3"].value == "0103652"
    assert no_formula(wb)


def with_cached_values(path: Path, cached: dict[str, str | int]) -> None:
    """Give formula cells the cached values Excel would have saved (openpyxl writes none)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode("utf-8")
    for ref, value in cached.items():
        kind = ' t="str"' if isinstance(value, str) else ""
        xml, n = re.subn(rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/?>(</v>)?</c>',
                         rf'<c r="{ref}"\1{kind}><f>\2</f><v>{value}</v></c>', xml)
        assert n == 1, ref
    parts["xl/worksheets/sheet1.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_xlsx_formula_cells_become_cached_values_or_inert_text(tmp_path, settings):
    wb = openpyxl.load_workbook(V2)
    ws = wb.active
    ws["H6"] = "=SUM(J6:M6)+329"  # 合計診療患者数 346, cached by Excel
    ws["Y6"] = LINK  # no cached value: its text
    ws["Y7"] = '=CONCAT("=","cmd")'  # a cached text that is itself a formula: made inert
    ws["Y8"] = "=NOW()"  # cached as a number
    ws["Z1"] = "'=kept"  # a string cell whose text starts with an apostrophe, as sent
    ws["Y9"].value = "=1+1"
    ws["Y9"].data_type = "s"  # text typed as '=1+1 in Excel: a string cell, kept as sent
    path = tmp_path / "山梨.xlsx"
    wb.save(path)
    with_cached_values(path, {"H6": 346, "Y7": "=cmd", "Y8": 45678})
    outcome = ingest(path, settings)
    assert (outcome.status, outcome.rows) == ("accepted", 89)  # the parser read the cached 346
    copy = openpyxl.load_workbook(outcome.reports["xlsx"])
    sheet = copy["集計表"]
    assert [(sheet[a].value, sheet[a].data_type) for a in ("H6", "Y6", "Y7", "Y8", "Z1", "Y9")] == [
        (346, "n"), ("'" + LINK, "s"), ("'=cmd", "s"), (45678, "n"), ("'=kept", "s"), ("=1+1", "s")]
    assert sheet["A1"].value.startswith("令和7年度")  # the sender's sheet otherwise as sent
    assert no_formula(copy)
