"""The delivery ledger (table ``mail_ledger``, DDL in include/sql/schema/080_mail_ledger.sql).

One row per idempotency key: who got what (recipients, prefecture, fiscal year, data version, files
with sha256), when, and what the SMTP server answered. Rows move
``sending -> sent | failed | blocked | unknown | failed_permanent``:

=====================  ============================================================  =======================
status                 meaning                                                       next
=====================  ============================================================  =======================
``sending``            an attempt is under way (or its process died)                 see below
``sent``               the server accepted it (or an operator confirmed receipt)     never changes again
``failed``             not sent: network, 4xx, or a 5xx not yet final                retried by the next run
``blocked``            refused by a scope check: nothing was sent                    retried by the next run
``unknown``            the content went out and no reply came back: maybe received   an operator decides
``failed_permanent``   refused for good (550/551/553/554, or 5xx on N attempts)      an operator decides
=====================  ============================================================  =======================

A ``sending`` row older than ``stale_after`` is an attempt that died: the table ``mail_events`` (the
row's history) tells whether its message content had started to go out (event ``data`` without an
outcome, or no history at all: ``unknown``) or not (only ``claimed``: retried). :func:`unknown_mails`
and :func:`problem_mails` list what waits for an operator; ``tsunagu.deliver.resolve_unknown`` records
the decision (in ``mail_events``: who, when, why).

Ledgers created before ``unknown``/``failed_permanent`` existed (``status VARCHAR(10)`` and a CHECK
of the four older statuses; until a migration widens them) store them as ``sending``/``failed`` with
``last_error`` starting ``[unknown] ``/``[failed_permanent] ``; everything here reads both forms the
same way (:func:`effective_status`, :func:`status_is`), so callers only ever see the real status.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

LEDGER_STATUSES = ("sending", "sent", "failed", "blocked", "unknown", "failed_permanent")
HELD_STATUSES = frozenset({"unknown", "failed_permanent"})  # never retried automatically: an operator decides
PROBLEM_STATUSES = ("unknown", "failed_permanent")
LEGACY_FORM = {"unknown": "sending", "failed_permanent": "failed"}  # how a ledger with the old CHECK keeps them
EVENTS = ("claimed", "data", "sent", "failed", "failed_permanent", "unknown", "blocked", "resolved_sent",
          "resolved_resend")
OUTCOME_EVENTS = frozenset({"sent", "failed", "failed_permanent", "unknown", "blocked"})

_md = sa.MetaData()
mail_ledger = sa.Table(
    "mail_ledger", _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("fiscal_year", sa.Integer, nullable=False),
    sa.Column("prefecture_code", sa.String(2)),
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("cc", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("data_version", sa.String(80)),
    sa.Column("files", sa.Text, nullable=False),
    sa.Column("delivery_mode", sa.String(10)),
    sa.Column("outbox_path", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("smtp_status", sa.Integer),
    sa.Column("smtp_reply", sa.Text),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_attempt_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
)
T = mail_ledger.c

mail_events = sa.Table(
    "mail_events", _md,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("event_at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("stage", sa.String(10)),
    sa.Column("smtp_status", sa.Integer),
    sa.Column("detail", sa.Text),
)
E = mail_events.c


@dataclass(frozen=True)
class FileRecord:
    name: str
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    kind: str
    fiscal_year: int
    prefecture_code: str | None
    recipients: tuple[str, ...]  # To then Cc
    cc: tuple[str, ...]
    subject: str
    data_version: str | None
    files: tuple[FileRecord, ...]
    delivery_mode: str | None  # attached | link | none
    outbox_path: str | None
    status: str  # sending | sent | failed | blocked | unknown | failed_permanent (LEDGER_STATUSES)
    smtp_status: int | None
    smtp_reply: str | None
    message_id: str
    attempts: int
    first_attempt_at: dt.datetime
    last_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None
    already_sent: bool = False  # send() found the key sent before and contacted no server

    @property
    def ok(self) -> bool:
        return self.status == "sent"

    def raise_for_status(self) -> LedgerEntry:
        """Raise :class:`DeliveryFailed` unless the mail was sent; returns self for chaining."""
        if self.status != "sent":
            raise DeliveryFailed(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["files"] = [f.to_dict() for f in self.files]
        for k in ("first_attempt_at", "last_attempt_at", "sent_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        d["recipients"], d["cc"] = list(self.recipients), list(self.cc)
        return d


@dataclass(frozen=True)
class MailEvent:
    """One step in a ledger row's history (table ``mail_events``)."""

    key: str
    seq: int
    attempt: int
    event: str  # EVENTS
    at: dt.datetime  # UTC
    actor: str | None  # the operator of a decision; None: tsunagu itself
    stage: str | None  # where an attempt failed: connect | mail | rcpt | data
    smtp_status: int | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["at"] = self.at.isoformat()
        return d


