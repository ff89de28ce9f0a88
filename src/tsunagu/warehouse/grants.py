"""Grant rows in the warehouse (交付金, design.md §2.3): include/sql/schema/090_grants.sql.

Every program and stage shares the tables, keyed by (program, stage, fiscal_year, filer_code, item_key):

* ``grant_rows`` — the current row of each key, with its lineage (submission, sha256, sheet, row);
* ``grant_amounts`` — the row's integer values (yen), long: one per field id, keyed by the row's key
  and the submission that stated them (never updated or deleted, so history keeps its amounts);
* ``grant_rows_history`` — rows replaced by a later file (superseded_by, superseded_at);
* ``grant_cap_approvals`` — 個別協議 approvals (総合事業 上限超過承認額), one revision per change.

A load is a **per-filer upsert**: the rows of every filer present in the file replace that filer's
earlier rows of the stage (moved to history); other filers' rows stay, so a late insurer can be sent
in a later file. A filer whose current rows come from a newer submission is left alone (a forced rerun
of an older file never overwrites a newer one). A submission none of whose rows are current any more
is marked ``superseded``. Only the public Warehouse API is used (``transaction``, ``read``, ``table``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.flows.base import Loaded
from tsunagu.grants.programs import filer_prefecture
from tsunagu.warehouse.values import as_int, as_text, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

ROWS, AMOUNTS, HISTORY, APPROVALS = "grant_rows", "grant_amounts", "grant_rows_history", "grant_cap_approvals"
# record keys that are not amounts even when they hold an int
NOT_AMOUNTS = frozenset({"source_row", "fiscal_year", "filer_code", "item_key", "source_sheet", "prefecture_code"})
RowKey = tuple[str, str]


def submission_kind(program: str, stage: str) -> str:
    """The submissions.kind of a grant file (as tsunagu.flows.grants names its flows)."""
    return f"grant.{program}.{stage}"


@dataclass(frozen=True)
class GrantLoaded(Loaded):
    """What ``load_grant`` did (a :class:`~tsunagu.flows.base.Loaded` with the details)."""

    submission_id: int = 0
    rows: int = 0  # rows written from this submission
    filers: tuple[str, ...] = ()  # filers whose rows were replaced by this file's
    skipped: tuple[str, ...] = ()  # filers left alone: a newer submission's rows are current
    superseded: tuple[int, ...] = ()  # earlier submissions none of whose rows are current any more
    already_loaded: bool = False


def _amounts(record: Mapping[str, Any]) -> dict[str, int]:
    return {k: v for k, v in record.items()
            if isinstance(v, int) and not isinstance(v, bool) and k not in NOT_AMOUNTS}


def _check_records(records: Sequence[Mapping[str, Any]], prefecture_code: str) -> dict[str, list[Mapping[str, Any]]]:
    """Records by filer; ValueError for a record without a key, of another prefecture, or given twice."""
    by_filer: dict[str, list[Mapping[str, Any]]] = {}
    seen: dict[RowKey, str] = {}
    for rec in records:
        where = f"{rec.get('source_sheet')}!{rec.get('source_row')}"
        filer, item = as_text(rec.get("filer_code")), as_text(rec.get("item_key"))
        if not filer or not item:
            raise ValueError(f"record {where} has no filer_code/item_key")
        pref = as_text(rec.get("prefecture_code")) or filer_prefecture(filer)
        if pref is not None and pref != prefecture_code:
            raise ValueError(f"record {where}: filer {filer} is of prefecture {pref}, not the sender {prefecture_code}")
        if (filer, item) in seen:
            raise ValueError(f"filer {filer} item {item} appears twice ({seen[(filer, item)]} and {where})")
        seen[(filer, item)] = where
        by_filer.setdefault(filer, []).append(rec)
    return by_filer


def load_grant(
    warehouse: Warehouse, submission_id: int, *, program: str, stage: str, prefecture_code: str, fiscal_year: int,
    records: Sequence[Mapping[str, Any]],
) -> GrantLoaded:
    """Load an accepted grant file's records (per-filer upsert, see the module docstring), in one transaction.

    ``records`` are the validator's: ``filer_code``, ``item_key``, ``source_sheet``, ``source_row`` and
    the canonical values, of which the integers are stored as amounts. Loading the same submission
    again does nothing.
    """
    s, cur, hist, amt = (warehouse.table(n) for n in ("submissions", ROWS, HISTORY, AMOUNTS))
    kind = submission_kind(program, stage)
    by_filer = _check_records(records, prefecture_code)
    with warehouse.transaction(lock=f"grant:{program}:{stage}:{fiscal_year}:{prefecture_code}") as conn:
        sub = conn.execute(sa.select(s).where(s.c.id == submission_id)).mappings().first()
        if sub is None:
            raise KeyError(f"no submission {submission_id}")
        if sub["kind"] != kind:
            raise ValueError(f"submission {submission_id} is a {sub['kind']}, not a {kind}")
        if sub["sender"] != prefecture_code or sub["fiscal_year"] != fiscal_year:
            raise ValueError(f"submission {submission_id} is for {sub['sender']}/{sub['fiscal_year']}, "
                             f"not {prefecture_code}/{fiscal_year}")
        if sub["status"] in ("rejected", "unreadable"):
            raise ValueError(f"submission {submission_id} is {sub['status']}: it cannot be loaded")
        if sub["loaded_at"] is not None:
            return GrantLoaded(note=f"submission {submission_id} was loaded before: nothing done",
                               current=sub["superseded_by"] is None, submission_id=submission_id,
                               already_loaded=True)

        stage_rows = (cur.c.program == program) & (cur.c.stage == stage) & (cur.c.fiscal_year == fiscal_year)
        newest = dict(conn.execute(
            sa.select(cur.c.filer_code, sa.func.max(cur.c.submission_id))
            .where(stage_rows, cur.c.filer_code.in_(list(by_filer))).group_by(cur.c.filer_code)
        ).all())
        skipped = sorted(f for f in by_filer if (newest.get(f) or 0) > submission_id)
        filers = sorted(f for f in by_filer if f not in skipped)
        now = utcnow()
        replaced: list[int] = []
        rows = 0
        if filers:
            mine = stage_rows & cur.c.filer_code.in_(filers)
            replaced = sorted({int(i) for i in conn.execute(sa.select(cur.c.submission_id).where(mine)).scalars()})
            cols = [c.name for c in cur.columns]
            conn.execute(hist.insert().from_select(
                [*cols, "superseded_by", "superseded_at"],
                sa.select(*[cur.c[c] for c in cols], sa.literal(submission_id, sa.Integer).label("superseded_by"),
                          sa.literal(now, sa.DateTime).label("superseded_at")).where(mine),
            ))
            conn.execute(cur.delete().where(mine))
            new_rows, new_amounts = [], []
            key = {"program": program, "stage": stage, "fiscal_year": fiscal_year}
            for filer in filers:
                for rec in by_filer[filer]:
                    item = as_text(rec["item_key"])
                    new_rows.append({**key, "prefecture_code": prefecture_code, "filer_code": filer, "item_key": item,
                                     "submission_id": submission_id, "source_sha256": sub["sha256"],
                                     "source_sheet": as_text(rec.get("source_sheet")),
                                     "source_row": as_int(rec.get("source_row")), "loaded_at": now})
                    new_amounts += [{**key, "filer_code": filer, "item_key": item, "submission_id": submission_id,
                                     "field": fid, "amount": value} for fid, value in _amounts(rec).items()]
            conn.execute(cur.insert(), new_rows)
            if new_amounts:
                conn.execute(amt.insert(), new_amounts)
            rows = len(new_rows)
        # Earlier submissions of the stage none of whose rows are current any more: superseded.
        scope = (s.c.kind == kind) & (s.c.sender == prefecture_code) & (s.c.fiscal_year == fiscal_year)
        still = sa.select(cur.c.submission_id).where(stage_rows).distinct()
        gone = [int(i) for i in conn.execute(
            sa.select(s.c.id).where(scope, s.c.id.in_(replaced), s.c.id.not_in(still), s.c.status != "superseded")
        ).scalars()] if replaced else []
        if gone:
            conn.execute(s.update().where(s.c.id.in_(gone)).values(status="superseded", superseded_by=submission_id))
        values: dict[str, Any] = {"loaded_at": now, "rows": rows}
        if filers:
            values["status"] = "accepted"
        else:  # every filer of the file has newer rows: nothing of it is current
            values.update(status="superseded", superseded_by=max(newest[f] for f in skipped))
        conn.execute(s.update().where(s.c.id == submission_id).values(**values))
    note = f"{rows} rows of {len(filers)} filers loaded"
    if gone:
        note += f"; replaced submissions {', '.join(map(str, gone))}"
    if skipped:
        note += f"; {len(skipped)} filers left as they are (a newer file is current): {', '.join(skipped)}"
    return GrantLoaded(note=note, current=bool(filers), submission_id=submission_id, rows=rows,
                       filers=tuple(filers), skipped=tuple(skipped), superseded=tuple(gone))


def current_amounts(
    warehouse: Warehouse, program: str, stage: str, fiscal_year: int, prefecture_code: str | None = None,
) -> dict[RowKey, dict[str, int]]:
    """(filer_code, item_key) -> field id -> amount (int) of the current rows of a stage."""
    cur, amt = warehouse.table(ROWS), warehouse.table(AMOUNTS)
    q = (sa.select(cur.c.filer_code, cur.c.item_key, amt.c.field, amt.c.amount)
         .join(amt, sa.and_(amt.c.program == cur.c.program, amt.c.stage == cur.c.stage,
                            amt.c.fiscal_year == cur.c.fiscal_year, amt.c.filer_code == cur.c.filer_code,
                            amt.c.item_key == cur.c.item_key, amt.c.submission_id == cur.c.submission_id),
               isouter=True)
         .where(cur.c.program == program, cur.c.stage == stage, cur.c.fiscal_year == fiscal_year)
         .order_by(cur.c.filer_code, cur.c.item_key, amt.c.field))
    if prefecture_code is not None:
        q = q.where(cur.c.prefecture_code == prefecture_code)
    out: dict[RowKey, dict[str, int]] = {}
    with warehouse.read() as conn:
        for filer, item, fid, amount in conn.execute(q):
            values = out.setdefault((filer, item), {})
            if fid is not None:
                values[fid] = int(amount)
    return out


def grant_rows(
    warehouse: Warehouse, program: str, fiscal_year: int, prefecture_code: str | None = None,
) -> list[dict[str, Any]]:
    """The current rows of every stage of a program's year: stage, filer_code, item_key, amounts,
    prefecture_code, submission_id, source_sheet, source_row, loaded_at; in stage order, then by key."""
    return _rows(warehouse, ROWS, program, fiscal_year, prefecture_code)


def grant_history(
    warehouse: Warehouse, program: str, fiscal_year: int, prefecture_code: str | None = None,
) -> list[dict[str, Any]]:
    """The replaced rows (as ``grant_rows``, plus superseded_by and superseded_at), oldest first."""
    return _rows(warehouse, HISTORY, program, fiscal_year, prefecture_code)


def _stage_order(program: str) -> dict[str, int]:
    try:
        from tsunagu.grants.config import load_program

        return {s: i for i, s in enumerate(load_program(program).stage_ids)}
    except (ValueError, OSError):
        return {}


def _rows(warehouse: Warehouse, name: str, program: str, fiscal_year: int,
          prefecture_code: str | None) -> list[dict[str, Any]]:
    t, amt = warehouse.table(name), warehouse.table(AMOUNTS)
    q = sa.select(t).where(t.c.program == program, t.c.fiscal_year == fiscal_year)
    if prefecture_code is not None:
        q = q.where(t.c.prefecture_code == prefecture_code)
    a = (sa.select(amt.c.stage, amt.c.filer_code, amt.c.item_key, amt.c.submission_id, amt.c.field, amt.c.amount)
         .where(amt.c.program == program, amt.c.fiscal_year == fiscal_year))
    with warehouse.read() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
        amounts: dict[tuple[str, str, str, int], dict[str, int]] = {}
        for stage, filer, item, sid, fid, amount in conn.execute(a):
            amounts.setdefault((stage, filer, item, int(sid)), {})[fid] = int(amount)
    order = _stage_order(program)
    for r in rows:
        key = (r["stage"], r["filer_code"], r["item_key"], int(r["submission_id"]))
        r["amounts"] = dict(sorted(amounts.get(key, {}).items()))

    def position(r: dict[str, Any]) -> tuple:
        where = (order.get(r["stage"], len(order)), r["stage"], r["filer_code"], r["item_key"])
        return (int(r["superseded_by"]), *where) if name == HISTORY else where

    return sorted(rows, key=position)


# ------------------------------------------------------------------------------- 個別協議 approvals


def approve_cap(
    warehouse: Warehouse, *, program: str, fiscal_year: int, filer_code: str, item_key: str, approved_cap: int,
    approver: str, note: str = "", prefecture_code: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Record an approved 個別協議 (上限超過承認額) for a filer's item -> (the current approval, created).

    Approving the current amount again is a no-op (created False, the existing approval returned); a
    different amount is a new revision that becomes current. ``prefecture_code`` defaults to the filer
    code's (:func:`tsunagu.grants.programs.filer_prefecture`).
    """
    if isinstance(approved_cap, bool) or not isinstance(approved_cap, int) or approved_cap < 0:
        raise ValueError(f"approved_cap must be a non-negative int of yen, not {approved_cap!r}")
    if not str(approver or "").strip():
        raise ValueError("an approval needs its approver")
    pref = prefecture_code or filer_prefecture(filer_code)
    if pref is None:
        raise ValueError(f"the prefecture of filer {filer_code!r} is unknown: give prefecture_code")
    t = warehouse.table(APPROVALS)
    key = (t.c.program == program) & (t.c.fiscal_year == fiscal_year) & (t.c.filer_code == filer_code) \
        & (t.c.item_key == item_key)
    with warehouse.transaction(lock=f"grant_approval:{program}:{fiscal_year}:{filer_code}:{item_key}") as conn:
        latest = conn.execute(sa.select(t).where(key).order_by(t.c.revision.desc()).limit(1)).mappings().first()
        if latest is not None and int(latest["approved_cap"]) == approved_cap:
            return _approval(latest), False
        row = {"program": program, "fiscal_year": fiscal_year, "prefecture_code": pref, "filer_code": filer_code,
               "item_key": item_key, "revision": (int(latest["revision"]) + 1) if latest else 1,
               "approved_cap": approved_cap, "approver": approver, "note": note or "", "approved_at": utcnow()}
        conn.execute(t.insert().values(**row))
    return _approval(row), True


