"""A warehouse on SQLite or PostgreSQL, and settings under tmp_path."""

from __future__ import annotations

import pytest

from tsunagu.settings import Settings
from tsunagu.warehouse.testing import make_warehouse


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def warehouse(backend, request, tmp_path):
    pg = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with make_warehouse(backend, tmp_path, pg) as wh:
        yield wh


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", db_url="sqlite:///unused")
