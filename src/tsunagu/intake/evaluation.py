"""The ministry's evaluation results workbook (design.md §2.4): located and mapped by header text.

Nothing is found by position. The header block is found by its row labels (交付金, 目標, 指標群, 指標番号,
指標名, 枝番, 配点: one column holds them, wherever it is and however many rows stand between them), the
statistics rows by theirs (平均, 中央値, 標準偏差, 該当数, 該当率), the insurer columns by the labels of the
row that holds 保険者番号. Merged header cells hold their text in the first column only, so each header
level is carried forward across the columns until a higher level starts anew. An indicator column is one
with a 配点 right of the label column; a total column is one whose 目標 is 合計.

The indicators get keys ``{grant}-{goal}-{number}-{branch}`` (model.py): 目標Ⅳ is printed under both
交付金 and keyed once as ``both-IV-…`` (its two copies are checked to be equal, and counted once).
The scale is the sum of a 交付金's 配点: 400 since 令和6年度, 2,185 before (``comparable`` False).

:func:`parse_evaluation` writes nothing; it gives the parsed rows and the findings of the layout and of
the cell values. The rules are in :mod:`tsunagu.validate.evaluation`; :func:`to_frames` makes the
frames of :mod:`tsunagu.evaluation.model`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsunagu.evaluation.model import CURRENT_SCALE, OLD_SCALE
from tsunagu.findings import Finding, column_letter, error
from tsunagu.model import FormTemplate, ParsedTable
from tsunagu.normalize import is_blank, nfkc

KIND = "evaluation_results"
ROW_LABELS = ("交付金", "目標", "指標群", "指標番号", "指標名", "枝番", "配点")
CARRIED = ("交付金", "目標", "指標群", "指標番号", "指標名")  # merged across columns: carried forward
STAT_LABELS = {"平均": "mean", "中央値": "median", "標準偏差": "sd", "該当数": "count_hit", "該当率": "rate_hit"}
# insurer columns: field id -> accepted labels (compared without spaces, NFKC)
FIXED_FIELDS = {
    "serial": ("通し番号", "No", "番号"),
    "prefecture": ("都道府県", "都道府県名"),
    "insurer_number": ("保険者番号",),
    "municipality_name": ("市町村名", "保険者名"),
    "population": ("人口", "人口人"),
    "first_insured": ("第1号被保険者数", "第1号被保険者数人"),
    "depopulated": ("過疎", "過疎地域"),
    "size_class": ("規模区分",),
}
REQUIRED_FIXED = ("prefecture", "insurer_number", "municipality_name", "population", "first_insured", "depopulated")
FIXED_LABELS_JA = {"serial": "通し番号", "prefecture": "都道府県", "insurer_number": "保険者番号",
                   "municipality_name": "市町村名", "population": "人口", "first_insured": "第1号被保険者数",
                   "depopulated": "過疎", "size_class": "規模区分"}
SCAN_ROWS = 60  # the header block is within the first rows
_GOAL = re.compile(r"^目標\s*(IV|III|II|I)(?![IV])")
_TOTAL_GOAL = re.compile(r"^目標\s*(IV|III|II|I)\s*(計|合計|小計)$")
_REIWA = re.compile(r"令和\s*(\d{1,2}|元)\s*年度")
_GOAL_JA = {"I": "目標Ⅰ", "II": "目標Ⅱ", "III": "目標Ⅲ", "IV": "目標Ⅳ"}
_GRANT_JA = {"suishin": "推進交付金", "doryoku": "努力支援交付金", "both": "両交付金共通"}


def _key(value: Any) -> str:
    return re.sub(r"\s+", "", nfkc(value))


def _text(value: Any) -> str:
    """A header cell as text: numbers without a trailing .0, NFKC (１ → 1, ① → 1), trimmed."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if is_blank(value) else nfkc(value)


@dataclass
class IndicatorColumn:
    key: str
    grant: str  # suishin | doryoku | both
    goal: str
    part: str
    group: str  # 指標群 as printed
    number: str
    branch: str
    name: str
    max_points: int
    columns: list[int] = field(default_factory=list)  # 0-based; 目標Ⅳ: one under each 交付金

    def label(self) -> str:
        branch = f"-{self.branch}" if self.branch else ""
        return f"{_GRANT_JA[self.grant]} {_GOAL_JA[self.goal]} 指標{self.number}{branch}"


