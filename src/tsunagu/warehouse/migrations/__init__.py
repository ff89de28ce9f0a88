"""Versioned migrations of the warehouse schema (Alembic, configured here: no alembic.ini).

Kept apart from Airflow's own Alembic history: our scripts are in this package (``env.py`` and
``versions/``) and the applied revision is recorded in our own table, ``tsunagu_alembic_version``
(Airflow's is ``alembic_version``), so the two can even share a database.

``Warehouse.create_schema()`` is the only entry point. It takes the schema lock (PostgreSQL:
``pg_advisory_xact_lock`` on the current schema; SQLite: ``BEGIN IMMEDIATE``, one writer at a
time), then calls :func:`upgrade` in that same transaction, then runs the ``include/sql/schema``
DDL files idempotently. A brand-new database (none of the schema's tables, no version table) is
built from the DDL files alone and stamped at the head (:func:`stamp_new`): same schema, without
importing Alembic or running the whole chain. Everything commits together, so concurrent first runs wait for each other
instead of racing on ``CREATE TABLE`` (PostgreSQL ``UniqueViolation … pg_type_typname_nsp_index``).

Revisions (``versions/``; never edit one that has been released — add a new one):

* ``0001``: the schema of ``include/sql/schema/010…090`` as it stood when the schema became
  versioned, frozen in ``versions/0001_initial_schema.sql``;
* ``0002``: PostgreSQL only, widens ``submissions.kind`` from VARCHAR(40) (older databases) to 64.
* ``0003``: the mail ledger's outcome statuses (``unknown``, ``failed_permanent``) and ``mail_events``;
* ``0004``: the evaluation results (``evaluation_*`` tables, ``include/sql/schema/100_evaluation.sql``);
* ``0005``: ``releases.dataset`` (home-care packages or evaluation analyses), filled in for old rows.

A database created by the unversioned ``create_schema()`` (no version table, 0001's tables
present) is stamped at 0001 without running it, then upgraded (0002 widens its ``kind``).

Adding a table or changing one: write ``versions/<next>_<slug>.py`` (``python -m
tsunagu.warehouse.migrations new "add foo table"`` writes the file with the right ids), with the
DDL in it or in a frozen ``.sql`` beside it as 0001 does, and keep ``include/sql/schema/*.sql``
saying the same (it is the readable contract, and what ``Warehouse.table`` may reflect).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

VERSION_TABLE = "tsunagu_alembic_version"
SCRIPT_LOCATION = Path(__file__).resolve().parent
INITIAL = "0001"
INITIAL_SQL = SCRIPT_LOCATION / "versions" / "0001_initial_schema.sql"
_CREATE_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.IGNORECASE)


def config(connection: Connection | None = None) -> Any:
    """The Alembic config of the warehouse: our script location and version table, no ini file."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head() -> str:
    """The newest revision (the scripts do not change while a process runs)."""
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(config()).get_current_head()
    if found is None:
        raise RuntimeError(f"no migrations in {SCRIPT_LOCATION / 'versions'}")
    return found


@functools.cache
def initial_tables() -> frozenset[str]:
    """The tables revision 0001 creates."""
    return frozenset(_CREATE_TABLE.findall(INITIAL_SQL.read_text(encoding="utf-8")))


def current(conn: Connection) -> str | None:
    """The revision the database is at; None when it has no version table (new, or unversioned)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def stamp_new(conn: Connection, revision: str) -> None:
    """Record ``revision`` in a new version table, as Alembic's stamp would, without importing Alembic.

    For a brand-new database the caller has just built from ``include/sql/schema`` (the same schema the
    migrations give: tests/hardening/test_schema_migrations.py); the table is Alembic's own definition.
    """
    version = sa.Table(VERSION_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32), nullable=False),
                       sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"))
    version.create(conn)
    conn.execute(version.insert().values(version_num=revision))


def upgrade(conn: Connection) -> str | None:
    """Bring the schema to the head revision on ``conn``; returns the revision it was at.

    The caller holds the schema lock and the transaction (``Warehouse.create_schema``): Alembic
    runs inside it and commits nothing itself.
    """
    from alembic import command

    was = current(conn)
    if was == head():
        return was
    cfg = config(conn)
    if was is None:
        existing = set(sa.inspect(conn).get_table_names())
        if initial_tables() <= existing:
            log.warning("warehouse created before versioned migrations: stamped at %s", INITIAL)
            command.stamp(cfg, INITIAL)
        elif existing & initial_tables():  # 0001 is all IF NOT EXISTS: it adds exactly what is missing
            log.warning("warehouse created before versioned migrations lacks %s: 0001 creates them",
                        ", ".join(sorted(initial_tables() - existing)))
    command.upgrade(cfg, "head")
    log.info("warehouse schema upgraded from %s to %s", was or "nothing", head())
    return was


def new_revision(message: str) -> Path:
    """Write ``versions/<next number>_<slug>.py`` after the head (for developers)."""
    from alembic import command

    rev_id = f"{int(head()) + 1:04d}"
    script = command.revision(config(), message=message, rev_id=rev_id)
    return Path(script.path)  # type: ignore[union-attr]
