"""The evaluation analysis of one prefecture, as a package: an xlsx for people (in Japanese, with charts),
the same figures as CSV, a ``datapackage.json`` (passes frictionless validate) and manifest.json.

``<out>/<fiscal_year>/<pref_code>_<romaji>/``::

    evaluation_<fy>_<code>.xlsx           概要 / 市町村別得点 / 市町村別推移 / 目標別推移 / 未達成指標 / 著しく低い市町村
    evaluation_<fy>_<code>_scores.csv     per municipality × year × measure (得点, 得点率, 順位, 前年度差, 平均との差)
    evaluation_<fy>_<code>_averages.csv   per year × measure: the prefecture's and the nation's means (aggregates)
    evaluation_<fy>_<code>_missed.csv     未達成指標 with the national 該当率
    evaluation_<fy>_<code>_low.csv        著しく低い市町村 with the rule's figures
    datapackage.json, manifest.json

Rules as for the home-care packages (design.md §5): scoped — every municipality row is the prefecture's
(else ``ScopeError``) and other prefectures appear only inside national means; deterministic — the same
frames give byte-identical files (fixed workbook times, stable row order); inert text; atomic swap.
Every sheet with municipality rows has 都道府県コード in row 1, so the send-time scope check reads it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.chart.text import RichText
from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties, RichTextProperties
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from tsunagu.evaluation.analysis import (
    COMBINED,
    MEASURE_GOAL_LABELS,
    MEASURE_GOALS,
    MEASURE_GRANT_LABELS,
    TOTAL,
    PrefectureAnalysis,
    measure_label,
)
from tsunagu.evaluation.model import GOALS, GRANT_LABELS
from tsunagu.jurisdiction import Prefecture, load_jurisdiction
from tsunagu.publish.cells import put
from tsunagu.publish.package import (
    ScopeError,
    _csv_resource,
    _display_width,
    _json_bytes,
    _normalise_zip,
    _print_setup,
    _sweep_package,
    finish_package,
)
from tsunagu.warehouse.archive import sha256_file, temporaries_lock

DATASET = "evaluation"
TITLE_JA = "保険者機能強化推進交付金・介護保険保険者努力支援交付金 評価結果の分析"
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
LOW_FILL = PatternFill("solid", fgColor="FCE4D6")
WRAP = Alignment(wrap_text=True, vertical="center")
PTS, RATE, DIFF, RDIFF, INT = "0.0", "0.0%", "+0.0;-0.0;0.0", "+0.0%;-0.0%;0.0%", "0"
SHEETS = ("概要", "市町村別得点", "市町村別推移", "目標別推移", "未達成指標", "著しく低い市町村")


@dataclass
class EvaluationPackage:
    dir: Path
    files: dict[str, str]  # name -> sha256, manifest.json included
    rows: int              # municipality rows of the year
    prefecture_code: str = ""
    fiscal_year: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    municipality_files: dict[str, str] = field(default_factory=dict)  # none: the release API expects the field


def wareki(fy: int) -> str:
    """令和N年度 (2019 = 令和元年度); earlier years as 平成."""
    if fy >= 2019:
        n = fy - 2018
        return f"令和{'元' if n == 1 else n}年度"
    return f"平成{fy - 1988}年度"


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _py(v: Any) -> Any:
    """A cell value: numpy scalars as Python, NaN as empty."""
    if _nan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


# ----------------------------------------------------------------------------- scope
def check_scope(analysis: PrefectureAnalysis) -> None:
    """Every municipality row of the analysis is the prefecture's; the tables hold nothing else."""
    code = analysis.prefecture_code
    for name, df in (("scores", analysis.scores), ("low", analysis.low), ("missed", analysis.missed),
                     ("averages", analysis.averages)):
        bad = df[df["prefecture_code"] != code] if len(df) else df
        if len(bad):
            first = bad.iloc[0]
            raise ScopeError(f"{name}: row of insurer {first.get('insurer_number', '?')} (prefecture "
                             f"{first['prefecture_code']!r}) must not be published for prefecture {code}")
    numbers = analysis.scores["insurer_number"].astype(str)
    if len(numbers) and not numbers.str.startswith(code).all():
        raise ScopeError(f"an insurer number outside prefecture {code} is in its analysis")


