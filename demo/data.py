"""Synthetic office-tabulated 様式11の3 files, built from the real register roster.

The demo and the tests use these: real institution numbers and names from the
bureau's registers, plausible figures that satisfy the cross-field rules, and
the layout quirks real offices send (title rows, two-row headers, subtotal rows,
full-width digits, CP932 CSV, …).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

from tsunagu.model import RosterEntry

# (section, item) per field, as offices lay out the form's columns.
COLUMNS: list[tuple[str, str, str]] = [
    ("institution_number", "医療機関番号", ""),
    ("institution_name", "医療機関名称", ""),
    ("address", "所在地", ""),
    ("facility_type", "区分", ""),
    ("notification_class", "受理記号", ""),
    ("avg_care_months", "平均診療期間（月）", ""),
    ("total_patients", "合計診療患者数", ""),
    ("deaths_total", "死亡患者数", "合計"),
    ("deaths_home", "死亡患者数", "① 医療機関以外・自宅"),
    ("deaths_other_residence", "死亡患者数", "② 医療機関以外・自宅以外"),
    ("deaths_partner_hospital", "死亡患者数", "③ 医療機関・連携医療機関"),
    ("deaths_other_hospital", "死亡患者数", "④ 医療機関・連携医療機関以外"),
    ("severe_children", "超重症児・準超重症児の患者数", ""),
    ("visits_total", "訪問診療等の実施回数", "合計"),
    ("house_calls", "訪問診療等の実施回数", "① 往診"),
    ("emergency_house_calls", "訪問診療等の実施回数", "うち緊急の往診"),
    ("home_visits", "訪問診療等の実施回数", "② 訪問診療"),
    ("nursing_visits", "訪問診療等の実施回数", "③ 訪問看護"),
    ("month_patients_all", "直近1月", "① 初診・再診・往診・訪問診療を実施した患者数"),
    ("month_patients_home", "直近1月", "② 往診又は訪問診療を実施した患者数"),
    ("month_home_ratio", "直近1月", "③ ②／①（％）"),
    ("fulltime_doctors", "在宅医療を担当する常勤の医師数", ""),
    ("partner_institutions", "連携する保険医療機関数", ""),
]
FACILITY_JA = {"clinic": "在支診", "hospital": "在支病"}


def synth_rows(roster: Iterable[RosterEntry], fiscal_year: int, seed: int = 0) -> list[dict]:
    """Figures that satisfy every cross-field rule of design.md §2.1, deterministic per seed.

    An institution keeps its profile across years (the random stream is seeded by
    its code) and grows 10% a year, so consecutive years do not trip the
    year-over-year warning by accident.
    """
    rows = []
    growth = 1 + 0.1 * (fiscal_year - 2024)
    for entry in sorted(roster, key=lambda e: e.institution_code):
        rng = random.Random(f"{seed}:{entry.institution_code}")

        def grow(n: int) -> int:
            return int(round(n * growth))

        big = entry.notification_class != "standard"
        deaths = [rng.randint(4, 20) if big else rng.randint(0, 4)] + [rng.randint(0, 5) for _ in range(3)]
        total = max(grow(rng.randint(40, 400) if big else rng.randint(3, 120)), sum(deaths))
        house_calls = grow(rng.randint(12, 300) if big else rng.randint(0, 60))
        emergency = rng.randint(min(10, house_calls), house_calls) if big else rng.randint(0, house_calls)
        home_visits, nursing = grow(rng.randint(0, 3000)), grow(rng.randint(0, 400))
        month_all = grow(rng.randint(10, 300))
        month_home = rng.randint(0, month_all)
        network = entry.notification_class == "enhanced_network"
        rows.append({
            "institution_number": entry.institution_number,
            "institution_name": entry.institution_name,
            "address": entry.address,
            "facility_type": FACILITY_JA[entry.facility_type],
            "notification_class": entry.notification_symbol,
            "avg_care_months": round(rng.uniform(1, 60), 1),
            "total_patients": total,
            "deaths_total": sum(deaths),
            "deaths_home": deaths[0],
            "deaths_other_residence": deaths[1],
            "deaths_partner_hospital": deaths[2],
            "deaths_other_hospital": deaths[3],
            "severe_children": rng.choice([0, 0, 0, 1, 2]),
            "visits_total": house_calls + home_visits + nursing,
            "house_calls": house_calls,
            "emergency_house_calls": emergency,
            "home_visits": home_visits,
            "nursing_visits": nursing,
            "month_patients_all": month_all,
            "month_patients_home": month_home,
            "month_home_ratio": round(month_home / month_all * 100, 1),
            "fulltime_doctors": rng.randint(3, 6) if entry.notification_class == "enhanced_single" else (
                rng.randint(1, 3) if network else None),
            "partner_institutions": rng.randint(1, 9) if network else None,
        })
    return rows


def _zenkaku(value: object) -> str:
    return str(value).translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def write_two_row_xlsx(rows: list[dict], path: Path, *, title: str, as_of: str, subtotal: bool = True) -> Path:
    """Title rows, a merged two-row header, a blank row mid-table and a 合計 row at the end."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "集計表"
    ws.append([title])
    ws.append([as_of])
    ws.append([])
    header_top, header_item = 4, 5
    col = 2
    ws.cell(header_top, 1, "項番")
    ws.merge_cells(start_row=header_top, start_column=1, end_row=header_item, end_column=1)
    sections: dict[str, list[int]] = {}
    for _field, section, item in COLUMNS:
        if item:
            sections.setdefault(section, []).append(col)
            ws.cell(header_item, col, item)
        else:
            ws.cell(header_top, col, section.replace("（", "\n（"))  # labels with line breaks
            ws.merge_cells(start_row=header_top, start_column=col, end_row=header_item, end_column=col)
        col += 1
    for section, cols in sections.items():
        ws.cell(header_top, cols[0], section)
        ws.merge_cells(start_row=header_top, start_column=cols[0], end_row=header_top, end_column=cols[-1])
    ws.cell(header_top, col, "備考")  # an extra column the template does not know
    for n, row in enumerate(rows, start=1):
        values = [n] + [row[f] for f, _, _ in COLUMNS] + [""]
        # Institution numbers typed as numbers: leading zeros are lost.
        values[1] = int(values[1]) if n % 3 == 0 else values[1]
        ws.append(values)
        if n == len(rows) // 2:
            ws.append([])
    if subtotal:
        total = ["合計", "", "", "", "", "", ""]
        total += [sum((r[f] or 0) for r in rows) for f, _, _ in COLUMNS[6:]]
        ws.append(total)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_flat_csv(rows: list[dict], path: Path, *, encoding: str = "cp932", as_of: dt.date | None = None) -> Path:
    """One header row with section-qualified labels; full-width digits, comma thousands, "－" for zero."""
    header = ["報告基準日"] + [f"{s}{i}" if i else s for _, s, i in COLUMNS]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for n, row in enumerate(rows):
            out = [f"令和{as_of.year - 2018}年{as_of.month}月{as_of.day}日" if as_of else ""]
            for f, _, _ in COLUMNS:
                value = row[f]
                if isinstance(value, int) and f != "institution_number":
                    if value == 0:
                        value = "－"
                    elif value >= 1000:
                        value = f"{value:,}"
                    elif n % 2:
                        value = _zenkaku(value)
                out.append("" if value is None else value)
            writer.writerow(out)
        if rows:
            writer.writerow(["", "", "小計"] + [""] * (len(COLUMNS) - 2))
    return path
