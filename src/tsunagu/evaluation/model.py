"""The data contract between the intake of evaluation results and their analysis.

Intake (``tsunagu.intake.evaluation``) maps the ministry's workbook by header text into these frames; the warehouse
(``tsunagu.warehouse.evaluation``) stores and returns them; the analysis (``tsunagu.evaluation.analysis``) reads
only these frames. Every frame is a pandas DataFrame with exactly the columns below.
"""

from __future__ import annotations

# 交付金: 保険者機能強化推進交付金 / 介護保険保険者努力支援交付金. 目標Ⅳ (成果) indicators are shared by both.
GRANTS = ("suishin", "doryoku")
GRANT_LABELS = {"suishin": "保険者機能強化推進交付金", "doryoku": "介護保険保険者努力支援交付金", "both": "両交付金共通"}
GOALS = ("I", "II", "III", "IV")
GOAL_LABELS = {"I": "目標Ⅰ", "II": "目標Ⅱ", "III": "目標Ⅲ", "IV": "目標Ⅳ"}
# (ⅰ)体制・取組, (ⅱ)活動, and 成果 for 目標Ⅳ
PARTS = ("structure", "activity", "outcome")
PART_LABELS = {"structure": "(ⅰ)体制・取組", "activity": "(ⅱ)活動", "outcome": "成果"}
# Since 令和6年度 (fiscal_year 2024) each 交付金 has 400 points; earlier years used 2,185 and do not compare.
CURRENT_SCALE = 400
OLD_SCALE = 2185

# One row per indicator column (枝番) of one year's file.
INDICATOR_COLUMNS = [
    "fiscal_year",   # int, Western fiscal year of the evaluation (令和6年度 -> 2024)
    "indicator_key",  # str, stable within a year: f"{grant}-{goal}-{number}-{branch}", e.g. "suishin-I-3-2"; 目標Ⅳ: "both-IV-1-1"
    "grant",         # "suishin" | "doryoku" | "both" (目標Ⅳ)
    "goal",          # "I" | "II" | "III" | "IV"
    "part",          # "structure" | "activity" | "outcome"
    "group",         # str, 指標群 label as printed
    "number",        # str, 指標番号 as printed (normalised to half-width)
    "branch",        # str, 枝番 as printed ("" when none)
    "name",          # str, 指標名
    "max_points",    # int, 配点
    "scale",         # int, 400 (2024+) or 2185 (up to 2023)
    "comparable",    # bool, scale == CURRENT_SCALE
]

# One row per insurer and year.
INSURER_COLUMNS = [
    "fiscal_year", "insurer_number",  # 6-digit 介護保険 保険者番号
    "prefecture_code",                # 2 digits, from the row's 都道府県
    "municipality_name",              # 市町村名 as printed
    "population",                     # int 人口
    "first_insured",                  # int 第1号被保険者数
    "depopulated",                    # bool 過疎
    "size_class",                     # str | None 規模区分 (absent in early years)
    "source_sha256", "sheet", "row",  # lineage
]

# One row per insurer × indicator × year (long format).
SCORE_COLUMNS = ["fiscal_year", "insurer_number", "prefecture_code", "indicator_key", "points"]  # points: float

# National statistics rows of the file (平均, 中央値, 標準偏差, 該当数, 該当率), per indicator.
NATIONAL_STAT_COLUMNS = ["fiscal_year", "indicator_key", "mean", "median", "sd", "count_hit", "rate_hit"]  # rate_hit: 0–1
