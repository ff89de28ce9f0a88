"""The delivery ledger (table ``mail_ledger``, DDL in include/sql/schema/080_mail_ledger.sql).

One row per idempotency key: who got what (recipients, prefecture, fiscal year, data version, files
with sha256), when, and what the SMTP server answered. Rows move
``sending -> sent | failed | blocked``; ``failed`` and ``blocked`` rows may be attempted again,
a ``sent`` row never changes again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

LEDGER_STATUSES = ("sending", "sent", "failed", "blocked")

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
    sa.Column("status", sa.String(10), nullable=False),
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
    status: str  # sending | sent | failed | blocked
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


class DeliveryFailed(Exception):
    """The mail was not (or not yet) accepted by the server; ``.entry`` is its ledger row."""

    def __init__(self, entry: LedgerEntry):
        super().__init__(f"mail {entry.key} is {entry.status} after {entry.attempts} attempt(s): {entry.last_error}")
        self.entry = entry


# ----------------------------------------------------------------------------- table
_ready: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


def ensure_table(warehouse) -> None:
    """Create the ledger when the warehouse predates it (create_schema() is idempotent)."""
    engine = warehouse.engine
    if _ready.get(engine):
        return
    if not sa.inspect(engine).has_table("mail_ledger"):
        warehouse.create_schema()
    _ready[engine] = True


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(a for a in (text or "").split(", ") if a)


def entry_from_row(row: Any, *, already_sent: bool = False) -> LedgerEntry:
    m = row._mapping if hasattr(row, "_mapping") else row
    files = tuple(FileRecord(f["name"], f["sha256"], int(f["bytes"])) for f in json.loads(m["files"] or "[]"))
    return LedgerEntry(
        key=m["key"], kind=m["kind"], fiscal_year=int(m["fiscal_year"]), prefecture_code=m["prefecture_code"],
        recipients=_split(m["recipients"]), cc=_split(m["cc"]), subject=m["subject"],
        data_version=m["data_version"], files=files, delivery_mode=m["delivery_mode"],
        outbox_path=m["outbox_path"], status=m["status"],
        smtp_status=int(m["smtp_status"]) if m["smtp_status"] is not None else None,
        smtp_reply=m["smtp_reply"], message_id=m["message_id"], attempts=int(m["attempts"]),
        first_attempt_at=m["first_attempt_at"], last_attempt_at=m["last_attempt_at"], sent_at=m["sent_at"],
        last_error=m["last_error"], already_sent=already_sent,
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
        q = q.where(T.status == status)
    with warehouse.engine.connect() as conn:
        return [entry_from_row(r) for r in conn.execute(q)]


def was_sent(warehouse, key: str) -> bool:
    ensure_table(warehouse)
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.select(T.status).where(T.key == key)).scalar() == "sent"


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
}
STATUS_JA = {"sending": "送信中", "sent": "送信済", "failed": "送信失敗", "blocked": "送信停止"}
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
