"""The versioned schema: fresh, legacy (created before versions) and DDL files not yet in a migration.

On SQLite and on real PostgreSQL (a throw-away schema per test).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tsunagu.warehouse import migrations
from tsunagu.warehouse.db import Warehouse, schema_statements, schema_tables

REPO = Path(__file__).resolve().parents[2]


def _version(wh: Warehouse) -> list[str]:
    with wh.read() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {migrations.VERSION_TABLE}")]


def _legacy(url: str, statements: list[str] | None = None) -> None:
    """A database as the unversioned create_schema() left it: the DDL statements, no version table."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for stmt in statements if statements is not None else schema_statements(engine.dialect.name):
            conn.exec_driver_sql(stmt)
    engine.dispose()


def _describe(engine: sa.Engine, *, version_table: bool = False) -> dict:
    """Everything the DDL decides, per table: columns, keys, unique and check constraints, indexes."""
    insp = sa.inspect(engine)
    out = {}
    for t in sorted(set(insp.get_table_names()) - (set() if version_table else {migrations.VERSION_TABLE})):
        out[t] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")), bool(c.get("identity")))
                        for c in insp.get_columns(t)],
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(t)),
            "check": sorted((c["name"], " ".join(c["sqltext"].split())) for c in insp.get_check_constraints(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
        }
    return out


def test_released_migrations_are_frozen():
    """Migrations are immutable once released: a changed schema is a new revision, never an edited one."""
    sql = migrations.INITIAL_SQL.read_bytes()
    assert hashlib.sha256(sql).hexdigest() == (
        "03bcb0e1d668fae873b46a026a1bfa78e919729d61685acbc224bcdf9991b556"
    ), "versions/0001_initial_schema.sql is a released migration: change the schema with a new revision"
    versions = sorted(p.name for p in (migrations.SCRIPT_LOCATION / "versions").glob("*.py"))
    assert versions[:2] == ["0001_initial_schema.py", "0002_widen_submissions_kind.py"]
    assert migrations.head() == versions[-1].split("_", 1)[0]


@pytest.mark.parametrize("migrate", [False, True], ids=["from_ddl", "migrated"])
def test_a_fresh_warehouse_is_at_head_in_its_own_version_table(warehouse_url, migrate):
    wh = Warehouse(warehouse_url)
    wh.create_schema(migrate=migrate)
    wh.create_schema()  # idempotent: nothing to do the second time
    assert _version(wh) == [migrations.head()] == ["0005"]
    tables = set(sa.inspect(wh.engine).get_table_names())
    assert schema_tables() <= tables
    assert "alembic_version" not in tables  # Airflow's version table is not ours
    wh.dispose()


def test_migrations_give_exactly_the_schema_of_the_ddl_files(warehouse_url, tmp_path, backend, request):
    """0001 (+ later revisions) and include/sql/schema say the same. A failure here means a DDL file
    changed a table a migration creates: change it with a new migration as well."""
    wh = Warehouse(warehouse_url)
    wh.create_schema(migrate=True)  # a new database would otherwise be built from the DDL files
    migrated = _describe(wh.engine)
    wh.dispose()
    if backend == "sqlite":
        from contextlib import nullcontext

        ctx = nullcontext(f"sqlite:///{tmp_path / 'ddl_only.sqlite'}")
    else:
        from tests.support.warehouse import postgres_schema_url

        ctx = postgres_schema_url(request.getfixturevalue("pg_url"))
    with ctx as ddl_url:
        _legacy(ddl_url)
        engine = sa.create_engine(ddl_url)
        from_files = _describe(engine)
        engine.dispose()
    assert migrated.keys() == from_files.keys()
    for table in migrated:
        assert migrated[table] == from_files[table], (
            f"{table}: include/sql/schema no longer says what the migrations create; a change to a table a "
            "migration creates needs a new migration (tsunagu.warehouse.migrations)")


def test_a_new_warehouse_from_the_ddl_files_is_the_migrated_one_version_table_included(
        warehouse_url, tmp_path, backend, request):
    """A brand-new database is built from include/sql/schema and stamped without Alembic: the same tables,
    version table and version as 0001→head run by Alembic."""
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    from_ddl = _describe(wh.engine, version_table=True)
    assert _version(wh) == [migrations.head()]
    wh.dispose()
    if backend == "sqlite":
        from contextlib import nullcontext

        ctx = nullcontext(f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    else:
        from tests.support.warehouse import postgres_schema_url

        ctx = postgres_schema_url(request.getfixturevalue("pg_url"))
    with ctx as migrated_url:
        migrated_wh = Warehouse(migrated_url)
        migrated_wh.create_schema(migrate=True)
        migrated = _describe(migrated_wh.engine, version_table=True)
        migrated_wh.dispose()
    assert migrations.VERSION_TABLE in from_ddl
    assert from_ddl == migrated


def test_an_unversioned_warehouse_is_stamped_and_keeps_its_rows(warehouse_url, backend, caplog):
    _legacy(warehouse_url)
    engine = sa.create_engine(warehouse_url)
    with engine.begin() as conn:
        if backend == "postgresql":  # as databases created before submissions.kind was widened
            conn.exec_driver_sql("ALTER TABLE submissions ALTER COLUMN kind TYPE VARCHAR(40)")
        conn.exec_driver_sql(
            "INSERT INTO submissions (kind, sha256, original_name, sender, received_at) "
            "VALUES ('register', '" + "a" * 64 + "', 'meibo.xlsx', '08', CURRENT_TIMESTAMP)")
    engine.dispose()
    wh = Warehouse(warehouse_url)
    with caplog.at_level(logging.INFO, logger="alembic"):
        wh.create_schema()
    assert "Running stamp_revision  -> 0001" in caplog.text
    assert "Running upgrade  -> 0001" not in caplog.text  # stamped, not run
    assert "Running upgrade 0001 -> 0002" in caplog.text
    assert _version(wh) == [migrations.head()]
    assert wh.count("submissions") == 1
    if backend == "postgresql":
        kind = next(c for c in sa.inspect(wh.engine).get_columns("submissions") if c["name"] == "kind")
        assert kind["type"].length == 64
    # a 64-character kind fits now
    wh.register_submission("grant.community_support." + "x" * 40, "b" * 64, "a.xlsx", "08", 2025)
    wh.dispose()


def test_an_unversioned_warehouse_missing_tables_gets_them(warehouse_url):
    first_file = sorted((REPO / "include" / "sql" / "schema").glob("*.sql"))[0]
    from tsunagu.warehouse.db import split_statements

    dialect = sa.make_url(warehouse_url).get_backend_name()
    identity = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
                "postgresql": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"}[dialect]
    _legacy(warehouse_url, [s.replace("{{IDENTITY_PK}}", identity)
                            for s in split_statements(first_file.read_text(encoding="utf-8"))])
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    assert _version(wh) == [migrations.head()]
    assert schema_tables() <= set(sa.inspect(wh.engine).get_table_names())
    wh.dispose()


def test_airflow_s_alembic_version_is_left_alone(warehouse_url):
    engine = sa.create_engine(warehouse_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('29ce7909c52b')")
    engine.dispose()
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    with wh.read() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "29ce7909c52b"
    assert _version(wh) == [migrations.head()]
    wh.dispose()


def test_a_ddl_file_without_a_migration_yet_is_still_created(warehouse_url, tmp_path, monkeypatch, caplog):
    """Engineers adding a DDL file before its migration: create_schema() still creates the table
    (and says it needs a migration)."""
    include = tmp_path / "include"
    shutil.copytree(REPO / "include" / "sql", include / "sql")
    (include / "sql" / "schema" / "990_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra_things (id INTEGER NOT NULL PRIMARY KEY, note TEXT);\n"
        "CREATE INDEX IF NOT EXISTS ix_extra_things_note ON extra_things (note);\n", encoding="utf-8")
    monkeypatch.setenv("TSUNAGU_INCLUDE", str(include))
    wh = Warehouse(warehouse_url)
    with caplog.at_level(logging.WARNING, logger="tsunagu.warehouse.db"):
        wh.create_schema(migrate=True)  # a new database would be built from the DDL files, extra_things included
        wh.create_schema()
    assert caplog.text.count("no migration creates yet: extra_things") == 1
    assert wh.table("extra_things").c.keys() == ["id", "note"]
    assert _version(wh) == [migrations.head()]
    wh.dispose()


def test_a_new_warehouse_from_the_ddl_files_has_a_table_no_migration_has_yet(warehouse_url, tmp_path, monkeypatch):
    include = tmp_path / "include"
    shutil.copytree(REPO / "include" / "sql", include / "sql")
    (include / "sql" / "schema" / "990_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra_things (id INTEGER NOT NULL PRIMARY KEY, note TEXT);\n", encoding="utf-8")
    monkeypatch.setenv("TSUNAGU_INCLUDE", str(include))
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    assert wh.table("extra_things").c.keys() == ["id", "note"]
    assert _version(wh) == [migrations.head()]
    wh.dispose()


def test_heads_command():
    from tsunagu.warehouse.migrations.__main__ import main

    assert main(["heads"]) == 0


def test_head_revision_without_alembic_is_alembic_s_head():
    from tsunagu.warehouse.db import head_revision

    assert head_revision() == migrations.head()


def test_an_open_at_head_is_one_query_without_alembic(warehouse_url):
    """A new database is built from the DDL files and every later open_warehouse() finds the version at the head:
    neither imports Alembic."""
    import subprocess
    import sys

    script = ("import sys; from tsunagu.warehouse.db import Warehouse; wh = Warehouse(sys.argv[1]); "
              "wh.create_schema(); print('alembic' in sys.modules, sorted(wh.table('submissions').c.keys())[:2])")

    def open_fresh_process() -> str:
        return subprocess.run([sys.executable, "-c", script, warehouse_url], capture_output=True, text=True,
                              check=True, cwd=REPO).stdout.strip()

    assert open_fresh_process() == "False ['archive_path', 'channel']"  # new: built from the DDL files, stamped
    assert open_fresh_process() == "False ['archive_path', 'channel']"  # at the head: Alembic left alone
    wh = Warehouse(warehouse_url)
    assert _version(wh) == [migrations.head()]
    wh.dispose()


def test_0005_gives_releases_their_dataset_backfilled_from_the_template_version(warehouse_url):
    """Releases written before 0005 told the evaluation cycle's apart by ``template_version`` = "evaluation/…"."""
    from alembic import command

    engine = sa.create_engine(warehouse_url)
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), "0004")
        for i, template_version in enumerate(("evaluation/2025", "2025.1", None), start=1):
            conn.execute(sa.text(
                "INSERT INTO releases (fiscal_year, prefecture_code, version, head_seq, dir, files, rows, sources, "
                "template_version, created_at) VALUES (2025, '11', :v, 1, 'd', '{}', 3, '[]', :t, CURRENT_TIMESTAMP)"),
                {"v": f"{i:016x}", "t": template_version})
    engine.dispose()
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    assert _version(wh) == ["0005"]
    with wh.read() as conn:
        rows = conn.exec_driver_sql("SELECT version, template_version, dataset FROM releases ORDER BY version").all()
    assert [tuple(r) for r in rows] == [("0000000000000001", "evaluation/2025", "evaluation"),
                                        ("0000000000000002", "2025.1", "home_care_report"),
                                        ("0000000000000003", None, "home_care_report")]
    wh.dispose()
