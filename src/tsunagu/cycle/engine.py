"""The cycle engine: every yearly cycle of the bureau, run the same way, exactly once.

A cycle is declared by config and planned by one module; the engine runs its plan:

=====================  ==========================================  ===========================================
cycle                  config                                      planner
=====================  ==========================================  ===========================================
``distribution``       ``include/config/cycle/<fy>.yaml``          :mod:`tsunagu.cycle.planner` (定例報告の情報提供)
``grant.<program>``    ``include/config/grants/<program>.yaml``    :mod:`tsunagu.grants.cycle` (stage requests,
                       (stages, dates, rates) and                  reminders to late filers, notices of amounts)
                       ``include/config/grants/contacts.yaml``
``evaluation``         ``include/config/cycle/evaluation/<fy>.yaml``  :mod:`tsunagu.cycle.evaluation` (the analysis
                                                                   of the evaluation results: release, notice,
                                                                   approval, delivery)
=====================  ==========================================  ===========================================

A planner turns one day into :class:`Due` items (a mail under an idempotency key, built only when
it is really sent). The engine skips keys already sent (the cycle log and the delivery ledger),
sends the rest through :func:`tsunagu.deliver.send` (at most once per key, scope-checked), records
every attempt in ``cycle_actions`` and returns an :class:`ActionResult` per item. A failed mail never
stops the others; it stays retryable and is tried again on the next run. Nothing is sent on closed days.

A mail whose outcome is unknown (the server may have it) is ``unknown``, not ``failed``: it is not sent
again until an operator decides (:func:`tsunagu.deliver.resolve_unknown`); a mail refused for good
(``failed_permanent`` in the ledger) is ``failed`` with a detail saying so, and is not sent again
either. In ``cycle_actions`` both are kept as ``failed`` (with the detail), so that the closing report
lists them as open.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.cycle import as_date, dumps, now_utc, table

log = logging.getLogger(__name__)

DONE = {"sent", "already_sent"}
# A run with any of these is not done: it fails visibly (an unknown mail waits for an operator's decision).
NOT_DONE = ("failed", "blocked", "unknown")
DISTRIBUTION = "distribution"
EVALUATION = "evaluation"


@dataclass
class ActionResult:
    """What the engine did (or would do, or waits for) about one item on one day."""

    kind: str
    fiscal_year: int
    day: dt.date
    status: str  # sent | already_sent | failed | unknown | blocked | planned (dry run) | waiting | skipped
    prefecture_code: str | None = None
    key: str | None = None
    version: str | None = None
    to: tuple[str, ...] = ()
    detail: str = ""
    cycle: str = DISTRIBUTION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["day"] = self.day.isoformat()
        d["to"] = list(self.to)
        return d


@dataclass
class Due:
    """One mail due: built (``build() -> deliver.Mail``) only when it is really sent."""

    kind: str
    key: str
    prefecture_code: str | None
    build: Callable[[], Any]
    version: str | None = None
    to: tuple[str, ...] = ()


@dataclass
class Run:
    """One cycle's run on one day: where it writes, what was sent before."""

    cycle: str
    fiscal_year: int
    day: dt.date
    warehouse: Any  # None in a dry run without a warehouse
    settings: Settings
    dry_run: bool
    max_attach_bytes: int = 10_000_000
    sent: dict[str, dt.date | None] = field(default_factory=dict)  # key -> the cycle day it was sent on

    @property
    def fy(self) -> int:
        return self.fiscal_year

    def sent_before_today(self, key: str) -> bool:
        """A reminder never goes out on the day of what it reminds of."""
        return self.sent.get(key) is not None and self.sent[key] < self.day

    def result(self, due: Due, status: str, detail: str = "") -> ActionResult:
        return ActionResult(due.kind, self.fiscal_year, self.day, status, due.prefecture_code, due.key,
                            due.version, due.to, detail, self.cycle)

    def waiting(self, kind: str, prefecture_code: str | None, detail: str, *, key: str | None = None,
                version: str | None = None) -> ActionResult:
        return ActionResult(kind, self.fiscal_year, self.day, "waiting", prefecture_code, key, version, (), detail,
                            self.cycle)


def open_warehouse_for(settings: Settings, warehouse: Any, dry_run: bool) -> Any:
    """The warehouse to plan against; a dry run never creates one."""
    if warehouse is not None:
        return warehouse
    from tsunagu.flows.base import existing_warehouse, open_warehouse

    return existing_warehouse(settings) if dry_run else open_warehouse(settings)


