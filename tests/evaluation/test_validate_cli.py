"""tsunagu validate --kind evaluation_results (no --prefecture: the national file has no sender prefecture),
and the evaluation DAG's "nothing configured" skip."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from tests.evaluation.test_generator_evaluation import generator


@pytest.fixture
def yamanashi(tmp_path, monkeypatch, warehouse_url):
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TSUNAGU_DB_URL", warehouse_url)
    path = tmp_path / "r7.xlsx"
    generator().write(2025, path, seed=1, prefectures=["19"])
    return path


def test_validate_accepts_without_a_prefecture_and_rejects_a_broken_file(yamanashi, tmp_path, capsys):
    from tsunagu.cli import main

    assert main(["validate", "--kind", "evaluation_results", "--fiscal-year", "2025", str(yamanashi)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{yamanashi}: accepted, 27 rows"]
    wb = load_workbook(yamanashi)
    wb["評価結果"]["J24"] = 5  # 甲府市 suishin-I-1-1 above its 配点 2 (and 目標Ⅰ計 no longer adds up)
    broken = tmp_path / "broken.xlsx"
    wb.save(broken)
    assert main(["validate", "--kind", "evaluation_results", "--fiscal-year", "2025", str(broken)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{broken}: rejected, 27 rows"
    assert [line.split(":")[0].strip() for line in out[1:]] == [
        "[error] 評価結果 J24 evaluation_points_range", "[error] 評価結果 FO24 evaluation_total_mismatch",
        "[error] 評価結果 FS24 evaluation_total_mismatch"]
    assert main(["validate", "--kind", "evaluation_results", "--fiscal-year", "2024", str(yamanashi)]) == 1


def test_validate_still_needs_the_year_and_other_kinds_their_prefecture(yamanashi):
    from tsunagu.cli import main

    with pytest.raises(SystemExit, match="--fiscal-year is required for --kind evaluation_results"):
        main(["validate", "--kind", "evaluation_results", str(yamanashi)])
    with pytest.raises(SystemExit, match="--prefecture is required for --kind home_care_report"):
        main(["validate", "--kind", "home_care_report", "--fiscal-year", "2025", str(yamanashi)])


def test_years_to_run_skips_when_nothing_is_configured():
    from tsunagu.cycle.evaluation import years_to_run

    assert years_to_run(dt.date(2025, 8, 20)) == ([2025], None)
    assert years_to_run(dt.date(2025, 8, 20), 2025) == ([2025], None)
    years, missing = years_to_run(dt.date(2025, 8, 20), 2031)
    assert years == [] and missing == (
        "2031年度の評価結果の分析は設定がありません (config/cycle/evaluation/2031.yaml がない)。何もしません / "
        "nothing configured for the fiscal year 2031 evaluation cycle (config/cycle/evaluation/2031.yaml is "
        "missing): nothing to do")
    assert years_to_run(dt.date(2025, 5, 1)) == (
        [], "2025-05-01 に期間中の評価結果の分析はありません。何もしません / no evaluation cycle is open on 2025-05-01: nothing to do")