class DeliveryFailed(Exception):
    """The mail was not (or not yet) accepted by the server; ``.entry`` is its ledger row."""

    def __init__(self, entry: LedgerEntry):
        super().__init__(f"mail {entry.key} is {entry.status} after {entry.attempts} attempt(s): {entry.last_error}")
        self.entry = entry


# ----------------------------------------------------------------------------- table
_ready: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()  # engine -> stores new statuses


def ensure_table(warehouse) -> None:
    """Create the ledger and its history when the warehouse predates them (create_schema() is idempotent)."""
    engine = warehouse.engine
    if engine in _ready:
        return
    inspector = sa.inspect(engine)
    if not (inspector.has_table("mail_ledger") and inspector.has_table("mail_events")):
        warehouse.create_schema()
    _ready[engine] = _stores_new_statuses(engine)


def _stores_new_statuses(engine: sa.Engine) -> bool:
    """False for a ledger created with ``status VARCHAR(10)`` and the CHECK of the four older statuses."""
    inspector = sa.inspect(engine)
    checks = [c.get("sqltext") or "" for c in inspector.get_check_constraints("mail_ledger")]
    if any("status" in text and "failed_permanent" not in text for text in checks):
        return False
    if engine.dialect.name == "sqlite":  # SQLite does not enforce VARCHAR lengths
        return True
    column = next(c for c in inspector.get_columns("mail_ledger") if c["name"] == "status")
    length = getattr(column["type"], "length", None)
    return length is None or length >= len("failed_permanent")


def stores_new_statuses(warehouse) -> bool:
    """Whether this warehouse's ledger takes ``unknown``/``failed_permanent`` as they are (else: LEGACY_FORM)."""
    ensure_table(warehouse)
    return _ready[warehouse.engine]


def _tag(status: str) -> str:
    return f"[{status}] "


def effective_status(status: str, last_error: str | None) -> str:
    """The status of a row, reading the legacy form (``sending``/``failed`` + ``[unknown] ``/… in last_error)."""
    for new, legacy in LEGACY_FORM.items():
        if status == legacy and (last_error or "").startswith(_tag(new)):
            return new
    return status


def status_is(status: str) -> sa.ColumnElement[bool]:
    """SQL: the row's effective status is ``status`` (whichever form it is stored in)."""
    if status in LEGACY_FORM:
        legacy = sa.and_(T.status == LEGACY_FORM[status], T.last_error.startswith(_tag(status), autoescape=True))
        return sa.or_(T.status == status, legacy)
    tags = [_tag(new) for new, legacy in LEGACY_FORM.items() if legacy == status]
    if tags:
        return sa.and_(T.status == status, *(sa.or_(T.last_error.is_(None),
                                                    ~T.last_error.startswith(t, autoescape=True)) for t in tags))
    return T.status == status


