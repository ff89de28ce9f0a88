"""The grant cycles: what each program's calendar has due on a day, per prefecture, run by the engine.

For every stage of a program's fiscal year (``include/config/grants/<program>.yaml``, ``schedule``):

==================  ===========================================  ==============================================
kind                when                                         key
==================  ===========================================  ==============================================
grant_request       from the stage's request date to its         ``{fy}:grant.{program}.{stage}:request:{pref}``
                    deadline (a missed day is caught up)
grant_reminder      from the first business day after the        ``{fy}:grant.{program}.{stage}:reminder:{pref}``
                    deadline, while expected filers are missing
                    (not 受理), once the request went out
grant_amount_notice from the stage's decision (or 内示 / 提示)    ``{fy}:grant.{program}.{stage}:amounts:{pref}:{digest}``
                    date, when the prefecture has accepted rows
                    (new amounts, a new notice)
==================  ===========================================  ==============================================

Mail goes to the prefecture's grant contacts (``include/config/grants/contacts.yaml``), never to the
data-request contacts; every notice lists only the prefecture's own filers (checked when built).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

from tsunagu.cycle.engine import ActionResult, Due, Run, plan_and_run, start
from tsunagu.cycle.messages import fiscal_year_ja, wareki
from tsunagu.cycle.schedule import is_business_day, next_business_day
from tsunagu.settings import Settings, include_dir
from tsunagu.yamlfile import read_yaml

KIND_ORDER = ("grant_request", "grant_reminder", "grant_amount_notice")
# The date from which amounts are notified, by preference.
NOTICE_DATES = ("decision", "amount_notice", "naiji", "naiji_facility", "naiji_workforce")
# The amounts a notice shows, per program (the fields present in a stage's rows, in this order).
NOTICE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "community_support": (("grant", "交付額"), ("decided", "交付決定額"), ("confirmed", "確定額"),
                          ("refund", "返還額"), ("change", "増減額")),
    "care_fund": (("national", "国庫"), ("prefecture", "都道府県"), ("naiji", "内示額")),
    "integrated_health": (("amount", "申請額"), ("decided", "交付決定額"), ("actual", "実績額")),
}


@dataclass(frozen=True)
class Contacts:
    sender_ja: str
    by_prefecture: dict[str, dict[str, tuple[str, ...]]]  # pref -> program -> addresses

    def of(self, prefecture_code: str, program: str) -> tuple[str, ...]:
        return self.by_prefecture.get(prefecture_code, {}).get(program, ())


def contacts_path() -> Path:
    return include_dir() / "config" / "grants" / "contacts.yaml"


def load_contacts(path: Path | None = None) -> Contacts:
    path = Path(path or contacts_path())
    return _contacts(str(path), path.stat().st_mtime_ns)


@cache
def _contacts(path_s: str, _mtime: int) -> Contacts:
    from tsunagu.jurisdiction import load_jurisdiction

    data = read_yaml(Path(path_s)) or {}
    raw = data.get("contacts") or {}
    codes = set(load_jurisdiction().prefectures)
    unknown = {str(k).zfill(2) for k in raw} - codes
    if unknown:
        raise ValueError(f"{path_s}: prefectures not in the jurisdiction: {sorted(unknown)}")
    by_pref = {
        str(pref).zfill(2): {str(program): tuple(str(a) for a in (addrs or ())) for program, addrs in programs.items()}
        for pref, programs in raw.items()
    }
    return Contacts(str(data.get("sender_ja") or "地域包括ケア推進課"), by_pref)


# ------------------------------------------------------------------------------------ messages


def _footer(sender_ja: str) -> str:
    return (f"\n--\n{sender_ja}\n※本メールは tsunagu（交付金事務）から送信しています。"
            "ご不明な点は本メールにご返信ください。\n")


def _stage_title(config: Any, stage: Any, fiscal_year: int) -> str:
    return f"{fiscal_year_ja(fiscal_year)} {config.title_ja} {stage.label_ja}"


def request_message(config: Any, stage: Any, dates: Any, pref: Any, filers: list, sender_ja: str) -> tuple[str, str]:
    title = _stage_title(config, stage, dates.fiscal_year)
    subject = f"【依頼】{title}に係る書類のご提出について（{pref.name_ja}）"
    body = (
        f"{pref.name_ja} 交付金ご担当者様\n\n"
        f"いつもお世話になっております。{sender_ja}です。\n\n"
        f"{title}に係る書類について、管内{len(filers)}件分を取りまとめのうえ、"
        f"{wareki(dates.deadline)}までにご提出くださいますよう、お願いいたします。\n\n"
        f"・様式: {stage.template}（列の見出しで読み取ります。1行に1{_row_unit(config.program)}）\n"
        f"・期限: {wareki(dates.deadline)}\n"
        f"・提出対象: {len(filers)}件（{_filer_unit(stage.filer)}）\n"
        + _footer(sender_ja)
    )
    return subject, body


def reminder_message(config: Any, stage: Any, dates: Any, pref: Any, missing: list, sender_ja: str) -> tuple[str, str]:
    title = _stage_title(config, stage, dates.fiscal_year)
    subject = f"【再依頼】{title}に係る書類のご提出について（{pref.name_ja}）"
    lines = "\n".join(f"  ・{f.code} {f.name}" for f in missing)
    body = (
        f"{pref.name_ja} 交付金ご担当者様\n\n"
        f"{sender_ja}です。{wareki(dates.deadline)}を期限としてお願いしておりました{title}に係る書類について、"
        f"次の{len(missing)}件を現時点で受理できておりません（未提出又は差戻し）。\n\n{lines}\n\n"
        "お手数ですが、ご提出くださいますようお願いいたします。"
        "既にお送りいただいている場合は、行き違いにつきご容赦ください。\n"
        + _footer(sender_ja)
    )
    return subject, body


def notice_message(config: Any, stage: Any, dates: Any, pref: Any, table: list[tuple[str, str, dict[str, int]]],
                   fields: tuple[tuple[str, str], ...], sender_ja: str) -> tuple[str, str]:
    title = _stage_title(config, stage, dates.fiscal_year)
    subject = f"【通知】{title}に係る額について（{pref.name_ja}）"
    header = "  " + " / ".join(["番号", "名称", "区分", *(label for _, label in fields)])
    lines = [
        "  " + " / ".join([code, name, item, *(f"{amounts[f]:,}円" if f in amounts else "－" for f, _ in fields)])
        for code, name, item, amounts in ((c, n, i, a) for c, n, i, a in table)
    ]
    totals = {f: sum(a.get(f, 0) for *_, a in table) for f, _ in fields}
    body = (
        f"{pref.name_ja} 交付金ご担当者様\n\n"
        f"{sender_ja}です。{title}に係る額は、受理した書類に基づき次のとおりです。\n\n"
        + header + "\n" + "\n".join(lines) + "\n"
        + "  合計: " + " / ".join(f"{label} {totals[f]:,}円" for f, label in fields) + "\n\n"
        "内容に相違がある場合は、本メールにご返信ください。\n"
        + _footer(sender_ja)
    )
    return subject, body


def item_labels(template_kind: str, fiscal_year: int) -> dict[str, str]:
    """Canonical enum ids of a stage's template -> the first label the template lists (e.g. general -> 介護予防・…)."""
    from tsunagu.intake.templates import load_template, raw_template, templates_dir

    version = load_template(template_kind, fiscal_year=fiscal_year).version
    raw = raw_template(templates_dir(template_kind) / f"{version}.yaml")
    labels: dict[str, str] = {}
    for f in raw.get("fields") or ():
        for text, canonical in (f.get("enum") or {}).items():
            labels.setdefault(str(canonical), str(text))
    return labels


