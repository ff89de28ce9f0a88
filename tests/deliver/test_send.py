"""send() against a real SMTP server on loopback (aiosmtpd), through Airflow's SmtpHook. No mocks."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import stat
import threading
from email.header import decode_header, make_header

import openpyxl
import pytest
import sqlalchemy as sa

from tsunagu.deliver import Mail, ScopeViolation, ledger, message_id_for, send, was_sent
from tsunagu.deliver.ledger import DeliveryFailed, mail_ledger
from tsunagu.deliver.outbox import sha256_file

from .helpers import read_csv_bytes, write_csv, write_xlsx

FY = 2025
SAITAMA = "kenko@pref.saitama.lg.jp"
SAITAMA_CC = "Chiiki-Care@pref.saitama.lg.jp"
NOW = dt.datetime(2025, 11, 20, 1, 30, tzinfo=dt.UTC)  # 10:30 JST


def delivery(tmp_path, *, key="2025:delivery:11:v1", files=None, version="v1", **kw) -> Mail:
    if files is None:
        pkg = tmp_path / "pkg"
        pkg.mkdir(exist_ok=True)
        files = (write_csv(pkg / "home_care_reports_2025_11.csv", ["11", "11", "11"]),
                 write_xlsx(pkg / "home_care_reports_2025_11.xlsx", ["11", "11", "11"]))
    fields = dict(
        key=key, kind="delivery", fiscal_year=FY, to=(SAITAMA,), cc=(SAITAMA_CC,),
        subject="【送付】令和7年度 在宅療養支援診療所等の定例報告データ（埼玉県）",
        body="埼玉県 保健医療部 ご担当者様\n\n令和7年度の定例報告データを送付いたします。\n関東信越厚生局 地域包括ケア推進課",
        attachments=tuple(files), prefecture_code="11", data_version=version,
        allowed_recipients=frozenset({SAITAMA.upper(), SAITAMA_CC.lower()}),
    )
    fields.update(kw)
    return Mail(**fields)


def test_delivery_arrives_scoped_and_logged(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    entry = send(warehouse, mail, settings=settings, now=NOW)

    assert entry.status == "sent" and entry.ok and not entry.already_sent
    assert entry.smtp_status == 250 and entry.smtp_reply == "2.0.0 Ok: queued as TSU000001"
    assert entry.message_id == message_id_for(mail.key)
    assert entry.attempts == 1 and entry.sent_at == NOW.replace(tzinfo=None)

    [msg] = sink.messages
    assert sink.received[0].rcpt_tos == (SAITAMA, SAITAMA_CC.lower())
    assert sink.received[0].mail_from == "kea@kantoshinetsu.example"
    assert msg["To"] == SAITAMA and msg["Cc"] == SAITAMA_CC
    assert msg["Subject"] == "【送付】令和7年度 在宅療養支援診療所等の定例報告データ（埼玉県）"
    # RFC 2047 decoding (the stdlib's address parser keeps the folding space between two encoded words)
    raw_from = email.message_from_bytes(sink.received[0].path.read_bytes(), policy=email.policy.compat32)["From"]
    assert str(make_header(decode_header(raw_from))) == "関東信越厚生局 地域包括ケア推進課 <kea@kantoshinetsu.example>"
    assert msg["Message-ID"] == entry.message_id
    assert msg["X-Tsunagu-Key"] == "2025:delivery:11:v1"
    assert msg["Date"].datetime == NOW
    body = msg.get_body(("plain",)).get_content()
    assert "令和7年度の定例報告データを送付いたします。" in body and "保存先" not in body

    parts = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert sorted(parts) == ["home_care_reports_2025_11.csv", "home_care_reports_2025_11.xlsx"]
    assert [r["prefecture_code"] for r in read_csv_bytes(parts["home_care_reports_2025_11.csv"])] == ["11"] * 3
    ws = openpyxl.load_workbook(io.BytesIO(parts["home_care_reports_2025_11.xlsx"]), read_only=True)["データ"]
    assert [r[1] for r in ws.iter_rows(min_row=2, values_only=True)] == ["11"] * 3

    # the outbox holds the same files, read-only
    folder = settings.home / "outbox" / "11_saitama" / "2025" / "v1"
    assert entry.outbox_path == str(folder) and entry.delivery_mode == "attached"
    for f in mail.attachments:
        placed = folder / f.name
        assert sha256_file(placed) == sha256_file(f)
        assert not placed.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)

    # the ledger: recipient, prefecture, year, version, files with sha256, sent time, SMTP status, message id
    [row] = ledger(warehouse, fiscal_year=FY, kind="delivery", prefecture_code="11")
    assert row == entry
    assert row.recipients == (SAITAMA, SAITAMA_CC.lower()) and row.cc == (SAITAMA_CC.lower(),)
    assert [(f.name, f.sha256, f.bytes) for f in row.files] == [
        (p.name, sha256_file(p), p.stat().st_size) for p in mail.attachments]
    assert was_sent(warehouse, mail.key)
    assert ledger(warehouse, fiscal_year=2024) == [] and ledger(warehouse, prefecture_code="09") == []


def test_japanese_attachment_names(sqlite_wh, sink, settings, tmp_path):
    csv_path = write_csv(tmp_path / "在支診データ_埼玉県.csv", ["11"])
    pdf = tmp_path / "利用上の注意.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n")
    mail = delivery(tmp_path, files=(csv_path, pdf))
    assert send(sqlite_wh, mail, settings=settings).ok
    [msg] = sink.messages
    assert [p.get_filename() for p in msg.iter_attachments()] == ["在支診データ_埼玉県.csv", "利用上の注意.pdf"]
    raw = sink.received[0].path.read_bytes()
    assert b"filename*0*=utf-8''%E5%9C%A8" in raw  # RFC 2231 (with continuations for the long name)
    assert b"filename*=utf-8''%E5%88%A9%E7%94%A8" in raw
    assert max(len(line) for line in raw.splitlines()) <= 998 and raw.isascii()  # 7-bit clean
    assert [p.get_content_type() for p in msg.iter_attachments()] == ["text/csv", "application/pdf"]
    assert msg.get_payload()[1].get_content_charset() == "utf-8"
    assert msg.get_payload()[1].get_content().startswith("\ufefffiscal_year,prefecture_code")


def test_exactly_once_per_key(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    first = send(warehouse, mail, settings=settings, now=NOW)
    again = send(warehouse, mail, settings=settings, now=NOW + dt.timedelta(days=1))
    # same key, different content: still the one mail already sent
    other = send(warehouse, delivery(tmp_path, subject="別の件名"), settings=settings)
    assert again.already_sent and other.already_sent
    assert again.status == other.status == "sent" and again.attempts == 1 and again.sent_at == first.sent_at
    assert len(sink.messages) == 1
    with warehouse.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(mail_ledger)).scalar() == 1


def test_concurrent_senders_send_once(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    results, errors = [], []

    def go():
        try:
            results.append(send(warehouse, mail, settings=settings))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(sink.messages) == 1
    assert sum(1 for r in results if r.status == "sent" and not r.already_sent) == 1
    assert {r.status for r in results} <= {"sent", "sending"}
    assert [e.status for e in ledger(warehouse)] == ["sent"]


def test_temporary_failure_then_retry(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    sink.fail_next(1)  # 451 to the next DATA
    failed = send(warehouse, mail, settings=settings, now=NOW)
    assert failed.status == "failed" and not failed.ok
    assert failed.smtp_status == 451 and "451" in failed.last_error and failed.sent_at is None
    assert failed.attempts == 1 and not was_sent(warehouse, mail.key)
    assert sink.messages == []
    with pytest.raises(DeliveryFailed, match="failed after 1 attempt"):
        failed.raise_for_status()

    later = NOW + dt.timedelta(days=1)
    ok = send(warehouse, mail, settings=settings, now=later)
    assert ok.status == "sent" and ok.attempts == 2 and ok.smtp_status == 250 and ok.last_error is None
    assert ok.first_attempt_at == NOW.replace(tzinfo=None) and ok.sent_at == later.replace(tzinfo=None)
    [msg] = sink.messages
    assert msg["Message-ID"] == failed.message_id  # the same Message-ID on every attempt


def test_server_down_then_retry(warehouse, sink, settings, tmp_path, monkeypatch):
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri

    mail = delivery(tmp_path, to=(SAITAMA,), cc=())
    sink.stop()  # nobody listens on the port any more
    down = send(warehouse, mail, settings=settings)
    assert down.status == "failed" and down.smtp_status is None
    assert "refused" in down.last_error.lower() or "connect" in down.last_error.lower()
    assert [e.status for e in ledger(warehouse)] == ["failed"]

    with MailSink(tmp_path / "sink2") as back:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(back.port, from_email="kea@kantoshinetsu.example"))
        up = send(warehouse, mail, settings=settings)
        assert up.status == "sent" and up.attempts == 2
        assert len(back.messages) == 1


def test_refused_recipient_sends_to_nobody(sqlite_wh, sink, settings, tmp_path):
    from tsunagu.deliver import resolve_unknown

    mail = delivery(tmp_path)  # built once: a rebuilt xlsx differs in its timestamps (outbox conflict)
    sink.reject_recipients(r"^chiiki-care@")
    entry = send(sqlite_wh, mail, settings=settings)
    # 550 5.1.1 is final (it was "failed" and retried every day before unknown/failed_permanent existed)
    assert entry.status == "failed_permanent" and entry.smtp_status == 550 and "chiiki-care" in entry.last_error
    assert sink.messages == []  # not even the accepted recipient got it
    sink.clear_faults()
    assert send(sqlite_wh, mail, settings=settings).attempts == 1 and sink.messages == []  # not retried by itself
    resolve_unknown(sqlite_wh, mail.key, "resend", "佐藤", "宛先を県に確認し、受信可能になった")
    assert send(sqlite_wh, mail, settings=settings).attempts == 2
    assert len(sink.messages) == 1


def test_a_sending_row_is_left_alone_until_stale(sqlite_wh, sink, settings, tmp_path):
    """Another worker's attempt (or a crash after the server accepted) leaves the row sending."""
    mail = delivery(tmp_path)
    sink.fail_next(1)
    send(sqlite_wh, mail, settings=settings, now=NOW)
    with sqlite_wh.transaction() as conn:
        conn.execute(mail_ledger.update().values(status="sending"))
    busy = send(sqlite_wh, mail, settings=settings, now=NOW + dt.timedelta(minutes=5))
    assert busy.status == "sending" and busy.attempts == 1 and sink.messages == []
    taken_over = send(sqlite_wh, mail, settings=settings, now=NOW + dt.timedelta(hours=2))
    assert taken_over.status == "sent" and taken_over.attempts == 2 and len(sink.messages) == 1


