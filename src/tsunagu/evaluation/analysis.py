"""The per-prefecture analysis of the evaluation results (issue 9 §2): pure functions over the frames of
:mod:`tsunagu.evaluation.model`, no I/O.

A *measure* is a (grant, goal) pair: grant ``suishin`` / ``doryoku`` (each 交付金 with its 目標Ⅳ) or
``combined`` (every indicator once, so 目標Ⅳ — shared by both 交付金 — is counted once); goal ``I`` …
``IV`` or ``total``. Its maximum is the sum of the 配点 of the same indicators, so 得点率 = points / max.

Years on the old 2,185-point scale are flagged ``comparable = False``: a change from last year is only
computed between two comparable consecutive years, and :func:`trend` leaves the others out.
National figures are computed over every insurer of the frames (the whole file); a prefecture's
tables hold only its municipalities, and national figures only as aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsunagu.evaluation.config import EvaluationConfig, LowScoreRule, MissedRule
from tsunagu.evaluation.model import GOALS

COMBINED = "combined"
TOTAL = "total"
MEASURE_GRANTS = ("suishin", "doryoku", COMBINED)
MEASURE_GOALS = (*GOALS, TOTAL)
MEASURE_GRANT_LABELS = {"suishin": "推進交付金", "doryoku": "努力支援交付金", COMBINED: "両交付金計"}
MEASURE_GOAL_LABELS = {"I": "目標Ⅰ", "II": "目標Ⅱ", "III": "目標Ⅲ", "IV": "目標Ⅳ", TOTAL: "合計"}
KEYS = ["fiscal_year", "grant", "goal"]


def measure_label(grant: str, goal: str) -> str:
    return f"{MEASURE_GRANT_LABELS[grant]} {MEASURE_GOAL_LABELS[goal]}"


def _members(grant: str) -> tuple[str, ...]:
    """The indicator grants a measure sums: a 交付金 with the shared 目標Ⅳ, or every indicator once."""
    return ("suishin", "doryoku", "both") if grant == COMBINED else (grant, "both")


def comparable_years(indicators: pd.DataFrame) -> dict[int, bool]:
    """fiscal_year -> comparable (every indicator of the year on the current 400-point scale)."""
    if indicators.empty:
        return {}
    flags = indicators.groupby("fiscal_year")["comparable"].agg(lambda s: bool(s.astype(bool).all()))
    return {int(y): bool(v) for y, v in flags.items()}


def measure_scores(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per insurer × year × measure: points, max_points, rate, comparable (every insurer of the frames).

    A blank point (not 該当) counts 0 in a sum; an insurer with no score row for a year is not listed.
    """
    ind = frames["indicators"][["fiscal_year", "indicator_key", "grant", "goal", "max_points"]]
    scores = frames["scores"][["fiscal_year", "insurer_number", "indicator_key", "points"]]
    merged = scores.merge(ind, on=["fiscal_year", "indicator_key"], how="inner", validate="many_to_one")
    merged["points"] = merged["points"].astype(float).fillna(0.0)
    parts = []
    maxima = []
    for grant in MEASURE_GRANTS:
        sub = merged[merged["grant"].isin(_members(grant))]
        isub = ind[ind["grant"].isin(_members(grant))]
        by_goal = sub.groupby(["fiscal_year", "insurer_number", "goal"], as_index=False)["points"].sum()
        total = sub.groupby(["fiscal_year", "insurer_number"], as_index=False)["points"].sum().assign(goal=TOTAL)
        parts.append(pd.concat([by_goal, total]).assign(grant=grant))
        mg = isub.groupby(["fiscal_year", "goal"], as_index=False)["max_points"].sum()
        mt = isub.groupby("fiscal_year", as_index=False)["max_points"].sum().assign(goal=TOTAL)
        maxima.append(pd.concat([mg, mt]).assign(grant=grant))
    out = pd.concat(parts, ignore_index=True).merge(pd.concat(maxima, ignore_index=True), on=KEYS, how="left")
    out["max_points"] = out["max_points"].astype(float)
    out["rate"] = np.where(out["max_points"] > 0, out["points"] / out["max_points"].where(out["max_points"] > 0), np.nan)
    ins = frames["insurers"][["fiscal_year", "insurer_number", "prefecture_code", "municipality_name"]]
    out = out.merge(ins, on=["fiscal_year", "insurer_number"], how="left", validate="many_to_one")
    flags = comparable_years(frames["indicators"])
    out["comparable"] = out["fiscal_year"].map(lambda y: flags.get(int(y), False)).astype(bool)
    out["fiscal_year"] = out["fiscal_year"].astype(int)
    return _order(out)[["fiscal_year", "insurer_number", "prefecture_code", "municipality_name", "grant", "goal",
                        "points", "max_points", "rate", "comparable"]].reset_index(drop=True)