def item_label(item_key: str, labels: dict[str, str]) -> str:
    """An item key as people read it: 事業区分, 区分/事業 or a municipality's name."""
    from tsunagu.municipalities import load_municipalities

    if (m := load_municipalities().get(item_key)) is not None:
        return m.name
    return "／".join(labels.get(part, part) for part in item_key.split("/"))


def _row_unit(program: str) -> str:
    return {"community_support": "保険者・事業区分", "care_fund": "区分・事業", "integrated_health": "市町村"}.get(program, "行")


def _filer_unit(filer: str) -> str:
    return {"insurer": "保険者", "prefecture": "都道府県", "koiki": "後期高齢者医療広域連合"}.get(filer, filer)


# ------------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class _StageDates:
    """A stage's dates with its fiscal year (for the messages)."""

    fiscal_year: int
    request: dt.date
    deadline: dt.date
    notice: dt.date | None
    end: dt.date  # after this day nothing more is sent for the stage


def stage_window(dates: Any, fiscal_year: int) -> _StageDates:
    notice = next((d for d in (getattr(dates, "decision", None), *(dates.extra.get(k) for k in NOTICE_DATES))
                   if d is not None), None)
    last = max(d for d in (dates.deadline, dates.review_end, notice) if d is not None)
    return _StageDates(fiscal_year, dates.request, dates.deadline, notice, last + dt.timedelta(days=60))


