"""The analysis settings (``include/config/evaluation.yaml``): the 著しく低い rule and the 未達成指標 cut-off."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsunagu.settings import include_dir
from tsunagu.yamlfile import read_yaml

MEASURE_GRANTS = ("suishin", "doryoku", "combined")
MEASURE_GOALS = ("I", "II", "III", "IV", "total")
BASES = ("national", "prefecture")


class EvaluationConfigError(ValueError):
    """include/config/evaluation.yaml is missing a setting or holds a wrong value."""


@dataclass(frozen=True)
class LowScoreRule:
    """得点率 < mean − sd_multiplier × SD (of the basis population), per (grant, goal) measure."""

    sd_multiplier: float = 2.0
    basis: str = "national"
    ddof: int = 1
    measures: tuple[tuple[str, str], ...] = (("combined", "total"),)

    def describe_ja(self) -> str:
        who = "全国の保険者" if self.basis == "national" else "県内の市町村"
        return f"得点率が{who}の平均 − {self.sd_multiplier:g} × 標準偏差 を下回る"


@dataclass(frozen=True)
class MissedRule:
    miss_share_above: float = 0.5
    max_rows: int = 60


@dataclass(frozen=True)
class EvaluationConfig:
    low_score: LowScoreRule = LowScoreRule()
    missed: MissedRule = MissedRule()


def config_path() -> Path:
    return include_dir() / "config" / "evaluation.yaml"


def _err(ja: str, en: str) -> EvaluationConfigError:
    return EvaluationConfigError(f"{ja} / {en}")


def parse_config(data: dict[str, Any]) -> EvaluationConfig:
    low = data.get("low_score") or {}
    measures = []
    for m in low.get("measures") or [{"grant": "combined", "goal": "total"}]:
        grant, goal = str(m.get("grant", "")), str(m.get("goal", ""))
        if grant not in MEASURE_GRANTS or goal not in MEASURE_GOALS:
            raise _err(f"low_score.measures の {m} が不正です（grant: {'/'.join(MEASURE_GRANTS)}、goal: "
                       f"{'/'.join(MEASURE_GOALS)}）", f"low_score.measures: bad measure {m}")
        measures.append((grant, goal))
    k = float(low.get("sd_multiplier", 2.0))
    basis = str(low.get("basis", "national"))
    ddof = int(low.get("ddof", 1))
    if k < 0 or basis not in BASES or ddof not in (0, 1):
        raise _err("low_score の sd_multiplier（0以上）、basis（national/prefecture）、ddof（0/1）を確認してください",
                   "low_score: sd_multiplier must be ≥ 0, basis national|prefecture, ddof 0|1")
    missed = data.get("missed_indicators") or {}
    share = float(missed.get("miss_share_above", 0.5))
    rows = int(missed.get("max_rows", 60))
    if not 0 <= share < 1 or rows < 1:
        raise _err("missed_indicators の miss_share_above は0以上1未満、max_rows は1以上です",
                   "missed_indicators: miss_share_above must be in [0, 1), max_rows ≥ 1")
    return EvaluationConfig(LowScoreRule(k, basis, ddof, tuple(measures)), MissedRule(share, rows))


def load_config(path: Path | None = None) -> EvaluationConfig:
    path = path or config_path()
    try:
        data = read_yaml(path) or {}
    except FileNotFoundError:
        raise _err(f"{path} がありません", f"{path} not found") from None
    return parse_config(data)
