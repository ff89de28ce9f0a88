"""The register (届出受理医療機関名簿) and the 在宅療養支援 roster derived from it, per prefecture.

A new register replaces the prefecture's rows and roster in one transaction; the roster is what
様式11の3 reports are checked against.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
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


_STR_OR_NONE = frozenset({str, type(None)})
_DATE_OR_NONE = frozenset({dt.date, type(None)})


def _column(rows: list, key: str, *, required: bool = False) -> list:
    """``row[key]`` of every row (``row.get(key)`` unless required: a row may lack an optional column)."""
    try:
        return list(map(itemgetter(key), rows))
    except KeyError:
        if required:
            raise
        return [r.get(key) for r in rows]


def _columns(parse: Any) -> tuple[int, Any]:
    """(number of rows, ``column(key, required=False)``) of ``parse``: its ``columns`` (key -> one value per row,
    as parse_register gives) when it has them, else its ``rows`` (dicts)."""
    columns = getattr(parse, "columns", None)
    if isinstance(columns, dict):
        n = len(columns["row"])

        def from_columns(key: str, *, required: bool = False) -> list:
            if key in columns or required:
                return columns[key]
            return [None] * n

        return n, from_columns
    rows = parse.rows if isinstance(parse.rows, list) else list(parse.rows)
    return len(rows), lambda key, *, required=False: _column(rows, key, required=required)


def _texts(values: list) -> list:
    """as_text of every value: text and None only (parse_register's columns) in one pass, else one by one."""
    if set(map(type, values)) <= _STR_OR_NONE:
        return [v or None for v in values]
    return list(map(as_text, values))


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

    ``parse`` has ``prefecture_code``, ``as_of``, ``columns`` (register column -> one value per row, plus
    ``sheet``/``row``; or ``rows``: dicts with those keys), ``roster`` (list[RosterEntry]) and, unless given
    here, ``sha256``.
    With ``submission_id``, earlier register submissions of the prefecture are marked superseded,
    and a forced re-run of an older register does not overwrite a newer one (``result.stale``).
    """
    sha256 = sha256 or getattr(parse, "sha256", None)
    if not sha256:
        raise ValueError("the register file's sha256 is required for lineage")
    pref = str(parse.prefecture_code)
    as_of = as_date(parse.as_of)
    # Column by column (hot path: 135k rows in the benchmark, 580k at national scale): a column of text and
    # None only, as parse_register gives, is taken in one C-level pass; anything else goes through as_text.
    n, column = _columns(parse)
    prefs = _texts(column("prefecture_code"))
    for i, rp in enumerate(prefs):
        if rp is not None and rp != pref:
            raise ValueError(f"register row {column('sheet')[i]}!{column('row')[i]} is for prefecture {rp}, "
                             f"not {pref}")
    texts = {c: _texts(column(c)) for c in _TEXT_COLUMNS}
    sheets, numbers = column("sheet", required=True), column("row", required=True)
    if not set(map(type, sheets)) <= {str}:
        sheets = list(map(str, sheets))
    if not set(map(type, numbers)) <= {int}:
        numbers = list(map(int, numbers))
    codes, symbols = texts["institution_code"], texts["notification_symbol"]
    first_row: dict[str, tuple[str, int]] = {}
    for i, symbol in enumerate(symbols):
        if symbol and symbol.startswith(("支援診", "支援病")) and codes[i]:
            first_row.setdefault(codes[i], (sheets[i], numbers[i]))
    starts = column("start_date")
    if not set(map(type, starts)) <= _DATE_OR_NONE:
        starts = list(map(as_date, starts))
    # Dates as the ISO text both backends store them as (SQLite: what its date adapter writes; PostgreSQL: COPY
    # text), converted once per distinct date rather than by the driver once per row.
    iso: dict[Any, str | None] = {None: None}
    starts = [iso[d] if d in iso else iso.setdefault(d, d.isoformat()) for d in starts]
    entries: list[tuple] = list(zip(
        repeat(pref), repeat(as_of.isoformat() if as_of else None), *(texts[c] for c in _TEXT_COLUMNS), starts,
        _texts(column("municipality_code")), _texts(column("municipality_name")),
        repeat(submission_id), repeat(sha256), sheets, numbers,
    )) if n else []
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
