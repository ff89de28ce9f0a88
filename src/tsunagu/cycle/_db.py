"""Reflected cycle tables (070_cycle.sql) on any Warehouse, and small value helpers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from tsunagu.warehouse.db import _date

CYCLE_TABLES = ("releases", "approvals", "cycle_actions")


def table(warehouse: Any, name: str) -> sa.Table:
    """The reflected table ``name`` (the warehouse reflects only its own tables)."""
    try:
        return warehouse.t(name)
    except KeyError:
        pass
    cache = warehouse.__dict__.setdefault("_cycle_tables", {})
    if name not in cache:
        md = sa.MetaData()
        try:
            md.reflect(bind=warehouse.engine, only=list(CYCLE_TABLES))
        except sa.exc.InvalidRequestError:  # schema not applied yet
            warehouse.create_schema()
            md = sa.MetaData()
            md.reflect(bind=warehouse.engine, only=list(CYCLE_TABLES))
        cache.update({n: md.tables[n] for n in CYCLE_TABLES})
    return cache[name]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def loads(value: str | None, default: Any = None) -> Any:
    return json.loads(value) if value else default


# One date reader for the warehouse (DATE on PostgreSQL, ISO text on SQLite).
as_date = _date
