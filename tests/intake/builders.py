"""Build the files offices send, in tmp_path, for the intake tests."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import openpyxl

# A complete single-row header in the 2024 form's labels (order of design.md §2.1).
FLAT_HEADER = [
    "医療機関番号", "医療機関名称", "所在地", "平均診療期間（月）", "合計診療患者数", "死亡患者数",
    "① 医療機関以外・自宅", "② 医療機関以外・自宅以外", "③ 医療機関・連携医療機関", "④ 医療機関・連携医療機関以外",
    "超重症児・準超重症児の患者数", "訪問診療等の実施回数", "① 往診", "うち緊急の往診", "② 訪問診療", "③ 訪問看護",
    "① 初診・再診・往診・訪問診療を実施した患者数", "② 往診又は訪問診療を実施した患者数", "③ ②／① (%)",
    "在宅医療を担当する常勤の医師数", "連携する保険医療機関数",
]
FLAT_FIELDS = [
    "institution_number", "institution_name", "address", "avg_care_months", "total_patients", "deaths_total",
    "deaths_home", "deaths_other_residence", "deaths_partner_hospital", "deaths_other_hospital", "severe_children",
    "visits_total", "house_calls", "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all",
    "month_patients_home", "month_home_ratio", "fulltime_doctors", "partner_institutions",
]


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str = "集計表",
    merges: Iterable[str] = (),
    before: dict[str, Sequence[Sequence[Any]]] | None = None,
) -> Path:
    """rows[0] is Excel row 1. `before` adds sheets in front (e.g. an explanation sheet)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, other in (before or {}).items():
        ws = wb.create_sheet(name)
        for r in other:
            ws.append(list(r))
    ws = wb.create_sheet(sheet)
    for r in rows:
        ws.append(list(r))
    for m in merges:
        ws.merge_cells(m)
    wb.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], encoding: str) -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def encrypted_xlsx(path: Path, password: str = "secret") -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(FLAT_HEADER)
    wb.save(plain)
    plain.seek(0)
    with path.open("wb") as out:
        OOXMLFile(plain).encrypt(password, out)
    return path


def zip_bomb(path: Path, declared: int = 64 * 1024 * 1024) -> Path:
    """An xlsx-shaped zip whose worksheet inflates to `declared` bytes of zeros (stored in ~64 KB)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        chunk = b"\0" * (1024 * 1024)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(declared // len(chunk)):
                member.write(chunk)
    return path


# -- valid institutions (for files that go on to validation) ------------------------------------------------


def valid_number(seq: int, pref: str = "08", score_table: str = "1") -> str:
    """A 医療機関番号 with the right check digit for the prefecture (design.md §3)."""
    from tsunagu.codes import luhn_check_digit

    six = f"01{seq:04d}"
    payload = six if pref in ("11", "12", "13", "14") else pref + score_table + six
    return six + str(luhn_check_digit(payload))


def clinic_row(seq: int, pref: str = "08", **changes: Any) -> list[Any]:
    """One institution in FLAT_HEADER order that passes every rule (standard class)."""
    values = {"institution_number": valid_number(seq, pref), "institution_name": f"水戸在宅クリニック{seq}",
              "address": f"水戸市三の丸{seq}-12-48", "avg_care_months": 14.5, "total_patients": 120, "deaths_total": 10,
              "deaths_home": 5, "deaths_other_residence": 2, "deaths_partner_hospital": 2, "deaths_other_hospital": 1,
              "severe_children": 0, "visits_total": 300, "house_calls": 40, "emergency_house_calls": 12,
              "home_visits": 250, "nursing_visits": 10, "month_patients_all": 90, "month_patients_home": 60,
              "month_home_ratio": 66.7, "fulltime_doctors": 3, "partner_institutions": 0, **changes}
    return [values[f] for f in FLAT_FIELDS]


def roster_of(numbers: Iterable[str], pref: str = "08") -> dict:
    """The register's 在支診 for these 医療機関番号 (all 従来型 clinics)."""
    from tsunagu.model import RosterEntry

    return {f"{pref}1{n}": RosterEntry(institution_code=f"{pref}1{n}", institution_number=n, prefecture_code=pref,
                                       institution_name=f"診療所{n}", facility_type="clinic",
                                       notification_class="standard", notification_symbol="支援診３")
            for n in numbers}
