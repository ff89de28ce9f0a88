"""A mail whose outcome is unknown is never sent twice: real faults, real server, real kills.

The relay (a real aiosmtpd server on loopback) stores the message, and then the client never learns it:
the connection drops before the 250, or the 250 comes after the client's timeout, or the sending
process is killed with SIGKILL between the 250 and the ledger write. Before the fix, the ledger said
``failed`` (or stayed ``sending``) and the next run sent a second copy with the same Message-ID.
Now the row is ``unknown``, never retried, until an operator decides.

SQLite and PostgreSQL, each with both forms of the ledger (``current``: 080_mail_ledger.sql;
``legacy``: the four-status CHECK of ledgers created before ``unknown`` existed).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.deliver.helpers import LEDGER_FORMS, use_ledger_form, write_csv
from tests.support.warehouse import add_active_request
from tsunagu.deliver import Mail, ledger, message_id_for, send
from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
from tsunagu.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
FY = 2025
SAITAMA = "kenko@pref.saitama.lg.jp"
NOW = dt.datetime(2025, 11, 20, 1, 30, tzinfo=dt.UTC)  # 10:30 JST
NEXT_DAY = NOW + dt.timedelta(days=1)


@pytest.fixture(params=LEDGER_FORMS)
def form(request) -> str:
    return request.param


@pytest.fixture
def wh(warehouse, form):
    use_ledger_form(warehouse, form)
    return warehouse


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("TSUNAGU_OUTBOX_DIR", raising=False)
    monkeypatch.delenv("TSUNAGU_OUTBOX_URL", raising=False)
    return get_settings(tmp_path / "home", db_url="sqlite://")


def _start_sink(tmp_path, monkeypatch, timeout: int = 10) -> MailSink:
    sink = MailSink(tmp_path / "sink").start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT",
                       smtp_conn_uri(sink.port, from_email="kea@kantoshinetsu.example", timeout=timeout))
    return sink


@pytest.fixture
def sink(tmp_path, monkeypatch):
    s = _start_sink(tmp_path, monkeypatch)
    yield s
    s.stop()


def copies(sink: MailSink) -> dict[str, int]:
    """How many messages the relay holds per X-Tsunagu-Key (checked against the Message-ID)."""
    out: collections.Counter[str] = collections.Counter()
    for r in sink.received:
        msg = email.message_from_bytes(r.path.read_bytes(), policy=email.policy.default)
        assert msg["Message-ID"] == message_id_for(msg["X-Tsunagu-Key"])
        out[msg["X-Tsunagu-Key"]] += 1
    return dict(out)


def delivery(tmp_path) -> Mail:
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    csv_path = pkg / "home_care_reports_2025_11.csv"
    if not csv_path.exists():
        write_csv(csv_path, ["11", "11"])
    return Mail(key="2025:delivery:11:v1", kind="delivery", fiscal_year=FY, to=(SAITAMA,),
                subject="【送付】令和7年度 定例報告データ（埼玉県）", body="埼玉県 ご担当者様\n送付いたします。",
                attachments=(csv_path,), prefecture_code="11", data_version="v1",
                allowed_recipients=frozenset({SAITAMA}))


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_connection_dropped_after_the_message_was_stored_is_not_resent(wh, sink, settings, tmp_path, reset):
    warehouse = wh
    add_active_request(warehouse, "11", FY, SAITAMA)
    mail = delivery(tmp_path)
    sink.drop_after_data(reset=reset)  # the relay has the message; the client never sees the 250
    first = send(warehouse, mail, settings=settings, now=NOW)
    again = send(warehouse, mail, settings=settings, now=NEXT_DAY)  # the next day's run
    later = send(warehouse, mail, settings=settings, now=NEXT_DAY + dt.timedelta(days=7))

    assert copies(sink) == {mail.key: 1}, "a second copy went out"
    assert first.status == again.status == later.status == "unknown"
    assert not first.ok and again.attempts == later.attempts == 1  # no further attempt, no server contacted
    assert first.sent_at is None and first.smtp_status is None
    assert "outcome unknown" in first.last_error and "送信結果不明" in first.last_error
    assert [e.status for e in ledger(warehouse)] == ["unknown"]


def test_reply_after_the_client_timeout_is_not_resent(wh, tmp_path, monkeypatch, settings):
    warehouse = wh
    sink = _start_sink(tmp_path, monkeypatch, timeout=2)  # the client waits 2 s for a reply
    try:
        mail = Mail(key="2025:prefecture_notice:10", kind="prefecture_notice", fiscal_year=FY,
                    to=("care@pref.gunma.lg.jp",), subject="【ご案内】定例報告データの提供について", body="本文",
                    prefecture_code="10")
        sink.delay_reply(6)
        first = send(warehouse, mail, settings=settings, now=NOW)
        again = send(warehouse, mail, settings=settings, now=NEXT_DAY)
        assert copies(sink) == {mail.key: 1}, "a second copy went out"
        assert first.status == again.status == "unknown" and again.attempts == 1
        assert "timed out" in first.last_error
    finally:
        sink.stop()


def test_refusal_of_the_content_is_a_known_outcome(wh, sink, settings):
    """The server's own answer (451 after the content) is known: retried, not unknown."""
    warehouse = wh
    mail = Mail(key="2025:office_request:08", kind="office_request", fiscal_year=FY, to=("office@example.jp",),
                subject="依頼", body="本文")
    sink.fail_next(1, code=451)
    assert send(warehouse, mail, settings=settings, now=NOW).status == "failed"
    assert send(warehouse, mail, settings=settings, now=NEXT_DAY).status == "sent"
    assert copies(sink) == {mail.key: 1}