def stored_form(warehouse, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for an UPDATE/INSERT of mail_ledger, in the form this warehouse's ledger accepts."""
    status = values.get("status")
    if status not in LEGACY_FORM or stores_new_statuses(warehouse):
        return values
    return {**values, "status": LEGACY_FORM[status], "last_error": _tag(status) + (values.get("last_error") or "")}


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(a for a in (text or "").split(", ") if a)


def entry_from_row(row: Any, *, already_sent: bool = False) -> LedgerEntry:
    m = row._mapping if hasattr(row, "_mapping") else row
    files = tuple(FileRecord(f["name"], f["sha256"], int(f["bytes"])) for f in json.loads(m["files"] or "[]"))
    status = effective_status(m["status"], m["last_error"])
    last_error = m["last_error"]
    if status != m["status"]:
        last_error = last_error[len(_tag(status)):] or None
    return LedgerEntry(
        key=m["key"], kind=m["kind"], fiscal_year=int(m["fiscal_year"]), prefecture_code=m["prefecture_code"],
        recipients=_split(m["recipients"]), cc=_split(m["cc"]), subject=m["subject"],
        data_version=m["data_version"], files=files, delivery_mode=m["delivery_mode"],
        outbox_path=m["outbox_path"], status=status,
        smtp_status=int(m["smtp_status"]) if m["smtp_status"] is not None else None,
        smtp_reply=m["smtp_reply"], message_id=m["message_id"], attempts=int(m["attempts"]),
        first_attempt_at=m["first_attempt_at"], last_attempt_at=m["last_attempt_at"], sent_at=m["sent_at"],
        last_error=last_error, already_sent=already_sent,
    )


def files_json(files: Iterable[FileRecord]) -> str:
    return json.dumps([f.to_dict() for f in files], ensure_ascii=False, separators=(",", ":"))


def get_entry(warehouse, key: str, conn: sa.Connection | None = None) -> LedgerEntry | None:
    ensure_table(warehouse)
    q = sa.select(mail_ledger).where(T.key == key)
    if conn is not None:
        row = conn.execute(q).first()
    else:
        with warehouse.engine.connect() as c:
            row = c.execute(q).first()
    return entry_from_row(row) if row is not None else None


# ----------------------------------------------------------------------------- public reads
def ledger(warehouse, *, fiscal_year: int | None = None, kind: str | Iterable[str] | None = None,
           prefecture_code: str | None = None, status: str | None = None) -> list[LedgerEntry]:
    """Ledger rows, oldest first (first attempt, then key)."""
    ensure_table(warehouse)
    q = sa.select(mail_ledger).order_by(T.first_attempt_at, T.key)
    if fiscal_year is not None:
        q = q.where(T.fiscal_year == fiscal_year)
    if kind is not None:
        q = q.where(T.kind == kind) if isinstance(kind, str) else q.where(T.kind.in_(list(kind)))
    if prefecture_code is not None:
        q = q.where(T.prefecture_code == prefecture_code)
    if status is not None:
        q = q.where(status_is(status))
    with warehouse.engine.connect() as conn:
        return [entry_from_row(r) for r in conn.execute(q)]


def was_sent(warehouse, key: str) -> bool:
    ensure_table(warehouse)
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.select(T.status).where(T.key == key)).scalar() == "sent"


# ----------------------------------------------------------------------------- history
def add_event(conn: sa.Connection, key: str, attempt: int, event: str, at: dt.datetime, *, actor: str | None = None,
              stage: str | None = None, smtp_status: int | None = None, detail: str | None = None) -> None:
    """Append to the key's history (call inside the write transaction that holds the key's lock)."""
    if event not in EVENTS:
        raise ValueError(f"unknown mail event {event!r}")
    seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.seq), 0)).where(E.key == key)).scalar() + 1
    conn.execute(mail_events.insert().values(key=key, seq=seq, attempt=attempt, event=event, event_at=at, actor=actor,
                                             stage=stage, smtp_status=smtp_status,
                                             detail=detail[:4000] if detail else None))


def _event(row: Any) -> MailEvent:
    m = row._mapping
    return MailEvent(m["key"], int(m["seq"]), int(m["attempt"]), m["event"], m["event_at"], m["actor"], m["stage"],
                     int(m["smtp_status"]) if m["smtp_status"] is not None else None, m["detail"])


def mail_history(warehouse, key: str) -> list[MailEvent]:
    """The key's history, oldest first: attempts (claimed, data, outcome) and operator decisions."""
    ensure_table(warehouse)
    with warehouse.engine.connect() as conn:
        return [_event(r) for r in conn.execute(sa.select(mail_events).where(E.key == key).order_by(E.seq))]


def attempt_verdict(conn: sa.Connection, key: str, attempt: int) -> str:
    """What became of attempt ``attempt`` of a row left ``sending`` (stale: its process is gone).

    ``unknown``: its message content had started to go out (``data`` and no outcome), or nothing says how
    it went (a row written before the history existed, or by hand) — the server may have the mail;
    ``not_sent``: it stopped before the content (only ``claimed``); ``ended``: its outcome is on record
    and says it was not accepted (the row was set back to ``sending`` by hand): it may be tried again.
    """
    events = set(conn.execute(sa.select(E.event).where(E.key == key, E.attempt == attempt)).scalars())
    outcomes = events & OUTCOME_EVENTS
    if outcomes:
        return "unknown" if outcomes & {"sent", "unknown"} else "ended"
    if "data" in events or not events:
        return "unknown"
    return "not_sent"


