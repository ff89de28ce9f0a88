"""Sending one mail, exactly once per key, scoped, and written in the delivery ledger.

``send(warehouse, mail)``:

1. the key is ``sent`` in the ledger → the entry is returned (``already_sent=True``); no server is contacted;
2. scope checks (recipients within ``allowed_recipients``; every attachment row of ``scope_prefecture``;
   no archives) → on a violation the row is ``blocked`` with the reason and :class:`ScopeViolation`
   is raised; nothing is sent;
3. deliveries (``delivery``, ``correction``) place their files in the prefecture's outbox; when the
   attachments exceed ``max_attach_bytes`` they are placed there too and the body carries the location
   instead of the files;
4. the row goes to ``sending`` (attempts + 1) in its own transaction; if another worker's attempt is
   under way (``sending`` for less than ``stale_after``) the entry is returned as it is, untouched;
5. the message (Message-ID derived from the key, header ``X-Tsunagu-Key``) goes through Airflow's
   SmtpHook; the server's acceptance marks it ``sent`` with the reply code and text;
6. any SMTP or network failure marks it ``failed`` with the error: **send returns that entry, it does
   not raise** (``entry.ok`` is False; ``entry.raise_for_status()`` raises :class:`DeliveryFailed`),
   so a daily task can go on with the other mails and send the same key again on its next run.

A crash after the server accepted the mail but before the ledger says ``sent`` leaves the row
``sending``; after ``stale_after`` it is sent again — the same Message-ID, so at worst a duplicate
that mail clients and servers can recognise.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from email.utils import parseaddr
from pathlib import Path

import sqlalchemy as sa

from tsunagu.deliver.ledger import (
    FileRecord,
    LedgerEntry,
    T,
    ensure_table,
    entry_from_row,
    files_json,
    get_entry,
    mail_ledger,
)
from tsunagu.deliver.outbox import OutboxConflict, outbox_location, place_in_outbox, sha256_file
from tsunagu.deliver.scope import ScopeViolation, address_of, check_attachments, check_recipients
from tsunagu.deliver.smtp import Session, SmtpFailure, build_message, failure_of, message_id_for
from tsunagu.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAIL_KINDS = (
    "office_request", "prefecture_notice", "office_reminder", "request_reminder", "survey_summary",
    "pre_delivery_notice", "delivery", "correction", "closing_report",
    "grant_request", "grant_reminder", "grant_amount_notice",  # the grant cycles (tsunagu.grants.cycle)
)
DELIVERY_KINDS = frozenset({"delivery", "correction"})
STALE_AFTER = dt.timedelta(minutes=30)


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


def _utc_naive(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=0)


def _file_records(paths: tuple[Path, ...]) -> list[FileRecord]:
    return [FileRecord(p.name, sha256_file(p), p.stat().st_size) for p in paths if p.is_file()]


def _base_values(mail: Mail, files: list[FileRecord]) -> dict:
    return {
        "kind": mail.kind, "fiscal_year": int(mail.fiscal_year), "prefecture_code": mail.prefecture_code,
        "recipients": ", ".join(address_of(a) for a in mail.recipients),
        "cc": ", ".join(address_of(a) for a in mail.cc) or None, "subject": mail.subject,
        "data_version": mail.data_version, "files": files_json(files), "message_id": message_id_for(mail.key),
    }


def _upsert(warehouse, mail: Mail, values: dict, now: dt.datetime, *,
            stale_after: dt.timedelta = STALE_AFTER) -> tuple[LedgerEntry, bool]:
    """Move the key's row to ``values['status']`` (attempts + 1) unless it is sent or another worker's
    attempt is under way (``sending`` for less than ``stale_after``). -> (entry, changed)."""
    with warehouse.transaction(lock=f"mail:{mail.key}") as conn:
        cur = conn.execute(sa.select(mail_ledger).where(T.key == mail.key)).first()
        if cur is not None:
            entry = entry_from_row(cur)
            if entry.status == "sent":
                return replace(entry, already_sent=True), False
            if entry.status == "sending" and now - entry.last_attempt_at < stale_after:
                return entry, False  # another worker is sending it right now: leave its row alone
            conn.execute(mail_ledger.update().where(T.key == mail.key).values(
                **values, attempts=T.attempts + 1, last_attempt_at=now))
        else:
            conn.execute(mail_ledger.insert().values(
                key=mail.key, **values, attempts=1, first_attempt_at=now, last_attempt_at=now))
        return entry_from_row(conn.execute(sa.select(mail_ledger).where(T.key == mail.key)).one()), True


def _finish(warehouse, key: str, values: dict) -> LedgerEntry:
    """Record the outcome of our attempt. The server's acceptance always wins (it happened); a failure
    only replaces our own ``sending``, never a ``sent`` recorded meanwhile by a worker that took over."""
    only = T.status != "sent" if values["status"] == "sent" else T.status == "sending"
    with warehouse.transaction(lock=f"mail:{key}") as conn:
        conn.execute(mail_ledger.update().where(T.key == key, only).values(**values))
        return entry_from_row(conn.execute(sa.select(mail_ledger).where(T.key == key)).one())


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
) -> LedgerEntry:
    """Send ``mail`` once (see the module docstring). Returns its ledger entry, ``sent`` or ``failed``
    (or ``sending`` when another worker holds it); raises ScopeViolation when the mail is refused."""
    ensure_table(warehouse)
    fixed_clock = now is not None
    now = _utc_naive(now)

    done = get_entry(warehouse, mail.key)
    if done is not None and done.status == "sent":
        return replace(done, already_sent=True)

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

    # -- send
    try:
        with Session(conn_id) as session:
            from_name, from_addr = parseaddr(session.from_email or "")
            if not from_addr:
                raise SmtpFailure(f"no sender address: set from_email in the {conn_id} connection or TSUNAGU_MAIL_FROM")
            msg = build_message(
                key=mail.key, from_addr=from_addr, from_name=from_name or _sender_name(), to=mail.to, cc=mail.cc,
                subject=mail.subject, body=body, attachments=attachments, date=now.replace(tzinfo=dt.UTC),
            )
            reply = session.send(msg, from_addr, list(dict.fromkeys(address_of(a) for a in mail.recipients)))
    except Exception as exc:  # SMTP, network, connection config: retryable, never sent
        failure = failure_of(exc)
        log.warning("mail %s failed (attempt %d): %s", mail.key, entry.attempts, failure)
        return _finish(warehouse, mail.key, {"status": "failed", "smtp_status": failure.code,
                                             "last_error": str(failure)[:2000]})
    log.info("mail %s sent: %s %s", mail.key, reply.code, reply.text)
    return _finish(warehouse, mail.key, {"status": "sent", "smtp_status": reply.code, "smtp_reply": reply.text,
                                         "sent_at": now if fixed_clock else _utc_naive(None), "last_error": None})


def _sender_name() -> str | None:
    try:
        from tsunagu.jurisdiction import load_jurisdiction

        j = load_jurisdiction()
        return f"{j.bureau_ja} {j.division_ja}"
    except Exception:  # config missing: a bare address is fine
        return None
