"""Status boards of the grants (交付金, design.md §2.3): who has filed what, for one program and fiscal year.

One row per expected filer × stage (filers from :func:`tsunagu.grants.insurers.expected_filers`),
ordered by prefecture, filer code and stage order, with

* the state (``state`` / ``state_ja``):

  - 受理 ``accepted``: the filer has current accepted rows for the stage;
  - 受付 ``received``: otherwise, the prefecture's latest file for the stage is not processed yet;
  - 差戻し ``returned``: otherwise, that latest file was rejected or unreadable;
  - 未提出 ``not_submitted``: nothing accepted and nothing received.

  Files are per prefecture (one consolidated file per program, stage and year), so 受付 and
  差戻し apply to every filer of the prefecture without accepted rows. Superseded files are ignored.
* the amounts of the stage (:data:`AMOUNT_FIELDS`), summed over the filer's current rows;
* the stage's deadline (the program's schedule; blank when the year has none for the stage) and
  the days late as of ``day``: blank before the deadline, 0 for 受理, else the calendar days
  after the deadline;
* the prefecture's latest file for the stage (name, status, received at).

:func:`write_status_boards` writes ``<out>/<fiscal_year>/<program>/status_all.xlsx|csv`` (bureau-wide)
and ``status_<pref>_<romaji>.xlsx|csv`` per prefecture. A prefecture's board holds only its own
filers (checked on every build: :class:`~tsunagu.publish.package.ScopeError`). The xlsx has
「状況一覧」 (the rows) and 「集計」 (filers by state per stage, the table a stacked bar chart reads);
the CSV is UTF-8 with a BOM, header = the column ids. Same warehouse state, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from tsunagu.publish.cells import inert, put
from tsunagu.publish.package import ScopeError

__all__ = [
    "AMOUNT_FIELDS", "COLUMNS", "STATES", "STATE_JA", "Board", "Column", "ScopeError", "amount_fields",
    "board_rows", "check_board_scope", "state_counts", "write_status_boards",
]

# --------------------------------------------------------------------------------------------- states
STATES: tuple[str, ...] = ("not_submitted", "received", "returned", "accepted")
STATE_JA: dict[str, str] = {"not_submitted": "未提出", "received": "受付", "returned": "差戻し", "accepted": "受理"}
STATE_COLORS: dict[str, str] = {  # cell fill (light) and chart bar (strong)
    "not_submitted": "D9D9D9", "received": "BDD7EE", "returned": "FFC7CE", "accepted": "C6EFCE",
}
CHART_COLORS: dict[str, str] = {
    "not_submitted": "A6A6A6", "received": "5B9BD5", "returned": "E06666", "accepted": "70AD47",
}
FILE_STATUS_JA: dict[str, str] = {
    "received": "受付（未処理）", "accepted": "受理", "rejected": "差戻し", "unreadable": "読取不可",
}
FILER_KIND_JA: dict[str, str] = {"insurer": "保険者", "prefecture": "都道府県", "koiki": "広域連合"}
_RETURNED = ("rejected", "unreadable")

# --------------------------------------------------------------------------------------------- amounts
Amount = tuple[str, str]  # (field id, Japanese header)

# program -> stage id (or "*" for every other stage) -> the amount fields shown, in order. The field ids
# are the stage templates' (include/templates/grant_<program>_<stage>/); a board has one column per
# field id of its program (stage order), blank where the stage does not show it.
AMOUNT_FIELDS: dict[str, dict[str, tuple[Amount, ...]]] = {
    "community_support": {
        "*": (("grant", "交付額"),),
        "actual_report": (("grant", "交付額"), ("confirmed", "確定額"), ("refund", "返還額")),
        "adjustment_survey": (("adjustment_grant", "調整交付金額"),),
        "redetermination": (("grant", "交付額"), ("change", "増減額")),
    },
    "care_fund": {
        "*": (("eligible_cost", "対象経費"), ("national", "国庫")),
        "balance_survey": (("executed", "執行額"), ("year_end_balance", "年度末残高")),
    },
    "integrated_health": {
        "*": (("amount", "申請額"),),
        "actual_report": (("decided", "交付決定額"), ("actual", "実績額")),
    },
}


def amount_fields(program: str, stage: str) -> tuple[Amount, ...]:
    """The amount fields a stage's rows show (its own entry, else the program's ``*``)."""
    by_stage = AMOUNT_FIELDS.get(program, {})
    return by_stage.get(stage, by_stage.get("*", ()))


def _program_amounts(program: str, stage_ids: Iterable[str]) -> list[Amount]:
    """Every amount column of the program's board, in stage order, each once."""
    out: list[Amount] = []
    for stage in stage_ids:
        for a in amount_fields(program, stage):
            if a[0] not in {f for f, _ in out}:
                out.append(a)
    return out


