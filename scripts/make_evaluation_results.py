"""Generate the ministry's evaluation results workbook (保険者機能強化推進交付金・介護保険保険者努力支援交付金).

The real files cannot be fetched here (design.md §2.4, issue 9 §1), so this writes their layout: a header
block (交付金 / 目標 / 指標群 / 指標番号 / 指標名 / 枝番 / 配点, merged across columns), the national
statistics rows (平均, 中央値, 標準偏差, 該当数, 該当率), then one row per insurer (通し番号, 都道府県,
保険者番号, 市町村名, 人口, 第1号被保険者数, 過疎, 規模区分 from 2025, ~320 indicator columns, totals per
目標 and per 交付金). What changes between years, as in the real files:

* the header depth: 8 rows in 2023 and 2024, 18 rows (notes, blank rows, sub-headings) in 2025 and 2026;
* 規模区分 appears in 2025; 指標番号 and 枝番 are printed full-width / circled from 2025;
* indicators are added, dropped and renumbered each year (the catalog below);
* up to 2023 (令和5年度) the old 2,185-point scale per 交付金, with other indicators and no 目標Ⅳ.

Every municipality of the country is a row (1,741; Tokyo's 特別区 included; 広域連合 members one by one),
numbered with the project's 保険者番号 (tsunagu.grants.insurers.national_insurers). The catalog depends
on the year only; the scores on ``--seed``. The statistics rows are the true statistics of the rows
written (population SD).

    python scripts/make_evaluation_results.py --fiscal-year 2025 --seed 1 [--prefectures 11,13] --out FILE.xlsx
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

GRANTS = ("suishin", "doryoku")
GRANT_LABELS = {"suishin": "保険者機能強化推進交付金", "doryoku": "介護保険保険者努力支援交付金"}
GOAL_LABELS = {
    "I": "目標Ⅰ　持続可能な地域のあるべき姿をかたちにする",
    "II": "目標Ⅱ　公正・公平な給付を行う体制を構築する",
    "III": "目標Ⅲ　介護人材の確保その他のサービス提供基盤の整備を推進する",
    "IV": "目標Ⅳ　高齢者がその状況に応じて可能な限り自立した日常生活を営む",
}
GOAL_SHORT = {"I": "目標Ⅰ", "II": "目標Ⅱ", "III": "目標Ⅲ", "IV": "目標Ⅳ"}
PART_LABELS = {"structure": "(ⅰ)体制・取組", "activity": "(ⅱ)活動", "outcome": "成果"}
OLD_YEAR_LAST = 2023  # 令和5年度: the last year of the 2,185-point scale
OLD_GOAL_POINTS = {"I": 640, "II": 985, "III": 560}  # 2,185 per 交付金
FIXED = ["通し番号", "都道府県", "保険者番号", "市町村名", "人口", "第1号被保険者数", "過疎"]
SIZE_CLASS_FROM = 2025
ROW_LABELS = ("交付金", "目標", "指標群", "指標番号", "指標名", "枝番", "配点")
STAT_LABELS = ("平均", "中央値", "標準偏差", "該当数", "該当率")
YEARS = (2023, 2024, 2025, 2026)
SHEET = "評価結果"

_TOPICS = [
    "地域の介護保険事業の特徴の把握", "介護保険事業計画の進捗管理", "地域ケア会議の開催", "自立支援に資するケアマネジメント",
    "介護予防・日常生活支援総合事業の推進", "通いの場の充実", "生活支援体制整備", "認知症施策の推進",
    "在宅医療・介護連携の推進", "介護給付の適正化", "ケアプラン点検", "住宅改修等の点検", "縦覧点検・医療情報との突合",
    "要介護認定の適正化", "介護人材の確保", "介護現場の生産性向上", "介護サービス事業者への指導", "高齢者の保健事業と介護予防の一体的実施",
    "リハビリテーション提供体制", "家族介護者への支援", "地域包括支援センターの体制", "権利擁護の推進", "災害・感染症への備え",
    "PDCAサイクルの活用", "データの利活用", "住民への情報発信", "多職種連携の研修", "介護予防の効果検証",
]
_OUTCOMES = ["要介護度の維持・改善", "健康寿命の延伸", "在宅生活の継続", "新規認定者の平均年齢", "要介護2以上の認定率",
             "軽度者の重度化の抑制", "通いの場参加者の状態", "在宅看取りの割合", "介護離職の状況", "主観的健康感"]


@dataclass(frozen=True)
class Column:
    """One indicator column (one 枝番) of a year's catalog."""

    grant: str  # suishin | doryoku | both (目標Ⅳ)
    goal: str
    part: str
    number: int  # 指標番号 within (grant, goal)
    branch: int  # 枝番; 0 = the indicator has none
    name: str  # 指標名
    max_points: int
    base_id: str  # identity across years (the catalog's own, not in the file)

    @property
    def key(self) -> str:
        return f"{self.grant}-{self.goal}-{self.number}-{self.branch or 1}"


