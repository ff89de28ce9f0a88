"""Sending one mail, at most once per key, scoped, and written in the delivery ledger.

``send(warehouse, mail)``:

1. the key is ``sent`` in the ledger → the entry is returned (``already_sent=True``); no server is contacted;
   the key is ``unknown`` or ``failed_permanent`` → the entry is returned as it is: no server is contacted,
   an operator decides (below);
2. scope checks (recipients within ``allowed_recipients``; every attachment row of ``scope_prefecture``;
   no archives) → on a violation the row is ``blocked`` with the reason and :class:`ScopeViolation`
   is raised; nothing is sent;
3. deliveries (``delivery``, ``correction``) place their files in the prefecture's outbox; when the
   attachments exceed ``max_attach_bytes`` they are placed there too and the body carries the location
   instead of the files;
4. the row goes to ``sending`` (attempts + 1, history ``claimed``) in its own transaction; if another
   worker's attempt is under way (``sending`` for less than ``stale_after``) the entry is returned as it
   is, untouched;
5. the message (Message-ID derived from the key, header ``X-Tsunagu-Key``) goes through Airflow's
   SmtpHook: MAIL, RCPT, the DATA command; once the server has answered 354, the history records
   ``data`` (the content is about to go out; this also checks the attempt is still ours), then the
   content goes; the server's acceptance marks the row ``sent`` with the reply code and text;
6. the outcome otherwise — **send returns the entry, it does not raise** (``entry.ok`` is False;
   ``entry.raise_for_status()`` raises :class:`DeliveryFailed`), so a daily task goes on with the other
   mails:

   * nothing reached the server, a 4xx, a refused MAIL FROM, a connection or login failure → ``failed``,
     sent again by the next run;
   * a 5xx to RCPT or DATA: 550, 551, 553, 554 (``PERMANENT_CODES``) → ``failed_permanent`` at once;
     any other 5xx → ``failed``, and ``failed_permanent`` once the mail has been refused with a 5xx on
     ``max_attempts`` attempts (argument, else ``TSUNAGU_MAIL_MAX_ATTEMPTS``, default 3); the server's
     reply is kept (``smtp_status``, ``smtp_reply``);
   * the content went out and no reply came back (connection dropped or reset, timeout, unreadable
     reply) → ``unknown``: the server may have stored it, and will then deliver it.

A process that dies during an attempt leaves the row ``sending``. A later run (once ``stale_after`` has
passed) reads the row's history: if the attempt had reached ``data`` without an outcome — a kill
between the server's 250 and the ledger write is one — the row becomes ``unknown``; if it stopped
before (only ``claimed``), nothing can have been sent and the mail is sent again.

**Unknown outcomes are never resent automatically.** No check can tell from here whether a relay
holds a message (SMTP has no command for it; the relay's log and the recipient's mailbox can, so the
ledger keeps the Message-ID to look for): an operator looks, then records the decision with
:func:`resolve_unknown` — ``sent`` (it was received: the row becomes ``sent``, never sent again) or
``resend`` (it was not: the row becomes ``failed`` and the next run sends it, with the same
Message-ID). ``resend`` also reopens a ``failed_permanent`` mail once its cause is fixed (a corrected
address). :func:`tsunagu.deliver.ledger.problem_mails` lists both kinds of rows waiting for a decision.

The rule per mail kind — one rule for all: at most once, an explicit operator decision for an unknown
outcome. A duplicate delivery of a prefecture's data is worse than a late one: two copies of a data
set (which one is current? a second copy forwarded within the prefecture) break the one-delivery
record that the request form (依頼書) and the ledger stand for, while a late copy costs a day and an
operator's look. For requests, reminders and notices a duplicate would be harmless and a day late
would not matter either, but one rule is easier to operate, audit and explain than two, and an
unknown outcome is rare (the connection has to drop in the moment between the content and the
reply):

========================  ====================================  =====================================================
kind                      mail                                  a duplicate / a late mail
========================  ====================================  =====================================================
``office_request``        都県事務所へのデータ提供依頼          harmless / late start of the office's work
``prefecture_notice``     都県への案内（依頼書様式）            harmless / the request form comes later
``office_reminder``       都県事務所への督促                    two reminders irritate / a day later
``request_reminder``      都県への依頼書督促                    two reminders irritate / a day later
``survey_summary``        調査票（市町村）の集計結果を都県へ    two copies of the same summary / a day later
``pre_delivery_notice``   送付前の事前共有（都県事務所）        two copies of the same table / the delivery waits
``delivery``              データ送付（都県）                    **two copies of a data set: the worst** / late
``correction``            訂正版の送付（都県）                  **as a delivery: which version is current?** / late
``closing_report``        年度の完了報告（課内）                harmless / a day later
``grant_request``         交付金の提出依頼                      harmless / later start of the filers' work
``grant_reminder``        交付金の督促（未受理の保険者）        a second reminder irritates / a day later
``grant_amount_notice``   交付金の受理額の通知                  two notices of amounts: confusing / a day later
========================  ====================================  =====================================================

Every kind: ``unknown`` → not resent until an operator decides; ``failed_permanent`` → not resent until
an operator decides ``resend``; ``failed`` (4xx, network) → resent by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, replace
from email.utils import parseaddr
from pathlib import Path

import sqlalchemy as sa

from tsunagu import faults
from tsunagu.deliver.ledger import (
    HELD_STATUSES,
    FileRecord,
    LedgerEntry,
    T,
    add_event,
    attempt_verdict,
    ensure_table,
    entry_from_row,
    files_json,
    get_entry,
    mail_ledger,
    resend_refusals,
    stale_unknown_error,
    status_is,
    stored_form,
    utc_naive,
)
from tsunagu.deliver.outbox import OutboxConflict, outbox_location, place_in_outbox, sha256_file
from tsunagu.deliver.scope import ScopeViolation, address_of, check_attachments, check_recipients
from tsunagu.deliver.smtp import Session, SmtpFailure, SmtpOutcomeUnknown, build_message, failure_of, message_id_for
from tsunagu.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAIL_KINDS = (
    "office_request", "prefecture_notice", "office_reminder", "request_reminder", "survey_summary",
    "pre_delivery_notice", "delivery", "correction", "closing_report",
    "grant_request", "grant_reminder", "grant_amount_notice",  # the grant cycles (tsunagu.grants.cycle)
    # the evaluation cycle (tsunagu.cycle.evaluation): scoped by its mails' scope_prefecture and allowed_recipients
    "evaluation_notice", "evaluation_delivery", "evaluation_correction",
)
DELIVERY_KINDS = frozenset({"delivery", "correction"})
STALE_AFTER = dt.timedelta(minutes=30)
PERMANENT_CODES = frozenset({550, 551, 553, 554})  # to RCPT or DATA: refused for good at once
MAX_ATTEMPTS = 3  # attempts refused with another 5xx before the mail is final (TSUNAGU_MAIL_MAX_ATTEMPTS)
MAX_ATTEMPTS_ENV = "TSUNAGU_MAIL_MAX_ATTEMPTS"
DECISIONS = ("sent", "resend")

UNKNOWN_ERROR = ("送信結果不明: メール本文を送信したあと、サーバーの応答を受け取れませんでした（{error}）。"
                 "受信されている可能性があるため、自動では再送しません。"
                 " / outcome unknown: no reply from the server after the message content was sent ({error}); "
                 "the mail may have been received, so it is not resent automatically.")
PERMANENT_ERROR = ("送信不能: サーバーが恒久的なエラーで受け付けませんでした。自動では再送しません。"
                   " / permanent failure, not resent automatically: {error}")


@dataclass(frozen=True)
class Mail:
    key: str  # idempotency key, e.g. "2025:delivery:11:v3f2a…" — one mail per key, ever
    kind: str  # one of MAIL_KINDS
    fiscal_year: int
    to: tuple[str, ...]
    subject: str  # Japanese
    body: str  # Japanese plain text
    cc: tuple[str, ...] = ()
    attachments: tuple[Path, ...] = ()
    prefecture_code: str | None = None
    data_version: str | None = None
    scope_prefecture: str | None = None  # when set: every attachment may hold only this prefecture's rows
    allowed_recipients: frozenset[str] | None = None  # when set: every to/cc must be in it (case-insensitive)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.to, str):
            set_(self, "to", (self.to,))
        if isinstance(self.cc, str):
            set_(self, "cc", (self.cc,))
        set_(self, "to", tuple(self.to))
        set_(self, "cc", tuple(self.cc))
        set_(self, "attachments", tuple(Path(p) for p in self.attachments))
        if self.allowed_recipients is not None:
            set_(self, "allowed_recipients", frozenset(self.allowed_recipients))
        if not self.key or len(self.key) > 200 or any(c in self.key for c in "\r\n"):
            raise ValueError(f"mail key must be 1-200 characters without line breaks: {self.key!r}")
        if self.kind not in MAIL_KINDS:
            raise ValueError(f"unknown mail kind {self.kind!r} (one of {', '.join(MAIL_KINDS)})")
        if not self.to:
            raise ValueError(f"mail {self.key} has no recipient")
        for a in (*self.to, *self.cc):
            address_of(a)  # ValueError when malformed
        if any(c in self.subject for c in "\r\n"):
            raise ValueError("line break in the subject")
        if self.kind in DELIVERY_KINDS:
            if not self.prefecture_code or not self.data_version:
                raise ValueError(f"a {self.kind} needs prefecture_code and data_version (outbox folder, ledger)")
            if self.scope_prefecture not in (None, self.prefecture_code):
                raise ValueError(f"a {self.kind} to {self.prefecture_code} cannot be scoped to {self.scope_prefecture}")
            if self.allowed_recipients is None:
                raise ValueError(f"a {self.kind} needs allowed_recipients (the request form's recipients)")

    @property
    def effective_scope(self) -> str | None:
        """Deliveries are always scoped to their prefecture."""
        return self.scope_prefecture or (self.prefecture_code if self.kind in DELIVERY_KINDS else None)

    @property
    def recipients(self) -> tuple[str, ...]:
        return (*self.to, *self.cc)


def _file_records(paths: tuple[Path, ...]) -> list[FileRecord]:
    return [FileRecord(p.name, sha256_file(p), p.stat().st_size) for p in paths if p.is_file()]


def _base_values(mail: Mail, files: list[FileRecord]) -> dict:
    return {
        "kind": mail.kind, "fiscal_year": int(mail.fiscal_year), "prefecture_code": mail.prefecture_code,
        "recipients": ", ".join(address_of(a) for a in mail.recipients),
        "cc": ", ".join(address_of(a) for a in mail.cc) or None, "subject": mail.subject,
        "data_version": mail.data_version, "files": files_json(files), "message_id": message_id_for(mail.key),
    }


class _LostClaim(Exception):
    """Our attempt is no longer the row's (another worker took over): its content must not go out."""


