"""The distribution cycle's tables (070_cycle.sql): releases, approvals, cycle_actions.

:mod:`tsunagu.cycle` reads and writes them through :func:`table` and ``warehouse.transaction``;
JSON columns are TEXT on both dialects, hence :func:`dumps`/:func:`loads` here, in one place.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tsunagu.warehouse.values import as_date, utcnow

if TYPE_CHECKING:
    from tsunagu.warehouse.db import Warehouse

__all__ = ["CYCLE_TABLES", "as_date", "dumps", "loads", "now_utc", "table"]

CYCLE_TABLES = ("releases", "approvals", "cycle_actions")

now_utc = utcnow  # the name the cycle modules use


def table(warehouse: Warehouse, name: str) -> sa.Table:
    """The reflected cycle table ``name``; KeyError for a table of another area."""
    if name not in CYCLE_TABLES:
        raise KeyError(f"{name!r} is not a cycle table ({', '.join(CYCLE_TABLES)})")
    return warehouse.table(name)


def dumps(value: Any) -> str:
    """Sorted keys, real Japanese: the stored text is stable and readable in the database."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def loads(value: str | None, default: Any = None) -> Any:
    return json.loads(value) if value else default