# ----------------------------------------------------------------------------- scope
def _blocked(wh, sink, mail, settings, match):
    with pytest.raises(ScopeViolation, match=match) as info:
        send(wh, mail, settings=settings, now=NOW)
    [entry] = ledger(wh)
    assert entry.status == "blocked" and entry.key == mail.key and entry.sent_at is None
    assert entry.last_error == str(info.value)
    assert sink.messages == [] and list(sink.folder.glob("*.eml")) == []
    assert not (settings.home / "outbox").exists()
    return info.value


def test_recipient_outside_the_request_form_is_blocked(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path, cc=("someone@gmail.com",))
    v = _blocked(warehouse, sink, mail, settings, "someone@gmail.com")
    assert "依頼書に記載のない宛先" in v.message_ja


def test_row_of_another_prefecture_in_csv_is_blocked(warehouse, sink, settings, tmp_path):
    csv_path = write_csv(tmp_path / "home_care_reports_2025_11.csv", ["11", "11", "09"])
    v = _blocked(warehouse, sink, delivery(tmp_path, files=(csv_path,)), settings, "row 4 belongs to prefecture 09")
    assert "4行目" in v.message_ja


def test_row_of_another_prefecture_in_xlsx_is_blocked(sqlite_wh, sink, settings, tmp_path):
    xlsx = write_xlsx(tmp_path / "home_care_reports_2025_11.xlsx", ["11", 9])  # a number, as Excel may store it
    _blocked(sqlite_wh, sink, delivery(tmp_path, files=(xlsx,)), settings, r"データ.*row 3 belongs to prefecture 09")