def _lock(key: str) -> str:
    return f"mail:{key}"


def _current(conn, key: str) -> LedgerEntry:
    return entry_from_row(conn.execute(sa.select(mail_ledger).where(T.key == key)).one())


def _record(warehouse, conn, key: str, attempt: int, values: dict, now: dt.datetime, *,
            stage: str | None = None, detail: str | None = None) -> LedgerEntry:
    """Write the outcome of attempt ``attempt`` and its history event, inside the key's lock. The server's
    acceptance always wins (it happened); any other outcome only replaces that attempt's own ``sending``."""
    status = values["status"]
    if status == "sent":
        only = ~status_is("sent")
    else:
        only = sa.and_(status_is("sending"), T.attempts == attempt)
    conn.execute(mail_ledger.update().where(T.key == key, only).values(**stored_form(warehouse, values)))
    add_event(conn, key, attempt, status, now, stage=stage, smtp_status=values.get("smtp_status"),
              detail=detail if detail is not None else values.get("last_error") or values.get("smtp_reply"))
    return _current(conn, key)


def _held(warehouse, conn, entry: LedgerEntry, now: dt.datetime, stale_after: dt.timedelta) -> LedgerEntry | None:
    """Inside the key's lock: the entry to return untouched, or None when a new attempt may go ahead.

    ``sent``, ``unknown``, ``failed_permanent``: untouched. ``sending`` for less than ``stale_after``:
    another worker's attempt. ``sending`` for longer: a dead attempt — ``unknown`` if its content may
    have gone out (see :func:`~tsunagu.deliver.ledger.attempt_verdict`), else it may be attempted again.
    """
    if entry.status == "sent":
        return replace(entry, already_sent=True)
    if entry.status in HELD_STATUSES:
        return entry
    if entry.status == "sending":
        if now - entry.last_attempt_at < stale_after:
            return entry  # another worker is sending it right now: leave its row alone
        if attempt_verdict(conn, entry.key, entry.attempts) == "unknown":
            log.error("mail %s: attempt %d of %s died after its content went out: outcome unknown, not resent",
                      entry.key, entry.attempts, entry.last_attempt_at)
            return _record(warehouse, conn, entry.key, entry.attempts, {
                "status": "unknown", "last_error": stale_unknown_error(entry)}, now)
    return None