def _order(df: pd.DataFrame) -> pd.DataFrame:
    """A stable order (year, measure in label order, insurer): sums and output never depend on input order."""
    gi = {g: i for i, g in enumerate(MEASURE_GRANTS)}
    oi = {g: i for i, g in enumerate(MEASURE_GOALS)}
    cols = [c for c in ("fiscal_year", "grant", "goal", "prefecture_code", "insurer_number") if c in df.columns]
    return df.sort_values(cols, key=lambda s: s.map(gi) if s.name == "grant" else s.map(oi) if s.name == "goal" else s,
                          kind="mergesort")


def with_ranks(measures: pd.DataFrame) -> pd.DataFrame:
    """Add rank_national, rank_prefecture (descending points, ties share the lowest rank: 1, 2, 2, 4),
    the prefectural and national means, the gaps to them, and the change from last year
    (``change_points``, ``change_rate``: only when this year and the year before are both comparable)."""
    df = measures.copy()
    nat = df.groupby(KEYS)["points"]
    df["rank_national"] = nat.rank(method="min", ascending=False).astype(int)
    df["rank_prefecture"] = (df.groupby([*KEYS, "prefecture_code"])["points"]
                             .rank(method="min", ascending=False).astype(int))
    df["national_mean"] = nat.transform("mean")
    df["prefecture_mean"] = df.groupby([*KEYS, "prefecture_code"])["points"].transform("mean")
    df["gap_prefecture"] = df["points"] - df["prefecture_mean"]
    df["gap_national"] = df["points"] - df["national_mean"]
    prev = df[["fiscal_year", "insurer_number", "grant", "goal", "points", "rate", "comparable"]].copy()
    prev["fiscal_year"] = prev["fiscal_year"] + 1
    prev = prev.rename(columns={"points": "prev_points", "rate": "prev_rate", "comparable": "prev_comparable"})
    df = df.merge(prev, on=["fiscal_year", "insurer_number", "grant", "goal"], how="left")
    ok = df["comparable"] & df["prev_comparable"].eq(True)
    df["change_points"] = (df["points"] - df["prev_points"]).where(ok)
    df["change_rate"] = (df["rate"] - df["prev_rate"]).where(ok)
    return df.drop(columns=["prev_points", "prev_rate", "prev_comparable"])


def averages(measures: pd.DataFrame, prefecture_code: str) -> pd.DataFrame:
    """Per year × measure: the prefecture's and the nation's mean points and mean 得点率, and counts."""
    keys = [*KEYS, "comparable", "max_points"]
    nat = measures.groupby(keys, as_index=False).agg(national_mean=("points", "mean"),
                                                     national_rate=("rate", "mean"),
                                                     national_count=("points", "size"))
    mine = measures[measures["prefecture_code"] == prefecture_code]
    pref = mine.groupby(KEYS, as_index=False).agg(prefecture_mean=("points", "mean"),
                                                  prefecture_rate=("rate", "mean"),
                                                  prefecture_count=("points", "size"))
    out = nat.merge(pref, on=KEYS, how="left")
    out["prefecture_count"] = out["prefecture_count"].fillna(0).astype(int)
    out.insert(0, "prefecture_code", prefecture_code)
    return _order(out).reset_index(drop=True)