def resend_refusals(conn: sa.Connection, key: str) -> int:
    """5xx replies to RCPT or DATA on record for the key since an operator last decided to resend it."""
    last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.seq), 0))
                        .where(E.key == key, E.event == "resolved_resend")).scalar()
    return conn.execute(sa.select(sa.func.count()).select_from(mail_events).where(
        E.key == key, E.seq > last, E.event.in_(("failed", "failed_permanent")), E.stage.in_(("rcpt", "data")),
        E.smtp_status >= 500, E.smtp_status < 600)).scalar()


STALE_UNKNOWN = ("送信結果不明: {at} UTC の送信処理（{n}回目）が、メール本文の送信を始めたあと、サーバーの応答を記録せずに"
                 "終了しました（プロセスの強制終了など）。受信されている可能性があるため、自動では再送しません。"
                 " / outcome unknown: attempt {n} of {at} UTC began sending the message content and ended without "
                 "recording the server's reply (e.g. its process was killed); the mail may have been received, so "
                 "it is not resent automatically.")


def stale_unknown_error(entry: LedgerEntry) -> str:
    return STALE_UNKNOWN.format(at=entry.last_attempt_at.isoformat(sep=" "), n=entry.attempts)


def utc_naive(now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (default: the clock) as the ledger stores times: UTC without a zone, whole seconds."""
    if now is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=0)


def unknown_mails(warehouse, fiscal_year: int | None = None, *, now: dt.datetime | None = None,
                  stale_after: dt.timedelta | None = None) -> list[LedgerEntry]:
    """Mails whose outcome is unknown (oldest first): ``unknown`` rows, and rows left ``sending`` by an
    attempt that died after its content had started to go out (older than ``stale_after``; shown as
    ``unknown``, and recorded so by the next run that meets the key). None is retried automatically;
    each waits for an operator's ``resolve_unknown(..., "sent" | "resend", operator, note)``. The
    Message-ID of each (``entry.message_id``) is what to look for in the relay's log or the recipient's
    mailbox.
    """
    from tsunagu.deliver.mail import STALE_AFTER

    ensure_table(warehouse)
    cutoff = utc_naive(now) - (stale_after if stale_after is not None else STALE_AFTER)
    q = sa.select(mail_ledger).where(sa.or_(status_is("unknown"),
                                            sa.and_(status_is("sending"), T.last_attempt_at <= cutoff)))
    if fiscal_year is not None:
        q = q.where(T.fiscal_year == fiscal_year)
    out = []
    with warehouse.engine.connect() as conn:
        for row in conn.execute(q.order_by(T.first_attempt_at, T.key)):
            entry = entry_from_row(row)
            if entry.status == "sending":
                if attempt_verdict(conn, entry.key, entry.attempts) != "unknown":
                    continue  # stopped before its content: the next run sends it
                entry = replace(entry, status="unknown", last_error=stale_unknown_error(entry))
            out.append(entry)
    return out


def problem_mails(warehouse, fiscal_year: int | None = None, *, now: dt.datetime | None = None,
                  stale_after: dt.timedelta | None = None) -> list[LedgerEntry]:
    """What waits for an operator (oldest first): :func:`unknown_mails` and the ``failed_permanent`` mails
    (the server's reply in ``smtp_status``/``smtp_reply``). A ``failed_permanent`` mail is sent again only
    after ``resolve_unknown(..., "resend", operator, note)`` (e.g. once the address is corrected)."""
    ensure_table(warehouse)
    q = sa.select(mail_ledger).where(status_is("failed_permanent"))
    if fiscal_year is not None:
        q = q.where(T.fiscal_year == fiscal_year)
    with warehouse.engine.connect() as conn:
        refused = [entry_from_row(r) for r in conn.execute(q)]
    both = unknown_mails(warehouse, fiscal_year, now=now, stale_after=stale_after) + refused
    return sorted(both, key=lambda e: (e.first_attempt_at, e.key))


# ----------------------------------------------------------------------------- CSV export
KIND_JA = {
    "office_request": "都県事務所への提供依頼",
    "prefecture_notice": "都県への案内",
    "office_reminder": "都県事務所への督促",
    "request_reminder": "依頼書提出の督促",
    "survey_summary": "調査票の集計結果の送付",
    "pre_delivery_notice": "送付前の事前共有",
    "delivery": "データ送付",
    "correction": "訂正版の送付",
    "closing_report": "年度の完了報告",
    "evaluation_notice": "評価結果の分析資料の事前共有",
    "evaluation_delivery": "評価結果の分析資料の送付",
    "evaluation_correction": "評価結果の分析資料（訂正版）の送付",
}
STATUS_JA = {"sending": "送信中", "sent": "送信済", "failed": "送信失敗", "blocked": "送信停止",
             "unknown": "送信結果不明", "failed_permanent": "送信不能"}
MODE_JA = {"attached": "添付", "link": "保存先を案内", "none": "なし"}
EXPORT_COLUMNS = (
    ("年度", "fiscal_year"), ("種別", "kind_ja"), ("種別ID", "kind"), ("都道府県コード", "prefecture_code"),
    ("都道府県", "prefecture_ja"), ("宛先", "recipients"), ("件名", "subject"), ("データ版", "data_version"),
    ("送付方法", "delivery_mode"), ("ファイル", "file_names"), ("SHA-256", "file_hashes"), ("バイト数", "file_bytes"),
    ("保存先", "outbox_path"), ("状態", "status_ja"), ("送信日時(JST)", "sent_at"), ("SMTP応答コード", "smtp_status"),
    ("SMTP応答", "smtp_reply"), ("Message-ID", "message_id"), ("試行回数", "attempts"),
    ("初回試行(JST)", "first_attempt_at"), ("エラー", "last_error"), ("キー", "key"),
)
JST = dt.timezone(dt.timedelta(hours=9), "JST")


def _jst(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def export_row(e: LedgerEntry) -> dict[str, str]:
    from tsunagu.jurisdiction import load_jurisdiction

    jur = load_jurisdiction()
    pref = jur.prefectures.get(e.prefecture_code or "")
    values = {
        "fiscal_year": str(e.fiscal_year), "kind_ja": KIND_JA.get(e.kind, e.kind), "kind": e.kind,
        "prefecture_code": e.prefecture_code or "", "prefecture_ja": pref.name_ja if pref else "",
        "recipients": "; ".join(e.recipients), "subject": e.subject, "data_version": e.data_version or "",
        "delivery_mode": MODE_JA.get(e.delivery_mode or "", e.delivery_mode or ""),
        "file_names": "; ".join(f.name for f in e.files), "file_hashes": "; ".join(f.sha256 for f in e.files),
        "file_bytes": "; ".join(str(f.bytes) for f in e.files), "outbox_path": e.outbox_path or "",
        "status_ja": STATUS_JA.get(e.status, e.status), "sent_at": _jst(e.sent_at),
        "smtp_status": "" if e.smtp_status is None else str(e.smtp_status), "smtp_reply": e.smtp_reply or "",
        "message_id": e.message_id, "attempts": str(e.attempts), "first_attempt_at": _jst(e.first_attempt_at),
        "last_error": e.last_error or "", "key": e.key,
    }
    return {ja: _inert(values[k]) for ja, k in EXPORT_COLUMNS}


def _inert(text: str) -> str:
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def export_ledger_csv(warehouse, path: str | Path, *, fiscal_year: int | None = None,
                      kinds: Iterable[str] | None = None, prefecture_code: str | None = None) -> Path:
    """Write the ledger as CSV for people: UTF-8 with BOM (opens in Excel), CRLF, Japanese headers, JST times.

    Rows are ordered like :func:`ledger` (oldest first); file lists are ``; ``-separated in the
    ファイル / SHA-256 / バイト数 columns, in the same order.
    """
    rows = ledger(warehouse, fiscal_year=fiscal_year, kind=list(kinds) if kinds is not None else None,
                  prefecture_code=prefecture_code)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([ja for ja, _ in EXPORT_COLUMNS])
    for e in rows:
        w.writerow(list(export_row(e).values()))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    tmp.replace(out)
    return out
