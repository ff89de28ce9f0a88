"""Releases carry their dataset: ``releases.dataset`` (default the home-care reports), backfilled.

Revision ID: 0005
Revises: 0004

Until now the evaluation cycle told its releases apart by a ``template_version`` of ``"<dataset>/…"``
(a home-care template version has no ``/``). The column says it plainly; the rows written before it
are backfilled from that prefix. A database whose tables came from the DDL files before it was
stamped may have the column already: then only the backfill runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DEFAULT = "home_care_report"


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("releases")}
    if "dataset" not in columns:
        bind.exec_driver_sql(
            f"ALTER TABLE releases ADD COLUMN dataset VARCHAR(40) NOT NULL DEFAULT '{DEFAULT}'")
    # "evaluation/2025" -> "evaluation" (no LIKE '%': the driver may read % as a placeholder)
    if bind.dialect.name == "postgresql":
        head, slash = "split_part(template_version, '/', 1)", "strpos(template_version, '/')"
    else:
        head, slash = "substr(template_version, 1, instr(template_version, '/') - 1)", "instr(template_version, '/')"
    bind.exec_driver_sql(f"UPDATE releases SET dataset = {head} WHERE {slash} > 0")


def downgrade() -> None:
    raise NotImplementedError("the warehouse is not downgraded: restore a backup")