def _upsert(warehouse, mail: Mail, values: dict, now: dt.datetime, *,
            stale_after: dt.timedelta = STALE_AFTER) -> tuple[LedgerEntry, bool]:
    """Move the key's row to ``values['status']`` (attempts + 1; history ``claimed`` or ``blocked``) unless
    :func:`_held` keeps it as it is. -> (entry, changed)."""
    event = "claimed" if values["status"] == "sending" else values["status"]
    with warehouse.transaction(lock=_lock(mail.key)) as conn:
        cur = conn.execute(sa.select(mail_ledger).where(T.key == mail.key)).first()
        if cur is not None:
            entry = entry_from_row(cur)
            held = _held(warehouse, conn, entry, now, stale_after)
            if held is not None:
                return held, False
            attempt = entry.attempts + 1
            conn.execute(mail_ledger.update().where(T.key == mail.key).values(
                **values, attempts=attempt, last_attempt_at=now))
        else:
            attempt = 1
            conn.execute(mail_ledger.insert().values(
                key=mail.key, **values, attempts=1, first_attempt_at=now, last_attempt_at=now))
        add_event(conn, mail.key, attempt, event, now, detail=values.get("last_error"))
        return _current(conn, mail.key), True


def _settle(warehouse, key: str, now: dt.datetime, stale_after: dt.timedelta) -> LedgerEntry | None:
    """:func:`_held` in its own transaction (before the scope checks and the outbox)."""
    with warehouse.transaction(lock=_lock(key)) as conn:
        cur = conn.execute(sa.select(mail_ledger).where(T.key == key)).first()
        return _held(warehouse, conn, entry_from_row(cur), now, stale_after) if cur is not None else None


