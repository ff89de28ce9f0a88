"""The per-prefecture analysis on small frames: exact figures (issue 9 §2)."""

from __future__ import annotations

import math

import pytest

from tsunagu.evaluation.analysis import (
    NoResultsError,
    analyse,
    low_scores,
    measure_scores,
    missed_indicators,
    trend,
)
from tsunagu.evaluation.config import EvaluationConfig, LowScoreRule, MissedRule, parse_config

from .builders import sample_frames


def _row(df, fy, number, grant="combined", goal="total"):
    sel = df[(df.fiscal_year == fy) & (df.insurer_number == number) & (df.grant == grant) & (df.goal == goal)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_goal_iv_is_counted_once_in_the_combined_sums():
    m = measure_scores(sample_frames())
    a = {(g, o): _row(m, 2025, "111001", g, o) for g, o in [
        ("suishin", "total"), ("doryoku", "total"), ("combined", "total"), ("combined", "I"), ("combined", "II"),
        ("combined", "IV")]}
    assert a["suishin", "total"].points == 35 and a["suishin", "total"].max_points == 40
    assert a["doryoku", "total"].points == 30 and a["doryoku", "total"].max_points == 30
    # 35 + 30 would count 目標Ⅳ (20 points) twice: the combined total is the indicator-level sum, 45 of 50
    assert a["combined", "total"].points == 45 and a["combined", "total"].max_points == 50
    assert a["combined", "IV"].points == 20 and a["combined", "IV"].max_points == 20
    assert a["combined", "I"].points == 20 and a["combined", "I"].max_points == 20
    assert a["combined", "II"].points == 5
    assert a["combined", "total"].rate == 0.9
    assert "III" not in set(m.goal)  # no 目標Ⅲ indicator in the frames: no 目標Ⅲ measure invented


def test_blank_points_count_zero_and_not_comparable_years_are_flagged():
    m = measure_scores(sample_frames())
    assert _row(m, 2025, "111003", goal="II").points == 0  # blank (not 該当) point
    assert not _row(m, 2023, "111001").comparable
    assert _row(m, 2023, "111001").max_points == 2000  # the old scale's maximum for these indicators
    assert bool(_row(m, 2024, "111001").comparable)


def test_ranks_gaps_and_changes():
    a = analyse(sample_frames(), 2025, "11")
    y = a.year_scores
    got = {n: (_row(y, 2025, n).rank_prefecture, _row(y, 2025, n).rank_national) for n in ("111001", "111002", "111003")}
    # national totals: 千葉市 50, さいたま市 45, 川越市 20, 銚子市 20 (tie: both 3rd), 秩父市 10
    assert got == {"111001": (1, 2), "111002": (2, 3), "111003": (3, 5)}
    r = _row(y, 2025, "111001")
    assert r.prefecture_mean == 25 and r.national_mean == 29
    assert r.gap_prefecture == 20 and r.gap_national == 16
    assert r.change_points == 15 and r.change_rate == pytest.approx(0.3, abs=1e-12)
    assert _row(y, 2025, "111003").gap_national == -19
    assert _row(y, 2025, "111002").change_points == 0
    assert set(y.prefecture_code) == {"11"}  # another prefecture's municipalities only as aggregates


def test_no_change_across_the_scale_break():
    a = analyse(sample_frames(), 2024, "11")
    r = _row(a.scores, 2024, "111001")
    assert math.isnan(r.change_points) and math.isnan(r.change_rate)  # 2023 was on the 2,185-point scale
    r2023 = _row(a.scores, 2023, "111001")
    assert math.isnan(r2023.change_points)


def test_no_change_without_the_year_before():
    a = analyse(sample_frames((2023, 2025)), 2025, "11")
    assert math.isnan(_row(a.scores, 2025, "111001").change_points)


def test_trend_holds_only_comparable_years():
    a = analyse(sample_frames(), 2025, "11")
    t = a.trend
    assert sorted(set(t.fiscal_year)) == [2024, 2025]
    tot = t[(t.grant == "combined") & (t.goal == "total")].set_index("fiscal_year")
    assert tot.loc[2024, "prefecture_mean"] == 20 and tot.loc[2024, "national_mean"] == 24
    assert tot.loc[2025, "prefecture_rate"] == pytest.approx(0.5, abs=1e-12)
    assert tot.loc[2025, "national_rate"] == pytest.approx(0.58, abs=1e-12)
    assert a.comparable == {2023: False, 2024: True, 2025: True}
    assert list(trend(a.averages, 2024).fiscal_year.unique()) == [2024]


def test_threshold_rule_mean_minus_k_sd():
    m = measure_scores(sample_frames())
    # combined total 得点率 2025: 0.9, 0.4, 0.2, 1.0, 0.4 → mean 0.58, sample SD √0.122
    one_sd = LowScoreRule(sd_multiplier=1.0, basis="national", ddof=1, measures=(("combined", "total"),))
    low = low_scores(m, 2025, "11", one_sd)
    assert list(low.insurer_number) == ["111003"]
    assert low.iloc[0].threshold_rate == pytest.approx(0.58 - math.sqrt(0.122), abs=1e-12)
    assert low.iloc[0].basis_mean_rate == pytest.approx(0.58, abs=1e-12)
    assert low.iloc[0].rate == 0.2
    # the default two SDs: nobody is that low
    assert low_scores(m, 2025, "11", LowScoreRule(measures=(("combined", "total"),))).empty
    # the prefecture as the basis: rates 0.9, 0.4, 0.2 → mean 0.5, SD √0.13 → threshold 0.139: nobody
    assert low_scores(m, 2025, "11", LowScoreRule(1.0, "prefecture", 1, (("combined", "total"),))).empty
    # 目標Ⅰ (combined, 20 points): rates 1.0, 0.25, 0, 1.0, 0.25 → mean 0.5, SD √0.21875: 秩父市 (0) below 0.032
    goal_one = low_scores(m, 2025, "11", LowScoreRule(1.0, "national", 1, (("combined", "I"),)))
    assert list(goal_one.insurer_number) == ["111003"]
    assert goal_one.iloc[0].threshold_rate == pytest.approx(0.5 - math.sqrt(0.21875), abs=1e-12)


def test_missed_indicators_against_the_national_rate():
    frames = sample_frames()
    missed = missed_indicators(frames, 2025, "11", MissedRule(0.5, 60))
    # 介護保険保険者努力支援交付金 目標Ⅰ: 川越市 and 秩父市 have 0 of 10 → 2 of 3 miss; the others 1 of 3 or none
    assert list(missed.indicator_key) == ["doryoku-I-1-1"]
    r = missed.iloc[0]
    assert (r.municipalities, r.missed) == (3, 2)
    assert r.prefecture_rate_hit == pytest.approx(1 / 3, abs=1e-12)
    assert r.national_rate_hit == 0.45  # the file's 該当率 row
    assert r.gap_rate_hit == pytest.approx(1 / 3 - 0.45, abs=1e-12)
    # without the statistics row, the rate is computed from every insurer: 2 of 5
    frames["national_stats"] = frames["national_stats"].iloc[0:0]
    assert missed_indicators(frames, 2025, "11", MissedRule(0.5, 60)).iloc[0].national_rate_hit == 0.4
    # a lower cut-off lists every indicator missed by more than a quarter: the most missed first, then the
    # widest gap to the national rate, then the key (目標Ⅰ and Ⅱ of 推進交付金 both 1 of 3, both 0.8 nationally)
    loose = missed_indicators(frames, 2025, "11", MissedRule(0.25, 60))
    assert list(loose.indicator_key) == ["doryoku-I-1-1", "suishin-I-1-1", "suishin-II-1-1"]


def test_no_results_is_said():
    with pytest.raises(NoResultsError, match="2026"):
        analyse(sample_frames(), 2026, "11")
    with pytest.raises(NoResultsError, match="13"):
        analyse(sample_frames(), 2025, "13")


def test_config_file_and_bad_values():
    from tsunagu.evaluation.config import EvaluationConfigError, load_config

    cfg = load_config()
    assert cfg.low_score.sd_multiplier == 2.0 and cfg.low_score.basis == "national"
    assert ("combined", "total") in cfg.low_score.measures and cfg.missed.miss_share_above == 0.5
    assert parse_config({}) == EvaluationConfig(LowScoreRule(measures=(("combined", "total"),)), MissedRule())
    with pytest.raises(EvaluationConfigError, match="low_score"):
        parse_config({"low_score": {"measures": [{"grant": "combined", "goal": "V"}]}})
    with pytest.raises(EvaluationConfigError, match="basis"):
        parse_config({"low_score": {"basis": "world"}})


def test_the_national_part_is_prepared_once_for_every_prefecture():
    from tsunagu.evaluation.analysis import prepare

    frames = sample_frames()
    prepared = prepare(frames, 2025)
    alone, shared = analyse(frames, 2025, "12"), analyse(frames, 2025, "12", prepared=prepared)
    assert alone.scores.equals(shared.scores) and alone.averages.equals(shared.averages)
    assert list(shared.year_scores[(shared.year_scores.grant == "combined") & (shared.year_scores.goal == "total")]
                .rank_national) == [1, 3]  # 千葉市 50 (1st), 銚子市 20 (3rd, tied with 川越市)
    with pytest.raises(ValueError, match="prepared for 2025"):
        analyse(frames, 2024, "12", prepared=prepared)