def test_zip_is_blocked_even_without_scope(sqlite_wh, sink, settings, tmp_path):
    import zipfile

    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.csv", "prefecture_code\n11\n")
    mail = Mail(key="2025:office_request:11", kind="office_request", fiscal_year=FY, to=("office@example.jp",),
                subject="依頼", body="本文", attachments=(z,))
    v = _blocked(sqlite_wh, sink, mail, settings, "archive data.zip")
    assert "パスワード付きZIPは廃止" in v.message_ja


def test_zip_disguised_as_csv_is_blocked(sqlite_wh, sink, settings, tmp_path):
    import zipfile

    fake = tmp_path / "home_care_reports_2025_11.csv"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("a.csv", "x")
    _blocked(sqlite_wh, sink, delivery(tmp_path, files=(fake,)), settings, "ZIP archive in disguise")


def test_rows_without_a_prefecture_column_are_blocked(sqlite_wh, sink, settings, tmp_path):
    csv_path = write_csv(tmp_path / "x.csv", ["11"], column="県")
    _blocked(sqlite_wh, sink, delivery(tmp_path, files=(csv_path,)), settings, "scope cannot be verified")


def test_blocked_mail_can_be_fixed_and_sent(sqlite_wh, sink, settings, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", ["11", "13"])
    with pytest.raises(ScopeViolation):
        send(sqlite_wh, delivery(tmp_path, files=(bad,)), settings=settings)
    good = send(sqlite_wh, delivery(tmp_path), settings=settings)
    assert good.status == "sent" and good.attempts == 2 and good.last_error is None
    assert len(sink.messages) == 1


def test_manifest_of_another_prefecture_is_blocked(sqlite_wh, sink, settings, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"prefecture": {"code": "13", "name_ja": "東京都"}}), encoding="utf-8")
    _blocked(sqlite_wh, sink, delivery(tmp_path, files=(manifest,)), settings, "manifest.json describes prefecture 13")