def _content_goes_out(warehouse, key: str, attempt: int, now: dt.datetime) -> None:
    """History ``data`` before the message content is sent — still our attempt, or _LostClaim."""
    with warehouse.transaction(lock=_lock(key)) as conn:
        owner = conn.execute(sa.select(T.attempts).where(T.key == key, status_is("sending"))).scalar()
        if owner != attempt:
            raise _LostClaim(f"mail {key}: attempt {attempt} is no longer the row's (now {owner})")
        add_event(conn, key, attempt, "data", now)


def _finish(warehouse, key: str, attempt: int, values: dict, now: dt.datetime, **event) -> LedgerEntry:
    with warehouse.transaction(lock=_lock(key)) as conn:
        return _record(warehouse, conn, key, attempt, values, now, **event)


def max_attempts_setting(max_attempts: int | None = None) -> int:
    """``max_attempts``, else ``TSUNAGU_MAIL_MAX_ATTEMPTS``, else 3 (at least 1)."""
    if max_attempts is None:
        raw = os.environ.get(MAX_ATTEMPTS_ENV, "").strip()
        try:
            max_attempts = int(raw) if raw else MAX_ATTEMPTS
        except ValueError:
            raise ValueError(f"{MAX_ATTEMPTS_ENV} must be a whole number, not {raw!r}") from None
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be 1 or more, not {max_attempts}")
    return max_attempts


