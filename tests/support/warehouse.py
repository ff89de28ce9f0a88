"""Test helpers for the warehouse: a Warehouse on SQLite or on a throw-away PostgreSQL schema, sample rows.

Test-only, so they live under tests/ and are not installed with the package.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tsunagu.warehouse.db import Warehouse


@contextmanager
def postgres_schema_url(base_url: str) -> Generator[str, None, None]:
    """A fresh schema on ``base_url`` (dropped afterwards); yields a URL whose search_path is that schema."""
    schema = f"tsunagu_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def make_warehouse(kind: str, tmp_path: Path, pg_url: str | None = None) -> Generator[Warehouse, None, None]:
    if kind == "sqlite":
        wh = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
        wh.create_schema()
        try:
            yield wh
        finally:
            wh.dispose()
        return
    assert pg_url, "pg_url is required for postgresql"
    with postgres_schema_url(pg_url) as url:
        wh = Warehouse(url)
        wh.create_schema()
        try:
            yield wh
        finally:
            wh.dispose()


def sample_record(prefecture_code: str, n: int, *, fiscal_year: int = 2025, **overrides) -> dict:
    """One plausible 様式11の3 record (canonical field ids + lineage) for institution number n."""
    import datetime as dt
    from decimal import Decimal

    number = f"{n:07d}"
    deaths = (n % 3, n % 2, 1, 0)
    house, home, nursing = 10 + n, 40 + 2 * n, n % 5
    rec = {
        "fiscal_year": fiscal_year,
        "report_date": dt.date(fiscal_year, 8, 1),
        "prefecture_code": prefecture_code,
        "institution_number": number,
        "institution_code": f"{prefecture_code}1{number}",
        "institution_name": f"テスト診療所{n}",
        "address": f"テスト市{n}番地",
        "municipality_code": "082015",
        "facility_type": "clinic" if n % 4 else "hospital",
        "notification_class": ("enhanced_single", "enhanced_network", "standard")[n % 3],
        "avg_care_months": Decimal("12.5") + n,
        "total_patients": 50 + n,
        "deaths_total": sum(deaths),
        "deaths_home": deaths[0],
        "deaths_other_residence": deaths[1],
        "deaths_partner_hospital": deaths[2],
        "deaths_other_hospital": deaths[3],
        "severe_children": 0,
        "visits_total": house + home + nursing,
        "house_calls": house,
        "emergency_house_calls": 3,
        "home_visits": home,
        "nursing_visits": nursing,
        "month_patients_all": 40,
        "month_patients_home": 30,
        "month_home_ratio": Decimal("75.0"),
        "fulltime_doctors": 3,
        "partner_institutions": 2 if n % 3 == 1 else None,
        "source_sheet": "集計表",
        "source_row": 4 + n,
    }
    rec.update(overrides)
    return rec


def add_active_request(warehouse: Warehouse, prefecture_code: str, fiscal_year: int, email: str,
                       cc: tuple[str, ...] = (), *, department: str = "地域包括ケア推進担当",
                       contact_name: str = "担当者", request_date=None) -> int:
    """Record a valid request form for a prefecture, as an accepted 情報提供依頼書 would; returns its submission id."""
    import datetime as dt
    import hashlib

    from tsunagu.warehouse.requests import load_request

    sha = hashlib.sha256(f"{prefecture_code}:{fiscal_year}:{email}:{cc}:{department}".encode()).hexdigest()
    sid, _ = warehouse.register_submission(
        kind="request_form", sha256=sha, original_name="情報提供依頼書.xlsx", sender=prefecture_code,
        fiscal_year=fiscal_year,
    )
    load_request(warehouse, sid, {
        "prefecture_code": prefecture_code, "fiscal_year": fiscal_year, "dataset": "home_care_report",
        "department": department, "contact_name": contact_name, "email": email, "cc": list(cc),
        "phone": "000-000-0000", "purpose": "市町村への情報提供",
        "request_date": request_date or dt.date(fiscal_year, 10, 1), "terms_accepted": True,
    })
    warehouse.record_outcome(sid, "accepted", [], rows=1)
    return sid