def _approval(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["approved_cap"] = int(out["approved_cap"])
    out["revision"] = int(out["revision"])
    if isinstance(out.get("approved_at"), str):
        out["approved_at"] = dt.datetime.fromisoformat(out["approved_at"])
    return out


def cap_approvals(
    warehouse: Warehouse, program: str, fiscal_year: int, prefecture_code: str | None = None,
) -> dict[RowKey, int]:
    """(filer_code, item_key) -> the current approved cap (yen) of a program's year."""
    return {key: a["approved_cap"] for key, a in cap_approval_records(warehouse, program, fiscal_year,
                                                                      prefecture_code).items()}


def cap_approval_records(
    warehouse: Warehouse, program: str, fiscal_year: int, prefecture_code: str | None = None,
) -> dict[RowKey, dict[str, Any]]:
    """(filer_code, item_key) -> the current approval (its latest revision), with approver, note and date."""
    t = warehouse.table(APPROVALS)
    q = sa.select(t).where(t.c.program == program, t.c.fiscal_year == fiscal_year).order_by(
        t.c.filer_code, t.c.item_key, t.c.revision)
    if prefecture_code is not None:
        q = q.where(t.c.prefecture_code == prefecture_code)
    out: dict[RowKey, dict[str, Any]] = {}
    with warehouse.read() as conn:
        for r in conn.execute(q).mappings():
            out[(r["filer_code"], r["item_key"])] = _approval(r)  # the latest revision wins
    return out