@dataclass
class TotalColumn:
    grant: str  # suishin | doryoku
    goal: str  # I..IV | total
    column: int
    max_points: int | None

    @property
    def field(self) -> str:
        return f"total-{self.grant}-{self.goal}"

    def label(self) -> str:
        return f"{_GRANT_JA[self.grant]} {'合計' if self.goal == 'total' else _GOAL_JA[self.goal] + '計'}"


@dataclass
class EvalRow:
    """One insurer row as read: its values, and the points (None where unreadable) of each column."""

    sheet: str
    row: int  # 1-based
    columns: dict[str, str]  # field id -> column letter (insurer fields)
    values: dict[str, Any]
    points: dict[int, float | None]  # 0-based column -> points (indicator and total columns)


@dataclass
class EvaluationFile:
    path: Path
    sheet: str
    fiscal_year: int | None
    scale: int | None
    indicators: list[IndicatorColumn]
    totals: list[TotalColumn]
    fixed: dict[str, int]  # field id -> 0-based column
    rows: list[EvalRow]
    stats: dict[str, dict[str, float | None]]  # indicator key -> mean/median/sd/count_hit/rate_hit
    findings: list[Finding]
    table: ParsedTable | None = None  # for the annotated copy of the reports
    header_rows: dict[str, int] = field(default_factory=dict)  # label -> 1-based row

    @property
    def comparable(self) -> bool:
        return self.scale == CURRENT_SCALE

    @property
    def layout_known(self) -> bool:
        return bool(self.indicators) and "insurer_number" in self.fixed

    def label(self, field_id: str) -> str:
        for i in self.indicators:
            if i.key == field_id:
                return i.label()
        for t in self.totals:
            if t.field == field_id:
                return t.label()
        return FIXED_LABELS_JA.get(field_id, field_id)

    @property
    def columns(self) -> dict[str, str]:
        return {f: column_letter(c) for f, c in self.fixed.items()}


def _layout_error(sheet: str, ja: str, en: str, row: int | None = None, column: int | None = None) -> Finding:
    return error("evaluation_layout_unknown", f"評価結果の様式を認識できません: {ja}",
                 f"Unknown layout of the evaluation results: {en}", sheet=sheet, row=row,
                 column=column_letter(column) if column is not None else None)


def _find_labels(rows: list[list[Any]]) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]], tuple[int, int] | None]:
    """(header row labels, statistics labels, the 保険者番号 cell), each as (0-based row, column)."""
    header: dict[str, tuple[int, int]] = {}
    stats: dict[str, tuple[int, int]] = {}
    number_cell = None
    for r, row in enumerate(rows[:SCAN_ROWS]):
        for c, value in enumerate(row):
            if not isinstance(value, str) or not value.strip():
                continue
            k = _key(value)
            if k in ROW_LABELS and k not in header:
                header[k] = (r, c)
            elif k in STAT_LABELS and k not in stats:
                stats[k] = (r, c)
            elif k in FIXED_FIELDS["insurer_number"] and number_cell is None:
                number_cell = (r, c)
    return header, stats, number_cell


def _grant(text: str) -> str | None:
    if "推進" in text:
        return "suishin"
    if "努力" in text or "支援交付金" in text:
        return "doryoku"
    return None


def _part(text: str, goal: str) -> str | None:
    if "体制" in text or "取組" in text:
        return "structure"
    if "活動" in text:
        return "activity"
    if "成果" in text or goal == "IV":
        return "outcome"
    return None


def _fiscal_year(rows: list[list[Any]], last: int) -> int | None:
    for row in rows[:last]:
        for value in row:
            if isinstance(value, str) and (m := _REIWA.search(nfkc(value))):
                return 2018 + (1 if m.group(1) == "元" else int(m.group(1)))
    return None


def _number(value: Any) -> float:
    """A points cell: blank is 0 (not scored), else a number; ValueError otherwise."""
    if is_blank(value):
        return 0.0
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    text = nfkc(value).replace(",", "")
    if text in ("-", "―", "－", "ー"):
        return 0.0
    return float(text)