# ----------------------------------------------------------------------------- tables
def _wide_year(analysis: PrefectureAnalysis) -> pd.DataFrame:
    """One row per municipality for the year, ordered by 県内順位 (combined total), then insurer number."""
    y = analysis.year_scores
    base = y[(y["grant"] == COMBINED) & (y["goal"] == TOTAL)].sort_values(["rank_prefecture", "insurer_number"],
                                                                         kind="mergesort")
    idx = y.set_index(["insurer_number", "grant", "goal"])
    rows = []
    for r in base.itertuples():
        def get(grant: str, goal: str, col: str, r=r) -> Any:
            key = (r.insurer_number, grant, goal)
            return _py(idx.at[key, col]) if key in idx.index else None
        rows.append({
            "prefecture_code": r.prefecture_code, "insurer_number": r.insurer_number,
            "municipality_name": r.municipality_name, "points": _py(r.points), "max_points": _py(r.max_points),
            "rate": _py(r.rate), "rank_prefecture": _py(r.rank_prefecture), "rank_national": _py(r.rank_national),
            "change_points": _py(r.change_points), "gap_prefecture": _py(r.gap_prefecture),
            "gap_national": _py(r.gap_national), "prefecture_mean": _py(r.prefecture_mean),
            "national_mean": _py(r.national_mean),
            **{f"{g}_points": get(g, TOTAL, "points") for g in ("suishin", "doryoku")},
            **{f"{g}_rate": get(g, TOTAL, "rate") for g in ("suishin", "doryoku")},
            **{f"goal_{o}_points": get(COMBINED, o, "points") for o in GOALS},
            **{f"goal_{o}_rate": get(COMBINED, o, "rate") for o in GOALS},
        })
    return pd.DataFrame(rows)


# (column id, header, number format, width)
YEAR_COLUMNS = [
    ("prefecture_code", "都道府県コード", "@", 12), ("insurer_number", "保険者番号", "@", 10),
    ("municipality_name", "市町村名", "@", 14), ("points", "合計得点", PTS, 9), ("max_points", "配点", INT, 7),
    ("rate", "得点率", RATE, 8), ("rank_prefecture", "県内順位", INT, 7), ("rank_national", "全国順位", INT, 7),
    ("change_points", "前年度差", DIFF, 8), ("gap_prefecture", "県平均との差", DIFF, 9),
    ("gap_national", "全国平均との差", DIFF, 9), ("prefecture_mean", "県平均", PTS, 8),
    ("national_mean", "全国平均", PTS, 8),
    ("suishin_points", "推進交付金 得点", PTS, 9), ("suishin_rate", "推進交付金 得点率", RATE, 9),
    ("doryoku_points", "努力支援交付金 得点", PTS, 9), ("doryoku_rate", "努力支援交付金 得点率", RATE, 9),
    *((f"goal_{o}_points", f"{MEASURE_GOAL_LABELS[o]} 得点", PTS, 8) for o in GOALS),
    *((f"goal_{o}_rate", f"{MEASURE_GOAL_LABELS[o]} 得点率", RATE, 8) for o in GOALS),
]
MISSED_COLUMNS = [
    ("prefecture_code", "都道府県コード", "@", 12), ("grant", "交付金", "@", 16), ("goal", "目標", "@", 7),
    ("group", "指標群", "@", 14), ("number", "指標番号", "@", 7), ("branch", "枝番", "@", 6),
    ("name", "指標名", "@", 40), ("max_points", "配点", INT, 6), ("municipalities", "県内市町村数", INT, 8),
    ("missed", "未達成数", INT, 8), ("miss_share", "未達成割合", RATE, 8),
    ("prefecture_rate_hit", "県内該当率", RATE, 8), ("national_rate_hit", "全国該当率", RATE, 8),
    ("gap_rate_hit", "全国該当率との差", RDIFF, 9),
]
LOW_COLUMNS = [
    ("prefecture_code", "都道府県コード", "@", 12), ("insurer_number", "保険者番号", "@", 10),
    ("municipality_name", "市町村名", "@", 14), ("measure", "区分", "@", 20), ("points", "得点", PTS, 8),
    ("max_points", "配点", INT, 7), ("rate", "得点率", RATE, 8), ("threshold_rate", "基準値（得点率）", RATE, 10),
    ("basis_mean_rate", "平均得点率", RATE, 9), ("basis_sd_rate", "標準偏差", "0.000", 8),
]
HISTORY_COLUMNS = [
    ("prefecture_code", "都道府県コード", "@", 12), ("insurer_number", "保険者番号", "@", 10),
    ("municipality_name", "市町村名", "@", 14), ("year", "年度", "@", 11), ("scale", "配点基準", "@", 16),
    ("points", "合計得点", PTS, 9), ("max_points", "配点", INT, 7), ("rate", "得点率", RATE, 8),
    ("rank_prefecture", "県内順位", INT, 7), ("rank_national", "全国順位", INT, 7),
    ("change_points", "前年度差", DIFF, 8),
    *((f"goal_{o}_rate", f"{MEASURE_GOAL_LABELS[o]} 得点率", RATE, 8) for o in GOALS),
]