def sent_actions(warehouse: Any, fiscal_year: int) -> dict[str, dt.date | None]:
    """Keys sent for the year: from the cycle log (with the day handled) and the delivery ledger."""
    from tsunagu.deliver import ledger

    if warehouse is None:
        return {}
    a = table(warehouse, "cycle_actions")
    q = sa.select(a.c.action_key, a.c.cycle_day).where(a.c.fiscal_year == fiscal_year, a.c.status == "sent")
    with warehouse.read() as conn:
        out = {k: as_date(d) for k, d in conn.execute(q)}
    for entry in ledger(warehouse, fiscal_year=fiscal_year, status="sent"):
        out.setdefault(entry.key, as_date(entry.sent_at))
    return out


def start(cycle: str, fiscal_year: int, day: dt.date, *, settings: Settings | None = None, warehouse: Any = None,
          dry_run: bool = False, max_attach_bytes: int = 10_000_000) -> Run:
    settings = settings or get_settings()
    warehouse = open_warehouse_for(settings, warehouse, dry_run)
    return Run(cycle, fiscal_year, day, warehouse, settings, dry_run, max_attach_bytes,
               sent_actions(warehouse, fiscal_year))


def record(run: Run, due: Due, status: str, detail: str, to: Iterable[str]) -> None:
    """One row per key in ``cycle_actions``: attempts, the last outcome, the day handled."""
    if run.warehouse is None:
        return
    a = table(run.warehouse, "cycle_actions")
    # unknown is kept as failed (its detail says unknown): not done, listed as open by the closing report
    stored = {"sent": "sent", "already_sent": "sent", "blocked": "blocked"}.get(status, "failed")
    now = now_utc()
    with run.warehouse.transaction(lock=f"cycle_action:{due.key}") as conn:
        cur = conn.execute(sa.select(a.c.status, a.c.attempts).where(a.c.action_key == due.key)).first()
        values = {"status": stored, "cycle_day": run.day, "last_attempt_at": now, "detail": detail[:2000] or None,
                  "recipients": dumps(list(to)), "version": due.version}
        if stored == "sent":
            values["sent_at"] = now
        if cur is None:
            conn.execute(a.insert().values(action_key=due.key, fiscal_year=run.fiscal_year, kind=due.kind,
                                           prefecture_code=due.prefecture_code, attempts=1, first_attempt_at=now,
                                           **values))
        elif cur.status != "sent":
            conn.execute(a.update().where(a.c.action_key == due.key).values(attempts=cur.attempts + 1, **values))


def execute(run: Run, due: Due, conn_id: str, now: dt.datetime | None) -> ActionResult:
    from tsunagu.deliver import ScopeViolation, send

    result = run.result(due, "failed")
    try:
        mail = due.build()
        result.to = tuple(mail.recipients)
        entry = send(run.warehouse, mail, settings=run.settings, conn_id=conn_id,
                     max_attach_bytes=run.max_attach_bytes, now=now)
        if entry.already_sent:
            result.status = "already_sent"
        elif entry.status == "sent":
            result.status = "sent"
        elif entry.status == "unknown":  # maybe received: never resent blindly, an operator decides
            result.status, result.detail = "unknown", unknown_detail(entry)
        elif entry.status == "failed_permanent":  # refused for good: not resent until an operator decides
            result.status, result.detail = "failed", permanent_detail(entry)
        else:  # failed, or being sent by another worker: retried on the next run
            result.status = "failed"
            result.detail = entry.last_error or f"ledger status {entry.status}"
    except ScopeViolation as exc:
        result.status, result.detail = "blocked", exc.message_ja
    except Exception as exc:  # one broken mail never stops the others
        log.exception("cycle action %s failed", due.key)
        result.status, result.detail = "failed", f"{type(exc).__name__}: {exc}"
    try:
        record(run, due, result.status, result.detail, result.to)
    except Exception:  # the ledger already knows; the cycle log is caught up on the next run
        log.exception("could not record cycle action %s", due.key)
    if result.status in DONE:
        run.sent[due.key] = run.sent.get(due.key) or run.day
    return result


def unknown_detail(entry: Any) -> str:
    """What an operator reads about a mail whose outcome is unknown (ActionResult.detail)."""
    return (f"送信結果不明のため自動では再送しません。受信者への確認か送信サーバーのログ（Message-ID {entry.message_id}）で"
            "受信の有無を確かめ、tsunagu.deliver.resolve_unknown で sent（受信済み）か resend（再送する）を記録してください。"
            f" / outcome unknown, not resent automatically: check with the recipient or in the relay's log "
            f"(Message-ID {entry.message_id}), then record 'sent' or 'resend' with tsunagu.deliver.resolve_unknown. "
            f"— {entry.last_error or ''}").strip(" —")