def parse_evaluation(path: Path, *, sheets: list | None = None) -> EvaluationFile:
    """Read and map the workbook. Raises UnreadableFile for what is not a readable spreadsheet."""
    from tsunagu.intake.reader import read_sheets

    path = Path(path)
    sheets = sheets if sheets is not None else read_sheets(path)
    chosen = None
    for sheet in sheets:  # the sheet with the header block (the first, in the ministry's files)
        header, stats, number_cell = _find_labels(sheet.rows)
        if number_cell is not None and "配点" in header:
            chosen = (sheet, header, stats, number_cell)
            break
    if chosen is None:
        name = sheets[0].name if sheets else ""
        return EvaluationFile(path, name, None, None, [], [], {}, [], {}, [_layout_error(
            name, "「保険者番号」の列見出しと「配点」の行が見つかりません。",
            "no header cell 保険者番号 and no 配点 row were found.")])
    sheet, header, stat_cells, (number_row, _) = chosen
    rows = sheet.rows
    name = sheet.name
    findings: list[Finding] = []
    missing = [label for label in ROW_LABELS if label not in header]
    if missing:
        findings.append(_layout_error(name, f"見出し行「{'」「'.join(missing)}」が見つかりません。",
                                      f"header rows not found: {', '.join(missing)}."))
        return EvaluationFile(path, name, None, None, [], [], {}, [], {}, findings)
    label_col = header["配点"][1]
    for label in ROW_LABELS:
        if header[label][1] != label_col:
            r, c = header[label]
            findings.append(_layout_error(name, f"見出し「{label}」が「配点」と別の列にあります。",
                                          f"row label {label} is not in the column of 配点.", r + 1, c))
    hrow = {label: header[label][0] for label in ROW_LABELS}
    width = max(len(r) for r in rows)

    def cell(r: int, c: int) -> Any:
        row = rows[r]
        return row[c] if c < len(row) else ""

    # the insurer columns, by the labels of the 保険者番号 row (left of the label column)
    fixed: dict[str, int] = {}
    for c in range(min(label_col, len(rows[number_row]))):
        k = _key(rows[number_row][c])
        for fid, labels in FIXED_FIELDS.items():
            if k in labels and fid not in fixed:
                fixed[fid] = c
    for fid in REQUIRED_FIXED:
        if fid not in fixed:
            findings.append(_layout_error(name, f"列見出し「{FIXED_LABELS_JA[fid]}」が見つかりません。",
                                          f"column {FIXED_LABELS_JA[fid]} not found.", number_row + 1))

    # the indicator area: carried header levels, one column at a time
    indicators: dict[str, IndicatorColumn] = {}
    order: list[str] = []
    totals: list[TotalColumn] = []
    current = dict.fromkeys(CARRIED, "")
    printed = dict.fromkeys(CARRIED, "")  # as printed (labels keep their full-width brackets)
    seen_in_grant: dict[str, set[str]] = {}
    for c in range(label_col + 1, width):
        changed = False
        for level in CARRIED:
            v = _text(cell(hrow[level], c))
            if v:
                current[level], printed[level], changed = v, str(cell(hrow[level], c)).strip(), True
            elif changed:
                current[level] = printed[level] = ""
        raw_max = cell(hrow["配点"], c)
        if is_blank(raw_max) and not current["交付金"]:
            continue
        grant = _grant(current["交付金"])
        goal_text = _key(current["目標"])
        if grant is None:
            if not is_blank(raw_max):
                findings.append(_layout_error(name, f"交付金「{current['交付金']}」を認識できません。",
                                              f"grant {current['交付金']!r} not recognised.", hrow["交付金"] + 1, c))
            continue
        try:
            max_points = None if is_blank(raw_max) else _number(raw_max)
        except ValueError:
            findings.append(_layout_error(name, f"配点「{raw_max}」が数値ではありません。",
                                          f"配点 {raw_max!r} is not a number.", hrow["配点"] + 1, c))
            continue
        if goal_text == "合計":
            m = _TOTAL_GOAL.match(_key(current["指標名"]))
            goal = m.group(1) if m else ("total" if _key(current["指標名"]) in ("合計", "総合計", "総計") else None)
            if goal is None:
                findings.append(_layout_error(name, f"合計列「{current['指標名']}」を認識できません。",
                                              f"total column {current['指標名']!r} not recognised.", hrow["指標名"] + 1, c))
                continue
            totals.append(TotalColumn(grant, goal, c, int(max_points) if max_points is not None else None))
            continue
        m = _GOAL.match(goal_text)
        if m is None or max_points is None:
            if max_points is not None:
                findings.append(_layout_error(name, f"目標「{current['目標']}」を認識できません。",
                                              f"goal {current['目標']!r} not recognised.", hrow["目標"] + 1, c))
            continue
        goal = m.group(1)
        part = _part(current["指標群"], goal)
        number, branch = current["指標番号"], _text(cell(hrow["枝番"], c))
        if part is None or not number:
            findings.append(_layout_error(name, f"指標群「{current['指標群']}」または指標番号を認識できません。",
                                          f"group {current['指標群']!r} or indicator number not recognised.",
                                          hrow["指標群"] + 1, c))
            continue
        owner = "both" if goal == "IV" else grant
        key = f"{owner}-{goal}-{number}-{branch or '1'}"
        if key in seen_in_grant.setdefault(grant, set()):
            findings.append(_layout_error(name, f"指標（{_GOAL_JA[goal]} 指標{number} 枝番{branch or '-'}）が重複しています。",
                                          f"indicator {key} appears twice.", hrow["枝番"] + 1, c))
            continue
        seen_in_grant[grant].add(key)
        found = indicators.get(key)
        if found is None:
            indicators[key] = IndicatorColumn(key, owner, goal, part, printed["指標群"], number, branch,
                                              printed["指標名"], int(max_points), [c])
            order.append(key)
        else:  # 目標Ⅳ again, under the other 交付金: the same indicator
            if found.max_points != int(max_points) or _key(found.name) != _key(current["指標名"]):
                findings.append(error(
                    "evaluation_shared_header_differs",
                    f"目標Ⅳ 指標{number}の配点または指標名が両交付金で異なります。",
                    f"目標Ⅳ indicator {key} has a different 配点 or name under the two grants.",
                    sheet=name, row=hrow["配点"] + 1, column=column_letter(c)))
            found.columns.append(c)
    if not indicators:
        findings.append(_layout_error(name, "指標の列（配点のある列）が見つかりません。", "no indicator columns (with a 配点)."))

    # the scale: the sum of each 交付金's 配点 (目標Ⅳ in both)
    scale = None
    sums = {g: sum(i.max_points for i in indicators.values() if i.grant in (g, "both")) for g in ("suishin", "doryoku")}
    if indicators:
        if len(set(sums.values())) == 1 and sums["suishin"] in (CURRENT_SCALE, OLD_SCALE):
            scale = sums["suishin"]
        else:
            findings.append(error(
                "evaluation_scale_unknown",
                f"配点の合計（推進交付金 {sums['suishin']}点、努力支援交付金 {sums['doryoku']}点）が"
                f"{CURRENT_SCALE}点（令和6年度以降）または{OLD_SCALE}点（令和5年度まで）になりません。",
                f"the 配点 add up to {sums['suishin']} (推進) and {sums['doryoku']} (努力支援), "
                f"not {CURRENT_SCALE} (2024 on) or {OLD_SCALE} (up to 2023).", sheet=name, row=hrow["配点"] + 1))

    # the statistics rows, per indicator (its first column)
    stats: dict[str, dict[str, float | None]] = {}
    for label, (r, _c) in stat_cells.items():
        for key in order:
            c = indicators[key].columns[0]
            try:
                v = None if is_blank(cell(r, c)) else _number(cell(r, c))
            except ValueError:
                v = None
            stats.setdefault(key, {})[STAT_LABELS[label]] = v

    # the insurer rows: below the header block and the statistics rows
    first = max([number_row, *hrow.values(), *(r for r, _ in stat_cells.values())]) + 1
    out_rows: list[EvalRow] = []
    point_cols = [c for i in indicators.values() for c in i.columns] + [t.column for t in totals]
    letters = {fid: column_letter(c) for fid, c in fixed.items()}
    if "insurer_number" in fixed:
        nc = fixed["insurer_number"]
        mc = fixed.get("municipality_name", nc)
        for r in range(first, len(rows)):
            if is_blank(cell(r, nc)) and is_blank(cell(r, mc)):
                continue
            values = {fid: cell(r, c) for fid, c in fixed.items()}
            points: dict[int, float | None] = {}
            for c in point_cols:
                try:
                    points[c] = _number(cell(r, c))
                except ValueError:
                    points[c] = None
                    findings.append(error(
                        "evaluation_value_invalid", f"{column_letter(c)}列 {r + 1}行目: 得点「{cell(r, c)}」が数値ではありません。",
                        f"Cell {column_letter(c)}{r + 1}: points {cell(r, c)!r} is not a number.",
                        sheet=name, row=r + 1, column=column_letter(c)))
            out_rows.append(EvalRow(name, r + 1, letters, values, points))

    fiscal_year = _fiscal_year(rows, first)
    table = ParsedTable(
        kind=KIND, template=FormTemplate(KIND, "ministry", "評価結果", fiscal_year or 0, None, ()),
        source_format=sheet.source_format, sheet=name, header_rows=tuple(v + 1 for v in hrow.values()),
        columns=letters, rows=[], findings=[], grid=rows,
    )
    return EvaluationFile(path, name, fiscal_year, scale, [indicators[k] for k in order], totals, fixed, out_rows,
                          stats, findings, table, {k: v + 1 for k, v in hrow.items()})


