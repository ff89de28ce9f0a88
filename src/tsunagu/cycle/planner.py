"""The daily planner of the distribution cycle: everything due on or before a day, done exactly once.

``run_cycle_day(day)`` works out what is due on or before ``day`` (so a missed day is caught up),
sends each mail through :func:`tsunagu.deliver.send` under an idempotency key (a key already ``sent``
is a no-op, whatever the number of runs, reruns or backfills), records each attempt in
``cycle_actions`` and returns what it did and what it is waiting for.

Due items (DESIGN §2.1, dates from ``include/config/cycle/<fy>.yaml``):

=====================  =======================================  ===========================================
kind                   when                                     key
=====================  =======================================  ===========================================
office_request         from office_request (9月上旬)            ``{fy}:office_request:{pref}``
prefecture_notice      from prefecture_notice (9月上旬)         ``{fy}:prefecture_notice:{pref}``
office_reminder        from the first business day after the    ``{fy}:office_reminder:{pref}``
                       office data deadline, when the office's
                       data has not arrived or was not accepted
request_reminder       N days before the delivery window, when  ``{fy}:request_reminder:{pref}``
                       the prefecture has no active request
pre_delivery_notice    from pre_delivery_notice, when the       ``{fy}:pre_delivery_notice:{pref}:{version}:r{request}``
                       prefecture has an active request and
                       accepted data (a new version or a new
                       request → a new notice)
delivery / correction  in the delivery window, when the latest  ``{fy}:delivery:{pref}:{version}``
                       release is approved and its notice went
                       to the office ≥ lead business days before
closing_report         from closing_report (12月下旬)           ``{fy}:closing_report``
=====================  =======================================  ===========================================

Reminders, notices and deliveries stop after the delivery window closes. Nothing is sent on closed
days (weekends, holidays, 年末年始): what becomes due then goes on the next business day. A failed
send never stops the other actions; it stays retryable and is tried again on the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tsunagu.cycle import messages
from tsunagu.cycle._db import as_date, dumps, now_utc, table
from tsunagu.cycle.schedule import Schedule, business_days_between, fiscal_year_of, is_business_day, load_schedule
from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.archive import sha256_file

log = logging.getLogger(__name__)

KIND_ORDER = (
    "office_request", "prefecture_notice", "office_reminder", "request_reminder", "survey_summary",
    "pre_delivery_notice", "delivery", "correction", "closing_report",
)
DONE = {"sent", "already_sent"}


@dataclass
class ActionResult:
    """What the planner did (or would do, or waits for) about one item on one day."""

    kind: str
    fiscal_year: int
    day: dt.date
    status: str  # sent | already_sent | failed | blocked | planned (dry run) | waiting | skipped
    prefecture_code: str | None = None
    key: str | None = None
    version: str | None = None
    to: tuple[str, ...] = ()
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["day"] = self.day.isoformat()
        d["to"] = list(self.to)
        return d


@dataclass
class _Due:
    kind: str
    key: str
    prefecture_code: str | None
    build: Callable[[], Any]  # -> deliver.Mail
    version: str | None = None
    to: tuple[str, ...] = ()


@dataclass
class _State:
    schedule: Schedule
    day: dt.date
    warehouse: Any
    settings: Settings
    dry_run: bool
    requests: dict[str, Any] = field(default_factory=dict)
    data_prefectures: set[str] = field(default_factory=set)
    file_statuses: dict[str, set[str]] = field(default_factory=dict)
    sent: dict[str, dt.date | None] = field(default_factory=dict)  # key -> the cycle day it was sent on

    @property
    def fy(self) -> int:
        return self.schedule.fiscal_year


# ----------------------------------------------------------------------------- state
def _open(settings: Settings, warehouse: Any, dry_run: bool) -> Any:
    if warehouse is not None:
        return warehouse
    if dry_run:
        from tsunagu.warehouse.db import Warehouse

        if settings.db_url.startswith("sqlite:///") and not Path(settings.db_url.removeprefix("sqlite:///")).exists():
            return None  # a dry run never creates the warehouse
        warehouse = Warehouse(settings.db_url)
        warehouse.create_schema()
        return warehouse
    from tsunagu.pipeline import open_warehouse

    return open_warehouse(settings)


def sent_actions(warehouse: Any, fiscal_year: int) -> dict[str, dt.date | None]:
    """Keys sent for the year: from the cycle log (with the day handled) and the deliver ledger."""
    from tsunagu.deliver import ledger

    a = table(warehouse, "cycle_actions")
    q = sa.select(a.c.action_key, a.c.cycle_day).where(a.c.fiscal_year == fiscal_year, a.c.status == "sent")
    with warehouse.engine.connect() as conn:
        out = {k: as_date(d) for k, d in conn.execute(q)}
    for entry in ledger(warehouse, fiscal_year=fiscal_year, status="sent"):
        out.setdefault(entry.key, as_date(entry.sent_at))
    return out


def _load_state(schedule: Schedule, day: dt.date, warehouse: Any, settings: Settings, dry_run: bool) -> _State:
    state = _State(schedule, day, warehouse, settings, dry_run)
    if warehouse is None:
        return state
    from tsunagu.warehouse.requests import active_requests

    fy = schedule.fiscal_year
    state.requests = active_requests(warehouse, fy, dataset=schedule.dataset)
    state.data_prefectures = set(warehouse.report_prefectures(fy))
    for o in warehouse.outcomes(kind="home_care_report", fiscal_year=fy):
        state.file_statuses.setdefault(o["sender"], set()).add(o["status"])
    state.sent = sent_actions(warehouse, fy)
    return state


# ----------------------------------------------------------------------------- planning
def survey_summary_path(settings: Settings, fiscal_year: int, prefecture_code: str) -> Path:
    from tsunagu.publish.survey_summary import summary_name
    from tsunagu.submissions import survey_summary_dir

    return survey_summary_dir(settings, fiscal_year, prefecture_code) / summary_name(fiscal_year, prefecture_code)


def _mail(**kwargs: Any) -> Any:
    from tsunagu.deliver import Mail

    return Mail(**kwargs)


def _plan_prefecture(st: _State, pref: str) -> tuple[list[_Due], list[ActionResult]]:
    s, day, fy = st.schedule, st.day, st.fy
    due: list[_Due] = []
    notes: list[ActionResult] = []

    def wait(kind: str, detail: str, version: str | None = None, key: str | None = None) -> None:
        notes.append(ActionResult(kind, fy, day, "waiting", pref, key, version, (), detail))

    active = day <= s.delivery_end
    office, notice_to = s.offices.get(pref), s.prefecture_notice_to.get(pref)

    if active and office and day >= s.office_request:
        subject, body = messages.office_request(s, pref)
        key = f"{fy}:office_request:{pref}"
        due.append(_Due("office_request", key, pref, partial(
            _mail, key=key, kind="office_request", fiscal_year=fy, to=(office,), subject=subject, body=body,
            prefecture_code=pref), to=(office,)))

    if active and notice_to and day >= s.prefecture_notice:
        form = s.request_form if s.request_form is not None and s.request_form.is_file() else None
        subject, body = messages.prefecture_notice(s, pref, form_attached=form is not None)
        key = f"{fy}:prefecture_notice:{pref}"
        due.append(_Due("prefecture_notice", key, pref, partial(
            _mail, key=key, kind="prefecture_notice", fiscal_year=fy, to=(notice_to,), subject=subject, body=body,
            attachments=(form,) if form else (), prefecture_code=pref), to=(notice_to,)))

    def sent_before_today(key: str) -> bool:  # a reminder never goes out on the day of what it reminds of
        return key in st.sent and st.sent[key] is not None and st.sent[key] < day

    has_data = pref in st.data_prefectures
    if (active and office and day >= s.office_data_reminder and not has_data
            and sent_before_today(f"{fy}:office_request:{pref}")):
        bad = st.file_statuses.get(pref, set()) & {"rejected", "unreadable"}
        subject, body = messages.office_reminder(s, pref, state="rejected" if bad else "missing")
        key = f"{fy}:office_reminder:{pref}"
        due.append(_Due("office_reminder", key, pref, partial(
            _mail, key=key, kind="office_reminder", fiscal_year=fy, to=(office,), subject=subject, body=body,
            prefecture_code=pref), to=(office,)))

    request = st.requests.get(pref)
    if (active and notice_to and day >= s.request_reminder and request is None
            and sent_before_today(f"{fy}:prefecture_notice:{pref}")):
        subject, body = messages.request_reminder(s, pref)
        key = f"{fy}:request_reminder:{pref}"
        due.append(_Due("request_reminder", key, pref, partial(
            _mail, key=key, kind="request_reminder", fiscal_year=fy, to=(notice_to,), subject=subject, body=body,
            prefecture_code=pref), to=(notice_to,)))

    # The 地域支援事業 survey summary goes back to the prefecture, to its request's recipients only.
    summary = survey_summary_path(st.settings, fy, pref)
    if active and request is not None and summary.is_file():
        key = f"{fy}:survey_summary:{pref}:{sha256_file(summary)[:16]}"  # a new return, a new summary, a new mail
        subject, body = messages.survey_summary(s, pref, request, summary.name)
        due.append(_Due("survey_summary", key, pref, partial(
            _mail, key=key, kind="survey_summary", fiscal_year=fy, to=(request.email,), cc=tuple(request.cc),
            subject=subject, body=body, attachments=(summary,), prefecture_code=pref, scope_prefecture=pref,
            allowed_recipients=frozenset(request.recipients)), to=tuple(request.recipients)))

    if day < s.pre_delivery_notice or request is None or not has_data:
        if s.in_delivery_window(day) and request is not None and not has_data:
            wait("delivery", "都県事務所からのデータ（受理済み）がありません / no accepted data yet")
        return due, notes
    if not active:
        return due, notes

    from tsunagu.cycle.releases import delivered_versions, ensure_release, get_release, preview_release

    if st.dry_run:
        info = preview_release(st.warehouse, fy, pref)
        version = info["version"]
        release = get_release(st.warehouse, fy, pref, version)
    else:
        release = ensure_release(st.warehouse, st.settings, fy, pref)
        version = release.version
    delivered = delivered_versions(st.warehouse, fy, pref)
    delivered_set = {v for v, _ in delivered}
    delivery_key = f"{fy}:delivery:{pref}:{version}"
    if version in delivered_set or delivery_key in st.sent:
        return due, notes  # this data has reached the prefecture already
    correction = bool(delivered_set)
    notice_key = f"{fy}:pre_delivery_notice:{pref}:{version}:r{request.submission_id}"
    if office:
        def build_notice(release=release, version=version) -> Any:
            subject, body = messages.pre_delivery_notice(s, pref, release, request, correction=correction)
            return _mail(key=notice_key, kind="pre_delivery_notice", fiscal_year=fy, to=(office,), subject=subject,
                         body=body, prefecture_code=pref, data_version=version)
        due.append(_Due("pre_delivery_notice", notice_key, pref, build_notice, version, (office,)))

    from tsunagu.cycle.approvals import approval_of

    kind = "correction" if correction else "delivery"
    if not s.in_delivery_window(day):
        wait(kind, f"提供期間（{s.delivery_start}〜{s.delivery_end}）外です / outside the delivery window",
             version, delivery_key)
        return due, notes
    if approval_of(st.warehouse, fy, pref, version) is None:
        wait(kind, f"版 {version} の承認待ち / waiting for the approval of version {version}", version, delivery_key)
        return due, notes
    lead = s.pre_delivery_lead_business_days
    if office:
        notice_day = st.sent.get(notice_key)
        if notice_key not in st.sent or notice_day is None or business_days_between(notice_day, day) < lead:
            wait(kind, f"都県事務所への事前共有から{lead}営業日後に送付します / "
                       f"sent {lead} business day(s) after the pre-delivery notice", version, delivery_key)
            return due, notes
    recipients = tuple(request.recipients)

    def build_delivery(release=release, version=version) -> Any:
        summary, previous = None, None
        if correction:
            from tsunagu.cycle.releases import diff_releases, summarise_ja

            previous = delivered[-1][0]
            old = get_release(st.warehouse, fy, pref, previous)
            summary = summarise_ja(diff_releases(old.dir, release.dir))
        files = release.paths()
        subject, body = messages.delivery(s, pref, release, request, correction_summary=summary,
                                          previous_version=previous, attachments=[p.name for p in files])
        return _mail(key=delivery_key, kind=kind, fiscal_year=fy, to=(request.email,), cc=tuple(request.cc),
                     subject=subject, body=body, attachments=tuple(files), prefecture_code=pref,
                     data_version=version, scope_prefecture=pref, allowed_recipients=frozenset(recipients))
    due.append(_Due(kind, delivery_key, pref, build_delivery, version, recipients))
    return due, notes


# ----------------------------------------------------------------------------- execution
def _record(st: _State, due: _Due, status: str, detail: str, to: Iterable[str]) -> None:
    if st.warehouse is None:
        return
    a = table(st.warehouse, "cycle_actions")
    stored = {"sent": "sent", "already_sent": "sent", "blocked": "blocked"}.get(status, "failed")
    now = now_utc()
    with st.warehouse._write() as conn:
        st.warehouse._lock(conn, f"cycle_action:{due.key}")
        cur = conn.execute(sa.select(a.c.status, a.c.attempts).where(a.c.action_key == due.key)).first()
        values = {"status": stored, "cycle_day": st.day, "last_attempt_at": now, "detail": detail[:2000] or None,
                  "recipients": dumps(list(to)), "version": due.version}
        if stored == "sent":
            values["sent_at"] = now
        if cur is None:
            conn.execute(a.insert().values(action_key=due.key, fiscal_year=st.fy, kind=due.kind,
                                           prefecture_code=due.prefecture_code, attempts=1, first_attempt_at=now,
                                           **values))
        elif cur.status != "sent":
            conn.execute(a.update().where(a.c.action_key == due.key).values(attempts=cur.attempts + 1, **values))


def _execute(st: _State, due: _Due, conn_id: str, now: dt.datetime | None) -> ActionResult:
    from tsunagu.deliver import ScopeViolation, send

    result = ActionResult(due.kind, st.fy, st.day, "failed", due.prefecture_code, due.key, due.version, due.to)
    try:
        mail = due.build()
        result.to = tuple(mail.recipients)
        entry = send(st.warehouse, mail, settings=st.settings, conn_id=conn_id,
                     max_attach_bytes=st.schedule.max_attach_bytes, now=now)
        if entry.already_sent:
            result.status = "already_sent"
        elif entry.status == "sent":
            result.status = "sent"
        else:  # failed, or being sent by another worker: retried on the next run
            result.status = "failed"
            result.detail = entry.last_error or f"ledger status {entry.status}"
    except ScopeViolation as exc:
        result.status, result.detail = "blocked", exc.message_ja
    except Exception as exc:  # one broken mail never stops the others
        log.exception("cycle action %s failed", due.key)
        result.status, result.detail = "failed", f"{type(exc).__name__}: {exc}"
    try:
        _record(st, due, result.status, result.detail, result.to)
    except Exception:  # the ledger already knows; the cycle log is caught up on the next run
        log.exception("could not record cycle action %s", due.key)
    if result.status in DONE:
        st.sent[due.key] = st.sent.get(due.key) or st.day
    return result


def _run(st: _State, items: list[_Due], conn_id: str, now: dt.datetime | None) -> list[ActionResult]:
    out = []
    for due in items:
        if due.key in st.sent:
            continue  # done on an earlier run: not even rebuilt
        if st.dry_run:
            out.append(ActionResult(due.kind, st.fy, st.day, "planned", due.prefecture_code, due.key, due.version,
                                    due.to))
            continue
        out.append(_execute(st, due, conn_id, now))
    return out


def _closing_due(st: _State) -> _Due | None:
    s = st.schedule
    if st.day < s.closing_report or not s.closing_report_to:
        return None
    key = f"{st.fy}:closing_report"

    def build() -> Any:
        from tsunagu.cycle.closing import write_closing_report

        report = write_closing_report(st.warehouse, s, st.day, settings=st.settings)
        subject, body = messages.closing_report(s, report.text)
        return _mail(key=key, kind="closing_report", fiscal_year=st.fy, to=tuple(s.closing_report_to),
                     subject=subject, body=body, attachments=tuple(report.files.values()))
    return _Due("closing_report", key, None, build, None, tuple(s.closing_report_to))


def run_cycle_day(
    day: dt.date,
    *,
    fiscal_year: int | None = None,
    prefectures: Iterable[str] | None = None,
    settings: Settings | None = None,
    warehouse: Any = None,
    conn_id: str = "smtp_default",
    dry_run: bool = False,
    per_prefecture: bool = True,
    closing: bool = True,
    now: dt.datetime | None = None,
) -> list[ActionResult]:
    """Do everything due on or before ``day``, exactly once. Returns what was done, planned or waits.

    ``prefectures`` narrows the prefecture actions (None or empty: every prefecture of the jurisdiction);
    ``per_prefecture=False`` / ``closing=False`` split the work between DAG tasks; ``dry_run`` sends and
    writes nothing (``planned`` results).
    """
    from tsunagu.jurisdiction import load_jurisdiction

    if isinstance(day, dt.datetime):
        day = day.date()
    settings = settings or get_settings()
    schedule = load_schedule(fiscal_year if fiscal_year is not None else fiscal_year_of(day))
    fy = schedule.fiscal_year
    if not is_business_day(day):
        return [ActionResult("day", fy, day, "skipped", detail="閉庁日のため送信しません / closed day: nothing is sent")]
    if day < schedule.first_day:
        return []
    warehouse = _open(settings, warehouse, dry_run)
    st = _load_state(schedule, day, warehouse, settings, dry_run)
    codes = sorted(load_jurisdiction().prefectures)
    wanted = [p for p in codes if not prefectures or p in set(prefectures)]
    results: list[ActionResult] = []
    if per_prefecture:
        for pref in wanted:
            try:
                items, notes = _plan_prefecture(st, pref)
            except Exception as exc:  # e.g. a release cannot be built: the other prefectures go on
                log.exception("planning %s %s failed", fy, pref)
                results.append(ActionResult("plan", fy, day, "failed", pref, detail=f"{type(exc).__name__}: {exc}"))
                continue
            items.sort(key=lambda d: KIND_ORDER.index(d.kind))
            results += _run(st, items, conn_id, now)
            results += notes
    if closing and (due := _closing_due(st)) is not None:
        if st.warehouse is None and not dry_run:
            raise RuntimeError("no warehouse")
        results += _run(st, [due], conn_id, now)
    return results


def summarise(results: Iterable[ActionResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return dict(sorted(counts.items()))
