"""Helpers of the distribution-cycle tests: demo inputs, request forms, a corrected file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tsunagu.settings import REPO_ROOT

DEMO = REPO_ROOT / "include" / "demo"
JST = dt.timezone(dt.timedelta(hours=9))
SAITAMA_CSV = DEMO / "home_care_reports" / "2025" / "11" / "埼玉_定例報告_R7.csv"


def ingest_registers(settings, warehouse, codes=("09", "11", "19")) -> None:
    from tsunagu.pipeline import ingest_registers as ingest

    paths = sorted(p for p in (DEMO / "register").iterdir() if p.name[:2] in codes)
    outcomes = ingest(paths, settings=settings, warehouse=warehouse)
    assert {o.status for o in outcomes} == {"accepted"}


def ingest_report(settings, warehouse, path: Path, pref: str, fiscal_year: int = 2025) -> str:
    from tsunagu.flows import get_flow

    return get_flow("home_care_report").ingest(Path(path), prefecture_code=pref, fiscal_year=fiscal_year, settings=settings,
                                   warehouse=warehouse).status


def add_request(warehouse, pref: str, *, fiscal_year: int = 2025, email: str | None = None, cc=(),
                department: str = "福祉部 地域包括ケア課", contact_name: str = "山田 花子") -> int:
    """An accepted request form (情報提供依頼書), by default to the prefecture's own domain."""
    from tests.support.warehouse import add_active_request
    from tsunagu.jurisdiction import load_jurisdiction

    email = email or f"houkatsu-{pref}@{load_jurisdiction().get(pref).email_domains[0]}"
    return add_active_request(warehouse, pref, fiscal_year, email, tuple(cc), department=department,
                              contact_name=contact_name)


def corrected_saitama_csv(folder: Path) -> Path:
    """The 埼玉 file again with two corrected values (平均診療期間 of 共済病院, 超重症児 of 清水医院)."""
    text = SAITAMA_CSV.read_bytes().decode("cp932")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    sep = "\r\n" if "\r\n" in text else "\n"
    assert "共済病院,さいたま市緑区原山３－１５－３１,在支病,支援病２,19.8," in lines[1]
    lines[1] = lines[1].replace("支援病２,19.8,", "支援病２,21.5,")
    assert lines[3].startswith("令和7年8月1日,0104836,清水医院,") and ",4,2,2,\"2,591\"" in lines[3]
    lines[3] = lines[3].replace(",4,2,2,\"2,591\"", ",4,2,3,\"2,591\"")
    out = folder / "埼玉_定例報告_R7_訂正.csv"
    out.write_bytes(sep.join(lines).encode("cp932"))
    return out
