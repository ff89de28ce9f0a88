"""Fixtures of the grant tests that run the real path: a TSUNAGU_HOME in tmp and a real SMTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TSUNAGU_HOME", str(home))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def sink(tmp_path, monkeypatch):
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri

    with MailSink(tmp_path / "sink") as s:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(s.port, from_email="care@kantoshinetsu.example"))
        yield s


@pytest.fixture
def wh(tmp_path):
    """A migrated SQLite warehouse in tmp."""
    from tests.support.warehouse import make_warehouse

    with make_warehouse("sqlite", tmp_path) as warehouse:
        yield warehouse
