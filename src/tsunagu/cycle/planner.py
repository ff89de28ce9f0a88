"""The daily planner of the distribution cycle: everything due on or before a day, done exactly once.

``run_cycle_day(day)`` works out what is due on or before ``day`` (so a missed day is caught up),
sends each mail through :func:`tsunagu.deliver.send` under an idempotency key (a key already ``sent``
is a no-op, whatever the number of runs, reruns or backfills), records each attempt in
``cycle_actions`` and returns what it did and what it is waiting for.

Due items (design.md §2.1, dates from ``include/config/cycle/<fy>.yaml``):

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tsunagu.cycle import messages
from tsunagu.cycle.engine import (
    DISTRIBUTION,
    ActionResult,
    Due,
    Run,
    open_warehouse_for,
    plan_and_run,
    run_due,
    sent_actions,
)
from tsunagu.cycle.schedule import Schedule, business_days_between, fiscal_year_of, is_business_day, load_schedule
from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.archive import sha256_file

KIND_ORDER = (
    "office_request", "prefecture_notice", "office_reminder", "request_reminder", "survey_summary",
    "pre_delivery_notice", "delivery", "correction", "closing_report",
)
DONE = {"sent", "already_sent"}


@dataclass
class _State(Run):
    """The distribution cycle's run: the engine's Run plus what the planner reads once per day."""

    schedule: Schedule | None = None
    requests: dict[str, Any] = field(default_factory=dict)
    data_prefectures: set[str] = field(default_factory=set)
    file_statuses: dict[str, set[str]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- state
def _load_state(schedule: Schedule, day: dt.date, warehouse: Any, settings: Settings, dry_run: bool) -> _State:
    warehouse = open_warehouse_for(settings, warehouse, dry_run)
    fy = schedule.fiscal_year
    state = _State(DISTRIBUTION, fy, day, warehouse, settings, dry_run, schedule.max_attach_bytes,
                   schedule=schedule)
    if warehouse is None:
        return state
    from tsunagu.warehouse.requests import active_requests

    state.requests = active_requests(warehouse, fy, dataset=schedule.dataset)
    state.data_prefectures = set(warehouse.report_prefectures(fy))
    for o in warehouse.outcomes(kind="home_care_report", fiscal_year=fy):
        state.file_statuses.setdefault(o["sender"], set()).add(o["status"])
    state.sent = sent_actions(warehouse, fy)
    return state


# ----------------------------------------------------------------------------- planning
def survey_summary_path(settings: Settings, fiscal_year: int, prefecture_code: str) -> Path:
    from tsunagu.flows.survey_return import survey_summary_dir
    from tsunagu.publish.survey_summary import summary_name

    return survey_summary_dir(settings, fiscal_year, prefecture_code) / summary_name(fiscal_year, prefecture_code)


def _mail(**kwargs: Any) -> Any:
    from tsunagu.deliver import Mail

    return Mail(**kwargs)


def _plan_prefecture(st: _State, pref: str) -> tuple[list[Due], list[ActionResult]]:
    s, day, fy = st.schedule, st.day, st.fy
    due: list[Due] = []
    notes: list[ActionResult] = []

    def wait(kind: str, detail: str, version: str | None = None, key: str | None = None) -> None:
        notes.append(st.waiting(kind, pref, detail, key=key, version=version))

    active = day <= s.delivery_end
    office, notice_to = s.offices.get(pref), s.prefecture_notice_to.get(pref)

    if active and office and day >= s.office_request:
        subject, body = messages.office_request(s, pref)
        key = f"{fy}:office_request:{pref}"
        due.append(Due("office_request", key, pref, partial(
            _mail, key=key, kind="office_request", fiscal_year=fy, to=(office,), subject=subject, body=body,
            prefecture_code=pref), to=(office,)))

    if active and notice_to and day >= s.prefecture_notice:
        form = s.request_form if s.request_form is not None and s.request_form.is_file() else None
        subject, body = messages.prefecture_notice(s, pref, form_attached=form is not None)
        key = f"{fy}:prefecture_notice:{pref}"
        due.append(Due("prefecture_notice", key, pref, partial(
            _mail, key=key, kind="prefecture_notice", fiscal_year=fy, to=(notice_to,), subject=subject, body=body,
            attachments=(form,) if form else (), prefecture_code=pref), to=(notice_to,)))

    sent_before_today = st.sent_before_today  # a reminder never goes out on the day of what it reminds of

    has_data = pref in st.data_prefectures
    if (active and office and day >= s.office_data_reminder and not has_data
            and sent_before_today(f"{fy}:office_request:{pref}")):
        bad = st.file_statuses.get(pref, set()) & {"rejected", "unreadable"}
        subject, body = messages.office_reminder(s, pref, state="rejected" if bad else "missing")
        key = f"{fy}:office_reminder:{pref}"
        due.append(Due("office_reminder", key, pref, partial(
            _mail, key=key, kind="office_reminder", fiscal_year=fy, to=(office,), subject=subject, body=body,
            prefecture_code=pref), to=(office,)))

    request = st.requests.get(pref)
    if (active and notice_to and day >= s.request_reminder and request is None
            and sent_before_today(f"{fy}:prefecture_notice:{pref}")):
        subject, body = messages.request_reminder(s, pref)
        key = f"{fy}:request_reminder:{pref}"
        due.append(Due("request_reminder", key, pref, partial(
            _mail, key=key, kind="request_reminder", fiscal_year=fy, to=(notice_to,), subject=subject, body=body,
            prefecture_code=pref), to=(notice_to,)))

    # The 地域支援事業 survey summary goes back to the prefecture, to its request's recipients only.
    summary = survey_summary_path(st.settings, fy, pref)
    if active and request is not None and summary.is_file():
        key = f"{fy}:survey_summary:{pref}:{sha256_file(summary)[:16]}"  # a new return, a new summary, a new mail
        subject, body = messages.survey_summary(s, pref, request, summary.name)
        due.append(Due("survey_summary", key, pref, partial(
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
        due.append(Due("pre_delivery_notice", notice_key, pref, build_notice, version, (office,)))

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
    due.append(Due(kind, delivery_key, pref, build_delivery, version, recipients))
    return due, notes


# ----------------------------------------------------------------------------- the closing report
def _closing_due(st: _State) -> Due | None:
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
    return Due("closing_report", key, None, build, None, tuple(s.closing_report_to))


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
    st = _load_state(schedule, day, warehouse, settings, dry_run)
    codes = sorted(load_jurisdiction().prefectures)
    wanted = [p for p in codes if not prefectures or p in set(prefectures)]
    results: list[ActionResult] = []
    if per_prefecture:
        for pref in wanted:  # a prefecture whose plan fails (e.g. a release cannot be built) is one failed result
            results += plan_and_run(st, lambda pref=pref: _plan_prefecture(st, pref), pref, KIND_ORDER, conn_id, now)
    if closing and (due := _closing_due(st)) is not None:
        if st.warehouse is None and not dry_run:
            raise RuntimeError("no warehouse")
        results += run_due(st, [due], conn_id, now)
    return results


def summarise(results: Iterable[ActionResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return dict(sorted(counts.items()))
