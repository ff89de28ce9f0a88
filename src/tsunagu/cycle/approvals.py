"""Approval of a release: a recorded act (who, when, which version of which prefecture).

Delivery ships exactly the approved version, and only when it is the prefecture's latest release.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tsunagu.cycle.releases import get_release, latest_release
from tsunagu.warehouse.cycle import now_utc, table


class ApprovalError(ValueError):
    """The version is unknown, or not the prefecture's latest release, or the approver is missing."""


@dataclass(frozen=True)
class Approval:
    fiscal_year: int
    prefecture_code: str
    version: str
    approver: str
    note: str
    approved_at: dt.datetime
    recorded: bool = True  # False: this version had been approved before (nothing new written)

    def to_dict(self) -> dict[str, Any]:
        return {"fiscal_year": self.fiscal_year, "prefecture_code": self.prefecture_code, "version": self.version,
                "approver": self.approver, "note": self.note, "approved_at": self.approved_at.isoformat(),
                "recorded": self.recorded}


def _from_row(row: Any, recorded: bool = False) -> Approval:
    return Approval(int(row["fiscal_year"]), row["prefecture_code"], row["version"], row["approver"],
                    row["note"] or "", row["approved_at"], recorded)


def approve(
    warehouse: Any, fiscal_year: int, prefecture_code: str, version: str, approver: str, note: str = "",
) -> Approval:
    """Record that ``approver`` approved ``version``. Idempotent: approving it again returns the first
    approval (``recorded=False``). Refuses an unknown version, or one that is not the latest release."""
    from tsunagu.jurisdiction import load_jurisdiction

    fiscal_year, prefecture_code = int(fiscal_year), str(prefecture_code).zfill(2)
    load_jurisdiction().get(prefecture_code)
    version, approver = str(version or "").strip(), str(approver or "").strip()
    if not approver:
        raise ApprovalError("承認者を入力してください / the approver is required")
    release = get_release(warehouse, fiscal_year, prefecture_code, version)
    if release is None:
        raise ApprovalError(
            f"{fiscal_year}年度 {prefecture_code} に版 {version!r} はありません / "
            f"no release {version!r} for {fiscal_year} {prefecture_code}"
        )
    latest = latest_release(warehouse, fiscal_year, prefecture_code, dataset=release.dataset)  # of its own cycle
    if latest is None or latest.version != version:
        raise ApprovalError(
            f"版 {version} は最新ではありません（最新は {latest.version if latest else 'なし'}） / "
            f"release {version} is not the latest of {fiscal_year} {prefecture_code} "
            f"(latest: {latest.version if latest else 'none'})"
        )
    a = table(warehouse, "approvals")
    key = (a.c.fiscal_year == fiscal_year) & (a.c.prefecture_code == prefecture_code) & (a.c.version == version)
    with warehouse.transaction(lock=f"approval:{fiscal_year}:{prefecture_code}:{version}") as conn:
        existing = conn.execute(sa.select(a).where(key)).mappings().first()
        if existing is not None:
            return _from_row(existing, recorded=False)
        row = {"fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "version": version,
               "approver": approver, "note": note or "", "approved_at": now_utc()}
        conn.execute(a.insert().values(**row))
    return _from_row(row, recorded=True)


def approval_of(warehouse: Any, fiscal_year: int, prefecture_code: str, version: str) -> Approval | None:
    a = table(warehouse, "approvals")
    q = sa.select(a).where(a.c.fiscal_year == fiscal_year, a.c.prefecture_code == prefecture_code,
                           a.c.version == version)
    with warehouse.engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return _from_row(row) if row else None


def list_approvals(warehouse: Any, fiscal_year: int, prefecture_code: str | None = None) -> list[Approval]:
    a = table(warehouse, "approvals")
    q = sa.select(a).where(a.c.fiscal_year == fiscal_year).order_by(a.c.approved_at, a.c.id)
    if prefecture_code is not None:
        q = q.where(a.c.prefecture_code == prefecture_code)
    with warehouse.engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(q).mappings()]


def approve_release(
    fiscal_year: int, prefecture_code: str, version: str, approver: str, note: str = "", *, settings: Any = None,
) -> Approval:
    """`approve` on the configured warehouse (for the CLI and the approve_release DAG)."""
    from tsunagu.pipeline import open_warehouse

    return approve(open_warehouse(settings), fiscal_year, prefecture_code, version, approver, note)
