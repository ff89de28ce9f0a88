"""Evaluation results in the warehouse (design.md §2.4): include/sql/schema/100_evaluation.sql.

The frames of :mod:`tsunagu.evaluation.model` are stored as they are (``group`` is ``group_label``,
``grant`` is ``grant_id``: reserved words in SQL). The ministry sends one file per year, so a load is a
**per-year upsert**: an accepted file replaces every row of its year, in one transaction; rows keep the
submission (and, for insurers, the sha256, sheet and row) they came from, and ``evaluation_loads``
keeps each load of a year with the submission that replaced it. An older submission loaded again (a
forced rerun) never replaces a newer one. Only the public Warehouse API is used (``transaction``,
``read``, ``table``, ``bulk_insert``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.evaluation import model
from tsunagu.warehouse.values import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from tsunagu.warehouse.db import Warehouse

LOADS, INDICATORS, INSURERS, SCORES, STATS = (
    "evaluation_loads", "evaluation_indicators", "evaluation_insurers", "evaluation_scores",
    "evaluation_national_stats",
)
FRAME_TABLES = {"indicators": INDICATORS, "insurers": INSURERS, "scores": SCORES, "national_stats": STATS}
# frame column -> table column, where they differ
RENAMED = {"group": "group_label", "grant": "grant_id", "sheet": "source_sheet", "row": "source_row"}


@dataclass(frozen=True)
class EvaluationLoaded:
    note: str
    current: bool
    rows: int = 0
    replaced: tuple[int, ...] = ()


def _db_columns(frame_columns: list[str]) -> list[str]:
    return [RENAMED.get(c, c) for c in frame_columns]


def _records(frame: pd.DataFrame, columns: list[str], extra: tuple) -> list[tuple]:
    """Rows as plain Python values (numpy scalars and NaN do not go to the driver)."""
    import math

    out = []
    for row in frame[columns].itertuples(index=False, name=None):
        values = []
        for v in row:
            if hasattr(v, "item"):  # numpy scalar
                v = v.item()
            if isinstance(v, float) and math.isnan(v):
                v = None
            values.append(v)
        out.append((*values, *extra))
    return out


def load_evaluation(
    warehouse: Warehouse, submission_id: int, fiscal_year: int, frames: dict[str, pd.DataFrame], *, scale: int,
) -> EvaluationLoaded:
    """Replace the year's rows with ``frames`` (model.py columns), in one transaction. Idempotent."""
    s = warehouse.table("submissions")
    loads = warehouse.table(LOADS)
    with warehouse.transaction(lock=f"evaluation:{fiscal_year}") as conn:
        sub = conn.execute(sa.select(s).where(s.c.id == submission_id)).mappings().first()
        if sub is None:
            raise KeyError(f"no submission {submission_id}")
        if sub["status"] in ("rejected", "unreadable"):
            raise ValueError(f"submission {submission_id} is {sub['status']}: it cannot be loaded")
        if sub["loaded_at"] is not None:
            return EvaluationLoaded(f"submission {submission_id} was loaded before: nothing done",
                                    sub["superseded_by"] is None)
        current = conn.execute(sa.select(loads.c.submission_id).where(
            loads.c.fiscal_year == fiscal_year, loads.c.superseded_by.is_(None))).scalars().all()
        now = utcnow()
        if any(c > submission_id for c in current):  # a newer file of the year is current
            newer = max(current)
            conn.execute(s.update().where(s.c.id == submission_id).values(
                loaded_at=now, rows=0, status="superseded", superseded_by=newer))
            return EvaluationLoaded(f"submission {newer} is newer and current for {fiscal_year}: rows not reloaded",
                                    False)
        for name in (SCORES, INSURERS, INDICATORS, STATS):
            t = warehouse.table(name)
            conn.execute(t.delete().where(t.c.fiscal_year == fiscal_year))
        sid = (submission_id,)
        for key, cols in (("indicators", model.INDICATOR_COLUMNS), ("national_stats", model.NATIONAL_STAT_COLUMNS),
                          ("insurers", model.INSURER_COLUMNS), ("scores", model.SCORE_COLUMNS)):
            frame = frames[key]
            if frame.empty:
                continue
            if (frame["fiscal_year"] != fiscal_year).any():
                raise ValueError(f"{key}: rows of another fiscal year than {fiscal_year}")
            table = warehouse.table(FRAME_TABLES[key])
            warehouse.bulk_insert(conn, table, [*_db_columns(cols), "submission_id"], _records(frame, cols, sid))
        replaced = tuple(sorted(c for c in current if c != submission_id))
        if replaced:
            conn.execute(loads.update().where(loads.c.fiscal_year == fiscal_year, loads.c.submission_id.in_(replaced))
                         .values(superseded_by=submission_id, superseded_at=now))
            conn.execute(s.update().where(s.c.id.in_(replaced), s.c.status != "superseded")
                         .values(status="superseded", superseded_by=submission_id))
        exists = conn.execute(sa.select(loads.c.submission_id).where(
            loads.c.fiscal_year == fiscal_year, loads.c.submission_id == submission_id)).first()
        values = {"source_sha256": sub["sha256"], "scale": scale, "insurers": len(frames["insurers"]),
                  "indicators": len(frames["indicators"]), "loaded_at": now, "superseded_by": None,
                  "superseded_at": None}
        if exists:
            conn.execute(loads.update().where(loads.c.fiscal_year == fiscal_year,
                                              loads.c.submission_id == submission_id).values(**values))
        else:
            conn.execute(loads.insert().values(fiscal_year=fiscal_year, submission_id=submission_id, **values))
        rows = len(frames["insurers"])
        conn.execute(s.update().where(s.c.id == submission_id).values(loaded_at=now, rows=rows, status="accepted"))
    note = f"{rows} insurers × {len(frames['indicators'])} indicators loaded for {fiscal_year}"
    if replaced:
        note += f"; replaced submissions {', '.join(map(str, replaced))}"
    return EvaluationLoaded(note, True, rows, replaced)


