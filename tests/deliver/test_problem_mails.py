"""Unknown outcomes and permanent refusals: the statuses, the operator's decision, the listings, the engine.

Every test runs on SQLite and PostgreSQL, and on both forms of the ledger: ``current`` (080_mail_ledger.sql,
which allows the statuses unknown/failed_permanent) and ``legacy`` (the four-status CHECK and VARCHAR(10)
of ledgers created before them, which keep them as sending/failed + a tag in last_error).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
import sqlalchemy as sa

from tsunagu.deliver import (
    Mail,
    export_ledger_csv,
    ledger,
    mail_history,
    problem_mails,
    resolve_unknown,
    send,
    unknown_mails,
    was_sent,
)
from tsunagu.deliver.ledger import mail_ledger

from .helpers import LEDGER_FORMS, use_ledger_form, write_csv

FY = 2025
SAITAMA = "kenko@pref.saitama.lg.jp"
NOW = dt.datetime(2025, 11, 20, 1, 30, tzinfo=dt.UTC)  # 10:30 JST
DAY = dt.timedelta(days=1)


@pytest.fixture(params=LEDGER_FORMS)
def wh(request, warehouse):
    use_ledger_form(warehouse, request.param)
    return warehouse


def notice(key: str = "2025:prefecture_notice:10", to: str = "care@pref.gunma.lg.jp") -> Mail:
    return Mail(key=key, kind="prefecture_notice", fiscal_year=FY, to=(to,), subject="【ご案内】定例報告データの提供について",
                body="群馬県 ご担当者様\n依頼書の提出をお願いします。", prefecture_code="10")


def delivery(tmp_path) -> Mail:
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    csv_path = pkg / "home_care_reports_2025_11.csv"
    if not csv_path.exists():
        write_csv(csv_path, ["11", "11"])
    return Mail(key="2025:delivery:11:v1", kind="delivery", fiscal_year=FY, to=(SAITAMA,), subject="【送付】定例報告データ",
                body="送付いたします。", attachments=(csv_path,), prefecture_code="11", data_version="v1",
                allowed_recipients=frozenset({SAITAMA}))


def keys(sink) -> list[str]:
    return [email.message_from_bytes(r.path.read_bytes(), policy=email.policy.default)["X-Tsunagu-Key"]
            for r in sink.received]


def events(wh, key) -> list[str]:
    return [e.event for e in mail_history(wh, key)]


# ----------------------------------------------------------------------------- unknown
def test_unknown_is_listed_and_kept_until_an_operator_confirms_receipt(wh, sink, settings, tmp_path):
    mail = delivery(tmp_path)
    sink.drop_after_data()
    entry = send(wh, mail, settings=settings, now=NOW)
    assert entry.status == "unknown" and entry.attempts == 1 and entry.sent_at is None
    assert entry.last_error.startswith("送信結果不明") and "[unknown]" not in entry.last_error
    assert events(wh, mail.key) == ["claimed", "data", "unknown"]

    # visible: the listings, the ledger, the CSV; not sent, not sending, not failed
    assert [e.key for e in unknown_mails(wh)] == [mail.key] == [e.key for e in problem_mails(wh, FY)]
    assert unknown_mails(wh, fiscal_year=2024) == [] and problem_mails(wh, 2024) == []
    assert [e.key for e in ledger(wh, status="unknown")] == [mail.key]
    assert ledger(wh, status="sending") == ledger(wh, status="failed") == [] and not was_sent(wh, mail.key)
    csv_text = export_ledger_csv(wh, tmp_path / "ledger.csv").read_text(encoding="utf-8-sig")
    assert ",送信結果不明," in csv_text and "[unknown]" not in csv_text

    for day in (1, 2, 30):  # the next runs: no server contacted, no attempt
        again = send(wh, mail, settings=settings, now=NOW + day * DAY)
        assert (again.status, again.attempts) == ("unknown", 1)
    assert keys(sink) == [mail.key]

    confirmed = resolve_unknown(wh, mail.key, "sent", "課長補佐 佐藤", "埼玉県の担当者に電話で受信を確認した",
                                now=NOW + 2 * DAY)
    assert confirmed.status == "sent" and confirmed.ok and confirmed.sent_at == NOW.replace(tzinfo=None)
    assert confirmed.last_error is None and was_sent(wh, mail.key)
    assert send(wh, mail, settings=settings, now=NOW + 3 * DAY).already_sent
    assert keys(sink) == [mail.key] and unknown_mails(wh) == [] and problem_mails(wh) == []
    decision = mail_history(wh, mail.key)[-1]
    assert (decision.event, decision.actor, decision.at) == ("resolved_sent", "課長補佐 佐藤",
                                                             (NOW + 2 * DAY).replace(tzinfo=None))
    assert decision.detail == "unknown -> sent: 埼玉県の担当者に電話で受信を確認した"


def test_unknown_resent_only_on_the_operators_decision(wh, sink, settings):
    mail = notice()
    sink.delay_reply(30)  # the sink fixture's client waits 10 s
    assert send(wh, mail, settings=settings, now=NOW).status == "unknown"
    assert "timed out" in unknown_mails(wh)[0].last_error
    assert send(wh, mail, settings=settings, now=NOW + DAY).status == "unknown"

    reopened = resolve_unknown(wh, mail.key, "resend", "佐藤", "受信トレイと中継サーバーのログに見当たらない",
                               now=NOW + DAY)
    assert reopened.status == "failed" and "resend decided by 佐藤" in reopened.last_error
    assert unknown_mails(wh) == []
    sent = send(wh, mail, settings=settings, now=NOW + 2 * DAY)
    assert sent.status == "sent" and sent.attempts == 2
    assert keys(sink) == [mail.key, mail.key]  # the one copy the operator asked for, same Message-ID
    assert events(wh, mail.key) == ["claimed", "data", "unknown", "resolved_resend", "claimed", "data", "sent"]


def test_a_row_left_sending_by_earlier_code_is_not_resent(wh, sink, settings):
    """A ``sending`` row with no history (written before the history existed): its content may have gone out."""
    mail = notice()
    with wh.engine.begin() as conn:
        conn.execute(mail_ledger.insert().values(
            key=mail.key, kind=mail.kind, fiscal_year=FY, prefecture_code="10", recipients="care@pref.gunma.lg.jp",
            subject=mail.subject, files="[]", status="sending", message_id="<x@tsunagu.kantoshinetsu>", attempts=1,
            first_attempt_at=NOW.replace(tzinfo=None), last_attempt_at=NOW.replace(tzinfo=None)))
    assert send(wh, mail, settings=settings, now=NOW + dt.timedelta(minutes=5)).status == "sending"  # in flight
    assert unknown_mails(wh, now=NOW + dt.timedelta(minutes=5)) == []
    assert [e.status for e in unknown_mails(wh, now=NOW + DAY)] == ["unknown"]  # listed before any run meets it
    later = send(wh, mail, settings=settings, now=NOW + DAY)
    assert later.status == "unknown" and later.attempts == 1 and "attempt 1" in later.last_error
    assert sink.received == [] and events(wh, mail.key) == ["unknown"]


def test_an_attempt_taken_over_meanwhile_sends_no_content(wh, sink, settings, monkeypatch):
    """Between RCPT and the content another worker took the key over: our content never goes out."""
    from tsunagu.deliver.smtp import Session

    mail = notice()
    original = Session.send

    def taken_over(self, *args, **kwargs):
        with wh.engine.begin() as conn:  # what a worker that took the row over leaves: its own attempt
            conn.execute(mail_ledger.update().where(mail_ledger.c.key == mail.key).values(attempts=2))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Session, "send", taken_over)
    entry = send(wh, mail, settings=settings, now=NOW)
    assert (entry.status, entry.attempts) == ("sending", 2)  # the other worker's row, untouched
    assert sink.received == [] and events(wh, mail.key) == ["claimed"]


def test_resolve_checks_what_it_is_asked(wh, sink, settings):
    mail = notice()
    with pytest.raises(KeyError):
        resolve_unknown(wh, "2025:nothing", "sent", "佐藤", "確認")
    assert send(wh, mail, settings=settings, now=NOW).ok
    with pytest.raises(ValueError, match="is sent"):
        resolve_unknown(wh, mail.key, "resend", "佐藤", "再送したい")
    other = notice("2025:prefecture_notice:13")
    sink.drop_after_data()
    send(wh, other, settings=settings, now=NOW)
    with pytest.raises(ValueError, match="decision must be"):
        resolve_unknown(wh, other.key, "retry", "佐藤", "確認")
    with pytest.raises(ValueError, match="operator"):
        resolve_unknown(wh, other.key, "sent", " ", "確認")
    with pytest.raises(ValueError, match="note is required"):
        resolve_unknown(wh, other.key, "sent", "佐藤", "")
    assert [e.key for e in unknown_mails(wh)] == [other.key]


# ----------------------------------------------------------------------------- permanent refusals
def test_550_to_a_recipient_is_final_at_once(wh, sink, settings):
    mail = notice()
    sink.reject_recipients(r"^care@pref\.gunma")
    refused = send(wh, mail, settings=settings, now=NOW)
    assert refused.status == "failed_permanent" and refused.attempts == 1
    assert (refused.smtp_status, refused.smtp_reply) == (550, "5.1.1 Mailbox unavailable (simulated)")
    assert refused.last_error.startswith("送信不能") and "care@pref.gunma.lg.jp" in refused.last_error
    sink.clear_faults()
    for day in (1, 2, 3, 10):
        assert send(wh, mail, settings=settings, now=NOW + day * DAY).attempts == 1
    assert sink.received == []
    assert [(e.key, e.status) for e in problem_mails(wh)] == [(mail.key, "failed_permanent")]
    assert unknown_mails(wh) == [] and ledger(wh, status="failed") == []
    assert [e.key for e in ledger(wh, status="failed_permanent")] == [mail.key]
    [event] = [e for e in mail_history(wh, mail.key) if e.event == "failed_permanent"]
    assert (event.stage, event.smtp_status) == ("rcpt", 550)

    with pytest.raises(ValueError, match="failed_permanent"):  # a refused mail was not received
        resolve_unknown(wh, mail.key, "sent", "佐藤", "届いたはず")
    resolve_unknown(wh, mail.key, "resend", "佐藤", "群馬県から正しい宛先の連絡あり（依頼書を再受付）")
    assert send(wh, mail, settings=settings, now=NOW + 11 * DAY).status == "sent"
    assert keys(sink) == [mail.key] and problem_mails(wh) == []


def test_554_to_the_content_is_final_at_once(wh, sink, settings):
    mail = notice()
    sink.fail_next(1, code=554, text="5.7.1 Message rejected by policy")
    refused = send(wh, mail, settings=settings, now=NOW)
    assert (refused.status, refused.smtp_status, refused.smtp_reply) == (
        "failed_permanent", 554, "5.7.1 Message rejected by policy")
    assert send(wh, mail, settings=settings, now=NOW + DAY).attempts == 1 and sink.received == []


def test_other_5xx_are_final_after_max_attempts(wh, sink, settings, monkeypatch):
    mail = notice()
    sink.fail_next(5, code=552, text="5.3.4 Message size exceeds fixed limit")
    got = [send(wh, mail, settings=settings, now=NOW + d * DAY).status for d in range(5)]
    assert got == ["failed", "failed", "failed_permanent", "failed_permanent", "failed_permanent"]
    assert ledger(wh)[0].attempts == 3 and sink.received == []

    other = notice("2025:prefecture_notice:13")  # a smaller limit: argument, or TSUNAGU_MAIL_MAX_ATTEMPTS
    sink.clear_faults()
    sink.fail_next(3, code=552, text="5.3.4 Message size exceeds fixed limit")  # 1 for other, 2 for third
    assert send(wh, other, settings=settings, now=NOW, max_attempts=1).status == "failed_permanent"
    third = notice("2025:prefecture_notice:14")
    monkeypatch.setenv("TSUNAGU_MAIL_MAX_ATTEMPTS", "2")
    assert [send(wh, third, settings=settings, now=NOW + d * DAY).status for d in range(2)] == [
        "failed", "failed_permanent"]


def test_4xx_and_network_failures_stay_retryable(wh, sink, settings):
    mail = notice()
    sink.fail_next(6, code=451)
    for d in range(6):
        assert send(wh, mail, settings=settings, now=NOW + d * DAY).status == "failed"
    sent = send(wh, mail, settings=settings, now=NOW + 6 * DAY)
    assert sent.status == "sent" and sent.attempts == 7 and keys(sink) == [mail.key]
    assert problem_mails(wh) == []


# ----------------------------------------------------------------------------- the engine
def test_engine_reports_unknown_not_failed(wh, sink, settings):
    from tsunagu.cycle.engine import Due, run_due, start

    mails = {m.key: m for m in (notice(), notice("2025:prefecture_notice:13"), notice("2025:prefecture_notice:14"))}
    items = [Due(m.kind, k, "10", (lambda m=m: m)) for k, m in mails.items()]
    sink.drop_after_data()  # the first mail: stored, no reply
    sink.reject_recipients(r"^never@")
    first = run_due(start("distribution", FY, dt.date(2025, 11, 20), settings=settings, warehouse=wh), items,
                    now=NOW)
    assert [r.status for r in first] == ["unknown", "sent", "sent"]
    detail = first[0].detail
    assert "送信結果不明" in detail and "outcome unknown" in detail and "resolve_unknown" in detail
    assert ledger(wh)[0].message_id in detail

    again = run_due(start("distribution", FY, dt.date(2025, 11, 21), settings=settings, warehouse=wh), items,
                    now=NOW + DAY)
    assert [r.status for r in again] == ["unknown"]  # the sent ones are not even rebuilt
    assert sorted(keys(sink)) == sorted(mails)  # one copy each
    actions = wh.table("cycle_actions")
    with wh.engine.connect() as conn:
        status, detail, attempts = conn.execute(sa.select(actions.c.status, actions.c.detail, actions.c.attempts)
                                                .where(actions.c.action_key == "2025:prefecture_notice:10")).one()
    assert status == "failed" and "outcome unknown" in detail and attempts == 2  # open in the closing report

    refused = notice("2025:prefecture_notice:15", to="never@pref.gunma.lg.jp")
    [r] = run_due(start("distribution", FY, dt.date(2025, 11, 21), settings=settings, warehouse=wh),
                  [Due(refused.kind, refused.key, "10", lambda: refused)], now=NOW + DAY)
    assert r.status == "failed" and "送信不能" in r.detail and "refused for good: 550" in r.detail
