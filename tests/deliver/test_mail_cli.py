"""The operator's side of an unknown mail outcome, from the CLI: list it, decide it, and it is never sent twice."""

from __future__ import annotations

import json

import pytest

from tsunagu.cli import main
from tsunagu.deliver import Mail, ledger, send
from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
from tsunagu.pipeline import open_warehouse


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_OUTBOX_DIR", "TSUNAGU_OUTBOX_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_unknown_mail_is_listed_then_resolved_by_an_operator(home, tmp_path, monkeypatch, capsys):
    warehouse = open_warehouse()
    mail = Mail(key="2025:office_request:11", kind="office_request", fiscal_year=2025,
                to=("kantoshinetsu-saitama@mhlw.go.jp",), subject="【依頼】テスト", body="本文", prefecture_code="11")
    with MailSink(tmp_path / "sink") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="kea@kantoshinetsu.example"))
        sink.drop_after_data()  # the relay stores it, then the connection drops before the 250
        assert send(warehouse, mail).status == "unknown"
        assert send(warehouse, mail).status == "unknown"  # never retried on its own
        assert len(sink.received) == 1

        assert main(["mail", "problems"]) == 0
        # (Airflow, imported to send, may log to stdout: the listing is the JSON lines)
        (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert (listed["key"], listed["status"], listed["kind"], listed["prefecture_code"]) == (
            "2025:office_request:11", "unknown", "office_request", "11")

        assert main(["mail", "resolve", "2025:office_request:11", "--decision", "sent", "--operator", "山田",
                     "--note", "中継サーバのログで受信を確認"]) == 0
        assert "2025:office_request:11: sent (decided by 山田)\n" in capsys.readouterr().out
        assert main(["mail", "problems"]) == 0
        assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")] == []
        assert send(warehouse, mail).already_sent and len(sink.received) == 1
    assert [e.status for e in ledger(warehouse, fiscal_year=2025)] == ["sent"]
    assert main(["mail", "resolve", "no-such-key", "--decision", "resend", "--operator", "山田", "--note", "x"]) == 2