def _frame(conn, table: sa.Table, columns: list[str], where: list) -> pd.DataFrame:
    import pandas as pd

    db_cols = _db_columns(columns)
    q = sa.select(*[table.c[c] for c in db_cols]).where(*where).order_by(
        *[table.c[c] for c in ("fiscal_year", "insurer_number", "indicator_key") if c in table.c])
    # the driver's own rows: no per-row Row objects for ~500,000 scores a year (these columns need no type
    # processing; _typed makes SQLite's 0/1 booleans bool)
    rows = conn.execute(q).cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


FRAME_KEYS = ("indicators", "insurers", "scores", "national_stats")
CHUNK = 100_000  # score rows per fetch: the driver's tuples of one chunk are all that is alive at once


def load_frames(
    warehouse: Warehouse, fiscal_years: list[int] | None = None, prefecture_code: str | None = None, *,
    up_to: int | None = None, frames: tuple[str, ...] = FRAME_KEYS,
) -> dict[str, pd.DataFrame]:
    """The stored frames (keys and columns exactly as in :mod:`tsunagu.evaluation.model`).

    ``fiscal_years``: those years (None: every stored year); ``up_to``: the years up to it (an analysis
    and its trend); both are filtered in SQL. ``prefecture_code``: only that prefecture's insurers and
    scores (indicators and national statistics are national, so always whole). ``frames``: only these
    keys (the cycle first reads the small insurers frame to know whether anything changed).
    Sorted by year, then 保険者番号, then indicator key; ``points`` float, ``comparable`` and
    ``depopulated`` bool, counts int.
    """
    specs = {"indicators": (INDICATORS, model.INDICATOR_COLUMNS), "insurers": (INSURERS, model.INSURER_COLUMNS),
             "scores": (SCORES, model.SCORE_COLUMNS), "national_stats": (STATS, model.NATIONAL_STAT_COLUMNS)}
    out: dict[str, Any] = {}
    with warehouse.read() as conn:
        for key in frames:
            name, columns = specs[key]
            t = warehouse.table(name)
            where = []
            if fiscal_years is not None:
                where.append(t.c.fiscal_year.in_([int(y) for y in fiscal_years]))
            if up_to is not None:
                where.append(t.c.fiscal_year <= int(up_to))
            if prefecture_code is not None and "prefecture_code" in t.c:
                where.append(t.c.prefecture_code == prefecture_code)
            out[key] = (_scores(conn, t, warehouse.table(INSURERS), where) if key == "scores"
                        else _frame(conn, t, columns, where))
    return _typed(out)


