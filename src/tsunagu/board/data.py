"""The data of the status board, for one fiscal year. Reads the warehouse through its public API; writes nothing.

Channels and their expected senders:

* ``home_care_report`` — 様式11の3 from each prefecture's office (都県事務所); deadline ``office_data_deadline``
  of ``include/config/cycle/<fy>.yaml``;
* ``request_form`` — 情報提供依頼書 from each prefecture; deadline ``request_deadline``;
* ``survey_return`` — 調査票 from each prefecture; the cycle config sets no deadline for it;
* ``evaluation_results`` — the ministry's 評価結果 of the year (one sender, 00 厚生労働省; no deadline);
* ``grant.<program>.<stage>`` — every expected filer of the grant stage (:func:`tsunagu.grants.status.board_rows`),
  deadlines from the program's schedule.

A sender's status: ``accepted`` (a file of the year was accepted and is current), else its latest file's:
``received`` (not processed yet) or ``rejected`` (rejected or unreadable, with the first reason and the
annotated report), else ``missing``. Days late as on the grants' boards: none before the deadline, 0 once
accepted, else the calendar days after the deadline as of ``day``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tsunagu.settings import Settings, get_settings

TOKYO = ZoneInfo("Asia/Tokyo")
STATUSES: tuple[str, ...] = ("received", "accepted", "rejected", "missing")
STATUS_JA = {"received": "受付（未処理）", "accepted": "受理", "rejected": "差戻し", "missing": "未提出"}
STATUS_EN = {"received": "received", "accepted": "accepted", "rejected": "rejected", "missing": "missing"}
# The grants' board states, in the board's words.
GRANT_STATUS = {"not_submitted": "missing", "received": "received", "returned": "rejected", "accepted": "accepted"}
_RETURNED = ("rejected", "unreadable")

# (channel id, Japanese label, English label, sender, milestone of the cycle config giving the deadline)
FILE_CHANNELS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("home_care_report", "定例報告（様式11の3）", "Home-care reports", "office", "office_data_deadline"),
    ("request_form", "情報提供依頼書", "Request forms", "prefecture", "request_deadline"),
    ("survey_return", "調査票（地域支援事業 実施状況）", "Survey returns", "prefecture", None),
)
# The ministry's yearly evaluation results: one expected sender, 厚生労働省 (sender code 00, 全国).
EVALUATION_CHANNEL = ("evaluation_results", "評価結果（保険者機能強化推進交付金・介護保険保険者努力支援交付金）",
                      "Evaluation results (national)")
# What a prefecture receives, by mail kind of the delivery ledger.
RECEIVED_KINDS = ("delivery", "correction", "survey_summary", "evaluation_delivery", "evaluation_correction")


def today_tokyo() -> dt.date:
    return dt.datetime.now(TOKYO).date()


def tokyo_time(value: Any) -> str | None:
    """A warehouse time (UTC without a zone) as Asia/Tokyo, ``YYYY-MM-DD HH:MM``."""
    if value is None or value == "":
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(str(value))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


def tokyo_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(tokyo_time(value)[:10])


def days_late(status: str, deadline: dt.date | None, day: dt.date) -> int | None:
    if deadline is None or day <= deadline:
        return None
    return 0 if status == "accepted" else (day - deadline).days


def board_warehouse(settings: Settings):
    """The existing warehouse of ``settings``, or None: the board never creates one."""
    from tsunagu.flows.base import existing_warehouse

    return existing_warehouse(settings)


# ----------------------------------------------------------------------------------------- helpers
def _report(settings: Settings, submission: dict[str, Any]) -> str | None:
    """The annotated report of a submission, relative to the reports dir (None when there is none)."""
    json_path = submission.get("report_path")
    if not json_path:
        return None
    annotated = Path(json_path).with_suffix(".xlsx")
    reports = settings.reports_dir.resolve()
    try:
        rel = annotated.resolve().relative_to(reports)
    except ValueError:
        return None
    return rel.as_posix() if annotated.is_file() else None


def _reason(warehouse: Any, submission: dict[str, Any]) -> tuple[str | None, str | None]:
    findings = warehouse.validation_results(int(submission["id"]))
    errors = [f for f in findings if f["severity"] == "error"] or findings
    if not errors:
        return None, None
    f = errors[0]
    return f["message_ja"], f["message_en"]


def _file_fields(warehouse: Any, settings: Settings, latest: dict[str, Any] | None,
                 rejected: dict[str, Any] | None) -> dict[str, Any]:
    reason_ja = reason_en = report = None
    if rejected is not None:
        reason_ja, reason_en = _reason(warehouse, rejected)
        report = _report(settings, rejected)
    return {
        "latest_file": latest.get("original_name") if latest else None,
        "latest_status": latest.get("status") if latest else None,
        "received_at": tokyo_time(latest.get("received_at")) if latest else None,
        "reason_ja": reason_ja,
        "reason_en": reason_en,
        "report": report,
    }


def _sender_state(files: list[dict[str, Any]]) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """-> (status, latest non-superseded file, the latest rejected file newer than any accepted one)."""
    live = [f for f in files if f["status"] != "superseded"]
    latest = max(live, key=lambda f: int(f["id"])) if live else None
    accepted = [f for f in live if f["status"] == "accepted"]
    last_ok = max((int(f["id"]) for f in accepted), default=0)
    returned = [f for f in live if f["status"] in _RETURNED and int(f["id"]) > last_ok]
    rejected = max(returned, key=lambda f: int(f["id"])) if returned else None
    if accepted:
        return "accepted", latest, rejected
    if latest is None:
        return "missing", None, None
    return ("received" if latest["status"] == "received" else "rejected"), latest, rejected


def _deadline(schedule: Any, milestone: str | None) -> dt.date | None:
    return getattr(schedule, milestone) if schedule is not None and milestone else None


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(r["status"] for r in rows)
    return {s: c.get(s, 0) for s in STATUSES}


# ----------------------------------------------------------------------------------------- channels
def file_channel(warehouse: Any, settings: Settings, fiscal_year: int, channel: tuple, *, day: dt.date,
                 schedule: Any) -> dict[str, Any]:
    from tsunagu.jurisdiction import load_jurisdiction

    cid, label_ja, label_en, sender_kind, milestone = channel
    deadline = _deadline(schedule, milestone)
    by_sender: dict[str, list[dict[str, Any]]] = {}
    if warehouse is not None:
        for o in warehouse.outcomes(kind=cid, fiscal_year=fiscal_year):
            by_sender.setdefault(o["sender"], []).append(o)
    rows = []
    for code, pref in sorted(load_jurisdiction().prefectures.items()):
        status, latest, rejected = _sender_state(by_sender.get(code, []))
        rows.append({
            "sender": code,
            "sender_name": pref.office_ja if sender_kind == "office" else pref.name_ja,
            "prefecture_code": code,
            "status": status,
            "status_ja": STATUS_JA[status],
            "files": len(by_sender.get(code, [])),
            **_file_fields(warehouse, settings, latest, rejected),
            "deadline": deadline.isoformat() if deadline else None,
            "days_late": days_late(status, deadline, day),
        })
    return {"id": cid, "label_ja": label_ja, "label_en": label_en, "deadline": deadline.isoformat() if deadline else None,
            "counts": _counts(rows), "senders": rows}


def evaluation_channel(warehouse: Any, settings: Settings, fiscal_year: int) -> dict[str, Any]:
    """The ministry's file of the year's evaluation results: no deadline of ours (it is published when it is)."""
    cid, label_ja, label_en = EVALUATION_CHANNEL
    files = list(warehouse.outcomes(kind=cid, fiscal_year=fiscal_year)) if warehouse is not None else []
    status, latest, rejected = _sender_state(files)
    row = {"sender": "00", "sender_name": "厚生労働省", "prefecture_code": "00", "status": status,
           "status_ja": STATUS_JA[status], "files": len(files),
           **_file_fields(warehouse, settings, latest, rejected), "deadline": None, "days_late": None}
    return {"id": cid, "label_ja": label_ja, "label_en": label_en, "deadline": None, "counts": _counts([row]),
            "senders": [row]}


def grant_channels(warehouse: Any, settings: Settings, fiscal_year: int, *, day: dt.date) -> list[dict[str, Any]]:
    """One channel per grant program and stage, when the program covers the year."""
    from tsunagu.grants.config import PROGRAMS, GrantConfigError, load_program
    from tsunagu.grants.status import board_rows

    out = []
    for program in PROGRAMS:
        config = load_program(program)
        try:
            config.period(fiscal_year)
        except GrantConfigError:
            continue  # the program does not run that year
        rows = board_rows(warehouse, program, fiscal_year, day=day) if warehouse is not None else []
        for stage in config.stages:
            kind = f"grant.{program}.{stage.id}"
            files: dict[str, list[dict[str, Any]]] = {}
            if warehouse is not None:
                for o in warehouse.outcomes(kind=kind, fiscal_year=fiscal_year):
                    files.setdefault(o["sender"], []).append(o)
            file_state = {pref: _sender_state(fs) for pref, fs in files.items()}
            senders = []
            for r in (r for r in rows if r["stage"] == stage.id):
                status = GRANT_STATUS[r["state"]]
                _, latest, rejected = file_state.get(r["prefecture_code"], ("missing", None, None))
                senders.append({
                    "sender": r["filer_code"],
                    "sender_name": r["filer_name"],
                    "prefecture_code": r["prefecture_code"],
                    "status": status,
                    "status_ja": STATUS_JA[status],
                    "files": len(files.get(r["prefecture_code"], [])),
                    **_file_fields(warehouse, settings, latest, rejected if status != "accepted" else None),
                    "deadline": r["deadline"].isoformat() if r["deadline"] else None,
                    "days_late": r["days_late"],
                })
            dates = config.schedule(fiscal_year).get(stage.id) if fiscal_year in config.fiscal_years() else None
            out.append({
                "id": kind, "label_ja": f"{config.title_ja} {stage.label_ja}",
                "label_en": f"Grant {program}: {stage.id}",
                "deadline": dates.deadline.isoformat() if dates is not None else None,
                "counts": _counts(senders), "senders": senders,
            })
    return out


# ----------------------------------------------------------------------------------------- prefectures
def prefecture_status(warehouse: Any, fiscal_year: int, channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per prefecture: what it has been sent (the delivery ledger) and what it is still waiting for."""
    from tsunagu.deliver.ledger import KIND_JA, ledger
    from tsunagu.deliver.ledger import STATUS_JA as MAIL_STATUS_JA
    from tsunagu.jurisdiction import load_jurisdiction

    entries = ledger(warehouse, fiscal_year=fiscal_year) if warehouse is not None else []
    requests: dict[str, Any] = {}
    with_data: set[str] = set()
    if warehouse is not None:
        from tsunagu.warehouse.requests import active_requests

        requests = active_requests(warehouse, fiscal_year)
        with_data = set(warehouse.report_prefectures(fiscal_year))
    status = {c["id"]: {s["sender"]: s["status"] for s in c["senders"]} for c in channels
              if "." not in c["id"] and c["id"] != EVALUATION_CHANNEL[0]}  # a prefecture's own files
    out = []
    for code, pref in sorted(load_jurisdiction().prefectures.items()):
        mine = [e for e in entries if e.prefecture_code == code]
        sent = [
            {"kind": e.kind, "kind_ja": KIND_JA.get(e.kind, e.kind), "subject": e.subject,
             "data_version": e.data_version, "status": e.status, "status_ja": MAIL_STATUS_JA.get(e.status, e.status),
             "at": tokyo_time(e.sent_at or e.last_attempt_at), "files": [f.name for f in e.files]}
            for e in mine if e.kind in RECEIVED_KINDS
        ]
        delivered = any(e.kind in ("delivery", "correction") and e.status == "sent" for e in mine)
        summarised = any(e.kind == "survey_summary" and e.status == "sent" for e in mine)
        waiting = []
        if code in requests:
            if code not in with_data:
                waiting.append({"ja": "事務所データの受理（送付の前提）", "en": "the office's data to be accepted"})
            elif not delivered:
                waiting.append({"ja": "データの送付", "en": "the data delivery"})
        if status.get("survey_return", {}).get(code) == "accepted" and not summarised:
            waiting.append({"ja": "調査票の集計結果", "en": "the survey summary"})
        out.append({
            "code": code, "name_ja": pref.name_ja, "romaji": pref.romaji,
            "request": "active" if code in requests else "none",
            "received": {cid: by.get(code) for cid, by in status.items()},
            "sent": sent, "waiting": waiting,
        })
    return out


