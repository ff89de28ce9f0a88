"""Rebuild the bundled evaluation demo inputs (include/demo/evaluation/<fy>/): the ministry's national
evaluation results of 保険者機能強化推進交付金・介護保険保険者努力支援交付金, cut to the 10 prefectures of the
jurisdiction so that the files stay small.

- 2023 (令和5年度): the old 2,185-point scale, flagged 比較不可 (not comparable) and kept out of the trend;
- 2024, 2025, 2026 (令和6–8年度): the 400-point scale, each year a different layout (header depth,
  規模区分, indicators added and renumbered), mapped by header text.

`make demo` (part 4) drops them into landing/evaluation/<fy>/, ingests them through the flow, analyses
埼玉 and 山梨 for 2026 and walks the 令和8年度 evaluation cycle. Byte-identical on every run:
``python -m demo.evaluation_inputs``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "include" / "demo" / "evaluation"
YEARS = (2023, 2024, 2025, 2026)
SEED = 7


def file_name(fiscal_year: int) -> str:
    return f"R{fiscal_year - 2018}_hyoka_kekka.xlsx"  # 令和N年度 評価結果


def _generator():
    sys.path.insert(0, str(REPO / "scripts"))  # as bench/run.py reaches the generators
    import make_evaluation_results

    return make_evaluation_results


def build(root: Path = DEMO) -> list[Path]:
    from tsunagu.jurisdiction import load_jurisdiction

    prefectures = sorted(load_jurisdiction().prefectures)
    shutil.rmtree(root, ignore_errors=True)
    out = []
    for year in YEARS:
        path = root / str(year) / file_name(year)
        layout = _generator().write(year, path, seed=SEED, prefectures=prefectures)
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {len(layout.insurers)} insurers")
        out.append(path)
    return out


if __name__ == "__main__":
    build()