def _scores(conn, table: sa.Table, insurers: sa.Table, where: list) -> pd.DataFrame:
    """The scores (~500,000 rows a national year), lean and quick: one query per year fetching only
    保険者番号, indicator key and points (the year is the query's; the prefecture comes from the insurers
    table), in chunks whose keys are made categorical at once, so a 保険者番号 or indicator key is one
    string object shared by all its rows rather than one per row."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import union_categoricals

    owner = sa.select(insurers.c.fiscal_year, insurers.c.insurer_number, insurers.c.prefecture_code)
    prefecture_of = {(int(y), n): p for y, n, p in conn.execute(owner)}
    years = sorted({int(y) for y in conn.execute(sa.select(table.c.fiscal_year).where(*where).distinct()).scalars()})
    parts: dict[str, list] = {"fiscal_year": [], "insurer_number": [], "prefecture_code": [], "indicator_key": [],
                              "points": []}
    for year in years:
        q = (sa.select(table.c.insurer_number, table.c.indicator_key, table.c.points)
             .where(*where, table.c.fiscal_year == year).order_by(table.c.insurer_number, table.c.indicator_key))
        cursor = conn.execute(q).cursor  # the driver's own rows: these columns need no type processing
        while rows := cursor.fetchmany(CHUNK):
            numbers, keys, points = zip(*rows, strict=True)
            del rows
            number = pd.Categorical(np.array(numbers, dtype=object))
            parts["fiscal_year"].append(np.full(len(numbers), year, dtype="int64"))
            parts["insurer_number"].append(number)
            owners = np.array([prefecture_of.get((year, n)) for n in number.categories], dtype=object)
            parts["prefecture_code"].append(pd.Categorical(owners[number.codes]))
            parts["indicator_key"].append(pd.Categorical(np.array(keys, dtype=object)))
            parts["points"].append(np.array(points, dtype="float64"))  # None (blank) -> nan
    columns = model.SCORE_COLUMNS
    if not years:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "fiscal_year" else "float64" if c == "points"
                                          else "str") for c in columns})
    data: dict[str, Any] = {"fiscal_year": np.concatenate(parts["fiscal_year"])}
    for c in ("insurer_number", "prefecture_code", "indicator_key"):
        cat = union_categoricals(parts.pop(c))
        # the same str dtype as any other read; the array holds references to the categories' strings
        data[c] = pd.array(np.asarray(cat.categories, dtype=object).take(cat.codes), dtype="str")
    data["points"] = np.concatenate(parts["points"])
    return pd.DataFrame(data, columns=columns)


def _typed(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same dtypes from SQLite and PostgreSQL (SQLite returns 0/1 for booleans)."""
    for f in frames.values():
        f["fiscal_year"] = f["fiscal_year"].astype("int64")
    if (ind := frames.get("indicators")) is not None:
        ind["comparable"] = ind["comparable"].astype(bool)
        for c in ("max_points", "scale"):
            ind[c] = ind[c].astype("int64")
    if (ins := frames.get("insurers")) is not None:
        ins["depopulated"] = ins["depopulated"].astype(bool)
        for c in ("population", "first_insured", "row"):
            ins[c] = ins[c].astype("Int64")
        ins["size_class"] = ins["size_class"].astype(object).where(ins["size_class"].notna(), None)
    if (sc := frames.get("scores")) is not None:
        sc["points"] = sc["points"].astype("float64")
    if (st := frames.get("national_stats")) is not None:
        for c in ("mean", "median", "sd", "rate_hit"):
            st[c] = st[c].astype("float64")
        st["count_hit"] = st["count_hit"].astype("Int64")
    return frames


def stored_years(warehouse: Warehouse) -> list[int]:
    """The fiscal years with results, oldest first."""
    t = warehouse.table(LOADS)
    with warehouse.read() as conn:
        return [int(y) for y in conn.execute(
            sa.select(t.c.fiscal_year).where(t.c.superseded_by.is_(None)).distinct().order_by(t.c.fiscal_year)
        ).scalars()]


def loads(warehouse: Warehouse, fiscal_year: int | None = None) -> list[dict[str, Any]]:
    """Every load (lineage): year, submission, sha256, scale, counts, loaded_at, superseded_by."""
    t = warehouse.table(LOADS)
    q = sa.select(t).order_by(t.c.fiscal_year, t.c.submission_id)
    if fiscal_year is not None:
        q = q.where(t.c.fiscal_year == fiscal_year)
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
