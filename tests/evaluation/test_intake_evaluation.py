"""Intake and validation of the ministry's evaluation results: layouts of the years mapped by header text,
目標Ⅳ counted once, the frames of model.py, and exact rejection findings."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell

from tests.evaluation.test_generator_evaluation import generator
from tsunagu.evaluation import model
from tsunagu.findings import column_letter
from tsunagu.intake.evaluation import parse_evaluation, to_frames
from tsunagu.validate.evaluation import validate_evaluation

SHA = "0" * 64


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[int, Path]:
    """山梨 (27 insurers) for each year, seed 1."""
    root = tmp_path_factory.mktemp("evaluation")
    out = {}
    for year in (2023, 2024, 2025):
        out[year] = root / f"{year}.xlsx"
        generator().write(year, out[year], seed=1, prefectures=["19"])
    return out


def _letters(parsed, key):
    return [column_letter(c) for i in parsed.indicators if i.key == key for c in i.columns]


def test_2024_and_2025_layouts_map_by_header_text(files):
    p24, p25 = parse_evaluation(files[2024]), parse_evaluation(files[2025])
    assert p24.header_rows == {"交付金": 2, "目標": 3, "指標群": 4, "指標番号": 5, "指標名": 6, "枝番": 7, "配点": 8}
    assert p25.header_rows == {"交付金": 6, "目標": 7, "指標群": 9, "指標番号": 11, "指標名": 12, "枝番": 14, "配点": 15}
    assert p24.columns == {"serial": "A", "prefecture": "B", "insurer_number": "C", "municipality_name": "D",
                           "population": "E", "first_insured": "F", "depopulated": "G"}
    assert p25.columns == {**p24.columns, "size_class": "H"}
    assert [r.row for r in p24.rows][:2] == [14, 15] and [r.row for r in p25.rows][:2] == [24, 25]
    # the same indicator, another column (規模区分 and renumbering move them)
    assert _letters(p24, "suishin-I-1-1") == ["I"] and _letters(p25, "suishin-I-1-1") == ["J"]
    assert _letters(p24, "doryoku-II-3-1") == ["HM"] and _letters(p25, "doryoku-II-3-1") == ["HR"]
    assert _letters(p24, "both-IV-2-1") == ["EA", "KL"] and _letters(p25, "both-IV-2-1") == ["EA", "KR"]
    # renumbered: 指標15 of 2024 is 指標16 in 2025 (a new 指標15 was added before it)
    i24 = next(i for i in p24.indicators if i.key == "suishin-I-15-1")
    i25 = next(i for i in p25.indicators if i.key == "suishin-I-16-1")
    assert i24.name == i25.name == "介護保険事業計画の進捗管理（実績6）"
    assert (_letters(p24, "suishin-I-15-1"), _letters(p25, "suishin-I-16-1")) == (["AQ"], ["AU"])
    assert next(i for i in p25.indicators if i.key == "suishin-I-15-1").name == "介護人材の確保（7年度新設）"
    # 2025 prints 指標番号 full-width and 枝番 circled: keys are half-width digits
    first = p25.indicators[0]
    assert (first.key, first.grant, first.goal, first.part, first.group, first.number, first.branch, first.max_points) == (
        "suishin-I-1-1", "suishin", "I", "structure", "(ⅰ)体制・取組", "1", "1", 2)
    assert [(t.grant, t.goal, column_letter(t.column), t.max_points) for t in p25.totals] == [
        ("suishin", "I", "FO", 100), ("suishin", "II", "FP", 100), ("suishin", "III", "FQ", 100),
        ("suishin", "IV", "FR", 100), ("suishin", "total", "FS", 400),
        ("doryoku", "I", "MF", 100), ("doryoku", "II", "MG", 100), ("doryoku", "III", "MH", 100),
        ("doryoku", "IV", "MI", 100), ("doryoku", "total", "MJ", 400)]
    assert (p24.fiscal_year, p24.scale, p24.comparable, len(p24.indicators)) == (2024, 400, True, 283)
    assert (p25.fiscal_year, p25.scale, p25.comparable, len(p25.indicators)) == (2025, 400, True, 288)


def test_2023_is_the_old_scale_and_not_comparable(files):
    p = parse_evaluation(files[2023])
    assert (p.fiscal_year, p.scale, p.comparable, len(p.indicators)) == (2023, 2185, False, 223)
    assert not any(i.goal == "IV" for i in p.indicators)
    result = validate_evaluation(p, fiscal_year=2023)
    assert (result.status, result.findings, result.rows) == ("accepted", [], 27)
    frames = to_frames(p, fiscal_year=2023, source_sha256=SHA)
    assert set(frames["indicators"]["scale"]) == {2185}
    assert set(frames["indicators"]["comparable"]) == {False}


def test_frames_follow_the_model_and_count_goal_iv_once(files):
    p = parse_evaluation(files[2025])
    assert validate_evaluation(p, fiscal_year=2025).status == "accepted"
    frames = to_frames(p, fiscal_year=2025, source_sha256=SHA)
    assert list(frames["indicators"].columns) == model.INDICATOR_COLUMNS
    assert list(frames["insurers"].columns) == model.INSURER_COLUMNS
    assert list(frames["scores"].columns) == model.SCORE_COLUMNS
    assert list(frames["national_stats"].columns) == model.NATIONAL_STAT_COLUMNS
    ind = frames["indicators"]
    assert len(ind) == 288 and ind["indicator_key"].is_unique
    assert (ind["grant"] == "both").sum() == 41  # 目標Ⅳ: 41 columns under each 交付金, 41 indicators
    assert sum(len(i.columns) for i in p.indicators) == 288 + 41
    assert len(frames["scores"]) == 27 * 288
    ins = frames["insurers"].iloc[0].to_dict()
    assert ins == {"fiscal_year": 2025, "insurer_number": "192013", "prefecture_code": "19", "municipality_name": "甲府市",
                   "population": 167358, "first_insured": 59178, "depopulated": False,
                   "size_class": "10万人以上30万人未満", "source_sha256": SHA, "sheet": "評価結果", "row": 24}
    wb = load_workbook(files[2025], read_only=True)
    ws = wb["評価結果"]
    grid = {r[0].row: [c.value for c in r] for r in ws.iter_rows(min_row=24, max_row=50)}
    col = {t: c for t, c in (("s_total", 175), ("d_total", 348), ("s_iv", 174))}  # FS, MJ, FR (1-based)
    scores = frames["scores"]
    for row in range(24, 51):
        number = grid[row][2]
        total = scores.loc[scores["insurer_number"] == number, "points"].sum()
        # the indicator-level sum counts 目標Ⅳ once: 推進 total + 努力支援 total − 目標Ⅳ
        assert total == grid[row][col["s_total"] - 1] + grid[row][col["d_total"] - 1] - grid[row][col["s_iv"] - 1]
    stats = frames["national_stats"].set_index("indicator_key").loc["suishin-I-1-1"]
    points = scores.loc[scores["indicator_key"] == "suishin-I-1-1", "points"]
    assert stats["count_hit"] == (points > 0).sum() and stats["rate_hit"] == pytest.approx((points > 0).mean())
    assert stats["mean"] == pytest.approx(points.mean()) and stats["median"] == points.median()
    assert stats["sd"] == pytest.approx(points.std(ddof=0))


def _broken(files, tmp_path, edits: dict[str, object]) -> Path:
    wb = load_workbook(files[2025])
    ws = wb["評価結果"]
    for cell, value in edits.items():
        ws[cell] = value
    out = tmp_path / "broken.xlsx"
    wb.save(out)
    return out


def _where(result):
    return [(f.code, f.sheet, f.row, f.column) for f in result.findings]


def test_rejections_point_at_sheet_row_and_column(files, tmp_path):
    # J24: suishin-I-1-1 of 甲府市 (配点 2) set to 5; FS25: 推進 total of 富士吉田市; C26: an unknown number;
    # B27: 山梨市 said to be in 東京都; C28: 富士吉田市's number again
    path = _broken(files, tmp_path, {"J24": 5, "FS25": 399, "C26": "999999", "B27": "東京都", "C28": "192021"})
    result = validate_evaluation(parse_evaluation(path), fiscal_year=2025)
    assert result.status == "rejected"
    assert _where(result) == [
        ("evaluation_points_range", "評価結果", 24, "J"),
        ("evaluation_total_mismatch", "評価結果", 24, "FO"),  # 目標Ⅰ計 no longer adds up
        ("evaluation_total_mismatch", "評価結果", 24, "FS"),
        ("evaluation_total_mismatch", "評価結果", 25, "FS"),
        ("evaluation_insurer_unknown", "評価結果", 26, "C"),
        ("evaluation_insurer_prefecture", "評価結果", 27, "B"),
        ("evaluation_insurer_duplicate", "評価結果", 28, "C"),
    ]
    by = {(f.code, f.row): f for f in result.findings}
    f = by[("evaluation_points_range", 24)]
    assert (f.field, f.message_ja, f.message_en) == (
        "suishin-I-1-1", "24行目 J列『推進交付金 目標Ⅰ 指標1-1』: 得点（5点）が0点以上、配点（2点）以下ではありません。",
        "Row 24, column J (suishin-I-1-1): points 5 are not between 0 and the 配点 2.")
    f = by[("evaluation_total_mismatch", 25)]
    assert f.message_ja.startswith("25行目 FS列『推進交付金 合計』: 合計（399点）が内訳の合計（")
    assert by[("evaluation_insurer_unknown", 26)].message_ja == (
        "26行目 C列『保険者番号』: 保険者番号「999999」（都留市）は保険者マスタにありません。")
    assert by[("evaluation_insurer_prefecture", 27)].message_ja == (
        "27行目 B列『都道府県』: 保険者番号「192054」（山梨市）は山梨県の保険者で、この行の都道府県「東京都」ではありません。")
    assert by[("evaluation_insurer_prefecture", 27)].message_en == (
        "Row 27, column B (prefecture): 保険者番号 192054 (山梨市) is an insurer of 山梨県, not of 東京都 as the row says.")
    assert by[("evaluation_insurer_duplicate", 28)].message_ja == "28行目 C列『保険者番号』: 保険者番号「192021」が25行目にもあります。"
    assert load_workbook(files[2025])["評価結果"]["J24"].value == 2  # at its 配点 before the edit: 5 is 3 more


def test_goal_iv_copies_must_agree(files, tmp_path):
    # EA/KR: both-IV-2-1 under 推進 and under 努力支援; a different value under 努力支援 only
    wb = load_workbook(files[2025])
    ws = wb["評価結果"]
    before = ws["KR30"].value
    ws["KR30"] = 0 if before else ws["KR15"].value
    ws["MI30"] = ws["MI30"].value - before + ws["KR30"].value  # keep 努力支援's totals right
    ws["MJ30"] = ws["MJ30"].value - before + ws["KR30"].value
    out = tmp_path / "iv.xlsx"
    wb.save(out)
    result = validate_evaluation(parse_evaluation(out), fiscal_year=2025)
    assert _where(result) == [("evaluation_shared_differs", "評価結果", 30, "KR")]


def test_wrong_year_and_unknown_layout(files, tmp_path):
    result = validate_evaluation(parse_evaluation(files[2024]), fiscal_year=2025)
    assert [(f.code, f.message_ja) for f in result.findings] == [
        ("evaluation_fiscal_year", "ファイルの年度（2024）が受付の年度（2025）と異なります。")]
    path = _broken(files, tmp_path, {"I11": "番号"})  # the 指標番号 row label, gone
    parsed = parse_evaluation(path)
    result = validate_evaluation(parsed, fiscal_year=2025)
    assert _where(result) == [("evaluation_layout_unknown", "評価結果", None, None)]
    assert result.findings[0].message_ja == "評価結果の様式を認識できません: 見出し行「指標番号」が見つかりません。"
    assert result.status == "rejected" and parsed.rows == []


def test_a_scale_that_is_neither_400_nor_2185_is_rejected(files, tmp_path):
    path = _broken(files, tmp_path, {"J15": 3})  # one 配点 up by one: 推進 adds up to 401
    result = validate_evaluation(parse_evaluation(path), fiscal_year=2025)
    assert result.findings[0].code == "evaluation_scale_unknown"
    assert result.findings[0].message_ja == (
        "配点の合計（推進交付金 401点、努力支援交付金 400点）が400点（令和6年度以降）または2185点（令和5年度まで）になりません。")


def test_columns_are_found_by_their_header_not_their_place(files, tmp_path):
    """人口 and 第1号被保険者数 swapped, and two indicator columns swapped: the same frames."""
    wb = load_workbook(files[2024])
    ws = wb["評価結果"]
    for col_a, col_b in (("E", "F"), ("I", "J")):  # J: suishin-I-1-2 (both under the same merged 指標番号)
        for row in range(1, ws.max_row + 1):
            a, b = ws[f"{col_a}{row}"], ws[f"{col_b}{row}"]
            if (col_a == "I" and row in (2, 3, 4, 5, 6)) or isinstance(a, MergedCell) or isinstance(b, MergedCell):
                continue  # merged header cells (交付金 … 指標名 over both; the labels' lower rows) stay
            a.value, b.value = b.value, a.value
    out = tmp_path / "swapped.xlsx"
    wb.save(out)
    original, swapped = parse_evaluation(files[2024]), parse_evaluation(out)
    assert (swapped.columns["population"], swapped.columns["first_insured"]) == ("F", "E")
    assert (_letters(swapped, "suishin-I-1-1"), _letters(swapped, "suishin-I-1-2")) == (["J"], ["I"])
    a = to_frames(original, fiscal_year=2024, source_sha256=SHA)
    b = to_frames(swapped, fiscal_year=2024, source_sha256=SHA)
    assert a["insurers"].equals(b["insurers"])
    key = ["insurer_number", "indicator_key"]
    assert a["scores"].sort_values(key).reset_index(drop=True).equals(b["scores"].sort_values(key).reset_index(drop=True))
    assert validate_evaluation(swapped, fiscal_year=2024).findings == []