def notice_digest(table: list[tuple[str, str, str, dict[str, int]]]) -> str:
    text = json.dumps([[c, i, sorted(a.items())] for c, _, i, a in table], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _mail(**kwargs: Any) -> Any:
    from tsunagu.deliver import Mail

    return Mail(**kwargs)


def plan_stage(run: Run, program: str, stage_id: str, pref: str) -> tuple[list[Due], list[ActionResult]]:
    """What one stage has due for one prefecture on ``run.day``."""
    from tsunagu.grants.config import load_program
    from tsunagu.grants.insurers import expected_filers
    from tsunagu.jurisdiction import load_jurisdiction

    config = load_program(program)
    stage = config.stage(stage_id)
    schedule = config.schedule(run.fy)
    if stage_id not in schedule:
        return [], []
    window = stage_window(schedule[stage_id], run.fy)
    day, fy = run.day, run.fy
    if day < window.request or day > window.end:
        return [], []
    contacts = load_contacts()
    to = contacts.of(pref, program)
    prefecture = load_jurisdiction().get(pref)
    if not to:
        return [], [run.waiting("grant_request", pref, f"交付金の連絡先が未設定です / no grant contact for {pref}")]
    filers = expected_filers(program, stage_id, fy, pref)
    base = f"{fy}:grant.{program}.{stage_id}"
    due: list[Due] = []
    mail = partial(_mail, fiscal_year=fy, to=to, prefecture_code=pref, allowed_recipients=frozenset(to))

    request_key = f"{base}:request:{pref}"
    if day <= window.deadline:
        subject, body = request_message(config, stage, window, prefecture, filers, contacts.sender_ja)
        due.append(Due("grant_request", request_key, pref, partial(
            mail, key=request_key, kind="grant_request", subject=subject, body=body), to=to))

    amounts = _accepted(run, program, stage_id, pref)
    accepted_filers = {filer for filer, _ in amounts}
    missing = [f for f in filers if f.code not in accepted_filers]
    if (missing and not stage.optional and day >= next_business_day(window.deadline)
            and run.sent_before_today(request_key)):
        key = f"{base}:reminder:{pref}"
        subject, body = reminder_message(config, stage, window, prefecture, missing, contacts.sender_ja)
        due.append(Due("grant_reminder", key, pref, partial(
            mail, key=key, kind="grant_reminder", subject=subject, body=body), to=to))

    notes: list[ActionResult] = []
    if amounts and window.notice is not None:
        if day < window.notice:
            notes.append(run.waiting("grant_amount_notice", pref,
                                     f"{wareki(window.notice, weekday=False)}に通知します / notified from {window.notice}"))
        else:
            names = {f.code: f.name for f in filers}
            outside = sorted(accepted_filers - set(names))
            if outside:  # never tell a prefecture about another's filers
                raise ValueError(f"{base}: rows of filers outside {pref}: {outside}")
            labels = item_labels(stage.template, fy)
            order = {key: i for i, key in enumerate(labels)}  # the template's order of 事業区分 etc.
            table = [(filer, names[filer], item_label(item, labels), amounts[(filer, item)])
                     for filer, item in sorted(amounts, key=lambda k: (k[0], order.get(k[1], len(order)), k[1]))]
            fields = tuple((f, label) for f, label in NOTICE_FIELDS.get(program, ())
                           if any(f in a for *_, a in table))
            key = f"{base}:amounts:{pref}:{notice_digest(table)}"
            subject, body = notice_message(config, stage, window, prefecture, table, fields, contacts.sender_ja)
            due.append(Due("grant_amount_notice", key, pref, partial(
                mail, key=key, kind="grant_amount_notice", subject=subject, body=body), to=to))
    return due, notes


def _accepted(run: Run, program: str, stage: str, pref: str) -> dict[tuple[str, str], dict[str, int]]:
    if run.warehouse is None:
        return {}
    from tsunagu.warehouse.grants import current_amounts

    return current_amounts(run.warehouse, program, stage, run.fy, prefecture_code=pref)


def active_years(config: Any, day: dt.date) -> list[int]:
    """The fiscal years whose stages have something due around ``day``."""
    years = []
    for fy in config.fiscal_years():
        windows = [stage_window(d, fy) for d in config.schedule(fy).values()]
        if windows and min(w.request for w in windows) <= day <= max(w.end for w in windows):
            years.append(fy)
    return years


def run_grant_cycle_day(
    program: str, day: dt.date, *, fiscal_year: int | None = None, prefectures: Iterable[str] | None = None,
    settings: Settings | None = None, warehouse: Any = None, conn_id: str = "smtp_default", dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[ActionResult]:
    """Everything one grant program has due on or before ``day`` (its stages' windows), exactly once."""
    from tsunagu.grants.config import load_program
    from tsunagu.jurisdiction import load_jurisdiction

    cycle = f"grant.{program}"
    config = load_program(program)
    years = [fiscal_year] if fiscal_year is not None else active_years(config, day)
    if not is_business_day(day):
        return [ActionResult("day", fy, day, "skipped", detail="閉庁日のため送信しません / closed day: nothing is sent",
                             cycle=cycle) for fy in years[:1]]
    wanted = [p for p in sorted(load_jurisdiction().prefectures) if not prefectures or p in set(prefectures)]
    results: list[ActionResult] = []
    for fy in years:
        run = start(cycle, fy, day, settings=settings, warehouse=warehouse, dry_run=dry_run)
        warehouse = run.warehouse  # opened once for every year
        for pref in wanted:
            for stage in config.stages:  # one prefecture's broken plan never stops the others
                results += plan_and_run(run, partial(plan_stage, run, program, stage.id, pref), pref, KIND_ORDER,
                                        conn_id, now, what=stage.id)
    return results
