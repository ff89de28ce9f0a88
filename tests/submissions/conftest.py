"""Settings under tmp_path (the warehouse fixture, SQLite and PostgreSQL, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tsunagu.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", db_url="sqlite:///unused")
