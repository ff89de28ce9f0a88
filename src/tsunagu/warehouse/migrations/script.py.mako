"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Runs inside Warehouse.create_schema()'s transaction under the schema lock, on SQLite and PostgreSQL:
use portable SQL, or branch on op.get_bind().dialect.name. Keep include/sql/schema/*.sql saying the same.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("the warehouse is not downgraded: restore a backup")