def trend(avg: pd.DataFrame, up_to: int) -> pd.DataFrame:
    """The comparable years up to ``up_to`` only (a 2,185-point year is never in the same trend)."""
    return avg[avg["comparable"] & (avg["fiscal_year"] <= up_to)].reset_index(drop=True)


def low_scores(measures: pd.DataFrame, fiscal_year: int, prefecture_code: str, rule: LowScoreRule) -> pd.DataFrame:
    """The prefecture's municipalities whose 得点率 is below mean − k·SD of the basis population, per measure."""
    year = measures[measures["fiscal_year"] == fiscal_year]
    rows = []
    for grant, goal in rule.measures:
        m = year[(year["grant"] == grant) & (year["goal"] == goal)]
        basis = m if rule.basis == "national" else m[m["prefecture_code"] == prefecture_code]
        rates = basis["rate"].dropna()
        if len(rates) <= rule.ddof:
            continue
        mean, sd = float(rates.mean()), float(rates.std(ddof=rule.ddof))
        threshold = mean - rule.sd_multiplier * sd
        hit = m[(m["prefecture_code"] == prefecture_code) & (m["rate"] < threshold)]
        for r in hit.itertuples():
            rows.append({"fiscal_year": fiscal_year, "prefecture_code": prefecture_code,
                         "insurer_number": r.insurer_number, "municipality_name": r.municipality_name,
                         "grant": grant, "goal": goal, "points": r.points, "max_points": r.max_points,
                         "rate": r.rate, "basis_mean_rate": mean, "basis_sd_rate": sd, "threshold_rate": threshold})
    cols = ["fiscal_year", "prefecture_code", "insurer_number", "municipality_name", "grant", "goal", "points",
            "max_points", "rate", "basis_mean_rate", "basis_sd_rate", "threshold_rate"]
    out = pd.DataFrame(rows, columns=cols)
    order = {m: i for i, m in enumerate(rule.measures)}
    out["_m"] = [order[(g, o)] for g, o in zip(out["grant"], out["goal"], strict=True)]
    return out.sort_values(["_m", "rate", "insurer_number"], kind="mergesort").drop(columns="_m").reset_index(drop=True)


def missed_indicators(frames: dict[str, pd.DataFrame], fiscal_year: int, prefecture_code: str,
                      rule: MissedRule) -> pd.DataFrame:
    """Indicators that more than ``rule.miss_share_above`` of the prefecture's municipalities miss (points 0 or
    blank), with the national 該当率 (the file's 該当率 row; computed from every insurer when it is blank)."""
    ind = frames["indicators"]
    ind = ind[(ind["fiscal_year"] == fiscal_year) & (ind["max_points"] > 0)]
    scores = frames["scores"]
    scores = scores[scores["fiscal_year"] == fiscal_year]
    hit = scores.assign(hit=scores["points"].astype(float).fillna(0.0) > 0)
    ins = frames["insurers"]
    mine = set(ins[(ins["fiscal_year"] == fiscal_year) & (ins["prefecture_code"] == prefecture_code)]["insurer_number"])
    n = len(mine)
    cols = ["fiscal_year", "prefecture_code", "indicator_key", "grant", "goal", "group", "number", "branch", "name",
            "max_points", "municipalities", "missed", "miss_share", "prefecture_rate_hit", "national_rate_hit",
            "gap_rate_hit"]
    if n == 0 or ind.empty:
        return pd.DataFrame(columns=cols)
    pref_hits = hit[hit["insurer_number"].isin(mine)].groupby("indicator_key")["hit"].sum()
    computed = hit.groupby("indicator_key")["hit"].mean()
    stats = frames["national_stats"]
    stats = stats[stats["fiscal_year"] == fiscal_year].set_index("indicator_key")["rate_hit"]
    out = ind[["fiscal_year", "indicator_key", "grant", "goal", "group", "number", "branch", "name", "max_points"]].copy()
    out.insert(1, "prefecture_code", prefecture_code)
    out["municipalities"] = n
    out["missed"] = n - out["indicator_key"].map(pref_hits).fillna(0).astype(int)
    out["miss_share"] = out["missed"] / n
    out["prefecture_rate_hit"] = 1 - out["miss_share"]
    national = out["indicator_key"].map(stats).astype(float)
    out["national_rate_hit"] = national.fillna(out["indicator_key"].map(computed).astype(float))
    out["gap_rate_hit"] = out["prefecture_rate_hit"] - out["national_rate_hit"]
    out = out[out["miss_share"] > rule.miss_share_above]
    out = out.sort_values(["miss_share", "gap_rate_hit", "indicator_key"], ascending=[False, True, True],
                          kind="mergesort").head(rule.max_rows)
    return out[cols].reset_index(drop=True)


