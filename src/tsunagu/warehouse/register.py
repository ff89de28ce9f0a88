"""The register (届出受理医療機関名簿) and the 在宅療養支援 roster derived from it, per prefecture.

A new register replaces the prefecture's rows and roster in one transaction; the roster is what
様式11の3 reports are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.model import RosterEntry
from tsunagu.warehouse.values import as_date, as_text, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

REGISTER_COLUMNS: tuple[str, ...] = (
    "prefecture_code", "as_of", "score_table", "institution_number", "institution_code", "institution_name",
    "postal_code", "address", "phone", "beds", "notification_name", "notification_symbol",
    "notification_number", "start_date", "municipality_code", "municipality_name", "submission_id",
    "source_sha256", "source_sheet", "source_row",
)

ROSTER_COLUMNS: tuple[str, ...] = (
    "institution_code", "institution_number", "prefecture_code", "institution_name", "facility_type",
    "notification_class", "notification_symbol", "address", "municipality_code", "as_of", "submission_id",
    "source_sha256", "source_sheet", "source_row",
)

_TEXT_COLUMNS = ("score_table", "institution_number", "institution_code", "institution_name", "postal_code",
                 "address", "phone", "beds", "notification_name", "notification_symbol", "notification_number")


@dataclass(frozen=True)
class RegisterLoadResult:
    prefecture_code: str
    rows: int
    roster: int
    newer_submission: int | None = None  # a newer register of this prefecture is loaded: nothing replaced

    @property
    def stale(self) -> bool:
        return self.newer_submission is not None

    def __bool__(self) -> bool:
        return not self.stale


def load_register(
    warehouse: Warehouse, parse: Any, sha256: str | None = None, submission_id: int | None = None,
) -> RegisterLoadResult:
    """Replace one prefecture's register rows and roster with those of ``parse`` (one transaction).

    ``parse`` has ``prefecture_code``, ``as_of``, ``rows`` (dicts with the register columns plus
    ``sheet``/``row``), ``roster`` (list[RosterEntry]) and, unless given here, ``sha256``.
    With ``submission_id``, earlier register submissions of the prefecture are marked superseded,
    and a forced re-run of an older register does not overwrite a newer one (``result.stale``).
    """
    sha256 = sha256 or getattr(parse, "sha256", None)
    if not sha256:
        raise ValueError("the register file's sha256 is required for lineage")
    pref = str(parse.prefecture_code)
    as_of = as_date(parse.as_of)
    # One pass building tuples in REGISTER_COLUMNS order (hot path: 135k rows in the benchmark).
    entries: list[tuple] = []
    first_row: dict[str, tuple[str, int]] = {}
    for r in parse.rows:
        rp = as_text(r.get("prefecture_code")) or pref
        if rp != pref:
            raise ValueError(f"register row {r.get('sheet')}!{r.get('row')} is for prefecture {rp}, not {pref}")
        (score_table, number, code, name, postal, address, phone, beds,
         n_name, n_symbol, n_number) = (as_text(r.get(c)) for c in _TEXT_COLUMNS)
        sheet, row = str(r["sheet"]), int(r["row"])
        if code and n_symbol and n_symbol.startswith(("支援診", "支援病")):
            first_row.setdefault(code, (sheet, row))
        entries.append((
            pref, as_of, score_table, number, code, name, postal, address, phone, beds, n_name, n_symbol,
            n_number, as_date(r.get("start_date")), as_text(r.get("municipality_code")),
            as_text(r.get("municipality_name")), submission_id, sha256, sheet, row,
        ))
    roster: list[tuple] = []
    for e in parse.roster:
        if e.prefecture_code != pref:
            raise ValueError(f"roster entry {e.institution_code} is for prefecture {e.prefecture_code}, not {pref}")
        sheet, row = first_row.get(e.institution_code, (None, None))
        roster.append((
            e.institution_code, e.institution_number, e.prefecture_code, e.institution_name, e.facility_type,
            e.notification_class, e.notification_symbol, e.address, e.municipality_code, as_of, submission_id,
            sha256, sheet, row,
        ))
    reg, ros, s = (warehouse.table("register_entries"), warehouse.table("home_care_roster"),
                   warehouse.table("submissions"))
    with warehouse.transaction(lock=f"register:{pref}") as conn:
        if submission_id is not None:
            scope = (s.c.kind == "register") & (s.c.sender == pref)
            newer = conn.execute(sa.select(sa.func.max(s.c.id)).where(
                scope, s.c.loaded_at.is_not(None), s.c.id > submission_id)).scalar()
            if newer is not None:
                conn.execute(s.update().where(s.c.id == submission_id).values(
                    status="superseded", superseded_by=newer))
                return RegisterLoadResult(pref, 0, 0, newer_submission=int(newer))
            conn.execute(s.update().where(scope, s.c.id != submission_id, s.c.loaded_at.is_not(None),
                                          s.c.status != "superseded")
                         .values(status="superseded", superseded_by=submission_id))
            conn.execute(s.update().where(s.c.id == submission_id).values(loaded_at=utcnow(), rows=len(entries)))
        conn.execute(reg.delete().where(reg.c.prefecture_code == pref))
        conn.execute(ros.delete().where(ros.c.prefecture_code == pref))
        warehouse.bulk_insert(conn, reg, REGISTER_COLUMNS, entries)
        warehouse.bulk_insert(conn, ros, ROSTER_COLUMNS, roster)
    return RegisterLoadResult(pref, len(entries), len(roster))


def roster(warehouse: Warehouse, prefecture_code: str | None = None) -> dict[str, RosterEntry]:
    ros = warehouse.table("home_care_roster")
    q = sa.select(ros).order_by(ros.c.institution_code)
    if prefecture_code is not None:
        q = q.where(ros.c.prefecture_code == prefecture_code)
    with warehouse.read() as conn:
        return {
            r.institution_code: RosterEntry(
                institution_code=r.institution_code, institution_number=r.institution_number,
                prefecture_code=r.prefecture_code, institution_name=r.institution_name,
                facility_type=r.facility_type, notification_class=r.notification_class,
                notification_symbol=r.notification_symbol, address=r.address,
                municipality_code=r.municipality_code,
            )
            for r in conn.execute(q)
        }


def register_entries(warehouse: Warehouse, prefecture_code: str) -> list[dict[str, Any]]:
    reg = warehouse.table("register_entries")
    q = sa.select(reg).where(reg.c.prefecture_code == prefecture_code).order_by(reg.c.source_sheet, reg.c.source_row)
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
