"""The summary of a prefecture's survey return, sent back to the prefecture (Japanese, deterministic bytes).

``survey_summary_<fy>_<code>.xlsx``:

    集計               per 事業: 実施市町村数 / 全市町村数, 実施率（%）, and — when last year's return is
                       loaded — last year's count, 新規開始 and 実施終了
    未実施市町村       per 事業, the municipalities not (yet) running it
    前年度からの変化   per 事業, the municipalities that started or stopped since last year
    市町村別           the return as loaded: one row per municipality

Only the prefecture's own rows are read; the same warehouse state gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from tsunagu.intake.survey_return import load_survey_template, programs
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.municipalities import load_municipalities
from tsunagu.publish.cells import safe
from tsunagu.publish.package import ScopeError
from tsunagu.validate.reports import save_deterministic
from tsunagu.warehouse.surveys import KIND, survey_status

HEADER_FILL = PatternFill(fill_type="solid", start_color="FFDDEBF7", end_color="FFDDEBF7")
TITLE_FONT = Font(bold=True, size=14)
BOLD = Font(bold=True)
THIN = Side(style="thin", color="FF999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
STARTED, STOPPED = "新規開始", "実施終了"
NO_LAST_YEAR = "前年度の調査票が登録されていないため、前年度からの変化は集計していません。"


def summary_name(fiscal_year: int, prefecture_code: str) -> str:
    return f"survey_summary_{fiscal_year}_{prefecture_code}.xlsx"


def _header(ws, row: int, labels: list[str], widths: list[float] | None = None) -> None:
    for i, label in enumerate(labels, start=1):
        cell = ws.cell(row=row, column=i, value=label)
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for i, width in enumerate((widths or [])[: len(labels)], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = f"A{row + 1}"  # a string: ws.cell() would create a row and move append() down


def _row(ws, values: list) -> None:
    ws.append([safe(v) for v in values])  # text inert and cleaned
    for cell in ws[ws.max_row]:
        cell.border = BOX


def write_survey_summary(warehouse, fiscal_year: int, prefecture_code: str, out_dir: Path) -> Path:
    """Write the prefecture's summary workbook for ``fiscal_year`` into ``out_dir``; returns its path."""
    pref = load_jurisdiction().get(prefecture_code)
    template = load_survey_template(fiscal_year=fiscal_year)
    progs = programs(template)
    units = load_municipalities().of_prefecture(prefecture_code)
    now = survey_status(warehouse, fiscal_year, prefecture_code, survey=KIND)
    last = survey_status(warehouse, fiscal_year - 1, prefecture_code, survey=KIND)
    for rows in (now, last):
        for code, by_prog in rows.items():
            if any(r["prefecture_code"] != prefecture_code for r in by_prog.values()):
                raise ScopeError(f"municipality {code} of another prefecture in the summary of {prefecture_code}")
    if not now:
        raise LookupError(f"no survey return is loaded for {prefecture_code} in fiscal year {fiscal_year}")
    names = {m.code: m.name for m in units}
    codes = [m.code for m in units] + sorted(c for c in now if c not in names)
    has_last = bool(last)

    def running(rows, code, pid) -> bool:
        r = rows.get(code, {}).get(pid)
        return bool(r and r["implemented"])

    wb = Workbook()
    ws = wb.active
    ws.title = "集計"
    ws["A1"] = f"{pref.name_ja} 地域支援事業 実施状況（{fiscal_year}年度／令和{fiscal_year - 2018}年度）"
    ws["A1"].font = TITLE_FONT
    ws["A2"] = f"提出された調査票の集計（全市町村数は{pref.name_ja}の市町村数。政令指定都市は市として1団体）"
    labels = ["事業", "実施市町村数", "全市町村数", "実施率（%）"]
    if has_last:
        labels += ["前年度実施市町村数", "増減", STARTED, STOPPED]
    _header(ws, 4, labels, [30, 14, 12, 12, 18, 10, 10, 10])
    changes: list[tuple[str, str, str]] = []
    for p in progs:
        done = sum(running(now, c, p.id) for c in codes)
        total = len(units)
        line = [p.name_ja, done, total, round(100 * done / total, 1) if total else None]
        if has_last:
            before = sum(running(last, c, p.id) for c in codes)
            started = [c for c in codes if running(now, c, p.id) and not running(last, c, p.id) and c in last]
            stopped = [c for c in codes if running(last, c, p.id) and not running(now, c, p.id)]
            changes += [(p.name_ja, STARTED, c) for c in started] + [(p.name_ja, STOPPED, c) for c in stopped]
            line += [before, done - before, len(started), len(stopped)]
        _row(ws, line)
        ws.cell(row=ws.max_row, column=4).number_format = "0.0"
    if not has_last:
        ws.cell(row=ws.max_row + 2, column=1, value=NO_LAST_YEAR)

    ws = wb.create_sheet("未実施市町村")
    _header(ws, 1, ["事業", "市町村コード", "市町村名"], [30, 14, 20])
    for p in progs:
        for c in codes:
            if not running(now, c, p.id):
                _row(ws, [p.name_ja, c, names.get(c, "")])

    ws = wb.create_sheet("前年度からの変化")
    if has_last:
        _header(ws, 1, ["事業", "変化", "市町村コード", "市町村名"], [30, 10, 14, 20])
        for prog, change, c in changes:
            _row(ws, [prog, change, c, names.get(c, "")])
    else:
        ws["A1"] = NO_LAST_YEAR

    ws = wb.create_sheet("市町村別")
    # 都道府県コード on every row: the mail layer verifies at send time that each row is this prefecture's.
    labels = ["都道府県コード", "市町村コード", "市町村名"]
    for p in progs:
        labels += [f"{p.name_ja}\n実施状況", f"{p.name_ja}\n開始年月", f"{p.name_ja}\n回数・件数"]
    _header(ws, 1, labels, [10, 14, 16] + [14] * (3 * len(progs)))
    ws.row_dimensions[1].height = 48
    for c in codes:
        line: list = [prefecture_code, c, names.get(c, "")]
        for p in progs:
            r = now.get(c, {}).get(p.id)
            if r is None:
                line += ["未回答", None, None]
            else:
                line += ["実施" if r["implemented"] else "未実施", r["started"], r["count"]]
        _row(ws, line)
        for i in range(len(progs)):
            ws.cell(row=ws.max_row, column=5 + 3 * i).number_format = 'yyyy"年"m"月"'
    wb.active = 0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return save_deterministic(wb, out / summary_name(fiscal_year, prefecture_code))