# ----------------------------------------------------------------------------- real kills
NEXT_DAY_CLI = textwrap.dedent("""
    import datetime as dt, sys
    import time_machine
    from tsunagu.cli import main

    # The next day's run: the real clock, one day on (what the ledger compares its timestamps with).
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), tick=True):
        sys.exit(main(sys.argv[1:]))
""")


def _cli_env(tmp_path: Path, port: int, db_url: str | None, fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "AIRFLOW_CONN_"))}
    env.update({
        "TSUNAGU_HOME": str(tmp_path / "home"),
        "AIRFLOW_CONN_SMTP_DEFAULT": smtp_conn_uri(port, from_email="kea@kantoshinetsu.example"),
        "PYTHONPATH": str(REPO / "src"),
    })
    if db_url:
        env["TSUNAGU_DB_URL"] = db_url
    if fault:
        env["TSUNAGU_FAULT"] = fault
    return env


def _cycle(env: dict[str, str], day: str, *, next_day: bool = False) -> subprocess.CompletedProcess:
    args = ["cycle", "--day", day, "--prefecture", "08"]
    cmd = [sys.executable, "-c", NEXT_DAY_CLI, *args] if next_day else [sys.executable, "-m", "tsunagu.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _results(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["key"]: r for r in rows if r.get("key")}


@pytest.fixture
def cli_db(backend, form, request, tmp_path):
    """The warehouse URL for the CLI processes (None: SQLite under TSUNAGU_HOME; or a throw-away PostgreSQL
    schema), its schema created beforehand with the ledger in ``form``."""
    from tests.support.warehouse import postgres_schema_url

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            (tmp_path / "home").mkdir()
            url = None
        else:
            url = stack.enter_context(postgres_schema_url(request.getfixturevalue("pg_url")))
        wh = _warehouse(tmp_path, url)
        try:
            wh.create_schema()
            use_ledger_form(wh, form)
        finally:
            wh.dispose()
        yield url


def _warehouse(tmp_path: Path, db_url: str | None):
    from tsunagu.warehouse.db import Warehouse

    return Warehouse(db_url or f"sqlite:///{tmp_path / 'home' / 'warehouse.sqlite'}")


@pytest.mark.slow
def test_kill_after_the_server_accepted_then_rerun_next_day(cli_db, sink, tmp_path):
    """SIGKILL at point("after_smtp_accept") in the cycle's process; the next day's run sends no second copy."""
    killed = _cycle(_cli_env(tmp_path, sink.port, cli_db, fault="after_smtp_accept"), "2025-09-01")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    [first] = copies(sink)  # the relay accepted the first mail; the process died before the ledger knew
    wh = _warehouse(tmp_path, cli_db)
    try:
        assert [(e.key, e.status) for e in ledger(wh)] == [(first, "sending")]
        from tsunagu.deliver import mail_history, unknown_mails

        assert [e.event for e in mail_history(wh, first)] == ["claimed", "data"]  # no outcome: the kill
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # listed as unknown before any run meets it
        assert [(e.key, e.status) for e in unknown_mails(wh, now=later)] == [(first, "unknown")]

        rerun = _cycle(_cli_env(tmp_path, sink.port, cli_db), "2025-09-02", next_day=True)
        assert copies(sink).get(first) == 1, "the killed mail was sent a second time"
        out = _results(rerun)
        assert out[first]["status"] == "unknown", rerun.stdout
        assert "送信結果不明" in out[first]["detail"] and "outcome unknown" in out[first]["detail"]
        assert {k: r["status"] for k, r in out.items() if k != first} == {
            k: "sent" for k in ("2025:office_request:08", "2025:prefecture_notice:08") if k != first}
        assert copies(sink) == {"2025:office_request:08": 1, "2025:prefecture_notice:08": 1}
        assert {e.key: e.status for e in ledger(wh)}[first] == "unknown"
        assert [e.key for e in unknown_mails(wh)] == [first]
        assert [e.event for e in mail_history(wh, first)] == ["claimed", "data", "unknown"]
    finally:
        wh.dispose()


@pytest.mark.slow
def test_kill_before_the_smtp_session_is_retried(sink, tmp_path):
    """A process killed before it talked to the server sent nothing: the next run sends the mail, once."""
    killed = _cycle(_cli_env(tmp_path, sink.port, None, fault="before_smtp_session"), "2025-09-01")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sink.received == []
    rerun = _cycle(_cli_env(tmp_path, sink.port, None), "2025-09-02", next_day=True)
    assert {k: r["status"] for k, r in _results(rerun).items()} == {
        "2025:office_request:08": "sent", "2025:prefecture_notice:08": "sent"}, rerun.stdout
    assert copies(sink) == {"2025:office_request:08": 1, "2025:prefecture_notice:08": 1}