def _failure_status(warehouse, key: str, failure: SmtpFailure, max_attempts: int) -> str:
    """``failed_permanent`` for a 5xx to RCPT or DATA that is final (PERMANENT_CODES, or the N-th), else ``failed``."""
    code = failure.code
    if failure.stage not in ("rcpt", "data") or code is None or not 500 <= code < 600:
        return "failed"  # 4xx, network, login, MAIL FROM (our own configuration): retried
    if code in PERMANENT_CODES:
        return "failed_permanent"
    with warehouse.engine.connect() as conn:
        earlier = resend_refusals(conn, key)
    return "failed_permanent" if earlier + 1 >= max_attempts else "failed"


def _link_note(location: str, files: list[FileRecord]) -> str:
    lines = [
        "",
        "――――――――――――――――――――",
        "【データの受け取り方法】",
        "添付ファイルの容量が大きいため、メールには添付せず、次の保存先に格納しました。",
        f"保存先: {location}",
        "格納したファイル:",
        *(f"  ・{f.name}（{f.bytes:,} バイト、SHA-256: {f.sha256}）" for f in files),
        "――――――――――――――――――――",
    ]
    return "\n".join(lines) + "\n"


def active_recipients(warehouse, prefecture_code: str, fiscal_year: int) -> tuple[str, ...]:
    from tsunagu.warehouse.requests import active_request

    active = active_request(warehouse, prefecture_code, fiscal_year)
    return active.recipients if active is not None else ()