# ------------------------------------------------------------------------------------ frames


def _int(value: Any) -> int | None:
    try:
        return None if is_blank(value) else int(_number(value))
    except ValueError:
        return None


def _code(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfkc(value).replace("-", "").zfill(6) if not is_blank(value) else ""


def insurer_number_of(row: EvalRow) -> str:
    return _code(row.values.get("insurer_number"))


def prefecture_codes_by_name() -> dict[str, str]:
    """都道府県名 (and without its 都/道/府/県) -> 2-digit code, from the municipality master."""
    from tsunagu.municipalities import load_municipalities

    out: dict[str, str] = {}
    for m in load_municipalities().by_code.values():
        out[m.prefecture_name] = m.prefecture_code
        if m.prefecture_name[-1:] in ("都", "道", "府", "県"):
            out.setdefault(m.prefecture_name[:-1], m.prefecture_code)
    return out


def prefecture_code_of(row: EvalRow, names: dict[str, str] | None = None) -> str | None:
    text = _key(row.values.get("prefecture"))
    names = names if names is not None else prefecture_codes_by_name()
    if text.isdigit():
        return text.zfill(2)
    return names.get(text)


def to_frames(parsed: EvaluationFile, *, fiscal_year: int, source_sha256: str) -> dict[str, Any]:
    """The four frames of :mod:`tsunagu.evaluation.model` (columns exactly as declared there)."""
    import pandas as pd

    from tsunagu.evaluation import model

    comparable = parsed.comparable
    indicators = pd.DataFrame(
        [[fiscal_year, i.key, i.grant, i.goal, i.part, i.group, i.number, i.branch, i.name, i.max_points,
          parsed.scale, comparable] for i in parsed.indicators],
        columns=model.INDICATOR_COLUMNS,
    )
    names = prefecture_codes_by_name()
    insurer_rows, number_col, pref_col, key_col, points_col = [], [], [], [], []
    for row in parsed.rows:
        number, pref = insurer_number_of(row), prefecture_code_of(row, names)
        depop = row.values.get("depopulated")
        size = row.values.get("size_class") if "size_class" in parsed.fixed else None
        insurer_rows.append([
            fiscal_year, number, pref, nfkc(row.values.get("municipality_name")), _int(row.values.get("population")),
            _int(row.values.get("first_insured")), not is_blank(depop) and _key(depop) not in ("0", "×", "-", "なし"),
            None if is_blank(size) else nfkc(size), source_sha256, row.sheet, row.row,
        ])
        for i in parsed.indicators:
            number_col.append(number)
            pref_col.append(pref)
            key_col.append(i.key)
            points_col.append(row.points.get(i.columns[0]))
    insurers = pd.DataFrame(insurer_rows, columns=model.INSURER_COLUMNS)
    scores = pd.DataFrame({"fiscal_year": fiscal_year, "insurer_number": number_col, "prefecture_code": pref_col,
                           "indicator_key": key_col, "points": pd.Series(points_col, dtype="float64")},
                          columns=model.SCORE_COLUMNS)
    stats_rows = []
    for i in parsed.indicators:
        s = parsed.stats.get(i.key, {})
        rate = s.get("rate_hit")
        if rate is not None and rate > 1:  # printed as a percentage
            rate = rate / 100
        count = s.get("count_hit")
        stats_rows.append([fiscal_year, i.key, s.get("mean"), s.get("median"), s.get("sd"),
                           None if count is None else int(count), rate])
    national_stats = pd.DataFrame(stats_rows, columns=model.NATIONAL_STAT_COLUMNS)
    return {"indicators": indicators, "insurers": insurers, "scores": scores, "national_stats": national_stats}
