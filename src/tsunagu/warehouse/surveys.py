"""Survey returns in the warehouse: current rows per (survey, fiscal year, municipality, program) + history.

A later accepted return of the same prefecture and year replaces the current rows in one
transaction; the replaced rows move to ``survey_returns_history`` (superseded_by = the new
submission) and their submissions are marked ``superseded``, exactly like 様式11の3 reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.warehouse.home_care import LoadResult
from tsunagu.warehouse.values import as_date, as_int, as_text, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

TABLE = "survey_returns"
HISTORY = "survey_returns_history"
KIND = "survey_return"


def load_survey_return(
    warehouse: Warehouse, submission_id: int, prefecture_code: str, fiscal_year: int,
    records: Sequence[Mapping[str, Any]], *, survey: str = KIND, template_version: str | None = None,
) -> LoadResult:
    """Make ``records`` (long: one per municipality and program) the current rows of (prefecture, year)."""
    s, cur, hist = warehouse.table("submissions"), warehouse.table(TABLE), warehouse.table(HISTORY)
    with warehouse.transaction(lock=f"survey:{survey}:{fiscal_year}:{prefecture_code}") as conn:
        sub = conn.execute(sa.select(s).where(s.c.id == submission_id)).mappings().first()
        if sub is None:
            raise KeyError(f"no submission {submission_id}")
        if sub["kind"] != KIND:
            raise ValueError(f"submission {submission_id} is a {sub['kind']}, not a {KIND}")
        if sub["sender"] != prefecture_code or sub["fiscal_year"] != fiscal_year:
            raise ValueError(f"submission {submission_id} is for {sub['sender']}/{sub['fiscal_year']}, "
                             f"not {prefecture_code}/{fiscal_year}")
        if sub["status"] in ("rejected", "unreadable"):
            raise ValueError(f"submission {submission_id} is {sub['status']}: it cannot be loaded")
        if sub["loaded_at"] is not None:
            return LoadResult(submission_id, loaded=False, rows=0, already_loaded=True,
                              newer_submission=sub["superseded_by"])
        scope = (s.c.kind == KIND) & (s.c.sender == prefecture_code) & (s.c.fiscal_year == fiscal_year)
        newer = conn.execute(sa.select(sa.func.max(s.c.id)).where(
            scope, s.c.loaded_at.is_not(None), s.c.id > submission_id)).scalar()
        now = utcnow()
        if newer is not None:
            conn.execute(s.update().where(s.c.id == submission_id).values(
                status="superseded", superseded_by=newer, loaded_at=now))
            return LoadResult(submission_id, loaded=False, rows=0, newer_submission=int(newer))
        rows, seen = [], set()
        for rec in records:
            key = (rec["municipality_code"], rec["program"])
            if rec.get("prefecture_code", prefecture_code) != prefecture_code:
                raise ValueError(f"record {key} is for prefecture {rec['prefecture_code']}, not {prefecture_code}")
            if key in seen:
                raise ValueError(f"municipality {key[0]} program {key[1]} appears twice")
            seen.add(key)
            rows.append({
                "survey": survey, "fiscal_year": fiscal_year, "prefecture_code": prefecture_code,
                "municipality_code": as_text(rec["municipality_code"]), "municipality_name": as_text(rec.get("municipality_name")),
                "program": rec["program"], "implemented": bool(rec["implemented"]), "started": as_date(rec.get("started")),
                "count": as_int(rec.get("count")), "template_version": template_version, "submission_id": submission_id,
                "source_sha256": sub["sha256"], "source_sheet": as_text(rec.get("source_sheet")),
                "source_row": as_int(rec.get("source_row")), "loaded_at": now,
            })
        here = (cur.c.survey == survey) & (cur.c.fiscal_year == fiscal_year) & (cur.c.prefecture_code == prefecture_code)
        cols = [c.name for c in cur.columns]
        conn.execute(hist.insert().from_select(
            [*cols, "superseded_by", "superseded_at"],
            sa.select(*[cur.c[c] for c in cols], sa.literal(submission_id, sa.Integer).label("superseded_by"),
                      sa.literal(now, sa.DateTime).label("superseded_at")).where(here),
        ))
        conn.execute(cur.delete().where(here))
        if rows:
            conn.execute(cur.insert(), rows)
        earlier = [int(i) for i in conn.execute(sa.select(s.c.id).where(
            scope, s.c.id != submission_id, s.c.loaded_at.is_not(None), s.c.status != "superseded").order_by(s.c.id)
        ).scalars()]
        if earlier:
            conn.execute(s.update().where(s.c.id.in_(earlier)).values(status="superseded", superseded_by=submission_id))
        conn.execute(s.update().where(s.c.id == submission_id).values(loaded_at=now, status="accepted"))
        return LoadResult(submission_id, loaded=True, rows=len(rows), superseded=tuple(earlier))


def survey_rows(
    warehouse: Warehouse, fiscal_year: int, prefecture_code: str | None = None, *, survey: str = KIND,
) -> list[dict[str, Any]]:
    """Current rows, ordered by municipality code and program."""
    cur = warehouse.table(TABLE)
    q = sa.select(cur).where(cur.c.survey == survey, cur.c.fiscal_year == fiscal_year)
    if prefecture_code is not None:
        q = q.where(cur.c.prefecture_code == prefecture_code)
    q = q.order_by(cur.c.municipality_code, cur.c.program)
    with warehouse.read() as conn:
        return [_normal(dict(r)) for r in conn.execute(q).mappings()]


def survey_history(
    warehouse: Warehouse, fiscal_year: int, prefecture_code: str | None = None, *, survey: str = KIND,
) -> list[dict[str, Any]]:
    h = warehouse.table(HISTORY)
    q = sa.select(h).where(h.c.survey == survey, h.c.fiscal_year == fiscal_year)
    if prefecture_code is not None:
        q = q.where(h.c.prefecture_code == prefecture_code)
    q = q.order_by(h.c.superseded_by, h.c.submission_id, h.c.municipality_code, h.c.program)
    with warehouse.read() as conn:
        return [_normal(dict(r)) for r in conn.execute(q).mappings()]


def survey_status(
    warehouse: Warehouse, fiscal_year: int, prefecture_code: str, *, survey: str = KIND,
) -> dict[str, dict[str, dict[str, Any]]]:
    """municipality code -> program -> row (current rows)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in survey_rows(warehouse, fiscal_year, prefecture_code, survey=survey):
        out.setdefault(r["municipality_code"], {})[r["program"]] = r
    return out


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    row["implemented"] = bool(row["implemented"])
    row["started"] = as_date(row["started"])
    return row