def send(
    warehouse, mail: Mail, *, settings: Settings | None = None, conn_id: str = "smtp_default",
    max_attach_bytes: int = 5_000_000, now: dt.datetime | None = None, stale_after: dt.timedelta = STALE_AFTER,
    max_attempts: int | None = None,
) -> LedgerEntry:
    """Send ``mail`` at most once (see the module docstring). Returns its ledger entry: ``sent``, ``failed``,
    ``failed_permanent`` or ``unknown`` (or ``sending`` when another worker holds it); raises
    ScopeViolation when the mail is refused."""
    ensure_table(warehouse)
    fixed_clock = now is not None
    now = utc_naive(now)
    limit = max_attempts_setting(max_attempts)

    done = get_entry(warehouse, mail.key)
    if done is not None:
        if done.status == "sent":
            return replace(done, already_sent=True)
        if done.status in HELD_STATUSES:
            return done  # an operator decides (resolve_unknown); no server is contacted
        if done.status == "sending" and now - done.last_attempt_at >= stale_after:
            held = _settle(warehouse, mail.key, now, stale_after)
            if held is not None and held.status != "sending":
                return held

    files = _file_records(mail.attachments)
    base = _base_values(mail, files)

    # -- scope: before anything goes out
    try:
        if mail.allowed_recipients is not None:
            check_recipients(mail.recipients, mail.allowed_recipients)
        if mail.kind in DELIVERY_KINDS:
            # Data goes only to the prefecture's active request as it stands now, not as the caller saw it.
            check_recipients(mail.recipients, active_recipients(warehouse, mail.prefecture_code, mail.fiscal_year))
        check_attachments(mail.attachments, mail.effective_scope)
    except ScopeViolation as v:
        entry, _ = _upsert(warehouse, mail, {**base, "status": "blocked", "last_error": str(v),
                                             "delivery_mode": None, "outbox_path": None}, now)
        log.warning("mail %s blocked: %s", mail.key, v)
        if entry.status == "sent":  # sent earlier (concurrently): nothing to refuse any more
            return entry
        raise

    # -- outbox and link
    total = sum(f.bytes for f in files)
    link = bool(files) and total > max_attach_bytes
    outbox_path: str | None = None
    if files and (mail.kind in DELIVERY_KINDS or link):
        if not mail.prefecture_code:
            raise ValueError(f"mail {mail.key}: attachments of {total:,} bytes exceed {max_attach_bytes:,} and there is "
                             "no prefecture_code to place them in an outbox")
        settings = settings or get_settings()
        try:
            folder = place_in_outbox(settings, mail.prefecture_code, mail.fiscal_year,
                                     mail.data_version or "unversioned", mail.attachments)
        except OutboxConflict as exc:
            _upsert(warehouse, mail, {**base, "status": "blocked", "last_error": f"outbox: {exc}",
                                      "delivery_mode": None, "outbox_path": None}, now)
            raise
        outbox_path = str(folder)
    body, attachments = mail.body, mail.attachments
    if link:
        body = body.rstrip("\n") + "\n" + _link_note(outbox_location(settings, Path(outbox_path)), files)
        attachments = ()
    mode = "link" if link else ("attached" if files else "none")

    # -- claim the key
    entry, claimed = _upsert(warehouse, mail, {
        **base, "status": "sending", "delivery_mode": mode, "outbox_path": outbox_path, "last_error": None,
        "smtp_status": None, "smtp_reply": None,
    }, now, stale_after=stale_after)
    if not claimed:
        return entry
    attempt = entry.attempts

    def clock() -> dt.datetime:  # when a step happened (the caller's fixed clock, if any)
        return now if fixed_clock else utc_naive(None)

    # -- send
    faults.point("before_smtp_session")
    try:
        with Session(conn_id) as session:
            from_name, from_addr = parseaddr(session.from_email or "")
            if not from_addr:
                raise SmtpFailure(f"no sender address: set from_email in the {conn_id} connection or TSUNAGU_MAIL_FROM")
            msg = build_message(
                key=mail.key, from_addr=from_addr, from_name=from_name or _sender_name(), to=mail.to, cc=mail.cc,
                subject=mail.subject, body=body, attachments=attachments, date=now.replace(tzinfo=dt.UTC),
            )
            reply = session.send(msg, from_addr, list(dict.fromkeys(address_of(a) for a in mail.recipients)),
                                 before_content=lambda: _content_goes_out(warehouse, mail.key, attempt, clock()))
            faults.point("after_smtp_accept")
    except _LostClaim as exc:  # another worker took the key over: its attempt decides; nothing of ours went out
        log.warning("%s", exc)
        return get_entry(warehouse, mail.key)
    except SmtpOutcomeUnknown as exc:
        log.error("mail %s: outcome unknown (attempt %d): %s — not resent until an operator decides",
                  mail.key, attempt, exc)
        return _finish(warehouse, mail.key, attempt, {
            "status": "unknown", "smtp_status": exc.code, "smtp_reply": exc.reply,
            "last_error": UNKNOWN_ERROR.format(error=exc)[:2000]}, clock(), stage="data", detail=str(exc))
    except Exception as exc:  # nothing was accepted: SMTP refusal, network, connection config
        failure = failure_of(exc)
        status = _failure_status(warehouse, mail.key, failure, limit)
        if status == "failed_permanent":
            log.error("mail %s refused for good (attempt %d): %s", mail.key, attempt, failure)
            values = {"status": status, "smtp_status": failure.code, "smtp_reply": failure.reply,
                      "last_error": PERMANENT_ERROR.format(error=failure)[:2000]}
        else:
            log.warning("mail %s failed (attempt %d): %s", mail.key, attempt, failure)
            values = {"status": status, "smtp_status": failure.code, "last_error": str(failure)[:2000]}
        return _finish(warehouse, mail.key, attempt, values, clock(), stage=failure.stage, detail=str(failure))
    log.info("mail %s sent: %s %s", mail.key, reply.code, reply.text)
    sent_at = clock()
    return _finish(warehouse, mail.key, attempt, {
        "status": "sent", "smtp_status": reply.code, "smtp_reply": reply.text, "sent_at": sent_at,
        "last_error": None}, sent_at)


