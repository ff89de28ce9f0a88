"""A mail server outage during ``tsunagu cycle``: exit 4 (never 1, "rejected"), one line saying why in
Japanese and English, the mails' outcomes on stdout; the next run, with the server back, sends them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tsunagu.cli import EXIT_MAIL_UNAVAILABLE, main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"
YAMANASHI_REGISTER = next((DEMO / "register").glob("19*.xlsx"))
V2 = DEMO / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
CYCLE = ["cycle", "--day", "2025-11-12", "--prefecture", "19"]
FROM = "care@kantoshinetsu.example"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_LANDING", "TSUNAGU_OUTBOX", "TSUNAGU_OUTBOX_DIR",
                "TSUNAGU_OUTBOX_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(stdout: str) -> list[dict]:
    """The cycle's JSON lines (Airflow, once imported to send, may log to stdout as well)."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_mail_server_down_during_the_cycle_exits_4(home, tmp_path, monkeypatch, capsys):
    from tests.support.warehouse import add_active_request
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse

    assert main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)]) == 0
    assert main(["ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", str(V2)]) == 0
    add_active_request(open_warehouse(), "19", 2025, "kai-hanako@pref.yamanashi.lg.jp")
    capsys.readouterr()

    port = closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(port, from_email=FROM))
    assert main(CYCLE) == EXIT_MAIL_UNAVAILABLE == 4
    out = capsys.readouterr()
    results = _results(out.out)
    failed = [r for r in results if r["status"] == "failed"]
    assert failed and not [r for r in results if r["status"] == "sent"]
    lines = out.err.splitlines()
    where = f"127.0.0.1:{port}"
    assert lines[0] == (f"tsunagu: メールサーバを利用できません（接続が拒否されました）: {where} / "
                        f"mail server unavailable (connection refused): {where}")
    assert lines[1] == (f"送信済み 0 件、未送信 {len(failed)} 件（次回の実行で再送されます） / "
                        f"sent 0, not sent {len(failed)} (sent again on the next run)")

    with MailSink(tmp_path / "sink") as sink:  # the server is back: the same day's run sends them
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email=FROM))
        assert main(CYCLE) == 0
        again = _results(capsys.readouterr().out)
        assert {r["key"] for r in again if r["status"] == "sent"} == {r["key"] for r in failed}
        assert len(sink.received) == len(failed)


def test_a_refused_recipient_is_not_an_outage(home, tmp_path, monkeypatch, capsys):
    """The server is up and refuses a mail (550): exit 1 as before, no outage line."""
    from tests.support.warehouse import add_active_request
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse

    main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)])
    main(["ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", str(V2)])
    add_active_request(open_warehouse(), "19", 2025, "kai-hanako@pref.yamanashi.lg.jp")
    capsys.readouterr()
    with MailSink(tmp_path / "sink") as sink:
        sink.reject_recipients(r".")
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email=FROM))
        assert main(CYCLE) == 1
    err = capsys.readouterr().err
    assert "mail server unavailable" not in err and "メールサーバを利用できません" not in err
