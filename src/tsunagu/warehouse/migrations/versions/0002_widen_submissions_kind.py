"""PostgreSQL: widen submissions.kind to VARCHAR(64) in databases created when it was VARCHAR(40).

Revision ID: 0002
Revises: 0001

SQLite does not enforce VARCHAR lengths: nothing to do there. A database created by 0001 already has
VARCHAR(64), so the ALTER (which rewrites the table under an exclusive lock) runs only when needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KIND_LENGTH = 64


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    length = bind.execute(sa.text(
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'submissions' AND column_name = 'kind'"
    )).scalar()
    if length is not None and length < KIND_LENGTH:
        bind.exec_driver_sql(f"ALTER TABLE submissions ALTER COLUMN kind TYPE VARCHAR({KIND_LENGTH})")


def downgrade() -> None:
    raise NotImplementedError("the warehouse is not downgraded: restore a backup")