# --------------------------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Column:
    id: str  # the CSV header
    label_ja: str  # the xlsx header
    kind: str  # code | text | state | yen | date | datetime | int
    xlsx: bool = True  # shown on 状況一覧 (the CSV has every column)
    width: int | None = None  # fixed xlsx width, else from the content


_HEAD = (
    Column("prefecture_code", "都道府県コード", "code", xlsx=False),
    Column("prefecture_name", "都道府県", "text"),
    Column("filer_code", "提出者コード", "code"),
    Column("filer_name", "提出者", "text"),
    Column("filer_kind", "提出者区分", "code", xlsx=False),
    Column("stage", "段階ID", "code", xlsx=False),
    Column("stage_label", "段階", "text"),
    Column("state", "状況ID", "code", xlsx=False),
    Column("state_ja", "状況", "state", width=9),
)
_TAIL = (
    Column("deadline", "提出期限", "date", width=12),
    Column("days_late", "超過日数", "int", width=10),
    Column("rows", "行数", "int", width=8),
    Column("latest_file", "最新の提出ファイル", "text"),
    Column("latest_status", "最新ファイルの状況", "text", width=16),
    Column("latest_received_at", "最新ファイル受付日時", "datetime", width=18),
)
COLUMNS = _HEAD + _TAIL  # plus the program's amount columns between them (see :func:`board_columns`)


def board_columns(program: str) -> list[Column]:
    from tsunagu.grants.config import load_program

    amounts = _program_amounts(program, load_program(program).stage_ids)
    return [*_HEAD, *(Column(fid, label, "yen", width=13) for fid, label in amounts), *_TAIL]


# --------------------------------------------------------------------------------------------- rows
def _prefectures(codes: Iterable[str] | None) -> list[str]:
    from tsunagu.jurisdiction import load_jurisdiction

    jurisdiction = load_jurisdiction()
    if codes is None:
        return sorted(jurisdiction.prefectures)
    out = sorted({str(c).zfill(2) for c in codes})
    for code in out:
        jurisdiction.get(code)  # KeyError for a code outside the jurisdiction
    return out


def _schedule(config: Any, fiscal_year: int) -> dict[str, Any]:
    from tsunagu.grants.config import GrantConfigError

    try:
        return config.schedule(fiscal_year)
    except GrantConfigError:
        return {}  # no calendar for the year: no deadlines


def _latest_files(warehouse: Any, program: str, stage: str, fiscal_year: int) -> dict[str, dict[str, Any]]:
    """sender prefecture -> its latest (highest id) non-superseded file of the stage."""
    latest: dict[str, dict[str, Any]] = {}
    for o in warehouse.outcomes(kind=f"grant.{program}.{stage}", fiscal_year=fiscal_year):
        if o.get("status") == "superseded":
            continue
        sender = o.get("sender") or ""
        if sender not in latest or int(o["id"]) > int(latest[sender]["id"]):
            latest[sender] = o
    return latest


def _state(accepted: bool, latest: dict[str, Any] | None) -> str:
    if accepted:
        return "accepted"
    status = (latest or {}).get("status")
    if status == "received":
        return "received"
    if status in _RETURNED:
        return "returned"
    return "not_submitted"


def _days_late(state: str, deadline: dt.date | None, day: dt.date) -> int | None:
    if deadline is None or day < deadline:
        return None
    return 0 if state == "accepted" else (day - deadline).days


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0)
    return dt.datetime.fromisoformat(str(value)).replace(microsecond=0)


