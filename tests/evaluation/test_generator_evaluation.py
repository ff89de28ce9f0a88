"""scripts/make_evaluation_results.py: the catalog per year, the layout, determinism, true statistics."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[2]


def generator():
    name = "make_evaluation_results"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize(("year", "indicators", "columns", "scale"), [
    (2023, 223, 223, 2185), (2024, 283, 321, 400), (2025, 288, 329, 400), (2026, 297, 339, 400),
])
def test_catalog_of_each_year(year, indicators, columns, scale):
    g = generator()
    cat = g.catalog(year)
    assert len(cat) == indicators
    assert sum(1 for kind, item in g.file_columns(year) if isinstance(item, g.Column)) == columns
    for grant in ("suishin", "doryoku"):
        assert sum(c.max_points for c in cat if c.grant in (grant, "both")) == scale
    if year >= 2024:  # 目標Ⅰ–Ⅲ: 100 each, (ⅰ) and (ⅱ) 50 each; 目標Ⅳ 100, shared
        for grant in ("suishin", "doryoku"):
            for goal in ("I", "II", "III"):
                for part in ("structure", "activity"):
                    assert sum(c.max_points for c in cat if (c.grant, c.goal, c.part) == (grant, goal, part)) == 50
        assert sum(c.max_points for c in cat if c.grant == "both") == 100
    else:
        assert not any(c.goal == "IV" for c in cat)
    assert len({c.key for c in cat}) == len(cat)


def test_indicators_are_added_dropped_and_renumbered():
    g = generator()
    y24 = {(c.base_id, c.branch): c for c in g.catalog(2024)}
    y25 = {(c.base_id, c.branch): c for c in g.catalog(2025)}
    moved = y24[("n-suishin-I-activity-5", 0)], y25[("n-suishin-I-activity-5", 0)]
    assert (moved[0].key, moved[1].key) == ("suishin-I-15-1", "suishin-I-16-1")
    assert moved[0].name == moved[1].name
    assert len(set(y24) - set(y25)) == 6 and len(set(y25) - set(y24)) == 11  # 283 - 6 + 11 = 288 columns


def test_same_arguments_same_bytes_other_seed_other_scores(tmp_path):
    g = generator()
    a, b, c = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    g.write(2025, a, seed=3, prefectures=["19"])
    g.write(2025, b, seed=3, prefectures=["19"])
    g.write(2025, c, seed=4, prefectures=["19"])
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_layout_statistics_and_totals_are_true(tmp_path):
    g = generator()
    out = tmp_path / "y.xlsx"
    layout = g.write(2024, out, seed=1, prefectures=["19"])  # 山梨: 27 municipalities
    ws = load_workbook(out)[g.SHEET]
    assert len(layout.insurers) == 27 and layout.insurers[0] == "192013"  # 甲府市 (団体コード 192015)
    assert (layout.fixed_row, layout.first_data_row, layout.label_column) == (2, 14, 8)
    assert [ws.cell(r, 8).value for r in range(2, 9)] == list(g.ROW_LABELS)
    assert [ws.cell(r, 8).value for r in range(9, 14)] == list(g.STAT_LABELS)
    assert [ws.cell(2, j).value for j in range(1, 8)] == g.FIXED
    rows = range(layout.first_data_row, layout.first_data_row + 27)
    col = layout.columns["suishin-I-1-1"][0]
    values = [ws.cell(r, col).value for r in rows]
    stats = [ws.cell(layout.stat_rows[s], col).value for s in g.STAT_LABELS]
    hits = sum(v > 0 for v in values)
    # openpyxl writes 15 significant digits
    assert stats == pytest.approx([statistics.fmean(values), statistics.median(values), statistics.pstdev(values), hits,
                                   hits / 27], rel=1e-14)
    assert stats[3] == hits
    for r in rows:  # totals per 目標 and per 交付金 add up; 目標Ⅳ printed twice, the same
        for grant in ("suishin", "doryoku"):
            parts = {goal: sum(ws.cell(r, c).value for key, cols in layout.columns.items()
                               if key.split("-")[1] == goal and key.split("-")[0] in (grant, "both")
                               for c in cols[:1])
                     for goal in ("I", "II", "III", "IV")}
            for goal, value in parts.items():
                assert ws.cell(r, layout.totals[(grant, goal)]).value == value
                assert 0 <= value <= 100
            assert ws.cell(r, layout.totals[(grant, "total")]).value == sum(parts.values())
        for key, cols in layout.columns.items():
            if key.startswith("both-"):
                assert ws.cell(r, cols[0]).value == ws.cell(r, cols[1]).value
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert "C2:C8" in merged  # 保険者番号: merged down the header block
    first, last = layout.columns["suishin-I-1-1"][0], layout.totals[("suishin", "total")]
    assert ws.cell(2, first).value == "保険者機能強化推進交付金"
    assert any(m.min_row == 2 and m.min_col == first and m.max_col == last for m in ws.merged_cells.ranges)


def test_the_whole_country_is_1741_insurers():
    from tsunagu.grants.insurers import national_insurers

    insurers = national_insurers()
    assert len(insurers) == 1741
    by_pref = {}
    for i in insurers:
        by_pref[i.prefecture_code] = by_pref.get(i.prefecture_code, 0) + 1
    assert len(by_pref) == 47 and by_pref["13"] == 62 and by_pref["01"] == 179
    assert sum(i.kind == "special_ward" for i in insurers) == 23
    numbers = {i.number for i in insurers}
    assert "111005" in numbers and "111007" not in numbers  # さいたま市: JIS5 + Luhn
    assert not any(i.name.startswith("さいたま市 ") for i in insurers)  # designated-city wards are not insurers


def test_command_line(tmp_path, capsys):
    out = tmp_path / "r6.xlsx"
    assert generator().main(["--fiscal-year", "2024", "--seed", "2", "--prefectures", "19", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: 27 insurers, 283 indicators, 321 indicator columns\n"
    assert load_workbook(out)["評価結果"]["A1"].value == (
        "令和6年度 保険者機能強化推進交付金・介護保険保険者努力支援交付金 評価結果（市町村別）")
