"""Alembic environment of the warehouse: online only, on the connection ``Warehouse.create_schema()`` gives.

That connection is inside the schema lock's transaction, so Alembic neither connects nor commits.
"""

from __future__ import annotations

from alembic import context

from tsunagu.warehouse.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("tsunagu's migrations run through Warehouse.create_schema() (online, under the schema lock)")

context.configure(connection=connection, version_table=VERSION_TABLE, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