def _filer_prefecture(code: str, kind: str) -> str:
    """The prefecture a filer code itself names: 保険者番号[:2], 広域連合 39+pref, a prefecture's own code."""
    if kind == "koiki":
        return code[2:4]
    return code[:2]


def check_board_scope(rows: Sequence[dict[str, Any]], scope: str) -> None:
    """A prefecture's board holds only its own filers (``scope`` "all" holds any). Raises ScopeError."""
    if scope == "all":
        return
    for r in rows:
        code, kind = str(r.get("filer_code") or ""), str(r.get("filer_kind") or "")
        if r.get("prefecture_code") != scope or _filer_prefecture(code, kind) != scope:
            raise ScopeError(
                f"filer {code or '?'} {r.get('filer_name') or ''} (prefecture {r.get('prefecture_code')!r}) "
                f"must not appear on the status board of prefecture {scope}"
            )


def _prefecture_rows(warehouse: Any, program: str, fiscal_year: int, pref: Any, config: Any,
                     schedule: dict[str, Any], latest: dict[str, dict[str, dict[str, Any]]], day: dt.date,
                     amount_ids: list[str]) -> list[dict[str, Any]]:
    from tsunagu.grants.insurers import expected_filers
    from tsunagu.warehouse.grants import grant_rows

    # (stage, filer) -> that filer's current accepted rows, sent by this prefecture
    data: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in grant_rows(warehouse, program, fiscal_year, prefecture_code=pref.code):
        if r.get("prefecture_code") == pref.code:
            data[(str(r["stage"]), str(r["filer_code"]))].append(r)

    out: list[dict[str, Any]] = []
    for order, stage in enumerate(config.stages):
        shown = {fid for fid, _ in amount_fields(program, stage.id)}
        dates = schedule.get(stage.id)
        deadline = dates.deadline if dates is not None else None
        last = latest[stage.id].get(pref.code)
        for filer in expected_filers(program, stage.id, fiscal_year, pref.code):
            rows = data.get((stage.id, filer.code), [])
            state = _state(bool(rows), last)
            amounts: dict[str, int | None] = {}
            for fid in amount_ids:
                values = [int(r["amounts"][fid]) for r in rows
                          if fid in shown and (r.get("amounts") or {}).get(fid) is not None]
                amounts[fid] = sum(values) if values else None
            out.append({
                "prefecture_code": pref.code,
                "prefecture_name": pref.name_ja,
                "filer_code": filer.code,
                "filer_name": filer.name,
                "filer_kind": filer.kind,
                "stage": stage.id,
                "stage_label": stage.label_ja,
                "state": state,
                "state_ja": STATE_JA[state],
                **amounts,
                "deadline": deadline,
                # an optional stage (変更申請) is filed only by who needs it: nobody is late
                "days_late": None if stage.optional else _days_late(state, deadline, day),
                "rows": len(rows),
                "latest_file": last.get("original_name") if last else None,
                "latest_status": FILE_STATUS_JA.get(last.get("status"), last.get("status")) if last else None,
                "latest_received_at": _as_datetime(last.get("received_at")) if last else None,
                "_order": order,
            })
    return out


def board_rows(warehouse: Any, program: str, fiscal_year: int, *, day: dt.date,
               prefecture_code: str | None = None) -> list[dict[str, Any]]:
    """The rows of the board: the bureau-wide one (``prefecture_code`` None) or a prefecture's."""
    return _rows(warehouse, program, fiscal_year, day, None if prefecture_code is None else [prefecture_code],
                 scope=prefecture_code or "all")


