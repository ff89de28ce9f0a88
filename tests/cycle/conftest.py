"""Fixtures of the distribution-cycle tests: a TSUNAGU_HOME in tmp, the warehouse, a real SMTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsunagu.settings import get_settings


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TSUNAGU_HOME", str(home))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def settings(home):
    return get_settings()


@pytest.fixture
def warehouse(settings):
    from tsunagu.pipeline import open_warehouse

    wh = open_warehouse(settings)
    yield wh
    wh.dispose()


@pytest.fixture
def sink(tmp_path, monkeypatch):
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri

    with MailSink(tmp_path / "sink") as s:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(s.port, from_email="care@kantoshinetsu.example"))
        yield s