# ------------------------------------------------------------------------------------ the catalog


def _split(total: int, weights: list[int]) -> list[int]:
    """``total`` integer points in proportion to ``weights`` (largest remainder), each at least 1."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [max(1, int(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - int(raw[i])), i))
    i = 0
    while sum(out) < total:
        out[order[i % len(order)]] += 1
        i += 1
    i = 0
    while sum(out) > total:
        j = order[-1 - (i % len(order))]
        if out[j] > 1:
            out[j] -= 1
        i += 1
    return out


@dataclass
class _Indicator:
    base_id: str
    name: str
    branches: int
    weights: list[int]


def _groups(fiscal_year: int) -> dict[tuple[str, str, str], list[_Indicator]]:
    """The indicators of each (grant, goal, part), in order, for a year (deterministic per year)."""
    old = fiscal_year <= OLD_YEAR_LAST
    rng = random.Random("catalog-old" if old else "catalog-2024")
    groups: dict[tuple[str, str, str], list[_Indicator]] = {}
    cells = [(g, goal, part) for g in GRANTS for goal in ("I", "II", "III") for part in ("structure", "activity")]
    if not old:
        cells.append(("both", "IV", "outcome"))
    for grant, goal, part in cells:
        n = 18 if goal == "IV" else (10 if old else 9)
        bank = _OUTCOMES if goal == "IV" else _TOPICS
        items = []
        for i in range(n):
            branches = rng.choice([1, 2, 2, 3, 3] if not old else [1, 1, 2, 2, 3])
            name = f"{bank[rng.randrange(len(bank))]}（{'取組' if part == 'structure' else '実績' if part == 'activity' else '指標'}{i + 1}）"
            items.append(_Indicator(f"{'o' if old else 'n'}-{grant}-{goal}-{part}-{i}", name, branches,
                                    [rng.randint(1, 4) for _ in range(branches)]))
        groups[(grant, goal, part)] = items
    if old:
        return groups
    for year in range(2025, fiscal_year + 1):  # each later year: some dropped, some added (so renumbered)
        change = random.Random(f"changes-{year}")
        for cell, items in groups.items():
            if change.random() < 0.35:
                del items[change.randrange(len(items))]
            if change.random() < 0.45:
                branches = change.choice([1, 2, 3])
                items.insert(change.randrange(len(items) + 1), _Indicator(
                    f"n{year}-{'-'.join(cell)}-{len(items)}",
                    f"{_TOPICS[change.randrange(len(_TOPICS))]}（{year - 2018}年度新設）", branches,
                    [change.randint(1, 4) for _ in range(branches)]))
    return groups


def catalog(fiscal_year: int) -> list[Column]:
    """Every indicator column of a year, in file order within each 交付金 (目標Ⅳ once, grant "both")."""
    if fiscal_year not in YEARS:
        raise ValueError(f"fiscal year {fiscal_year} is not generated (years: {YEARS})")
    old = fiscal_year <= OLD_YEAR_LAST
    out: list[Column] = []
    groups = _groups(fiscal_year)
    for grant in (*GRANTS, "both"):
        for goal in ("I", "II", "III", "IV"):
            number = 0
            for part in ("structure", "activity", "outcome"):
                items = groups.get((grant, goal, part))
                if not items:
                    continue
                total = (OLD_GOAL_POINTS[goal] // 2 + (OLD_GOAL_POINTS[goal] % 2 if part == "structure" else 0)
                         if old else (100 if goal == "IV" else 50))
                points = _split(total, [w for ind in items for w in ind.weights])
                k = 0
                for ind in items:
                    number += 1
                    for b in range(ind.branches):
                        out.append(Column(grant, goal, part, number, b + 1 if ind.branches > 1 else 0,
                                          ind.name, points[k], ind.base_id))
                        k += 1
    return out


def file_columns(fiscal_year: int) -> list[tuple[str, Column | str]]:
    """The indicator area of the file, left to right: ("indicator", Column) or ("total", label) per grant block."""
    cols = catalog(fiscal_year)
    out: list[tuple[str, Column | str]] = []
    goals = ("I", "II", "III") if fiscal_year <= OLD_YEAR_LAST else ("I", "II", "III", "IV")
    for grant in GRANTS:
        out += [(grant, c) for c in cols if c.grant == grant]
        out += [(grant, c) for c in cols if c.grant == "both"]  # 目標Ⅳ under both 交付金
        out += [(grant, f"{GOAL_SHORT[g]}計") for g in goals] + [(grant, "合計")]
    return out


# ------------------------------------------------------------------------------------ the workbook


def reiwa(fiscal_year: int) -> str:
    return f"令和{fiscal_year - 2018}年度"


def size_class(population: int) -> str:
    for limit, label in ((10_000, "1万人未満"), (50_000, "1万人以上5万人未満"), (100_000, "5万人以上10万人未満"),
                         (300_000, "10万人以上30万人未満")):
        if population < limit:
            return label
    return "30万人以上"


def _number_text(n: int, fiscal_year: int) -> str | int:
    return str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９")) if fiscal_year >= SIZE_CLASS_FROM else n


def _branch_text(b: int, fiscal_year: int) -> str | int | None:
    if not b:
        return None
    return "①②③④⑤⑥⑦⑧⑨"[b - 1] if fiscal_year >= SIZE_CLASS_FROM else b


@dataclass(frozen=True)
class Layout:
    """Where things are in the written sheet (1-based rows and columns), for tests and fault injection."""

    fiscal_year: int
    header_rows: dict[str, int]  # row label -> row
    fixed_row: int  # the row with 保険者番号 etc.
    fixed_columns: dict[str, int]  # label -> column
    label_column: int
    stat_rows: dict[str, int]
    first_data_row: int
    columns: dict[str, list[int]]  # indicator key -> its column(s) (目標Ⅳ: one under each 交付金)
    totals: dict[tuple[str, str], int]  # (grant, "I".."IV" | "total") -> column
    insurers: list[str]  # 保険者番号 in row order


def _rows(fiscal_year: int, seed: int, prefectures: list[str] | None):
    from tsunagu.grants.insurers import national_insurers
    from tsunagu.municipalities import load_municipalities

    master = load_municipalities()
    insurers = [i for i in national_insurers() if not prefectures or i.prefecture_code in prefectures]
    cols = catalog(fiscal_year)
    rng = random.Random(f"scores-{seed}-{fiscal_year}")
    rows = []
    for ins in insurers:
        # per insurer a latent capacity (kept across years by seeding from the insurer), then a yearly drift
        base = random.Random(f"insurer-{seed}-{ins.number}")
        capacity = min(0.97, max(0.05, base.betavariate(4, 2.5) + (fiscal_year - 2024) * 0.02 + rng.gauss(0, 0.05)))
        big = ins.kind == "special_ward" or ins.name.endswith("市")
        population = int(base.lognormvariate(11.4 if big else 8.9, 0.8))
        population = max(200, min(population, 3_700_000))
        first = int(population * base.uniform(0.22, 0.45))
        depopulated = not big and base.random() < 0.55
        points = {}
        for c in cols:
            p = capacity * (0.6 + 0.8 * random.Random(f"{c.base_id}-{c.branch}").random())  # harder/easier indicators
            hit = rng.random() < min(0.99, p)
            partial = c.max_points >= 4 and hit and rng.random() < 0.2
            points[c.key] = (c.max_points // 2 if partial else c.max_points) if hit else 0
        rows.append((ins, master.get(ins.municipality_code).prefecture_name, population, first, depopulated, points))
    return rows


def build_workbook(fiscal_year: int, seed: int = 1, prefectures: list[str] | None = None):
    """The workbook (openpyxl) and its :class:`Layout`."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    new = fiscal_year >= SIZE_CLASS_FROM
    fixed = FIXED + (["規模区分"] if new else [])
    label_col = len(fixed) + 1
    first_ind = label_col + 1
    area = file_columns(fiscal_year)
    rows = _rows(fiscal_year, seed, prefectures)
    title = f"{reiwa(fiscal_year)} 保険者機能強化推進交付金・介護保険保険者努力支援交付金 評価結果（市町村別）"

    if new:  # 18 header rows: notes, blanks, a 区分 sub-heading, 評価の観点, a unit row, the column labels
        header = {"交付金": 6, "目標": 7, "指標群": 9, "指標番号": 11, "指標名": 12, "枝番": 14, "配点": 15}
        notes = {2: "※ 本表は各保険者の評価指標ごとの得点を示したもの。", 3: "※ 目標Ⅳの指標は両交付金に共通（各交付金に同じ得点を計上）。",
                 4: "※ 広域連合の構成市町村は市町村ごとに評価。", 8: "区分", 13: "評価の観点", 17: "（単位：点）"}
        fixed_row, depth = 18, 18
    else:
        header = {"交付金": 2, "目標": 3, "指標群": 4, "指標番号": 5, "指標名": 6, "枝番": 7, "配点": 8}
        notes = {}
        fixed_row, depth = 2, 8
    stat_rows = {label: depth + 1 + i for i, label in enumerate(STAT_LABELS)}
    first_data = depth + len(STAT_LABELS) + 1

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.cell(1, 1, title)
    for r, text in notes.items():
        ws.cell(r, label_col if text in ("区分", "評価の観点") else 1, text)
    for label, r in header.items():
        ws.cell(r, label_col, label)
    for j, label in enumerate(fixed):
        ws.cell(fixed_row, j + 1, label)
        if not new:
            ws.merge_cells(start_row=fixed_row, start_column=j + 1, end_row=depth, end_column=j + 1)

    columns: dict[str, list[int]] = {}
    totals: dict[tuple[str, str], int] = {}
    spans: dict[str, list[tuple[object, int]]] = {k: [] for k in ("交付金", "目標", "指標群", "指標番号", "指標名")}
    for j, (grant, item) in enumerate(area):
        col = first_ind + j
        if isinstance(item, Column):
            c = item
            columns.setdefault(c.key, []).append(col)
            keys = {"交付金": grant, "目標": (grant, c.goal), "指標群": (grant, c.goal, c.part),
                    "指標番号": (grant, c.goal, c.number), "指標名": (grant, c.goal, c.number)}
            texts = {"交付金": GRANT_LABELS[grant], "目標": GOAL_LABELS[c.goal], "指標群": PART_LABELS[c.part],
                     "指標番号": _number_text(c.number, fiscal_year), "指標名": c.name}
            ws.cell(header["枝番"], col, _branch_text(c.branch, fiscal_year))
            ws.cell(header["配点"], col, c.max_points)
            if new:
                ws.cell(8, col, "共通" if c.goal == "IV" else {"suishin": "推進", "doryoku": "支援"}[grant])  # 区分 sub-heading
                ws.cell(13, col, "実施の有無" if c.part == "structure" else "実績値")
        else:
            goal = next((g for g, s in GOAL_SHORT.items() if item == f"{s}計"), "total")
            totals[(grant, goal)] = col
            keys = {"交付金": grant, "目標": (grant, "total"), "指標群": (grant, "total", item),
                    "指標番号": (grant, "total", item), "指標名": (grant, "total", item)}
            texts = {"交付金": GRANT_LABELS[grant], "目標": "合計", "指標群": None, "指標番号": None, "指標名": item}
            ws.cell(header["配点"], col, _total_max(fiscal_year, goal))
        for level in spans:
            run = spans[level]
            if run and run[-1][0] == keys[level]:
                continue
            run.append((keys[level], col))
            if texts[level] is not None:
                ws.cell(header[level], col, texts[level])
    last = first_ind + len(area) - 1
    for level, run in spans.items():
        for i, (_, start) in enumerate(run):
            end = run[i + 1][1] - 1 if i + 1 < len(run) else last
            if end > start:
                ws.merge_cells(start_row=header[level], start_column=start, end_row=header[level], end_column=end)

    # the data rows, and the statistics over them
    by_col: dict[int, list[float]] = {}
    for n, (ins, pref_name, population, first, depopulated, points) in enumerate(rows):
        r = first_data + n
        values = [n + 1, pref_name, ins.number, ins.name, population, first, "○" if depopulated else None]
        if new:
            values.append(size_class(population))
        for j, v in enumerate(values):
            if v is not None:
                ws.cell(r, j + 1, v)
        goal_sums: dict[tuple[str, str], int] = {}
        for j, (grant, item) in enumerate(area):
            col = first_ind + j
            if isinstance(item, Column):
                v = points[item.key]
                goal_sums[(grant, item.goal)] = goal_sums.get((grant, item.goal), 0) + v
            else:
                goal = next((g for g, s in GOAL_SHORT.items() if item == f"{s}計"), "total")
                v = (goal_sums.get((grant, goal), 0) if goal != "total"
                     else sum(s for (g, _), s in goal_sums.items() if g == grant))
            ws.cell(r, col, v)
            by_col.setdefault(col, []).append(v)
    for col, values in by_col.items():
        hits = sum(1 for v in values if v > 0)
        stats = {"平均": statistics.fmean(values), "中央値": statistics.median(values),
                 "標準偏差": statistics.pstdev(values), "該当数": hits, "該当率": hits / len(values)}
        for label, r in stat_rows.items():
            cell = ws.cell(r, col, stats[label])
            if label == "該当率":
                cell.number_format = "0.0%"
            elif label in ("平均", "標準偏差"):
                cell.number_format = "0.00"
    for label, r in stat_rows.items():
        ws.cell(r, label_col, label)
    ws.freeze_panes = ws.cell(first_data, first_ind)
    for j in range(1, first_ind):
        ws.column_dimensions[get_column_letter(j)].width = 12

    layout = Layout(
        fiscal_year=fiscal_year, header_rows=dict(header), fixed_row=fixed_row,
        fixed_columns={label: j + 1 for j, label in enumerate(fixed)}, label_column=label_col,
        stat_rows=stat_rows, first_data_row=first_data, columns=columns, totals=totals,
        insurers=[row[0].number for row in rows],
    )
    return wb, layout


def _total_max(fiscal_year: int, goal: str) -> int:
    if fiscal_year <= OLD_YEAR_LAST:
        return sum(OLD_GOAL_POINTS.values()) if goal == "total" else OLD_GOAL_POINTS[goal]
    return 400 if goal == "total" else 100


def write(fiscal_year: int, out: Path, *, seed: int = 1, prefectures: list[str] | None = None) -> Layout:
    """Write the workbook to ``out`` (byte-identical for the same arguments)."""
    from tsunagu.validate.reports import save_deterministic

    wb, layout = build_workbook(fiscal_year, seed, prefectures)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_deterministic(wb, out)
    return layout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fiscal-year", type=int, required=True, choices=YEARS)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefectures", default="", help="comma-separated prefecture codes (default: the whole country)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    prefectures = [c.strip().zfill(2) for c in args.prefectures.split(",") if c.strip()] or None
    layout = write(args.fiscal_year, args.out, seed=args.seed, prefectures=prefectures)
    print(f"{args.out}: {len(layout.insurers)} insurers, {len(layout.columns)} indicators, "
          f"{sum(len(c) for c in layout.columns.values())} indicator columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Column", "Layout", "build_workbook", "catalog", "file_columns", "replace", "write"]
