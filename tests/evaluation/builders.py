"""Small evaluation frames for tests, in the columns of tsunagu.evaluation.model (no warehouse needed)."""

from __future__ import annotations

import math

import pandas as pd

from tsunagu.evaluation.model import (
    CURRENT_SCALE,
    INDICATOR_COLUMNS,
    INSURER_COLUMNS,
    NATIONAL_STAT_COLUMNS,
    SCORE_COLUMNS,
)


class FrameBuilder:
    """``indicator(2025, "suishin-I-1-1", 10)``, ``insurer(2025, "111001", "11", "A市")``,
    ``score(2025, "111001", {"suishin-I-1-1": 5})``, ``stat(2025, key, rate_hit=0.4)``, then ``frames()``."""

    def __init__(self) -> None:
        self.ind: list[dict] = []
        self.ins: list[dict] = []
        self.sc: list[dict] = []
        self.st: list[dict] = []
        self._pref: dict[tuple[int, str], str] = {}

    def indicator(self, fy: int, key: str, max_points: int, *, scale: int = CURRENT_SCALE, name: str = "") -> None:
        grant, goal, number, branch = key.split("-")
        self.ind.append({
            "fiscal_year": fy, "indicator_key": key, "grant": grant, "goal": goal,
            "part": "outcome" if goal == "IV" else "structure", "group": f"指標群{number}", "number": number,
            "branch": branch, "name": name or f"指標 {key}", "max_points": max_points, "scale": scale,
            "comparable": scale == CURRENT_SCALE,
        })

    def insurer(self, fy: int, number: str, pref: str, name: str, *, population: int = 10000) -> None:
        self._pref[(fy, number)] = pref
        self.ins.append({
            "fiscal_year": fy, "insurer_number": number, "prefecture_code": pref, "municipality_name": name,
            "population": population, "first_insured": population // 4, "depopulated": False, "size_class": None,
            "source_sha256": "0" * 64, "sheet": "評価結果", "row": len(self.ins) + 10,
        })

    def score(self, fy: int, number: str, points: dict[str, float | None]) -> None:
        for key, p in points.items():
            self.sc.append({"fiscal_year": fy, "insurer_number": number, "prefecture_code": self._pref[(fy, number)],
                            "indicator_key": key, "points": math.nan if p is None else float(p)})

    def stat(self, fy: int, key: str, *, rate_hit: float, mean: float = 0.0) -> None:
        self.st.append({"fiscal_year": fy, "indicator_key": key, "mean": mean, "median": mean, "sd": 0.0,
                        "count_hit": 0, "rate_hit": rate_hit})

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "indicators": pd.DataFrame(self.ind, columns=INDICATOR_COLUMNS),
            "insurers": pd.DataFrame(self.ins, columns=INSURER_COLUMNS),
            "scores": pd.DataFrame(self.sc, columns=SCORE_COLUMNS),
            "national_stats": pd.DataFrame(self.st, columns=NATIONAL_STAT_COLUMNS),
        }


KEYS = ("suishin-I-1-1", "suishin-II-1-1", "doryoku-I-1-1", "both-IV-1-1")
MAX = {"suishin-I-1-1": 10, "suishin-II-1-1": 10, "doryoku-I-1-1": 10, "both-IV-1-1": 20}
MUNICIPALITIES = [("111001", "11", "さいたま市"), ("111002", "11", "川越市"), ("111003", "11", "秩父市"),
                  ("121001", "12", "千葉市"), ("121002", "12", "銚子市")]
# points per year and insurer, in KEYS order (None: not 該当 / blank)
POINTS = {
    2023: {"111001": (300, 200, 100, 50), "111002": (100, 100, 100, 50), "111003": (0, 0, 0, 0),
           "121001": (300, 300, 300, 100), "121002": (10, 10, 10, 10)},
    2024: {"111001": (10, 5, 5, 10), "111002": (5, 5, 0, 10), "111003": (0, 0, 0, 10),
           "121001": (10, 10, 0, 20), "121002": (5, 5, 0, 10)},
    2025: {"111001": (10, 5, 10, 20), "111002": (5, 5, 0, 10), "111003": (0, None, 0, 10),
           "121001": (10, 10, 10, 20), "121002": (5, 5, 0, 10)},
}


def sample_frames(years: tuple[int, ...] = (2023, 2024, 2025)) -> dict[str, pd.DataFrame]:
    """Two prefectures, five municipalities; 2023 on the old 2,185-point scale (not comparable)."""
    b = FrameBuilder()
    for fy in years:
        old = fy <= 2023
        for key in KEYS:
            b.indicator(fy, key, MAX[key] * (40 if old else 1), scale=2185 if old else CURRENT_SCALE)
        for number, pref, name in MUNICIPALITIES:
            b.insurer(fy, number, pref, name)
            b.score(fy, number, dict(zip(KEYS, POINTS[fy][number], strict=True)))
        b.stat(fy, "doryoku-I-1-1", rate_hit=0.45)
    return b.frames()


def load_into_warehouse(wh, frames: dict[str, pd.DataFrame], sha: str) -> None:
    """Store each year's frames as the ministry's file of that year (a submission of kind evaluation_results)."""
    from tsunagu.warehouse.evaluation import load_evaluation

    frames = {**frames, "scores": frames["scores"][frames["scores"].points.notna()]}  # a blank is stored as no row
    for fy in sorted(set(frames["insurers"].fiscal_year)):
        year = {k: v[v.fiscal_year == fy].assign(**({"source_sha256": sha} if k == "insurers" else {}))
                for k, v in frames.items()}
        sid, _ = wh.register_submission("evaluation_results", f"{sha[:60]}{fy}", f"results_{fy}.xlsx", "00", fy)
        load_evaluation(wh, sid, fy, year, scale=2185 if fy <= 2023 else 400)
