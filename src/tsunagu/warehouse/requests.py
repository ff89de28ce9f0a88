"""Request forms (情報提供依頼書) in the warehouse: the active request per prefecture, year and dataset.

Only a prefecture with an active request receives data, and only at ``ActiveRequest.recipients``.
The latest accepted form (in order of receipt) of (prefecture, fiscal year, dataset) is active;
the ones before it stay in ``request_forms`` with status ``superseded``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.warehouse.values import as_date, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

TABLE = "request_forms"
KIND = "request_form"
DEFAULT_DATASET = "home_care_report"


@dataclass(frozen=True)
class ActiveRequest:
    prefecture_code: str
    fiscal_year: int
    dataset: str
    department: str
    contact_name: str
    email: str
    cc: tuple[str, ...]
    phone: str | None
    submission_id: int
    received_at: dt.datetime
    purpose: str | None = None
    request_date: dt.date | None = None
    status: str = "active"
    superseded_by: int | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        """The ONLY addresses this prefecture's data may be sent to: the contact, then the CCs."""
        return tuple(dict.fromkeys((self.email, *self.cc)))


@dataclass(frozen=True)
class RequestLoad:
    submission_id: int
    active: bool  # this form is now the active request
    superseded: tuple[int, ...] = ()  # earlier forms it replaced
    already_loaded: bool = False
    newer_submission: int | None = None  # a newer form is active (a forced re-run of an older one)


def _request(row: Mapping[str, Any]) -> ActiveRequest:
    return ActiveRequest(
        prefecture_code=row["prefecture_code"], fiscal_year=int(row["fiscal_year"]), dataset=row["dataset"],
        department=row["department"], contact_name=row["contact_name"], email=row["email"],
        cc=tuple(json.loads(row["cc"] or "[]")), phone=row["phone"], submission_id=int(row["submission_id"]),
        received_at=row["received_at"], purpose=row["purpose"], request_date=as_date(row["request_date"]),
        status=row["status"], superseded_by=row["superseded_by"],
    )


def load_request(warehouse: Warehouse, submission_id: int, record: Mapping[str, Any]) -> RequestLoad:
    """Store an accepted form and make it the active request of its scope (one transaction, idempotent)."""
    s, rf = warehouse.table("submissions"), warehouse.table(TABLE)
    pref, fy = str(record["prefecture_code"]), int(record["fiscal_year"])
    dataset = str(record.get("dataset") or DEFAULT_DATASET)
    if not record.get("terms_accepted"):
        raise ValueError("a request form without accepted terms cannot be loaded")
    with warehouse.transaction(lock=f"request:{pref}:{fy}:{dataset}") as conn:
        sub = conn.execute(sa.select(s).where(s.c.id == submission_id)).mappings().first()
        if sub is None:
            raise KeyError(f"no submission {submission_id}")
        if sub["kind"] != KIND:
            raise ValueError(f"submission {submission_id} is a {sub['kind']}, not a {KIND}")
        if sub["sender"] != pref:
            raise ValueError(f"submission {submission_id} was sent by {sub['sender']}, the form is for {pref}")
        existing = conn.execute(sa.select(rf).where(rf.c.submission_id == submission_id)).mappings().first()
        if existing is not None:
            return RequestLoad(submission_id, existing["status"] == "active", already_loaded=True,
                               newer_submission=existing["superseded_by"])
        scope = (rf.c.prefecture_code == pref) & (rf.c.fiscal_year == fy) & (rf.c.dataset == dataset)
        now = utcnow()
        newer = conn.execute(sa.select(sa.func.max(rf.c.submission_id)).where(
            scope, rf.c.submission_id > submission_id)).scalar()
        row = {
            "submission_id": submission_id, "prefecture_code": pref, "fiscal_year": fy, "dataset": dataset,
            "department": record["department"], "contact_name": record["contact_name"], "email": record["email"],
            "cc": json.dumps(list(record.get("cc") or ()), ensure_ascii=False), "phone": record.get("phone"),
            "purpose": record.get("purpose"), "request_date": as_date(record.get("request_date")),
            "terms_accepted": True, "source_sha256": sub["sha256"], "source_sheet": record.get("source_sheet"),
            "received_at": sub["received_at"], "loaded_at": now,
            "status": "superseded" if newer is not None else "active",
            "superseded_by": int(newer) if newer is not None else None,
            "superseded_at": now if newer is not None else None,
        }
        conn.execute(rf.insert().values(**row))
        if newer is not None:
            conn.execute(s.update().where(s.c.id == submission_id).values(
                status="superseded", superseded_by=int(newer), loaded_at=now))
            return RequestLoad(submission_id, False, newer_submission=int(newer))
        earlier = [int(i) for i in conn.execute(sa.select(rf.c.submission_id).where(
            scope, rf.c.submission_id != submission_id, rf.c.status == "active")).scalars()]
        if earlier:
            conn.execute(rf.update().where(rf.c.submission_id.in_(earlier)).values(
                status="superseded", superseded_by=submission_id, superseded_at=now))
            conn.execute(s.update().where(s.c.id.in_(earlier)).values(status="superseded", superseded_by=submission_id))
        conn.execute(s.update().where(s.c.id == submission_id).values(loaded_at=now, rows=1))
        return RequestLoad(submission_id, True, superseded=tuple(earlier))


def active_request(
    warehouse: Warehouse, prefecture_code: str, fiscal_year: int, dataset: str = DEFAULT_DATASET,
) -> ActiveRequest | None:
    """The prefecture's valid request for the year, or None (then it receives nothing)."""
    rf = warehouse.table(TABLE)
    q = sa.select(rf).where(
        rf.c.prefecture_code == prefecture_code, rf.c.fiscal_year == fiscal_year, rf.c.dataset == dataset,
        rf.c.status == "active",
    ).order_by(rf.c.submission_id.desc())
    with warehouse.read() as conn:
        row = conn.execute(q).mappings().first()
    return _request(row) if row else None


def request_history(warehouse: Warehouse, prefecture_code: str, fiscal_year: int) -> list[ActiveRequest]:
    """Every accepted form of the prefecture and year (all datasets), oldest first, with status."""
    rf = warehouse.table(TABLE)
    q = sa.select(rf).where(rf.c.prefecture_code == prefecture_code, rf.c.fiscal_year == fiscal_year).order_by(
        rf.c.submission_id)
    with warehouse.read() as conn:
        return [_request(r) for r in conn.execute(q).mappings()]


def active_requests(
    warehouse: Warehouse, fiscal_year: int, dataset: str = DEFAULT_DATASET,
) -> dict[str, ActiveRequest]:
    """Prefecture code -> its active request for the year (prefectures without one are absent)."""
    rf = warehouse.table(TABLE)
    q = sa.select(rf).where(rf.c.fiscal_year == fiscal_year, rf.c.dataset == dataset, rf.c.status == "active") \
        .order_by(rf.c.prefecture_code, rf.c.submission_id)
    with warehouse.read() as conn:
        return {r["prefecture_code"]: _request(r) for r in conn.execute(q).mappings()}
