from __future__ import annotations

import pytest

from tsunagu.warehouse.testing import make_warehouse


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def warehouse_url(backend, request, tmp_path):
    """A URL of an empty warehouse database: SQLite file, or a throw-away PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'wh.sqlite'}"
        return
    from tsunagu.warehouse.testing import postgres_schema_url

    with postgres_schema_url(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def warehouse(backend, request, tmp_path):
    pg = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with make_warehouse(backend, tmp_path, pg) as wh:
        yield wh
