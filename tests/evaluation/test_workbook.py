"""The evaluation package of one prefecture: charts and the values behind them, scope, determinism,
frictionless validity (issue 9 §2)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries

from tsunagu.evaluation.analysis import analyse
from tsunagu.publish.evaluation_workbook import SHEETS, publish_prefecture, write_package
from tsunagu.publish.package import ScopeError

from .builders import sample_frames

C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return publish_prefecture(sample_frames(), 2025, "11", tmp_path_factory.mktemp("eval"))


def _xlsx(pkg) -> Path:
    return pkg.dir / "evaluation_2025_11.xlsx"


def _values(wb, ref: str) -> list:
    sheet, cells = ref.rsplit("!", 1)
    ws = wb[sheet.strip("'")]
    min_col, min_row, max_col, max_row = range_boundaries(cells.replace("$", ""))
    return [ws.cell(row=r, column=c).value for r in range(min_row, max_row + 1) for c in range(min_col, max_col + 1)]


def _charts(path: Path) -> dict[str, list[dict]]:
    """{sheet name: [{"types": [...], "title": str, "series": [{"title", "cat", "val"} refs]}]} from the xlsx XML."""
    with zipfile.ZipFile(path) as z:
        wbx = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = {r.get("Id"): r.get("Target") for r in rels}
        ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
        rid = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
        out: dict[str, list[dict]] = {}
        for sh in wbx.iter(f"{ns}sheet"):
            sheet_path = "xl/" + target[sh.get(rid)].lstrip("/").removeprefix("xl/")
            rel_path = sheet_path.replace("worksheets/", "worksheets/_rels/") + ".rels"
            if rel_path not in z.namelist():
                continue
            for r in ET.fromstring(z.read(rel_path)):
                if not r.get("Type").endswith("/drawing"):
                    continue
                drawing = "xl/drawings/" + Path(r.get("Target")).name
                drels = ET.fromstring(z.read(drawing.replace("drawings/", "drawings/_rels/") + ".rels"))
                for dr in drels:
                    chart_xml = ET.fromstring(z.read("xl/charts/" + Path(dr.get("Target")).name))
                    plot = chart_xml.find(f".//{C}plotArea")
                    title = "".join(t.text or "" for t in chart_xml.find(f".//{C}title").iter(
                        "{http://schemas.openxmlformats.org/drawingml/2006/main}t"))
                    series = []
                    for s in plot.iter(f"{C}ser"):
                        f = {k: (s.find(f"{C}{k}//{C}f").text if s.find(f"{C}{k}//{C}f") is not None else None)
                             for k in ("tx", "cat", "val")}
                        series.append(f)
                    types = [child.tag.removeprefix(C) for child in plot if child.tag.endswith("Chart")]
                    out.setdefault(sh.get("name"), []).append({"types": types, "title": title, "series": series})
        return out


def test_sheets_and_headers_in_japanese(package):
    wb = load_workbook(_xlsx(package))
    assert wb.sheetnames == list(SHEETS)
    ws = wb["市町村別得点"]
    header = [c.value for c in ws[1]]
    assert header[:11] == ["都道府県コード", "保険者番号", "市町村名", "合計得点", "配点", "得点率", "県内順位", "全国順位",
                           "前年度差", "県平均との差", "全国平均との差"]
    rows = [[c.value for c in r][:11] for r in ws.iter_rows(min_row=2)]
    assert rows == [
        ["11", "111001", "さいたま市", 45, 50, 0.9, 1, 2, 15, 20, 16],
        ["11", "111002", "川越市", 20, 50, 0.4, 2, 3, 0, -5, -9],
        ["11", "111003", "秩父市", 10, 50, 0.2, 3, 5, 0, -15, -19],
    ]
    summary = {r[0].value: r[1].value for r in wb["概要"].iter_rows(min_row=3, max_row=16) if r[0].value}
    assert summary["市町村数"] == 3 and summary["県平均 合計得点"] == 25 and summary["全国平均 合計得点"] == 29
    assert summary["比較不可の年度"].startswith("令和5年度")


def test_bar_chart_of_totals_against_the_averages(package):
    path = _xlsx(package)
    wb = load_workbook(path)
    charts = _charts(path)
    (bar,) = charts["概要"]
    assert bar["types"] == ["barChart", "lineChart"]
    assert "市町村別 合計得点" in bar["title"]
    got = [(_values(wb, s["tx"]), _values(wb, s["cat"]), _values(wb, s["val"])) for s in bar["series"]]
    names = ["さいたま市", "川越市", "秩父市"]
    assert got == [(["合計得点"], names, [45, 20, 10]),
                   (["県平均"], names, [25, 25, 25]),
                   (["全国平均"], names, [29, 29, 29])]


def test_line_chart_per_goal_over_comparable_years_only(package):
    path = _xlsx(package)
    wb = load_workbook(path)
    charts = _charts(path)["目標別推移"]
    assert [c["title"] for c in charts] == ["目標Ⅰ 平均得点率", "目標Ⅱ 平均得点率", "目標Ⅲ 平均得点率",
                                            "目標Ⅳ 平均得点率", "合計 平均得点率"]
    assert all(c["types"] == ["lineChart"] for c in charts)
    goal_one = charts[0]["series"]
    assert [_values(wb, s["tx"]) for s in goal_one] == [["目標Ⅰ 埼玉県"], ["目標Ⅰ 全国"]]
    assert _values(wb, goal_one[0]["cat"]) == ["令和6年度", "令和7年度"]  # 令和5年度 (2,185 points) left out
    # combined 目標Ⅰ (20 points) 得点率: 2024 埼玉 (0.75, 0.25, 0) 全国 + 千葉 (0.5, 0.25); 2025 (1, 0.25, 0) + (1, 0.25)
    pref, nation = (_values(wb, s["val"]) for s in goal_one)
    assert pref == pytest.approx([1 / 3, 1.25 / 3], abs=1e-12)
    assert nation == pytest.approx([0.35, 0.5], abs=1e-12)
    total = charts[4]["series"]
    assert _values(wb, total[0]["val"]) == pytest.approx([20 / 50, 25 / 50], abs=1e-12)
    assert _values(wb, total[1]["val"]) == pytest.approx([24 / 50, 29 / 50], abs=1e-12)


def test_scoped_no_other_prefecture_anywhere(package):
    others = ("千葉市", "銚子市", "121001", "121002")
    for path in sorted(package.dir.iterdir()):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                text = "".join(z.read(n).decode("utf-8") for n in z.namelist())
        else:
            text = path.read_text(encoding="utf-8-sig")
        assert not [o for o in others if o in text], path.name
    assert {p.name for p in package.dir.iterdir()} == {
        "evaluation_2025_11.xlsx", "evaluation_2025_11_scores.csv", "evaluation_2025_11_averages.csv",
        "evaluation_2025_11_missed.csv", "evaluation_2025_11_low.csv", "datapackage.json", "manifest.json"}


def test_send_time_scope_check_reads_every_row(package):
    from tsunagu.deliver.scope import ScopeViolation, check_attachments

    files = sorted(p for p in package.dir.iterdir())
    # CSVs: scores 3 municipalities × 3 years × 11 measures, averages 33, missed 1, low 0;
    # xlsx sheets with 都道府県コード: 市町村別得点 3, 市町村別推移 9, 未達成指標 1, 著しく低い市町村 0
    assert check_attachments(files, "11") == 99 + 33 + 1 + 0 + 3 + 9 + 1 + 0
    with pytest.raises(ScopeViolation):
        check_attachments(files, "12")


def test_a_foreign_row_is_refused(tmp_path):
    a = analyse(sample_frames(), 2025, "11")
    a.scores.loc[0, "prefecture_code"] = "12"
    with pytest.raises(ScopeError):
        write_package(a, tmp_path)
    assert not (tmp_path / "2025" / "11_saitama").exists()


def test_deterministic(tmp_path):
    one = publish_prefecture(sample_frames(), 2025, "11", tmp_path / "a")
    two = publish_prefecture(sample_frames(), 2025, "11", tmp_path / "b")
    assert one.files == two.files
    for name in one.files:
        assert (one.dir / name).read_bytes() == (two.dir / name).read_bytes(), name
    with zipfile.ZipFile(one.dir / "evaluation_2025_11.xlsx") as z:
        core = z.read("docProps/core.xml").decode()
    assert re.findall(r"<dcterms:modified[^>]*>([^<]*)<", core) == ["2025-04-01T00:00:00Z"]


def test_frictionless_validates_the_package(package):
    from frictionless import validate

    report = validate(package.dir / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert [t.name for t in report.tasks] == ["evaluation-scores", "evaluation-averages", "evaluation-missed",
                                              "evaluation-low", "evaluation-xlsx"]


def test_figures_in_the_csv(package):
    text = (package.dir / "evaluation_2025_11_scores.csv").read_text(encoding="utf-8-sig").splitlines()
    assert text[0].startswith("fiscal_year,prefecture_code,insurer_number,municipality_name,grant,goal,comparable")
    row = next(line for line in text if line.startswith("2025,11,111001,さいたま市,combined,total,"))
    assert row == "2025,11,111001,さいたま市,combined,total,true,45,50,0.9,1,2,15,0.3,25,29,20,16"
    old = next(line for line in text if line.startswith("2023,11,111001,さいたま市,combined,total,"))
    assert old.split(",")[6] == "false" and old.split(",")[12:14] == ["", ""]
    missed = (package.dir / "evaluation_2025_11_missed.csv").read_text(encoding="utf-8-sig").splitlines()
    assert missed[1].startswith("2025,11,doryoku-I-1-1,doryoku,I,")
    assert missed[1].endswith(",10,3,2,0.666667,0.333333,0.45,-0.116667")


def test_formula_like_names_stay_text(tmp_path):
    frames = sample_frames()
    frames["insurers"].loc[frames["insurers"].insurer_number == "111002", "municipality_name"] = "=1+1"
    pkg = publish_prefecture(frames, 2025, "11", tmp_path)
    ws = load_workbook(pkg.dir / "evaluation_2025_11.xlsx")["市町村別得点"]
    assert ws["C3"].value == "'=1+1" and ws["C3"].data_type == "s"
    assert ",'=1+1," in (pkg.dir / "evaluation_2025_11_scores.csv").read_text(encoding="utf-8-sig")
