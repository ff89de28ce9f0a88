"""Rebuild the bundled demo inputs (include/demo/home_care_reports and include/demo/cycle).

What is in the landing folders when the demo starts (`make demo`, part 1):
- 栃木 (09): last year's file (FY2024) and this year's, a two-row-header workbook with
  title rows, a blank row, a 合計 row and institution numbers typed as numbers; one
  clinic's patient count jumps, which is flagged as a warning. A scanned PDF sent by
  mistake is quarantined as unreadable.
- 埼玉 (11): a CP932 CSV with full-width digits, comma thousands and "－" for zero.
- 山梨 (19): a first file with errors (a death sum that does not add up, a mistyped
  institution number, emergency calls above house calls) is rejected with an annotated copy.

What arrives during the September–December cycle (part 2; include/demo/cycle/<day>/…):
- 2025-09-12 栃木 sends its request form (情報提供依頼書), filled in on the bureau's blank form.
- 2025-09-24 山梨 sends a form with a CC outside its official domain: rejected.
- 2025-09-26 山梨 sends the corrected form. 埼玉 never sends one.
- 2025-10-15 山梨 returns the 地域支援事業 survey.
- 2025-11-10 山梨's office finally sends its corrected file (after the deadline reminder).
- 2025-11-21 栃木's office sends a correction (訂正) after the data was delivered.
The operators' approvals are in include/demo/cycle/approvals.yaml.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from openpyxl import load_workbook

from demo.data import synth_rows, write_flat_csv, write_two_row_xlsx
from tsunagu.intake.register import parse_register
from tsunagu.settings import include_dir

DEMO = Path(__file__).resolve().parents[1] / "include" / "demo"
OUT = DEMO / "home_care_reports"
CYCLE = DEMO / "cycle"


def roster(code: str):
    (path,) = DEMO.glob(f"register/{code}*.xlsx")
    return parse_register(path).roster


def request_form(path: Path, values: dict[str, str]) -> Path:
    """The bureau's blank 情報提供依頼書, filled in as a prefecture would (values right of their labels)."""
    wb = load_workbook(include_dir() / "forms" / "情報提供依頼書_様式.xlsx")
    ws = wb.active
    for row in ws.iter_rows(min_col=1, max_col=1):
        if (label := row[0].value) in values:
            ws.cell(row=row[0].row, column=2, value=values[label])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def survey_return(path: Path, not_running: dict[int, set[str]]) -> Path:
    """The bureau's survey form for 山梨, filled in: every program runs except where listed."""
    wb = load_workbook(include_dir() / "forms" / "地域支援事業実施状況調査票_19_山梨県.xlsx")
    ws = wb.active
    for row in range(6, ws.max_row + 1):
        name = ws.cell(row, 2).value
        if not name:
            continue
        for program in range(5):
            col = 3 + program * 3
            running = name not in not_running.get(program, set())
            ws.cell(row, col, "実施" if running else "未実施")
            if running:
                ws.cell(row, col + 1, f"令和{(row + program) % 6 + 1}年4月")
                ws.cell(row, col + 2, (row * 7 + program * 3) % 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


TOCHIGI_FORM = {
    "都道府県名": "栃木県", "担当部署": "保健福祉部 高齢対策課 地域包括ケア推進班", "担当者名": "宇都宮 一郎",
    "メールアドレス": "utsunomiya-i@pref.tochigi.lg.jp", "CC": "koureitaisaku@pref.tochigi.lg.jp",
    "電話番号": "028-623-3048", "提供を希望するデータ": "在宅療養支援診療所・病院 定例報告", "対象年度": "令和7年度",
    "利用目的": "市町村への情報提供及び在宅医療・介護連携の推進", "依頼日": "令和7年9月11日", "利用規約への同意": "同意する",
}
YAMANASHI_FORM = {
    "都道府県名": "山梨県", "担当部署": "福祉保健部 健康長寿推進課", "担当者名": "甲斐 花子",
    "メールアドレス": "kai-hanako@pref.yamanashi.lg.jp", "CC": "kai.hanako.home@gmail.com",
    "電話番号": "055-223-1455", "提供を希望するデータ": "在宅療養支援診療所・病院 定例報告", "対象年度": "令和7年度",
    "利用目的": "市町村への情報提供", "依頼日": "令和7年9月22日", "利用規約への同意": "同意する",
}


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for day in [d for d in CYCLE.glob("2025-*") if d.is_dir()]:
        shutil.rmtree(day)
    tochigi, saitama, yamanashi = roster("09"), roster("11"), roster("19")

    write_two_row_xlsx(
        synth_rows(tochigi, 2024), OUT / "2024/09/栃木_令和6年度_定例報告集計.xlsx",
        title="令和6年度 在宅療養支援診療所・病院 定例報告 集計表（栃木事務所）", as_of="令和6年8月1日現在",
    )
    tochigi_2025 = rows = synth_rows(tochigi, 2025)
    rows[0] = {**rows[0], "total_patients": rows[0]["total_patients"] * 4}  # a jump worth a look
    write_two_row_xlsx(
        rows, OUT / "2025/09/栃木_令和7年度_定例報告集計.xlsx",
        title="令和7年度 在宅療養支援診療所・病院 定例報告 集計表（栃木事務所）", as_of="令和7年8月1日現在",
    )
    (OUT / "2025/09/栃木_集計表_スキャン.pdf").write_bytes(b"%PDF-1.4\n% scanned by the office copier\n%%EOF\n")

    write_flat_csv(synth_rows(saitama, 2025), OUT / "2025/11/埼玉_定例報告_R7.csv", encoding="cp932",
                   as_of=dt.date(2025, 8, 1))

    good = synth_rows(yamanashi, 2025)
    bad = [dict(r) for r in good]
    bad[2]["deaths_total"] += 1
    bad[5]["institution_number"] = bad[5]["institution_number"][:6] + str((int(bad[5]["institution_number"][6]) + 1) % 10)
    bad[7]["emergency_house_calls"] = bad[7]["house_calls"] + 3
    title = "令和7年度 在宅療養支援診療所・病院 定例報告 集計表（山梨事務所）"
    write_two_row_xlsx(bad, OUT / "2025/19/山梨_定例報告_R7_v1.xlsx", title=title, as_of="令和7年8月1日現在")

    # Part 2: what arrives during the cycle, by day.
    request_form(CYCLE / "2025-09-12/request_forms/2025/09/栃木県_情報提供依頼書.xlsx", TOCHIGI_FORM)
    request_form(CYCLE / "2025-09-24/request_forms/2025/19/山梨県_情報提供依頼書.xlsx", YAMANASHI_FORM)
    request_form(CYCLE / "2025-09-26/request_forms/2025/19/山梨県_情報提供依頼書_再提出.xlsx",
                 {**YAMANASHI_FORM, "CC": "chiiki-care@pref.yamanashi.lg.jp", "依頼日": "令和7年9月26日"})
    survey_return(CYCLE / "2025-10-15/survey_returns/2025/19/山梨県_地域支援事業実施状況.xlsx",
                  {1: {"早川町", "丹波山村"}, 3: {"小菅村"}})
    write_two_row_xlsx(good, CYCLE / "2025-11-10/home_care_reports/2025/19/山梨_定例報告_R7_v2_訂正.xlsx",
                       title=title, as_of="令和7年8月1日現在")
    corrected = [dict(r) for r in tochigi_2025]
    for r in corrected[3:5]:  # two clinics' house calls were mistyped by the office
        r["house_calls"] += 5
        r["visits_total"] += 5
    write_two_row_xlsx(corrected, CYCLE / "2025-11-21/home_care_reports/2025/09/栃木_令和7年度_定例報告集計_訂正.xlsx",
                       title="令和7年度 在宅療養支援診療所・病院 定例報告 集計表（栃木事務所）訂正版",
                       as_of="令和7年8月1日現在")
    for path in sorted(DEMO.rglob("*.*")):
        if "register" not in path.parts:
            print(path.relative_to(DEMO))


if __name__ == "__main__":
    main()
