"""Rebuild the bundled demo inputs (include/demo/home_care_reports) from the bundled registers.

The story they tell (`make demo`):
- 栃木 (09): last year's file (FY2024) and this year's, a two-row-header workbook with
  title rows, a blank row, a 合計 row and institution numbers typed as numbers; one
  clinic's patient count jumps, which is flagged as a warning. A scanned PDF sent by
  mistake is quarantined as unreadable.
- 埼玉 (11): a CP932 CSV with full-width digits, comma thousands and "－" for zero.
- 山梨 (19): a first file with errors (a death sum that does not add up, a mistyped
  institution number, a row of another prefecture) is rejected with an annotated copy;
  the office's corrected file (訂正) is accepted.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from tsunagu.demo_data import synth_rows, write_flat_csv, write_two_row_xlsx
from tsunagu.intake.register import parse_register

DEMO = Path(__file__).resolve().parents[1] / "include" / "demo"
OUT = DEMO / "home_care_reports"


def roster(code: str):
    (path,) = DEMO.glob(f"register/{code}*.xlsx")
    return parse_register(path).roster


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    tochigi, saitama, yamanashi = roster("09"), roster("11"), roster("19")

    write_two_row_xlsx(
        synth_rows(tochigi, 2024), OUT / "2024/09/栃木_令和6年度_定例報告集計.xlsx",
        title="令和6年度 在宅療養支援診療所・病院 定例報告 集計表（栃木事務所）", as_of="令和6年8月1日現在",
    )
    rows = synth_rows(tochigi, 2025)
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
    write_two_row_xlsx(good, OUT / "2025/19/山梨_定例報告_R7_v2_訂正.xlsx", title=title, as_of="令和7年8月1日現在")
    for path in sorted(OUT.rglob("*.*")):
        print(path.relative_to(DEMO))


if __name__ == "__main__":
    main()
