"""様式11の3 reports: the current rows per (fiscal year, prefecture) and the rows they replaced.

A later accepted file of the same prefecture and year replaces the current rows in one transaction;
the replaced rows move to ``home_care_reports_history`` so that nothing received is ever lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.warehouse.values import as_date, as_decimal, as_int, as_text, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

KIND = "home_care_report"

# Canonical field ids of 様式11の3 (design.md §2.1), in the order of the form.
HOME_CARE_FIELDS: tuple[str, ...] = (
    "fiscal_year", "report_date", "prefecture_code", "institution_number", "institution_code",
    "institution_name", "address", "municipality_code", "facility_type", "notification_class",
    "avg_care_months", "total_patients", "deaths_total", "deaths_home", "deaths_other_residence",
    "deaths_partner_hospital", "deaths_other_hospital", "severe_children", "visits_total", "house_calls",
    "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all", "month_patients_home",
    "month_home_ratio", "fulltime_doctors", "partner_institutions",
)
LINEAGE_COLUMNS: tuple[str, ...] = ("submission_id", "source_sha256", "source_sheet", "source_row", "loaded_at")


@dataclass(frozen=True)
class LoadResult:
    """What ``load_home_care_report`` did."""

    submission_id: int
    loaded: bool  # rows were written
    rows: int  # rows now current from this submission (0 when not loaded)
    superseded: tuple[int, ...] = ()  # earlier submissions replaced by this one
    already_loaded: bool = False  # this submission had been loaded before: nothing done
    newer_submission: int | None = None  # a newer accepted submission is current: nothing overwritten

    @property
    def stale(self) -> bool:
        return self.newer_submission is not None

    def __bool__(self) -> bool:  # falsy when a newer file prevented the load
        return not self.stale


def load_home_care_report(
    warehouse: Warehouse, submission_id: int, prefecture_code: str, fiscal_year: int,
    records: Sequence[Mapping[str, Any]],
) -> LoadResult:
    """Make ``records`` the current 様式11の3 rows of (prefecture, fiscal year), in one transaction.

    The rows this replaces are copied to ``home_care_reports_history`` (superseded_by = this
    submission) and their submissions are marked ``superseded``. Loading the same submission again
    does nothing. If a newer submission is already current (a forced re-run of an older file),
    nothing is overwritten and ``LoadResult.newer_submission`` says which one.
    """
    s, cur = warehouse.table("submissions"), warehouse.table("home_care_reports")
    hist = warehouse.table("home_care_reports_history")
    with warehouse.transaction(lock=f"home_care:{fiscal_year}:{prefecture_code}") as conn:
        sub = conn.execute(sa.select(s).where(s.c.id == submission_id)).mappings().first()
        if sub is None:
            raise KeyError(f"no submission {submission_id}")
        if sub["kind"] != KIND:
            raise ValueError(f"submission {submission_id} is a {sub['kind']}, not a {KIND}")
        if sub["sender"] != prefecture_code or sub["fiscal_year"] != fiscal_year:
            raise ValueError(
                f"submission {submission_id} is for {sub['sender']}/{sub['fiscal_year']}, "
                f"not {prefecture_code}/{fiscal_year}"
            )
        if sub["status"] in ("rejected", "unreadable"):
            raise ValueError(f"submission {submission_id} is {sub['status']}: it cannot be loaded")
        if sub["loaded_at"] is not None:
            return LoadResult(submission_id, loaded=False, rows=0, already_loaded=True,
                              newer_submission=sub["superseded_by"])
        scope = (s.c.kind == KIND) & (s.c.sender == prefecture_code) & (s.c.fiscal_year == fiscal_year)
        newer = conn.execute(
            sa.select(sa.func.max(s.c.id)).where(scope, s.c.loaded_at.is_not(None), s.c.id > submission_id)
        ).scalar()
        now = utcnow()
        if newer is not None:
            conn.execute(s.update().where(s.c.id == submission_id).values(
                status="superseded", superseded_by=newer, loaded_at=now))
            return LoadResult(submission_id, loaded=False, rows=0, newer_submission=int(newer))

        rows = _report_rows(cur, sub, prefecture_code, fiscal_year, records, now)
        here = (cur.c.fiscal_year == fiscal_year) & (cur.c.prefecture_code == prefecture_code)
        cols = [c.name for c in cur.columns]
        conn.execute(hist.insert().from_select(
            [*cols, "superseded_by", "superseded_at"],
            sa.select(*[cur.c[c] for c in cols],
                      sa.literal(submission_id, sa.Integer).label("superseded_by"),
                      sa.literal(now, sa.DateTime).label("superseded_at")).where(here),
        ))
        conn.execute(cur.delete().where(here))
        if rows:
            conn.execute(cur.insert(), rows)
        earlier = [int(i) for i in conn.execute(
            sa.select(s.c.id).where(scope, s.c.id != submission_id, s.c.loaded_at.is_not(None),
                                    s.c.status != "superseded").order_by(s.c.id)
        ).scalars()]
        if earlier:
            conn.execute(s.update().where(s.c.id.in_(earlier)).values(status="superseded",
                                                                       superseded_by=submission_id))
        conn.execute(s.update().where(s.c.id == submission_id).values(
            loaded_at=now, status="accepted", rows=len(rows)))
        return LoadResult(submission_id, loaded=True, rows=len(rows), superseded=tuple(earlier))


def _report_rows(cur: sa.Table, sub: Mapping[str, Any], pref: str, fy: int, records: Sequence[Mapping[str, Any]],
                 now: dt.datetime) -> list[dict[str, Any]]:
    """Rows typed by the reflected column types, so that both dialects store the same values."""
    out, seen = [], {}
    for rec in records:
        sheet = rec.get("source_sheet", rec.get("sheet"))
        row_no = rec.get("source_row", rec.get("row"))
        where = f"{sheet}!{row_no}"
        rp = rec.get("prefecture_code") or pref
        if rp != pref:
            raise ValueError(f"record {where} is for prefecture {rp}, not {pref}")
        ry = rec.get("fiscal_year") or fy
        if int(ry) != fy:
            raise ValueError(f"record {where} is for fiscal year {ry}, not {fy}")
        code = as_text(rec.get("institution_code"))
        if not code:
            raise ValueError(f"record {where} has no institution_code")
        if code in seen:
            raise ValueError(f"institution {code} appears twice (rows {seen[code]} and {where})")
        seen[code] = where
        row: dict[str, Any] = {}
        for fid in HOME_CARE_FIELDS:
            v = rec.get(fid)
            typ = cur.c[fid].type
            if isinstance(typ, sa.Date):
                row[fid] = as_date(v)
            elif isinstance(typ, sa.Numeric) and not isinstance(typ, (sa.Integer, sa.Float)):
                row[fid] = as_decimal(v)
            elif isinstance(typ, sa.Integer):
                row[fid] = as_int(v)
            else:
                row[fid] = as_text(v)
        row.update(fiscal_year=fy, prefecture_code=pref, institution_code=code, submission_id=sub["id"],
                   source_sha256=sub["sha256"], source_sheet=as_text(sheet), source_row=as_int(row_no), loaded_at=now)
        out.append(row)
    return out


def home_care_reports(
    warehouse: Warehouse, fiscal_year: int, prefecture_code: str | None = None,
) -> list[dict[str, Any]]:
    """Current rows (canonical fields + lineage), ordered by institution_code."""
    cur = warehouse.table("home_care_reports")
    q = sa.select(cur).where(cur.c.fiscal_year == fiscal_year).order_by(cur.c.institution_code)
    if prefecture_code is not None:
        q = q.where(cur.c.prefecture_code == prefecture_code)
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def home_care_history(
    warehouse: Warehouse, fiscal_year: int, prefecture_code: str | None = None,
) -> list[dict[str, Any]]:
    h = warehouse.table("home_care_reports_history")
    q = sa.select(h).where(h.c.fiscal_year == fiscal_year).order_by(h.c.superseded_by, h.c.institution_code)
    if prefecture_code is not None:
        q = q.where(h.c.prefecture_code == prefecture_code)
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def previous_year_values(warehouse: Warehouse, fiscal_year: int, prefecture_code: str) -> dict[str, dict[str, Any]]:
    """The current rows of ``fiscal_year - 1`` for the prefecture, by institution_code (for YoY checks)."""
    return {r["institution_code"]: r for r in home_care_reports(warehouse, fiscal_year - 1, prefecture_code)}


def report_prefectures(warehouse: Warehouse, fiscal_year: int) -> list[str]:
    cur = warehouse.table("home_care_reports")
    q = sa.select(cur.c.prefecture_code).where(cur.c.fiscal_year == fiscal_year).distinct()
    with warehouse.read() as conn:
        return sorted(conn.execute(q).scalars())


def report_scopes(warehouse: Warehouse) -> list[tuple[int, str]]:
    """Every (fiscal_year, prefecture_code) that has current 様式11の3 rows."""
    cur = warehouse.table("home_care_reports")
    q = sa.select(cur.c.fiscal_year, cur.c.prefecture_code).distinct()
    with warehouse.read() as conn:
        return sorted((int(fy), pref) for fy, pref in conn.execute(q))


def report_sources(warehouse: Warehouse, fiscal_year: int, prefecture_code: str) -> list[dict[str, Any]]:
    """The submissions whose rows are current for (fiscal year, prefecture), by sha256."""
    cur, s = warehouse.table("home_care_reports"), warehouse.table("submissions")
    q = (
        sa.select(s.c.sha256, s.c.original_name, s.c.template_version).distinct()
        .join(cur, cur.c.submission_id == s.c.id)
        .where(cur.c.fiscal_year == fiscal_year, cur.c.prefecture_code == prefecture_code)
        .order_by(s.c.sha256)
    )
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