def _history(analysis: PrefectureAnalysis) -> pd.DataFrame:
    s = analysis.scores
    tot = s[(s["grant"] == COMBINED) & (s["goal"] == TOTAL)].sort_values(["insurer_number", "fiscal_year"],
                                                                        kind="mergesort")
    idx = s.set_index(["fiscal_year", "insurer_number", "grant", "goal"])
    rows = []
    for r in tot.itertuples():
        rows.append({
            "prefecture_code": r.prefecture_code, "insurer_number": r.insurer_number,
            "municipality_name": r.municipality_name, "year": wareki(int(r.fiscal_year)),
            "scale": "400点（比較可）" if r.comparable else "2,185点（比較不可）",
            "points": _py(r.points), "max_points": _py(r.max_points), "rate": _py(r.rate),
            "rank_prefecture": _py(r.rank_prefecture), "rank_national": _py(r.rank_national),
            "change_points": _py(r.change_points),
            **{f"goal_{o}_rate": (_py(idx.at[(r.fiscal_year, r.insurer_number, COMBINED, o), "rate"])
                                  if (r.fiscal_year, r.insurer_number, COMBINED, o) in idx.index else None)
               for o in GOALS},
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- xlsx
def _table(ws, columns: list[tuple[str, str, str, int]], records: list[dict[str, Any]], *, start_row: int = 1,
           start_col: int = 1) -> None:
    for j, (_, head, _, width) in enumerate(columns, start=start_col):
        c = put(ws.cell(row=start_row, column=j), head)
        c.font, c.fill, c.alignment = HEADER_FONT, HEADER_FILL, WRAP
        ws.column_dimensions[get_column_letter(j)].width = width + 1
    for i, rec in enumerate(records, start=start_row + 1):
        for j, (cid, _, fmt, _) in enumerate(columns, start=start_col):
            v = _py(rec.get(cid))
            if v is None:
                continue
            c = put(ws.cell(row=i, column=j), v)
            c.number_format = fmt
    for j, (cid, _, _, width) in enumerate(columns, start=start_col):
        if cid in ("municipality_name", "name", "measure", "group", "grant"):
            longest = max([_display_width(str(r.get(cid) or "")) for r in records] + [width])
            ws.column_dimensions[get_column_letter(j)].width = min(longest + 2, 60)
    ws.row_dimensions[start_row].height = 32


def _col(columns: list[tuple[str, str, str, int]], cid: str) -> int:
    return [c[0] for c in columns].index(cid) + 1


def _bar_chart(ws_data, n: int, pref: Prefecture, fy: int) -> BarChart:
    """Totals by municipality (bars) against the prefectural and national averages (lines)."""
    cat = Reference(ws_data, min_col=_col(YEAR_COLUMNS, "municipality_name"), min_row=2, max_row=n + 1)
    bar = BarChart()
    bar.type, bar.grouping = "col", "clustered"
    bar.title = f"{wareki(fy)} {pref.name_ja} 市町村別 合計得点（両交付金計）"
    bar.y_axis.title = "得点"
    bar.x_axis.title = "市町村"
    bar.add_data(Reference(ws_data, min_col=_col(YEAR_COLUMNS, "points"), min_row=1, max_row=n + 1),
                 titles_from_data=True)
    line = LineChart()
    for cid in ("prefecture_mean", "national_mean"):
        line.add_data(Reference(ws_data, min_col=_col(YEAR_COLUMNS, cid), min_row=1, max_row=n + 1),
                      titles_from_data=True)
    for s in line.series:
        s.marker.symbol = "none"
        s.smooth = False
    for s in (*bar.series, *line.series):  # municipality names are text: a string reference
        s.cat = AxDataSource(strRef=StrRef(f=str(cat)))
    bar.x_axis.delete = False
    bar.y_axis.delete = False
    bar.y_axis.scaling.min = 0
    bar.x_axis.tickLblSkip = 1  # every municipality named: vertical labels, small type
    bar.x_axis.txPr = RichText(
        bodyPr=RichTextProperties(rot=-5400000, vert="horz"),
        p=[Paragraph(pPr=ParagraphProperties(defRPr=CharacterProperties(sz=700)),
                     endParaRPr=CharacterProperties(sz=700))])
    bar.y_axis.number_format = "0"
    bar += line
    bar.legend.position = "b"
    bar.width, bar.height = max(24.0, min(0.7 * n, 60.0)), 11.0
    return bar


def _line_chart(ws, goal: str, col: int, first: int, last: int, pref: Prefecture) -> LineChart:
    """One 目標 across the comparable years: the prefecture's and the nation's mean 得点率."""
    chart = LineChart()
    chart.title = f"{MEASURE_GOAL_LABELS[goal]} 平均得点率"
    chart.y_axis.title = "平均得点率"
    chart.y_axis.number_format = "0%"
    chart.y_axis.scaling.min = 0
    chart.y_axis.scaling.max = 1
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.add_data(Reference(ws, min_col=col, max_col=col + 1, min_row=first - 1, max_row=last), titles_from_data=True)
    cat = Reference(ws, min_col=1, min_row=first, max_row=last)
    for s in chart.series:
        s.cat = AxDataSource(strRef=StrRef(f=str(cat)))
        s.marker.symbol = "circle"
        s.smooth = False
    chart.legend.position = "b"
    chart.width, chart.height = 12.5, 7.0
    return chart


def _summary_sheet(ws, analysis: PrefectureAnalysis, pref: Prefecture, wide: pd.DataFrame) -> int:
    fy = analysis.fiscal_year
    avg = analysis.averages
    tot = avg[(avg["fiscal_year"] == fy) & (avg["grant"] == COMBINED) & (avg["goal"] == TOTAL)].iloc[0]
    put(ws.cell(row=1, column=1), f"{TITLE_JA}（{wareki(fy)}・{pref.name_ja}）").font = TITLE_FONT
    comparable = [y for y, ok in sorted(analysis.comparable.items()) if ok]
    old = [y for y, ok in sorted(analysis.comparable.items()) if not ok]
    lines: list[tuple[str, Any, str | None]] = [
        ("対象年度", f"{wareki(fy)}（{fy}年度）", None),
        ("都道府県", f"{pref.name_ja}（{pref.code}）", None),
        ("市町村数", int(tot["prefecture_count"]), INT),
        ("配点（両交付金計、目標Ⅳは1回）", _py(tot["max_points"]), INT),
        ("県平均 合計得点", _py(tot["prefecture_mean"]), PTS),
        ("全国平均 合計得点", _py(tot["national_mean"]), PTS),
        ("県平均 得点率", _py(tot["prefecture_rate"]), RATE),
        ("全国平均 得点率", _py(tot["national_rate"]), RATE),
        ("全国の保険者数", int(tot["national_count"]), INT),
        ("推移に含めた年度", "、".join(wareki(y) for y in comparable) or "なし", None),
        ("比較不可の年度", ("、".join(wareki(y) for y in old) + "（配点2,185点。400点満点の年度と比較できないため推移に含めない）")
         if old else "なし", None),
        ("著しく低い市町村の基準", analysis.rule.describe_ja() + "（区分ごと）", None),
        ("著しく低い市町村", f"{analysis.low['insurer_number'].nunique()}市町村（{len(analysis.low)}件）"
         if len(analysis.low) else "該当なし", None),
        ("未達成指標", f"県内の過半の市町村が得点0または非該当の指標 {len(analysis.missed)}件", None),
    ]
    for i, (label, value, fmt) in enumerate(lines, start=3):
        put(ws.cell(row=i, column=1), label).font = HEADER_FONT
        c = put(ws.cell(row=i, column=2), value)
        if fmt:
            c.number_format = fmt
            c.alignment = Alignment(horizontal="left")
    notes = [
        "・合計得点は両交付金の指標の得点の合計（目標Ⅳは両交付金に共通のため1回だけ数える）。得点率＝得点÷配点。",
        "・順位は得点の高い順（同点は同順位）。全国の数値はすべての保険者の集計値のみを示す。",
        "・前年度差は前年度も400点満点で評価された場合のみ表示。",
        "・市町村別得点で市町村名に色の付いた市町村は、著しく低い区分がある市町村（著しく低い市町村シート参照）。",
        f"・各シート: {'、'.join(SHEETS[1:])}。同じ数値をCSV（datapackage.json付き）でも提供。",
    ]
    row = len(lines) + 4
    for i, note in enumerate(notes, start=row):
        put(ws.cell(row=i, column=1), note)
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 70
    return row + len(notes) + 1


def _trend_sheet(ws, analysis: PrefectureAnalysis, pref: Prefecture) -> None:
    t = analysis.trend
    t = t[t["grant"] == COMBINED]
    years = sorted(set(t["fiscal_year"]))
    put(ws.cell(row=1, column=1), f"目標別 平均得点率の推移（両交付金計）{pref.name_ja}・全国").font = TITLE_FONT
    header_row = 3
    put(ws.cell(row=header_row, column=1), "年度").font = HEADER_FONT
    goals = list(MEASURE_GOALS)
    for k, goal in enumerate(goals):
        col = 2 + 2 * k
        for j, who in enumerate((pref.name_ja, "全国")):
            c = put(ws.cell(row=header_row, column=col + j), f"{MEASURE_GOAL_LABELS[goal]} {who}")
            c.font, c.fill, c.alignment = HEADER_FONT, HEADER_FILL, WRAP
            ws.column_dimensions[get_column_letter(col + j)].width = 11
    ws.cell(row=header_row, column=1).fill = HEADER_FILL
    ws.column_dimensions["A"].width = 12
    ws.row_dimensions[header_row].height = 32
    idx = t.set_index(["fiscal_year", "goal"])
    for i, fy in enumerate(years, start=header_row + 1):
        put(ws.cell(row=i, column=1), wareki(fy))
        for k, goal in enumerate(goals):
            if (fy, goal) not in idx.index:
                continue
            for j, cid in enumerate(("prefecture_rate", "national_rate")):
                c = put(ws.cell(row=i, column=2 + 2 * k + j), _py(idx.at[(fy, goal), cid]))
                c.number_format = RATE
    first, last = header_row + 1, header_row + len(years)
    row = last + 2
    old = [y for y, ok in sorted(analysis.comparable.items()) if not ok]
    if old:
        put(ws.cell(row=row, column=1), "比較不可の年度（配点2,185点）: " + "、".join(wareki(y) for y in old)
            + " — 400点満点の年度と比較できないため、この推移とグラフに含めない。")
        row += 1
    if years:
        anchor_row = row + 1
        for k, goal in enumerate(goals):
            chart = _line_chart(ws, goal, 2 + 2 * k, first, last, pref)
            col = "A" if k % 2 == 0 else "G"
            ws.add_chart(chart, f"{col}{anchor_row + (k // 2) * 15}")


def _write_xlsx(path: Path, analysis: PrefectureAnalysis, pref: Prefecture, stamp: dt.datetime) -> None:
    fy = analysis.fiscal_year
    title = f"{TITLE_JA} {wareki(fy)} {pref.name_ja}"
    wide = _wide_year(analysis)
    records = wide.to_dict("records")
    wb = Workbook()
    summary = wb.active
    summary.title = SHEETS[0]
    chart_row = _summary_sheet(summary, analysis, pref, wide)

    ws = wb.create_sheet(SHEETS[1])
    _table(ws, YEAR_COLUMNS, records)
    low_numbers = set(analysis.low["insurer_number"])
    name_col = _col(YEAR_COLUMNS, "municipality_name")
    for i, rec in enumerate(records, start=2):
        if rec["insurer_number"] in low_numbers:  # 著しく低い区分がある市町村
            ws.cell(row=i, column=name_col).fill = LOW_FILL
    ws.freeze_panes = "D2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(YEAR_COLUMNS))}{len(records) + 1}"
    _print_setup(ws, title, repeat_rows="1:1")
    if records:
        summary.add_chart(_bar_chart(ws, len(records), pref, fy), f"A{chart_row}")
    _print_setup(summary, title, pages_tall=1)

    hist = wb.create_sheet(SHEETS[2])
    _table(hist, HISTORY_COLUMNS, _history(analysis).to_dict("records"))
    hist.freeze_panes = "D2"
    _print_setup(hist, title, repeat_rows="1:1")

    tr = wb.create_sheet(SHEETS[3])
    _trend_sheet(tr, analysis, pref)
    _print_setup(tr, title, pages_tall=1)

    miss = wb.create_sheet(SHEETS[4])
    mrec = analysis.missed.assign(
        grant=analysis.missed["grant"].map(GRANT_LABELS),
        goal=analysis.missed["goal"].map(MEASURE_GOAL_LABELS)).to_dict("records")
    _table(miss, MISSED_COLUMNS, mrec)
    miss.freeze_panes = "B2"
    _print_setup(miss, title, repeat_rows="1:1")

    low = wb.create_sheet(SHEETS[5])
    lrec = analysis.low.assign(measure=[measure_label(g, o) for g, o in
                                        zip(analysis.low["grant"], analysis.low["goal"], strict=True)]
                               ).to_dict("records")
    _table(low, LOW_COLUMNS, lrec)
    low.freeze_panes = "D2"
    _print_setup(low, title, repeat_rows="1:1")

    wb.properties.creator = "tsunagu"
    wb.properties.lastModifiedBy = "tsunagu"
    wb.properties.title = title
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_normalise_zip(buf.getvalue(), stamp))


# ----------------------------------------------------------------------------- csv
def _csv_number(v: Any, places: int) -> str:
    v = _py(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    text = f"{round(float(v), places):.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# (column, frictionless type, title, places for numbers)
SCORE_FIELDS = [
    ("fiscal_year", "integer", "年度", 0), ("prefecture_code", "string", "都道府県コード", 0),
    ("insurer_number", "string", "保険者番号", 0), ("municipality_name", "string", "市町村名", 0),
    ("grant", "string", "交付金（suishin/doryoku/combined）", 0), ("goal", "string", "目標（I〜IV/total）", 0),
    ("comparable", "boolean", "400点満点の年度（比較可）", 0), ("points", "number", "得点", 4),
    ("max_points", "number", "配点", 4), ("rate", "number", "得点率（0〜1）", 6),
    ("rank_prefecture", "integer", "県内順位", 0), ("rank_national", "integer", "全国順位", 0),
    ("change_points", "number", "前年度差（得点）", 4), ("change_rate", "number", "前年度差（得点率）", 6),
    ("prefecture_mean", "number", "県平均（得点）", 4), ("national_mean", "number", "全国平均（得点）", 4),
    ("gap_prefecture", "number", "県平均との差", 4), ("gap_national", "number", "全国平均との差", 4),
]
AVERAGE_FIELDS = [
    ("fiscal_year", "integer", "年度", 0), ("prefecture_code", "string", "都道府県コード", 0),
    ("grant", "string", "交付金", 0), ("goal", "string", "目標", 0), ("comparable", "boolean", "比較可", 0),
    ("max_points", "number", "配点", 4), ("prefecture_count", "integer", "県内市町村数", 0),
    ("prefecture_mean", "number", "県平均（得点）", 4), ("prefecture_rate", "number", "県平均得点率", 6),
    ("national_count", "integer", "全国の保険者数", 0), ("national_mean", "number", "全国平均（得点）", 4),
    ("national_rate", "number", "全国平均得点率", 6),
]
MISSED_FIELDS = [
    ("fiscal_year", "integer", "年度", 0), ("prefecture_code", "string", "都道府県コード", 0),
    ("indicator_key", "string", "指標キー", 0), ("grant", "string", "交付金", 0), ("goal", "string", "目標", 0),
    ("group", "string", "指標群", 0), ("number", "string", "指標番号", 0), ("branch", "string", "枝番", 0),
    ("name", "string", "指標名", 0), ("max_points", "number", "配点", 4),
    ("municipalities", "integer", "県内市町村数", 0), ("missed", "integer", "未達成数", 0),
    ("miss_share", "number", "未達成割合", 6), ("prefecture_rate_hit", "number", "県内該当率", 6),
    ("national_rate_hit", "number", "全国該当率", 6), ("gap_rate_hit", "number", "全国該当率との差", 6),
]
LOW_FIELDS = [
    ("fiscal_year", "integer", "年度", 0), ("prefecture_code", "string", "都道府県コード", 0),
    ("insurer_number", "string", "保険者番号", 0), ("municipality_name", "string", "市町村名", 0),
    ("grant", "string", "交付金", 0), ("goal", "string", "目標", 0), ("points", "number", "得点", 4),
    ("max_points", "number", "配点", 4), ("rate", "number", "得点率", 6),
    ("threshold_rate", "number", "基準値（得点率）", 6), ("basis_mean_rate", "number", "平均得点率", 6),
    ("basis_sd_rate", "number", "標準偏差", 6),
]


def _write_csv(path: Path, df: pd.DataFrame, fields: list[tuple[str, str, str, int]]) -> None:
    from tsunagu.publish.cells import inert

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([f[0] for f in fields])
    for rec in df.to_dict("records"):
        out = []
        for name, kind, _, places in fields:
            v = rec.get(name)
            if kind == "string":
                out.append("" if _nan(v) else inert(str(v)))
            elif kind == "boolean":
                out.append("" if _nan(v) else ("true" if bool(v) else "false"))
            else:
                out.append(_csv_number(int(v) if kind == "integer" and not _nan(v) else v, places))
        w.writerow(out)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))