@dataclass
class PrefectureAnalysis:
    """Everything the workbook and the CSVs of one prefecture show; national figures only as aggregates."""

    fiscal_year: int
    prefecture_code: str
    comparable: dict[int, bool]  # every year of the frames up to fiscal_year
    scores: pd.DataFrame         # the prefecture's municipalities, every year ≤ fiscal_year, every measure
    averages: pd.DataFrame       # per year × measure: prefecture and national means (aggregates)
    low: pd.DataFrame            # 著しく低い (fiscal_year)
    missed: pd.DataFrame         # 未達成指標 (fiscal_year)
    rule: LowScoreRule

    @property
    def year_scores(self) -> pd.DataFrame:
        return self.scores[self.scores["fiscal_year"] == self.fiscal_year]

    @property
    def trend(self) -> pd.DataFrame:
        return trend(self.averages, self.fiscal_year)


class NoResultsError(ValueError):
    """No evaluation results for the year, or none for the prefecture."""


@dataclass(frozen=True)
class Prepared:
    """The national part of the analysis of a year, computed once for every prefecture."""

    fiscal_year: int
    measures: pd.DataFrame  # every insurer, every year ≤ fiscal_year
    ranked: pd.DataFrame    # the same with ranks, means, gaps and changes
    comparable: dict[int, bool]


def prepare(frames: dict[str, pd.DataFrame], fiscal_year: int) -> Prepared:
    measures = measure_scores(frames)
    measures = measures[measures["fiscal_year"] <= fiscal_year]
    if measures[measures["fiscal_year"] == fiscal_year].empty:
        raise NoResultsError(f"{fiscal_year}年度の評価結果がありません / no evaluation results for {fiscal_year}")
    flags = {y: v for y, v in comparable_years(frames["indicators"]).items() if y <= fiscal_year}
    return Prepared(fiscal_year, measures, with_ranks(measures), flags)


def analyse(frames: dict[str, pd.DataFrame], fiscal_year: int, prefecture_code: str,
            config: EvaluationConfig | None = None, prepared: Prepared | None = None) -> PrefectureAnalysis:
    """The analysis of one prefecture for ``fiscal_year`` (frames: every insurer, every year wanted;
    ``prepared``: :func:`prepare` of the same frames and year, shared by the prefectures)."""
    config = config or EvaluationConfig()
    prepared = prepared or prepare(frames, fiscal_year)
    if prepared.fiscal_year != fiscal_year:
        raise ValueError(f"prepared for {prepared.fiscal_year}, not {fiscal_year}")
    ranked, measures = prepared.ranked, prepared.measures
    mine = ranked[ranked["prefecture_code"] == prefecture_code]
    if mine[mine["fiscal_year"] == fiscal_year].empty:
        raise NoResultsError(f"{fiscal_year}年度の都道府県{prefecture_code}の評価結果がありません / "
                             f"no evaluation results for prefecture {prefecture_code} in {fiscal_year}")
    return PrefectureAnalysis(
        fiscal_year=fiscal_year, prefecture_code=prefecture_code, comparable=dict(prepared.comparable),
        scores=_order(mine).reset_index(drop=True),
        averages=averages(measures, prefecture_code),
        low=low_scores(measures, fiscal_year, prefecture_code, config.low_score),
        missed=missed_indicators(frames, fiscal_year, prefecture_code, config.missed),
        rule=config.low_score,
    )