def resolve_unknown(warehouse, key: str, decision: str, operator: str, note: str, *,
                    now: dt.datetime | None = None, stale_after: dt.timedelta = STALE_AFTER) -> LedgerEntry:
    """Record an operator's decision on a mail whose outcome is unknown (or that was refused for good).

    ``decision``:

    * ``"sent"`` — the mail was received (seen in the recipient's mailbox or the relay's log): the row
      becomes ``sent`` (``sent_at``: the time of the attempt that delivered it) and is never sent again;
      only for an ``unknown`` mail;
    * ``"resend"`` — it was not received (or the cause of a permanent refusal is fixed): the row becomes
      ``failed`` and the next run sends it (same Message-ID); for ``unknown`` and ``failed_permanent``.

    ``operator`` (who) and ``note`` (why: what was checked) are required and kept in the row's history
    (``mail_events``, with the time: :func:`tsunagu.deliver.ledger.mail_history`). A row left ``sending``
    by an attempt that died after its content went out counts as ``unknown``. Raises KeyError for a key
    not in the ledger, ValueError for any other status or decision.
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    operator, note = (operator or "").strip(), (note or "").strip()
    if not operator:
        raise ValueError("the operator who decides must be named")
    if not note:
        raise ValueError("a note is required: what was checked, why this decision")
    ensure_table(warehouse)
    now = utc_naive(now)
    with warehouse.transaction(lock=_lock(key)) as conn:
        cur = conn.execute(sa.select(mail_ledger).where(T.key == key)).first()
        if cur is None:
            raise KeyError(f"mail {key} is not in the ledger")
        entry = entry_from_row(cur)
        if entry.status == "sending":
            entry = _held(warehouse, conn, entry, now, stale_after) or entry
        allowed = {"sent": ("unknown",), "resend": ("unknown", "failed_permanent")}[decision]
        if entry.status not in allowed:
            raise ValueError(f"mail {key} is {entry.status}: '{decision}' applies to {' or '.join(allowed)} mails only")
        when = now.isoformat(sep=" ")
        if decision == "sent":
            values = {"status": "sent", "sent_at": entry.last_attempt_at, "last_error": None}
        else:
            values = {"status": "failed", "last_error": (f"再送の判断（{operator}、{when} UTC）: {note} / resend decided by "
                                                         f"{operator} on {when} UTC after {entry.status}: {note}")[:2000]}
        conn.execute(mail_ledger.update().where(T.key == key).values(**stored_form(warehouse, values)))
        add_event(conn, key, entry.attempts, f"resolved_{decision}", now, actor=operator,
                  detail=f"{entry.status} -> {values['status']}: {note}")
        log.warning("mail %s: %s resolved as %r by %s: %s", key, entry.status, decision, operator, note)
        return _current(conn, key)


def _sender_name() -> str | None:
    try:
        from tsunagu.jurisdiction import load_jurisdiction

        j = load_jurisdiction()
        return f"{j.bureau_ja} {j.division_ja}"
    except Exception:  # config missing: a bare address is fine
        return None
