"""Rebuild the bundled grant demo inputs (include/demo/grants/): 地域支援事業交付金, 令和6年度, 埼玉 and 山梨.

What arrives, day by day (include/demo/grants/<day>/grants/community_support/<stage>/2024/<pref>/…),
while `make demo` walks the program's calendar (part 3):
- 2024-09-19 山梨 sends its 事前協議 for its 27 insurers: 甲府市's 総合事業 選定額 (600,000,000 yen) is
  above its 上限額 (580,000,000 yen), so the file is rejected.
- 2024-09-20 埼玉 sends its 事前協議 for 62 of its 63 insurers: 小鹿野町 (113654) is late.
- 2024-09-25 the day after the deadline: both get a reminder naming who is still missing.
- 2024-09-27 ケア課 records the approved 個別協議 for 甲府市 (approvals.yaml) and reprocesses 山梨's file:
  now accepted.
- 2024-10-02 埼玉 sends 小鹿野町's rows: the prefecture is complete.
- 2024-11-29 the amounts of the 事前協議 are notified; 2025-02 the 交付申請, decided 2025-03-18.
- 2025-06 the 実績報告: 山梨's actual costs came in under plan for three insurers, so their 確定額 is
  below the 交付決定額 and the difference is a 返還額 (notified 2026-01-15).
The amounts are made up (deterministic); the insurers are the real ones of the municipality master.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import openpyxl

from tsunagu.grants import money
from tsunagu.grants.config import load_program
from tsunagu.grants.insurers import load_insurers
from tsunagu.intake.templates import load_template
from tsunagu.validate.reports import save_deterministic

DEMO = Path(__file__).resolve().parents[1] / "include" / "demo" / "grants"
PROGRAM = "community_support"
FISCAL_YEAR = 2024
KOFU, OGANO = "192013", "113654"  # 甲府市 (cap breach), 小鹿野町 (late)
REFUNDS = {"192021": Fraction(82, 100), "192047": Fraction(9, 10), "192088": Fraction(3, 4)}  # 富士吉田市, 都留市, 南アルプス市: actuals / plan
CATEGORY_JA = {
    "general": "介護予防・日常生活支援総合事業",
    "comprehensive": "包括的支援事業（地域包括支援センターの運営）及び任意事業",
    "social_security": "包括的支援事業（社会保障充実分）",
}
RATE_TEXT = {"general": "20%", "comprehensive": "38.5%", "social_security": "38.5%"}


def plan(insurer: Any, index: int, item: str) -> tuple[int, int, int]:
    """(総事業費, 寄附金等, 基準額) of one insurer and 事業区分: made-up, deterministic, a few million yen."""
    scale = {"general": 41_300_000, "comprehensive": 27_900_000, "social_security": 6_200_000}[item]
    total = scale + (index * 7_919_000 + int(insurer.number[:5]) * 13) % (scale // 2)
    donations = (index * 37_000) % 400_000
    base = total - donations + (50_000_000 if item != "general" else 20_000_000)  # 基準額 above the need
    if insurer.number == KOFU and item == "general":
        total, donations, base = 620_000_000, 0, 600_000_000  # above its 上限額: needs a 個別協議
    return total, donations, base


def rows(pref: str, stage: str, *, only: set[str] | None = None, skip: set[str] = frozenset()) -> list[dict]:
    rates = load_program(PROGRAM).rates(FISCAL_YEAR)
    out = []
    for i, insurer in enumerate(load_insurers().insurers(pref)):
        if insurer.number in skip or (only is not None and insurer.number not in only):
            continue
        for item in ("general", "comprehensive", "social_security"):
            total, donations, base = plan(insurer, i, item)
            planned = money.community_support_row(total, donations, base, rates[item])
            row = {"insurer_number": insurer.number, "insurer_name": insurer.name, "category": CATEGORY_JA[item],
                   "rate": RATE_TEXT[item]}
            if stage == "actual_report":
                row["decided"] = planned["grant"]
                if insurer.number in REFUNDS:  # actual costs under plan: a 返還
                    total = int(total * REFUNDS[insurer.number]) // 1000 * 1000
            computed = money.community_support_row(total, donations, base, rates[item])
            row.update(total_cost=total, donations=donations, difference=computed["difference"], base_amount=base,
                       selected=computed["selected"], grant=computed["grant"])
            if stage == "actual_report":
                row["confirmed"], row["refund"] = money.settle(row["decided"], computed["grant"])
            out.append(row)
    return out


def write(day: str, stage: str, pref: str, name: str, data: list[dict]) -> Path:
    return write_file(DEMO / day / "grants" / PROGRAM / stage / str(FISCAL_YEAR) / pref / name, stage, data)


def write_file(path: Path, stage: str, data: list[dict]) -> Path:
    """A consolidated sheet as a prefecture sends it: a title row, a blank row, the header by the template's labels."""
    template = load_template(f"grant_{PROGRAM}_{stage}", fiscal_year=FISCAL_YEAR)
    fields = [f for f in template.fields if any(f.id in r for r in data)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "保険者別一覧"
    ws.append([f"令和6年度 {template.title_ja}"])
    ws.append([])
    ws.append([f.label_ja for f in fields])
    for r in data:
        ws.append([r.get(f.id) for f in fields])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_deterministic(wb, path)  # byte-identical on every rebuild
    return path


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    write("2024-09-19", "pre_consultation", "19", "山梨県_地域支援事業交付金_事前協議.xlsx", rows("19", "pre_consultation"))
    write("2024-09-20", "pre_consultation", "11", "埼玉県_地域支援事業交付金_事前協議.xlsx",
          rows("11", "pre_consultation", skip={OGANO}))
    write("2024-10-02", "pre_consultation", "11", "埼玉県_事前協議_小鹿野町_追加.xlsx",
          rows("11", "pre_consultation", only={OGANO}))
    for pref, name in (("19", "山梨県"), ("11", "埼玉県")):
        write("2025-02-21", "application", pref, f"{name}_地域支援事業交付金_交付申請.xlsx", rows(pref, "application"))
        write("2025-06-20", "actual_report", pref, f"{name}_地域支援事業交付金_実績報告.xlsx",
              rows(pref, "actual_report"))
    (DEMO / "approvals.yaml").write_text(
        "# 個別協議: approvals ケア課 records during the grant walk (tsunagu grants approve-cap), and the\n"
        "# files it then reprocesses. Amounts in yen.\n"
        "- day: 2024-09-27\n"
        f"  program: {PROGRAM}\n  fiscal_year: {FISCAL_YEAR}\n  filer: \"{KOFU}\"  # 甲府市\n"
        "  item: general\n  amount: 600000000\n  approver: 地域包括ケア推進課長\n"
        "  note: 上限超過に係る個別協議（承認）\n"
        "  reprocess: grants/community_support/pre_consultation/2024/19/山梨県_地域支援事業交付金_事前協議.xlsx\n",
        encoding="utf-8",
    )
    for p in sorted(DEMO.rglob("*.xlsx")):
        print(p.relative_to(DEMO))


if __name__ == "__main__":
    main()