# ----------------------------------------------------------------------------- large attachments
def test_large_attachments_go_by_outbox_link(warehouse, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    total = sum(p.stat().st_size for p in mail.attachments)
    entry = send(warehouse, mail, settings=settings, max_attach_bytes=total - 1)
    assert entry.status == "sent" and entry.delivery_mode == "link"
    [msg] = sink.messages
    assert list(msg.iter_attachments()) == []
    body = msg.get_body(("plain",)).get_content()
    folder = settings.home / "outbox" / "11_saitama" / "2025" / "v1"
    assert f"保存先: {folder}" in body
    for p in mail.attachments:
        assert f"・{p.name}（{p.stat().st_size:,} バイト、SHA-256: {sha256_file(p)}）" in body
        assert (folder / p.name).read_bytes() == p.read_bytes()
    assert [f.name for f in entry.files] == [p.name for p in mail.attachments]  # the ledger still lists them


def test_link_uses_the_outbox_url(sqlite_wh, sink, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGU_OUTBOX_URL", "https://files.kantoshinetsu.example/outbox")
    entry = send(sqlite_wh, delivery(tmp_path, version="v2"), settings=settings, max_attach_bytes=10)
    body = sink.messages[0].get_body(("plain",)).get_content()
    assert "保存先: https://files.kantoshinetsu.example/outbox/11_saitama/2025/v2/" in body
    assert entry.outbox_path == str(settings.home / "outbox" / "11_saitama" / "2025" / "v2")


# ----------------------------------------------------------------------------- mail rules
def test_mail_rules(tmp_path):
    with pytest.raises(ValueError, match="unknown mail kind"):
        Mail(key="k", kind="spam", fiscal_year=FY, to=("a@b.jp",), subject="s", body="b")
    with pytest.raises(ValueError, match="no recipient"):
        Mail(key="k", kind="office_request", fiscal_year=FY, to=(), subject="s", body="b")
    with pytest.raises(ValueError, match="not one e-mail address"):
        Mail(key="k", kind="office_request", fiscal_year=FY, to=("a@b.jp, c@d.jp",), subject="s", body="b")
    with pytest.raises(ValueError, match="line break"):
        Mail(key="k", kind="office_request", fiscal_year=FY, to=("a@b.jp",), subject="s\nBcc: x@y.jp", body="b")
    with pytest.raises(ValueError, match="needs allowed_recipients"):
        delivery(tmp_path, files=(), allowed_recipients=None)
    with pytest.raises(ValueError, match="needs prefecture_code and data_version"):
        delivery(tmp_path, files=(), data_version=None)
    with pytest.raises(ValueError, match="cannot be scoped"):
        delivery(tmp_path, files=(), scope_prefecture="13")
    m = Mail(key="k", kind="prefecture_notice", fiscal_year=FY, to="山田 太郎 <Yamada@pref.gunma.lg.jp>",
             subject="s", body="b", attachments=[str(tmp_path / "x.pdf")])
    assert m.to == ("山田 太郎 <Yamada@pref.gunma.lg.jp>",) and m.attachments == (tmp_path / "x.pdf",)
    assert m.effective_scope is None and delivery(tmp_path, files=()).effective_scope == "11"


def test_display_names_and_non_delivery_mail(sqlite_wh, sink, settings):
    mail = Mail(key="2025:prefecture_notice:10", kind="prefecture_notice", fiscal_year=FY,
                to=("群馬県 地域包括ケア担当 <Care@pref.gunma.lg.jp>",), subject="【ご案内】定例報告データの提供について",
                body="群馬県 ご担当者様\n依頼書の提出をお願いします。", prefecture_code="10",
                allowed_recipients=frozenset({"care@pref.gunma.lg.jp"}))
    entry = send(sqlite_wh, mail, settings=settings)
    assert entry.ok and entry.recipients == ("care@pref.gunma.lg.jp",) and entry.delivery_mode == "none"
    assert entry.outbox_path is None and entry.files == ()
    msg = sink.messages[0]
    assert msg["To"].addresses[0].display_name == "群馬県 地域包括ケア担当"
    assert sink.received[0].rcpt_tos == ("care@pref.gunma.lg.jp",)
    assert not (settings.home / "outbox").exists()


def test_a_violation_does_not_overwrite_an_attempt_under_way(sqlite_wh, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    sink.fail_next(1)
    send(sqlite_wh, mail, settings=settings, now=NOW)
    with sqlite_wh.transaction() as conn:
        conn.execute(mail_ledger.update().values(status="sending"))
    with pytest.raises(ScopeViolation):
        send(sqlite_wh, delivery(tmp_path, cc=("x@example.com",)), settings=settings, now=NOW)
    [entry] = ledger(sqlite_wh)
    assert entry.status == "sending" and entry.attempts == 1 and sink.messages == []


def test_the_real_publish_package_passes_its_own_scope_only(sqlite_wh, sink, settings, tmp_path):
    from tests.support.warehouse import sample_record
    from tsunagu.intake.templates import load_template
    from tsunagu.publish.package import publish_prefecture

    sid, _ = sqlite_wh.register_submission("home_care_report", "a" * 64, "08.xlsx", "08", FY, None, "email")
    sqlite_wh.record_outcome(sid, "accepted", [], rows=2, template_version="2024-08")
    sqlite_wh.load_home_care_report(sid, "08", FY, [sample_record("08", n) for n in (1, 2)])
    res = publish_prefecture(sqlite_wh, FY, "08", tmp_path / "out", template=load_template("home_care_report",
                                                                                         fiscal_year=FY))
    files = tuple(sorted(res.dir.iterdir()))
    assert {p.suffix for p in files} == {".csv", ".xlsx", ".json"}
    to = "care@pref.ibaraki.lg.jp"
    ok = Mail(key="2025:delivery:08:v1", kind="delivery", fiscal_year=FY, to=(to,), subject="送付", body="本文",
              attachments=files, prefecture_code="08", data_version="v1", allowed_recipients=frozenset({to}))
    assert send(sqlite_wh, ok, settings=settings).ok
    assert sorted(p.get_filename() for p in sink.messages[0].iter_attachments()) == sorted(p.name for p in files)

    to9 = "care@pref.tochigi.lg.jp"
    wrong = Mail(key="2025:delivery:09:v1", kind="delivery", fiscal_year=FY, to=(to9,), subject="送付", body="本文",
                 attachments=files, prefecture_code="09", data_version="v1", allowed_recipients=frozenset({to9}))
    with pytest.raises(ScopeViolation, match="belongs to prefecture 08, not 09"):
        send(sqlite_wh, wrong, settings=settings)
    assert len(sink.messages) == 1


def test_office_workbook_with_title_rows_and_no_data_sheet(sqlite_wh, sink, settings, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "集計表"
    ws.append(["令和7年度 在宅療養支援診療所 定例報告 集計表"])
    ws.append([])
    ws.append(["医療機関コード", "都道府県コード", "名称"])
    ws.append(["1110000010", "11", "A"])
    ws.append(["1310000010", "13", "B"])
    wb.save(tmp_path / "集計表.xlsx")
    mail = delivery(tmp_path, files=(tmp_path / "集計表.xlsx",))
    with pytest.raises(ScopeViolation, match="（集計表） row 5 belongs to prefecture 13"):
        send(sqlite_wh, mail, settings=settings)
    assert sink.messages == []


def test_delivery_is_checked_against_the_active_request_at_send_time(warehouse, sink, settings, tmp_path):
    """The caller's allow-list is not enough: the warehouse's active request decides, as it stands when sending."""
    from tests.support.warehouse import add_active_request

    # A newer valid form for 埼玉 names someone else: the earlier contacts may no longer receive data.
    add_active_request(warehouse, "11", FY, "shin-tanto@pref.saitama.lg.jp")
    with pytest.raises(ScopeViolation, match="not on the prefecture's request form"):
        send(warehouse, delivery(tmp_path), settings=settings)
    assert [(e.key, e.status) for e in ledger(warehouse, kind="delivery")] == [("2025:delivery:11:v1", "blocked")]
    assert sink.messages == []

    ok = delivery(tmp_path, key="2025:delivery:11:v2", version="v2", to=("shin-tanto@pref.saitama.lg.jp",), cc=(),
                  allowed_recipients=frozenset({"shin-tanto@pref.saitama.lg.jp"}))
    assert send(warehouse, ok, settings=settings).ok
    assert [m["To"] for m in sink.messages] == ["shin-tanto@pref.saitama.lg.jp"]

    # A prefecture with no request at all gets nothing, whatever the caller allows.
    nobody = delivery(tmp_path, key="2025:delivery:10:v1", to=("care@pref.gunma.lg.jp",), cc=(), prefecture_code="10",
                      allowed_recipients=frozenset({"care@pref.gunma.lg.jp"}), attachments=())
    with pytest.raises(ScopeViolation):
        send(warehouse, nobody, settings=settings)
    assert len(sink.messages) == 1