def _schema(fields: list[tuple[str, str, str, int]], key: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"fields": [{"name": n, "type": t, "title": title} for n, t, title, _ in fields],
                           "missingValues": [""]}
    for f in out["fields"]:
        if f["name"] == "prefecture_code":
            f["constraints"] = {"required": True, "pattern": "[0-9]{2}"}
    if key:
        out["primaryKey"] = key
    return out


# ----------------------------------------------------------------------------- package
def _stamp(fiscal_year: int) -> dt.datetime:
    """A fixed timestamp from the data: 1 April of the analysed fiscal year."""
    return dt.datetime(fiscal_year, 4, 1)


def write_package(analysis: PrefectureAnalysis, out_dir: str | os.PathLike[str]) -> EvaluationPackage:
    """Write (atomically) the package of one prefecture under ``<out>/<fiscal_year>/<code>_<romaji>/``."""
    pref = load_jurisdiction().get(analysis.prefecture_code)
    parent = Path(out_dir) / str(analysis.fiscal_year)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / pref.package_name
    with temporaries_lock(parent, sweep=lambda: _sweep_package(final)):
        return _write_package(analysis, pref, parent, final)


def _write_package(analysis: PrefectureAnalysis, pref: Prefecture, parent: Path, final: Path) -> EvaluationPackage:
    check_scope(analysis)
    fy = analysis.fiscal_year
    stem = f"{DATASET}_{fy}_{pref.code}"
    stamp = _stamp(fy)
    title = f"{TITLE_JA} {wareki(fy)} {pref.name_ja}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{pref.package_name}.tmp-", dir=parent))
    try:
        xlsx = tmp / f"{stem}.xlsx"
        _write_xlsx(xlsx, analysis, pref, stamp)
        tables = [
            ("scores", analysis.scores, SCORE_FIELDS, ["fiscal_year", "insurer_number", "grant", "goal"],
             "市町村別 得点・得点率・順位・前年度差・平均との差"),
            ("averages", analysis.averages, AVERAGE_FIELDS, ["fiscal_year", "grant", "goal"],
             "年度・区分別 県平均と全国平均（集計値）"),
            ("missed", analysis.missed, MISSED_FIELDS, ["fiscal_year", "indicator_key"], "未達成指標"),
            ("low", analysis.low, LOW_FIELDS, ["fiscal_year", "insurer_number", "grant", "goal"], "著しく低い市町村"),
        ]
        resources = []
        for name, df, fields, key, label in tables:
            path = tmp / f"{stem}_{name}.csv"
            _write_csv(path, df, fields)
            resources.append(_csv_resource(f"{DATASET}-{name}", path, f"{title} {label}", _schema(fields, key)))
        resources.append({
            "name": f"{DATASET}-xlsx", "path": xlsx.name, "profile": "data-resource", "type": "file",
            "title": f"{title}（Excel）", "format": "xlsx",
            "mediatype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "bytes": xlsx.stat().st_size, "hash": "sha256:" + sha256_file(xlsx),
        })
        jur = load_jurisdiction()
        descriptor = {
            "profile": "data-package",
            "name": f"tsunagu-{DATASET}-{fy}-{pref.code}-{pref.romaji}",
            "title": title,
            "description": f"{jur.bureau_ja} {jur.division_ja}が作成した{pref.name_ja}の市町村の評価結果の分析"
                           f"（{wareki(fy)}、経年比較）。全国の数値は集計値のみ。",
            "version": str(fy),
            "keywords": ["保険者機能強化推進交付金", "介護保険保険者努力支援交付金", "評価結果", pref.name_ja],
            "resources": resources,
        }
        (tmp / "datapackage.json").write_bytes(_json_bytes(descriptor))
        every = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        year = analysis.year_scores
        manifest = {
            "dataset": DATASET,
            "fiscal_year": fy,
            "prefecture": {"code": pref.code, "name_ja": pref.name_ja, "romaji": pref.romaji},
            "package": pref.package_name,
            "municipalities": int(year["insurer_number"].nunique()),
            "years": {str(y): ("comparable" if ok else "not_comparable") for y, ok in sorted(analysis.comparable.items())},
            "low_score_rule": {"sd_multiplier": analysis.rule.sd_multiplier, "basis": analysis.rule.basis,
                               "ddof": analysis.rule.ddof,
                               "measures": [f"{g}:{o}" for g, o in analysis.rule.measures]},
            "files": [{"path": n, "sha256": every[n], "bytes": sizes[n]} for n in sorted(every)],
        }
        every["manifest.json"], sizes["manifest.json"] = finish_package(tmp, final, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EvaluationPackage(dir=final, files=dict(sorted(every.items())), rows=int(year["insurer_number"].nunique()),
                             prefecture_code=pref.code, fiscal_year=fy, sizes=dict(sorted(sizes.items())))


def publish_prefecture(frames: dict[str, pd.DataFrame], fiscal_year: int, prefecture_code: str,
                       out_dir: str | os.PathLike[str], config: Any = None, prepared: Any = None) -> EvaluationPackage:
    """Analyse one prefecture from the frames (every insurer: national figures need them) and write its package
    (``prepared``: the year's national part, :func:`tsunagu.evaluation.analysis.prepare`, shared by prefectures)."""
    from tsunagu.evaluation.analysis import analyse
    from tsunagu.evaluation.config import load_config

    analysis = analyse(frames, fiscal_year, prefecture_code, config or load_config(), prepared)
    return write_package(analysis, out_dir)


def publish(warehouse: Any, fiscal_year: int, prefectures: list[str] | None, out_dir: str | os.PathLike[str],
            config: Any = None) -> list[EvaluationPackage]:
    """Read the warehouse once (every insurer, every year up to ``fiscal_year``) and write one package per
    prefecture (None: every prefecture of the jurisdiction with results for the year)."""
    from tsunagu.evaluation.analysis import prepare
    from tsunagu.evaluation.config import load_config
    from tsunagu.warehouse.evaluation import load_frames

    frames = load_frames(warehouse, up_to=fiscal_year)  # the years of the trend, filtered in SQL
    config = config or load_config()
    if prefectures is None:
        have = set(frames["insurers"].loc[frames["insurers"]["fiscal_year"] == fiscal_year, "prefecture_code"])
        prefectures = [code for code in load_jurisdiction().prefectures if code in have]
    prepared = prepare(frames, fiscal_year)  # the national part once, not once per prefecture
    return [publish_prefecture(frames, fiscal_year, code, out_dir, config, prepared) for code in prefectures]


__all__ = ["DATASET", "EvaluationPackage", "MEASURE_GRANT_LABELS", "publish", "publish_prefecture", "wareki",
           "write_package"]