def permanent_detail(entry: Any) -> str:
    """What an operator reads about a mail refused for good (ActionResult.detail)."""
    reply = f"{entry.smtp_status} {entry.smtp_reply or ''}".strip() if entry.smtp_status else ""
    return (f"送信不能（恒久的なエラー{('：' + reply) if reply else ''}）。原因（宛先など）を直したら resolve_unknown で "
            f"resend を記録してください。 / refused for good{(': ' + reply) if reply else ''}; not resent until the "
            f"cause (e.g. the address) is fixed and 'resend' is recorded with tsunagu.deliver.resolve_unknown. "
            f"— {entry.last_error or ''}").strip(" —")


def run_due(run: Run, items: list[Due], conn_id: str = "smtp_default", now: dt.datetime | None = None
            ) -> list[ActionResult]:
    """Send what is due and not yet sent; a dry run only lists it (``planned``)."""
    out = []
    for due in items:
        if due.key in run.sent:
            continue  # done on an earlier run: not even rebuilt
        if run.dry_run:
            out.append(run.result(due, "planned"))
            continue
        out.append(execute(run, due, conn_id, now))
    return out


def plan_and_run(run: Run, plan: Callable[[], tuple[list[Due], list[ActionResult]]], prefecture_code: str,
                 kind_order: tuple[str, ...], conn_id: str = "smtp_default", now: dt.datetime | None = None, *,
                 what: str = "") -> list[ActionResult]:
    """Plan one prefecture's items (``plan() -> (due items, notes)``) and send them in ``kind_order``.

    A plan that raises is one ``failed`` result (and a logged traceback): one prefecture's broken data
    never stops the others."""
    try:
        items, notes = plan()
    except Exception as exc:
        log.exception("planning %s %s %s %s failed", run.cycle, run.fiscal_year, what, prefecture_code)
        return [ActionResult("plan", run.fiscal_year, run.day, "failed", prefecture_code,
                             detail=f"{type(exc).__name__}: {exc}", cycle=run.cycle)]
    items.sort(key=lambda d: kind_order.index(d.kind))
    return run_due(run, items, conn_id, now) + notes


# ------------------------------------------------------------------------------------ every cycle


def cycle_ids() -> list[str]:
    """The configured cycles: the distribution, one per grant program, then the evaluation analysis."""
    from tsunagu.grants.config import PROGRAMS

    return [DISTRIBUTION, *(f"grant.{p}" for p in PROGRAMS), EVALUATION]


def run_cycles(
    day: dt.date, *, cycles: Iterable[str] | None = None, fiscal_year: int | None = None,
    prefectures: Iterable[str] | None = None, settings: Settings | None = None, warehouse: Any = None,
    conn_id: str = "smtp_default", dry_run: bool = False, now: dt.datetime | None = None,
) -> list[ActionResult]:
    """Run every configured cycle (or ``cycles``) for ``day``. A cycle with no config for the year is skipped."""
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.cycle.schedule import ScheduleError, fiscal_year_of
    from tsunagu.grants.config import GrantConfigError
    from tsunagu.grants.cycle import run_grant_cycle_day

    results: list[ActionResult] = []
    for cycle in cycles or cycle_ids():
        try:
            if cycle == DISTRIBUTION:
                results += run_cycle_day(day, fiscal_year=fiscal_year, prefectures=prefectures, settings=settings,
                                         warehouse=warehouse, conn_id=conn_id, dry_run=dry_run, now=now)
            elif cycle == EVALUATION:
                from tsunagu.cycle.evaluation import run_evaluation_cycle_day

                results += run_evaluation_cycle_day(day, fiscal_year=fiscal_year, prefectures=prefectures,
                                                    settings=settings, warehouse=warehouse, conn_id=conn_id,
                                                    dry_run=dry_run, now=now)
            elif cycle.startswith("grant."):
                results += run_grant_cycle_day(cycle.removeprefix("grant."), day, fiscal_year=fiscal_year,
                                               prefectures=prefectures, settings=settings, warehouse=warehouse,
                                               conn_id=conn_id, dry_run=dry_run, now=now)
            else:
                raise ValueError(f"unknown cycle {cycle!r} (known: {', '.join(cycle_ids())})")
        except (ScheduleError, GrantConfigError) as exc:  # nothing configured for this year: said, not failed
            results.append(ActionResult("day", fiscal_year or fiscal_year_of(day), day, "skipped",
                                        detail=f"設定がありません / nothing configured: {exc}", cycle=cycle))
    return results
