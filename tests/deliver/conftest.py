from __future__ import annotations

import pytest

from tests.support.warehouse import add_active_request, make_warehouse
from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
from tsunagu.settings import get_settings

# The prefectures' active requests (情報提供依頼書) these tests deliver to: send() checks every delivery
# against them at send time.
ACTIVE_REQUESTS = {
    "08": ("care@pref.ibaraki.lg.jp", ()),
    "09": ("kenko@pref.tochigi.lg.jp", ("care@pref.tochigi.lg.jp",)),
    "11": ("kenko@pref.saitama.lg.jp", ("Chiiki-Care@pref.saitama.lg.jp",)),
    "19": ("a@pref.yamanashi.lg.jp", ()),
}


def _with_requests(wh):
    for pref, (email, cc) in ACTIVE_REQUESTS.items():
        add_active_request(wh, pref, 2025, email, cc)
    return wh


@pytest.fixture
def warehouse(warehouse):
    """tests/conftest.py's warehouse (SQLite and PostgreSQL), with the prefectures' requests."""
    return _with_requests(warehouse)


@pytest.fixture
def sqlite_wh(tmp_path):
    with make_warehouse("sqlite", tmp_path) as wh:
        yield _with_requests(wh)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("TSUNAGU_OUTBOX_DIR", raising=False)
    monkeypatch.delenv("TSUNAGU_OUTBOX_URL", raising=False)
    return get_settings(tmp_path / "home", db_url="sqlite://")


@pytest.fixture
def sink(tmp_path, monkeypatch):
    """A real SMTP server on loopback; Airflow's smtp_default points at it."""
    with MailSink(tmp_path / "sink") as s:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(s.port, from_email="kea@kantoshinetsu.example"))
        yield s
