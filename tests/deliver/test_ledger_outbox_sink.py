"""The ledger CSV export, the outbox folders and the mail sink itself."""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import stat
import subprocess
import sys
from email.message import EmailMessage

import pytest

from tsunagu.deliver import Mail, OutboxConflict, ScopeViolation, export_ledger_csv, ledger, place_in_outbox, send
from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
from tsunagu.deliver.outbox import sha256_file

from .helpers import write_csv

FY = 2025
T0 = dt.datetime(2025, 11, 20, 1, 30, tzinfo=dt.UTC)  # 10:30 JST


def test_export_ledger_csv_exact(warehouse, sink, settings, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    csv_path = write_csv(pkg / "home_care_reports_2025_09.csv", ["09", "09"])
    digest, size = sha256_file(csv_path), csv_path.stat().st_size
    to = "kenko@pref.tochigi.lg.jp"
    deliver = Mail(key="2025:delivery:09:v1", kind="delivery", fiscal_year=FY, to=(to,),
                   subject="【送付】定例報告データ（栃木県）", body="本文", attachments=(csv_path,),
                   prefecture_code="09", data_version="v1", allowed_recipients=frozenset({to}))
    notice = Mail(key="2025:prefecture_notice:10", kind="prefecture_notice", fiscal_year=FY,
                  to=("care@pref.gunma.lg.jp",), cc=("=cc@pref.gunma.lg.jp",), subject="=ご案内", body="本文",
                  prefecture_code="10")
    wrong = Mail(key="2025:prefecture_notice:11", kind="prefecture_notice", fiscal_year=FY,
                 to=("x@example.com",), subject="案内", body="本文", prefecture_code="11",
                 allowed_recipients=frozenset({"care@pref.saitama.lg.jp"}))
    earlier = Mail(key="2024:closing_report", kind="closing_report", fiscal_year=2024, to=("a@b.jp",),
                   subject="完了", body="本文")

    assert send(warehouse, deliver, settings=settings, now=T0).ok
    sink.fail_next(1)
    assert send(warehouse, notice, settings=settings, now=T0 + dt.timedelta(minutes=1)).status == "failed"
    with pytest.raises(ScopeViolation):
        send(warehouse, wrong, settings=settings, now=T0 + dt.timedelta(minutes=2))
    assert send(warehouse, earlier, settings=settings, now=T0 - dt.timedelta(days=300)).ok

    out = export_ledger_csv(warehouse, tmp_path / "exports" / "台帳.csv", fiscal_year=FY)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    outbox = settings.home / "outbox" / "09_tochigi" / "2025" / "v1"
    mid = {m.key: f"<{__import__('hashlib').sha256(m.key.encode()).hexdigest()[:32]}@tsunagu.kantoshinetsu>"
           for m in (deliver, notice, wrong)}
    header = ("年度,種別,種別ID,都道府県コード,都道府県,宛先,件名,データ版,送付方法,ファイル,SHA-256,バイト数,保存先,状態,"
              "送信日時(JST),SMTP応答コード,SMTP応答,Message-ID,試行回数,初回試行(JST),エラー,キー")
    lines = [
        header,
        f"2025,データ送付,delivery,09,栃木県,{to},【送付】定例報告データ（栃木県）,v1,添付,home_care_reports_2025_09.csv,"
        f"{digest},{size},{outbox},送信済,2025-11-20 10:30:00,250,2.0.0 Ok: queued as TSU000001,"
        f"{mid[deliver.key]},1,2025-11-20 10:30:00,,2025:delivery:09:v1",
        "2025,都県への案内,prefecture_notice,10,群馬県,care@pref.gunma.lg.jp; =cc@pref.gunma.lg.jp,'=ご案内,,なし,,,,,"
        f"送信失敗,,451,,{mid[notice.key]},1,2025-11-20 10:31:00,"
        "DATA refused: 451 4.3.0 Temporary failure (simulated by MailSink),2025:prefecture_notice:10",
        "2025,都県への案内,prefecture_notice,11,埼玉県,x@example.com,案内,,,,,,,送信停止,,,,"
        f"{mid[wrong.key]},1,2025-11-20 10:32:00,"
        "recipient(s) not on the prefecture's request form: x@example.com / 依頼書に記載のない宛先が含まれています: x@example.com,"
        "2025:prefecture_notice:11",
    ]
    assert data.decode("utf-8-sig") == "\r\n".join(lines) + "\r\n"

    only = export_ledger_csv(warehouse, tmp_path / "d.csv", kinds=["delivery", "closing_report"])
    assert [r.split(",")[-1] for r in only.read_text(encoding="utf-8-sig").splitlines()[1:]] == [
        "2024:closing_report", "2025:delivery:09:v1"]
    assert [e.key for e in ledger(warehouse, kind=["closing_report"])] == ["2024:closing_report"]
    assert [e.key for e in ledger(warehouse, status="failed")] == ["2025:prefecture_notice:10"]
    assert ledger(warehouse)[1].to_dict()["files"] == [
        {"name": "home_care_reports_2025_09.csv", "sha256": digest, "bytes": size}]


def test_outbox_is_read_only_idempotent_and_never_overwritten(settings, tmp_path):
    a = write_csv(tmp_path / "a.csv", ["19"])
    folder = place_in_outbox(settings, "19", FY, "v1", [a])
    assert folder == settings.home / "outbox" / "19_yamanashi" / "2025" / "v1"
    placed = folder / "a.csv"
    assert placed.read_bytes() == a.read_bytes()
    assert stat.S_IMODE(placed.stat().st_mode) == 0o444
    mtime = placed.stat().st_mtime_ns
    assert place_in_outbox(settings, "19", FY, "v1", [a]) == folder and placed.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv"]  # no temporary files left

    write_csv(a, ["19", "19"])  # same name, new content
    with pytest.raises(OutboxConflict, match="never overwritten"):
        place_in_outbox(settings, "19", FY, "v1", [a])
    assert place_in_outbox(settings, "19", FY, "v2", [a]) / "a.csv" != placed
    with pytest.raises(ValueError, match="unsafe data version"):
        place_in_outbox(settings, "19", FY, "../v3", [a])
    with pytest.raises(KeyError, match="not in the jurisdiction"):
        place_in_outbox(settings, "99", FY, "v1", [a])


def test_outbox_conflict_blocks_the_delivery(sqlite_wh, sink, settings, tmp_path):
    a = write_csv(tmp_path / "a.csv", ["19"])
    place_in_outbox(settings, "19", FY, "v1", [a])
    write_csv(a, ["19", "19"])
    mail = Mail(key="2025:delivery:19:v1", kind="delivery", fiscal_year=FY, to=("a@pref.yamanashi.lg.jp",),
                subject="送付", body="本文", attachments=(a,), prefecture_code="19", data_version="v1",
                allowed_recipients=frozenset({"a@pref.yamanashi.lg.jp"}))
    with pytest.raises(OutboxConflict):
        send(sqlite_wh, mail, settings=settings)
    [entry] = ledger(sqlite_wh)
    assert entry.status == "blocked" and entry.last_error.startswith("outbox:") and sink.messages == []


def test_outbox_dir_env(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGU_OUTBOX_DIR", str(tmp_path / "share"))
    folder = place_in_outbox(settings, "20", FY, "v1", [write_csv(tmp_path / "b.csv", ["20"])])
    assert folder == tmp_path / "share" / "20_nagano" / "2025" / "v1"


def test_sink_names_files_and_simulates_faults(tmp_path):
    def message(key: str) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["X-Tsunagu-Key"] = "a@b.jp", "c@d.jp", "件名", key
        m.set_content("本文")
        return m

    with MailSink(tmp_path / "s") as sink:
        assert sink.port > 0 and sink.running
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as c:
            c.send_message(message("2025:delivery:11:v1"))
            sink.fail_next(1, code=451)
            with pytest.raises(smtplib.SMTPDataError) as info:
                c.send_message(message("2025:x"))
            assert info.value.smtp_code == 451
            sink.reject_recipients(r"@d\.jp$")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                c.send_message(message("2025:y"))
            sink.clear_faults()
            c.send_message(message("2025:z/..\\evil"))
        assert [p.name for p in sorted(sink.folder.glob("*.eml"))] == [
            "001_2025_delivery_11_v1.eml", "002_2025_z_.._evil.eml"]
        assert [m["Subject"] for m in sink.messages] == ["件名", "件名"]
        assert sink.received[0].reply == "250 2.0.0 Ok: queued as TSU000001"
    assert not sink.running
    with MailSink(tmp_path / "s") as again:  # numbering goes on in the same folder
        with smtplib.SMTP(again.host, again.port, timeout=10) as c:
            c.send_message(message("k"))
        assert again.received[0].path.name == "003_k.eml"


def test_conn_uri_is_read_by_the_smtp_hook():
    uri = smtp_conn_uri(2525, from_email="kea@example.jp")
    code = ("from airflow.providers.smtp.hooks.smtp import SmtpHook; import json;"
            "c = SmtpHook().get_connection('smtp_default'); print(json.dumps([c.conn_type, c.host, c.port, c.extra_dejson]))")
    env = {**os.environ, "AIRFLOW_CONN_SMTP_DEFAULT": uri}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == (
        '["smtp", "127.0.0.1", 2525, {"disable_tls": "true", "disable_ssl": "true", "timeout": "10", '
        '"retry_limit": "0", "from_email": "kea@example.jp"}]')


def test_importing_deliver_does_not_import_airflow():
    code = "import sys, tsunagu.deliver, tsunagu.deliver.mailsink; print(any(m.startswith('airflow') for m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
