"""The submissions registry: every received file, its outcome and its validation findings.

Kinds are validated by the flow registry; here a kind only has to be a well-formed dotted name
(``home_care_report``, ``grant.community_support.adjustment_survey``) that fits the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.findings import Finding
from tsunagu.normalize import storable
from tsunagu.warehouse.values import utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

SUBMISSION_STATUSES = ("received", "accepted", "rejected", "unreadable", "superseded")
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
KIND_MAX_LENGTH = 64  # submissions.kind VARCHAR(64)


def check_kind(kind: str) -> str:
    """``kind`` if well formed, else ValueError (the same on SQLite, which ignores VARCHAR lengths)."""
    if not isinstance(kind, str) or len(kind) > KIND_MAX_LENGTH or not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"unknown submission kind {kind!r} (lower-case dotted name, at most {KIND_MAX_LENGTH})")
    return kind


def register_submission(
    warehouse: Warehouse, kind: str, sha256: str, original_name: str, sender: str | None, fiscal_year: int | None,
    archive_path: str | Path | None = None, channel: str | None = None,
) -> tuple[int, bool]:
    """Record a received file; idempotent on (kind, sha256, sender, fiscal_year). -> (id, is_new).

    Registers have no fiscal year (None); an unreadable file of unknown sender has sender ''.
    """
    sender = sender or ""
    check_kind(kind)
    s = warehouse.table("submissions")
    key = (s.c.kind == kind) & (s.c.sha256 == sha256) & (s.c.sender == sender) & (s.c.fiscal_year == fiscal_year)
    with warehouse.transaction(lock=f"submission:{kind}:{sha256}:{sender}:{fiscal_year}") as conn:
        existing = conn.execute(sa.select(s.c.id).where(key)).scalar()
        if existing is not None:
            return int(existing), False
        new_id = conn.execute(
            s.insert().values(
                kind=kind, sha256=sha256, original_name=storable(original_name), channel=channel, sender=sender,
                fiscal_year=fiscal_year, status="received",
                archive_path=str(archive_path) if archive_path is not None else None, received_at=utcnow(),
            ).returning(s.c.id)
        ).scalar_one()
        return int(new_id), True


def get_submission(
    warehouse: Warehouse, submission_id: int | None = None, *, kind: str | None = None, sha256: str | None = None,
    sender: str | None = None, fiscal_year: int | None = None,
) -> dict[str, Any] | None:
    """One submission by id, or by its natural key (kind, sha256, sender, fiscal_year)."""
    s = warehouse.table("submissions")
    q = sa.select(s)
    if submission_id is not None:
        q = q.where(s.c.id == submission_id)
    else:
        if kind is None or sha256 is None:
            raise ValueError("give submission_id, or kind, sha256, sender and fiscal_year")
        sender = sender or ""
        q = q.where(s.c.kind == kind, s.c.sha256 == sha256, s.c.sender == sender, s.c.fiscal_year == fiscal_year)
    with warehouse.read() as conn:
        row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def outcomes(
    warehouse: Warehouse, *, kind: str | None = None, sender: str | None = None, fiscal_year: int | None = None,
    status: str | Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Submissions (registry and outcome), oldest first."""
    s = warehouse.table("submissions")
    q = sa.select(s).order_by(s.c.id)
    if kind is not None:
        q = q.where(s.c.kind == kind)
    if sender is not None:
        q = q.where(s.c.sender == sender)
    if fiscal_year is not None:
        q = q.where(s.c.fiscal_year == fiscal_year)
    if status is not None:
        q = q.where(s.c.status.in_([status] if isinstance(status, str) else list(status)))
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def validation_results(warehouse: Warehouse, submission_id: int) -> list[dict[str, Any]]:
    v = warehouse.table("validation_results")
    with warehouse.read() as conn:
        rows = conn.execute(sa.select(v).where(v.c.submission_id == submission_id).order_by(v.c.seq)).mappings()
        return [dict(r) for r in rows]


def reopen_submission(warehouse: Warehouse, submission_id: int) -> bool:
    """A forced rerun starts a rejected or unreadable submission over (its new outcome is recorded after).

    Accepted and superseded submissions keep their status: their loads decide what is current. The old
    outcome's ``processed_at`` goes too, so that a rerun killed after its load is not taken as done.
    """
    s = warehouse.table("submissions")
    with warehouse.transaction() as conn:
        done = conn.execute(s.update().where(s.c.id == submission_id, s.c.status.in_(("rejected", "unreadable")))
                            .values(status="received", processed_at=None))
        return bool(done.rowcount)


def record_outcome(
    warehouse: Warehouse, submission_id: int, status: str, findings: Iterable[Finding], rows: int | None = None,
    template_version: str | None = None, report_path: str | Path | None = None,
) -> None:
    """Store the outcome of validating a submission; replaces its earlier findings (idempotent).

    A submission already superseded by a later file stays ``superseded`` when re-validated as accepted.
    ``processed_at`` marks the outcome recorded: until then a run decides the submission again.
    """
    if status not in SUBMISSION_STATUSES or status == "superseded":
        raise ValueError(f"not an outcome status: {status!r}")
    findings = list(findings)
    s, v = warehouse.table("submissions"), warehouse.table("validation_results")
    with warehouse.transaction() as conn:
        current = conn.execute(sa.select(s.c.status).where(s.c.id == submission_id)).scalar()
        if current is None:
            raise KeyError(f"no submission {submission_id}")
        new_status = "superseded" if current == "superseded" and status == "accepted" else status
        conn.execute(
            s.update().where(s.c.id == submission_id).values(
                status=new_status, rows=rows, template_version=template_version,
                errors=sum(f.severity == "error" for f in findings),
                warnings=sum(f.severity == "warning" for f in findings),
                report_path=str(report_path) if report_path is not None else None, processed_at=utcnow(),
            )
        )
        conn.execute(v.delete().where(v.c.submission_id == submission_id))
        if findings:
            conn.execute(v.insert(), [
                {"submission_id": submission_id, "seq": i, "code": f.code, "severity": f.severity,
                 "sheet": f.sheet, "row": f.row, "column_letter": f.column, "field": f.field,
                 "message_ja": f.message_ja, "message_en": f.message_en}
                for i, f in enumerate(findings, start=1)
            ])