def _rows(warehouse: Any, program: str, fiscal_year: int, day: dt.date, prefectures: Iterable[str] | None, *,
          scope: str) -> list[dict[str, Any]]:
    from tsunagu.grants.config import load_program
    from tsunagu.jurisdiction import load_jurisdiction

    config = load_program(program)
    jurisdiction = load_jurisdiction()
    prefs = _prefectures(prefectures)
    schedule = _schedule(config, fiscal_year)
    latest = {s.id: _latest_files(warehouse, program, s.id, fiscal_year) for s in config.stages}
    amount_ids = [fid for fid, _ in _program_amounts(program, config.stage_ids)]
    rows: list[dict[str, Any]] = []
    for code in prefs:
        part = _prefecture_rows(warehouse, program, fiscal_year, jurisdiction.get(code), config, schedule, latest,
                                day, amount_ids)
        check_board_scope(part, code)
        rows += part
    rows.sort(key=lambda r: (r["prefecture_code"], r["filer_code"], r["_order"]))
    for r in rows:
        del r["_order"]
    check_board_scope(rows, scope)
    return rows


def state_counts(rows: Iterable[dict[str, Any]], key: str = "stage") -> dict[str, dict[str, int]]:
    """``rows[key]`` -> state -> number of rows (every state present, zeros included), in first-seen order."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r[key], dict.fromkeys(STATES, 0))[r["state"]] += 1
    return out


# --------------------------------------------------------------------------------------------- files
@dataclass(frozen=True)
class Board:
    scope: str  # "all" or a 2-digit prefecture code
    rows: int
    xlsx: Path
    csv: Path


_JST = dt.timedelta(hours=9)


def _jst(value: dt.datetime | None) -> dt.datetime | None:
    """Stored times are naive UTC; people read Japan time."""
    return value + _JST if value is not None else None


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return inert(str(value))


def _csv_time(value: dt.datetime | None) -> str:
    """A stored (naive UTC) time as Japan time with its offset: ``2025-03-10T09:30:00+09:00``."""
    return "" if value is None else _jst(value).strftime("%Y-%m-%dT%H:%M:%S+09:00")


def _csv_bytes(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([c.id for c in columns])
    for r in rows:
        w.writerow([_csv_time(r.get(c.id)) if c.kind == "datetime" else _csv_value(r.get(c.id)) for c in columns])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _set(ws: Any, row: int, col: int, value: Any) -> Cell:
    """Write a cell; text is inert and an explicit string cell, never a formula."""
    cell = ws.cell(row=row, column=col)
    return cell if value is None else put(cell, value)


_FORMATS = {"code": "@", "yen": "#,##0", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm", "int": "#,##0"}
FONT_NAME = "游ゴシック"  # Office's Japanese default; elsewhere a CJK sans-serif stands in
_FONT = Font(name=FONT_NAME, size=10)
_HEADER_FONT = Font(name=FONT_NAME, size=10, bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")
_TITLE_FONT = Font(name=FONT_NAME, size=14, bold=True)
_BOLD = Font(name=FONT_NAME, size=10, bold=True)
_LATE_FONT = Font(name=FONT_NAME, size=10, bold=True, color="C00000")
_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_STATE_FILLS = {s: PatternFill("solid", fgColor=c) for s, c in STATE_COLORS.items()}


def _header(cell: Cell, fill: PatternFill = _HEADER_FILL) -> None:
    cell.font, cell.fill, cell.alignment, cell.border = _HEADER_FONT, fill, _CENTER, _BORDER


def _print_setup(ws: Any, title: str, *, landscape: bool = True) -> None:
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.75
    ws.page_margins.header = ws.page_margins.footer = 0.3
    ws.oddHeader.center.text = title.replace("&", "&&")
    ws.oddHeader.center.size = 9
    ws.oddFooter.center.text = "&P / &N"
    ws.oddFooter.center.size = 9


def _list_sheet(wb: Workbook, rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str) -> None:
    ws = wb.active
    ws.title = "状況一覧"
    cols = [c for c in columns if c.xlsx]
    widths = []
    for j, c in enumerate(cols, start=1):
        _header(_set(ws, 1, j, c.label_ja))
        widths.append(_width(c.label_ja))
    styles: dict[tuple[int, str], StyleArray] = {}  # styled once per column and variant, then copied (fast)
    for i, r in enumerate(rows, start=2):
        for j, c in enumerate(cols, start=1):
            value = r.get(c.id)
            if c.kind == "datetime":
                value = _jst(value)
            cell = _set(ws, i, j, value)
            variant = r["state"] if c.kind == "state" else ("late" if c.id == "days_late" and (value or 0) > 0 else "")
            style = styles.get((j, variant))
            if style is not None:
                cell._style = copy(style)
                continue
            cell.font, cell.border = (_LATE_FONT if variant == "late" else _FONT), _BORDER
            if c.kind in _FORMATS:
                cell.number_format = _FORMATS[c.kind]
            if c.kind == "state":
                cell.fill = _STATE_FILLS[r["state"]]
                cell.alignment = Alignment(horizontal="center")
            elif c.kind in ("date", "datetime"):
                cell.alignment = Alignment(horizontal="center")
            styles[(j, variant)] = copy(cell._style)
    for j, c in enumerate(cols, start=1):
        if c.width is None:
            widths[j - 1] = max([widths[j - 1], *(_width(_csv_value(r.get(c.id))) for r in rows)])
        width = c.width if c.width is not None else min(max(widths[j - 1] + 2, 8), 40)
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.row_dimensions[1].height = 30
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(rows) + 1}"
    _print_setup(ws, title)
    ws.print_title_rows = "1:1"


def _counts_table(ws: Any, top: int, head: str, keys: Sequence[tuple[str, str]],
                  counts: dict[str, dict[str, int]], deadlines: dict[str, dt.date] | None = None) -> int:
    """A table key × state (+ 計) at row ``top``, with a 提出期限 column when ``deadlines`` is given.
    Returns the row of its last key (the 計 row is the one below)."""
    lead = [head, "提出期限"] if deadlines is not None else [head]
    for j, h in enumerate([*lead, *(STATE_JA[s] for s in STATES), "計"], start=1):
        _header(_set(ws, top, j, h))
    for j, s in enumerate(STATES, start=len(lead) + 1):
        _header(ws.cell(row=top, column=j), PatternFill("solid", fgColor=CHART_COLORS[s]))
    totals = dict.fromkeys(STATES, 0)
    row = top
    for row, (key, label) in enumerate(keys, start=top + 1):
        line = counts.get(key, dict.fromkeys(STATES, 0))
        values: list[Any] = [label, *([deadlines.get(key)] if deadlines is not None else []),
                             *(line[s] for s in STATES), sum(line.values())]
        for s in STATES:
            totals[s] += line[s]
        for j, v in enumerate(values, start=1):
            cell = _set(ws, row, j, v)
            cell.font, cell.border = _FONT, _BORDER
            if isinstance(v, int):
                cell.number_format = "#,##0"
            elif isinstance(v, dt.date) or j == 2 and deadlines is not None:
                cell.number_format = "yyyy-mm-dd"
                cell.alignment = Alignment(horizontal="center")
    total = ["計", *([None] if deadlines is not None else []), *(totals[s] for s in STATES), sum(totals.values())]
    for j, v in enumerate(total, start=1):
        cell = _set(ws, row + 1, j, v)
        cell.font, cell.border = _BOLD, _BORDER
        if isinstance(v, int):
            cell.number_format = "#,##0"
    return row


def _chart(ws: Any, top: int, last: int, n_stages: int) -> BarChart:
    """Stacked horizontal bars: one bar per stage (first on top), one segment per state."""
    chart = BarChart()
    chart.type = "bar"  # horizontal: the stage labels are long
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.gapWidth = 60
    chart.title = "段階別・状況別の提出者数"
    chart.y_axis.title = "提出者数"
    chart.y_axis.scaling.min = 0
    chart.y_axis.number_format = "#,##0"
    chart.y_axis.majorGridlines = None
    chart.x_axis.scaling.orientation = "maxMin"  # the first stage on top
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.legend.position = "b"
    chart.add_data(Reference(ws, min_col=3, max_col=2 + len(STATES), min_row=top, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=last))
    for series, state in zip(chart.series, STATES, strict=True):
        series.graphicalProperties.solidFill = CHART_COLORS[state]
        series.graphicalProperties.line.solidFill = CHART_COLORS[state]
    chart.width = 17
    chart.height = max(7.5, 1.2 * n_stages + 4)
    return chart


def _summary_sheet(wb: Workbook, rows: Sequence[dict[str, Any]], config: Any, schedule: dict[str, Any],
                   title: str, day: dt.date) -> None:
    ws = wb.create_sheet("集計")
    _set(ws, 1, 1, title).font = _TITLE_FONT
    filers = len({(r["prefecture_code"], r["filer_code"]) for r in rows})
    _set(ws, 2, 1, f"基準日 {day.isoformat()}　提出者 {filers:,}　行 {len(rows):,}").font = _FONT
    top = 4
    stages = [(s.id, s.label_ja) for s in config.stages]
    deadlines = {s: d.deadline for s, d in schedule.items()}
    last = _counts_table(ws, top, "段階", stages, state_counts(rows), deadlines)
    chart = _chart(ws, top, last, len(stages))
    ws.add_chart(chart, f"A{last + 3}")

    by_pref = state_counts(rows, key="prefecture_code")
    if len(by_pref) > 1:  # the bureau-wide board: one line per prefecture too
        names = {r["prefecture_code"]: r["prefecture_name"] for r in rows}
        ptop = last + 3 + int(chart.height / 0.5) + 3  # below the chart (a row is about 0.5 cm)
        _set(ws, ptop - 1, 1, "都道府県別（全段階の合計）").font = _BOLD
        _counts_table(ws, ptop, "都道府県", [(p, names[p]) for p in by_pref], by_pref)
    for col, w in zip("ABCDEFG", (26, 12, 9, 9, 9, 9, 9), strict=True):
        ws.column_dimensions[col].width = w
    _print_setup(ws, title, landscape=False)


def _xlsx(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[Column], config: Any,
          schedule: dict[str, Any], scope_ja: str, fiscal_year: int, day: dt.date) -> None:
    from tsunagu.validate.reports import save_deterministic

    title = f"{config.title_ja} {fiscal_year}年度 提出状況（{scope_ja}）"
    wb = Workbook()
    _list_sheet(wb, rows, columns, f"{title} 基準日 {day.isoformat()}")
    _summary_sheet(wb, rows, config, schedule, title, day)
    wb.properties.title = title
    wb.properties.creator = "tsunagu"
    wb.active = 0
    save_deterministic(wb, path)


def _replace(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_status_boards(warehouse: Any, program: str, fiscal_year: int, out: Path, *,
                        prefectures: list[str] | None = None, day: dt.date) -> list[Board]:
    """Write the boards: ``prefectures`` None → the bureau-wide board and one per jurisdiction prefecture;
    a list → only those prefectures' boards. Returns them, bureau-wide first, then by prefecture code."""
    from tsunagu.grants.config import load_program
    from tsunagu.jurisdiction import load_jurisdiction

    config = load_program(program)
    jurisdiction = load_jurisdiction()
    schedule = _schedule(config, fiscal_year)
    columns = board_columns(program)
    folder = Path(out) / str(fiscal_year) / program
    folder.mkdir(parents=True, exist_ok=True)

    every = _rows(warehouse, program, fiscal_year, day, prefectures, scope="all")
    scopes: list[tuple[str, str, str, list[dict[str, Any]]]] = []
    if prefectures is None:
        scopes.append(("all", "status_all", "管内全体", every))
    for code in _prefectures(jurisdiction.prefectures if prefectures is None else prefectures):
        pref = jurisdiction.get(code)
        rows = [r for r in every if r["prefecture_code"] == code]
        check_board_scope(rows, code)
        scopes.append((code, f"status_{code}_{pref.romaji}", pref.name_ja, rows))

    boards = []
    for scope, stem, scope_ja, rows in scopes:
        check_board_scope(rows, scope)
        xlsx, csv_path = folder / f"{stem}.xlsx", folder / f"{stem}.csv"
        _replace(xlsx, lambda p, rows=rows, scope_ja=scope_ja: _xlsx(p, rows, columns, config, schedule, scope_ja,
                                                                      fiscal_year, day))
        data = _csv_bytes(rows, columns)
        _replace(csv_path, lambda p, data=data: p.write_bytes(data))
        boards.append(Board(scope=scope, rows=len(rows), xlsx=xlsx, csv=csv_path))
    return boards