def problem_mail_rows(warehouse: Any, fiscal_year: int, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The mails whose outcome is unknown or that failed for good: an operator decides (tsunagu mail resolve)."""
    if warehouse is None:
        return []
    from tsunagu.deliver.ledger import KIND_JA, problem_mails
    from tsunagu.deliver.ledger import STATUS_JA as MAIL_STATUS_JA

    return [
        {"key": e.key, "kind": e.kind, "kind_ja": KIND_JA.get(e.kind, e.kind), "prefecture_code": e.prefecture_code,
         "status": e.status, "status_ja": MAIL_STATUS_JA.get(e.status, e.status), "subject": e.subject,
         "message_id": e.message_id, "attempts": e.attempts, "last_attempt_at": tokyo_time(e.last_attempt_at),
         "smtp_status": e.smtp_status, "last_error": e.last_error}
        for e in problem_mails(warehouse, fiscal_year, now=now)
    ]


# ----------------------------------------------------------------------------------------- completeness
def completeness(warehouse: Any, fiscal_year: int, channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per file channel: the share of expected senders accepted, by the (Tokyo) day their file was received.

    A sender counts from its first accepted file (one later superseded counts too: it was accepted).
    """
    out = []
    for c in channels:
        if "." in c["id"] or c["id"] == EVALUATION_CHANNEL[0]:
            continue  # grants are per filer, their files per prefecture; the ministry is one sender: counts only
        expected = len(c["senders"])
        first: dict[str, dt.date] = {}
        if warehouse is not None:
            for o in warehouse.outcomes(kind=c["id"], fiscal_year=fiscal_year, status=("accepted", "superseded")):
                if o.get("processed_at") is None and o["status"] == "accepted":
                    continue
                day = tokyo_date(o["received_at"])
                if o["sender"] not in first or day < first[o["sender"]]:
                    first[o["sender"]] = day
        by_day = Counter(first.values())
        points, total = [], 0
        for day in sorted(by_day):
            total += by_day[day]
            points.append({"date": day.isoformat(), "accepted": total, "expected": expected,
                           "share": round(total / expected, 4) if expected else 0.0})
        out.append({"id": c["id"], "label_ja": c["label_ja"], "label_en": c["label_en"], "points": points})
    return out


# ----------------------------------------------------------------------------------------- the board
def board_data(fiscal_year: int, *, day: dt.date | None = None, settings: Settings | None = None,
               warehouse: Any = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the board shows for ``fiscal_year`` as of ``day`` (default: today in Tokyo). JSON-ready."""
    from tsunagu.cycle.schedule import ScheduleError, load_schedule

    settings = settings or get_settings()
    day = day or today_tokyo()
    own = warehouse is None
    warehouse = warehouse if warehouse is not None else board_warehouse(settings)
    try:
        try:
            schedule = load_schedule(fiscal_year)
            schedule_note = None
        except ScheduleError as exc:
            schedule, schedule_note = None, str(exc)
        channels = [file_channel(warehouse, settings, fiscal_year, c, day=day, schedule=schedule)
                    for c in FILE_CHANNELS]
        channels.append(evaluation_channel(warehouse, settings, fiscal_year))
        channels += grant_channels(warehouse, settings, fiscal_year, day=day)
        return {
            "fiscal_year": fiscal_year,
            "day": day.isoformat(),
            "warehouse": warehouse is not None,
            "schedule": {k: v.isoformat() for k, v in schedule.dates().items()} if schedule else None,
            "schedule_note": schedule_note,
            "channels": channels,
            "prefectures": prefecture_status(warehouse, fiscal_year, channels),
            "problem_mails": problem_mail_rows(warehouse, fiscal_year, now=now),
            "completeness": completeness(warehouse, fiscal_year, channels),
        }
    finally:
        if own and warehouse is not None:
            warehouse.dispose()
