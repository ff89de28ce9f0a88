"""The distribution cycle's calendar: milestones of one fiscal year, resolved to business days.

``include/config/cycle/<fiscal_year>.yaml`` declares the milestones the way the bureau writes
them (「9月上旬」「10月下旬」); this module turns them into dates:

* ``{month: 10, period: 下旬, as: deadline}`` → the last day of the period (10/31);
* ``{month: 10, period: 下旬, as: start}``    → its first day (10/21);
* ``{month: 12, day: 25}`` or ``{date: 2025-12-25}`` → that day;
* ``{month: 6, as: deadline}`` (month only, 「6月」) → the whole month: its last day (6/30), or with
  ``as: start`` its first day;
* then a date on a closed day moves to the NEXT business day (design.md §2.1).

上旬 = days 1–10, 中旬 = 11–20, 下旬 = 21–end of month. Closed days are those of 行政機関の休日に関する
法律: Saturdays, Sundays, national holidays (jpholiday, including 振替休日) and the 年末年始 closure
12/29–1/3. Months 4–12 belong to the fiscal year's calendar year, months 1–3 to the next.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tsunagu.settings import include_dir
from tsunagu.yamlfile import read_yaml

PERIODS = {"上旬": (1, 10), "中旬": (11, 20), "下旬": (21, None)}
PERIOD_ALIASES = {"early": "上旬", "mid": "中旬", "late": "下旬", "jojun": "上旬", "chujun": "中旬", "gejun": "下旬"}
YEAR_END_CLOSURE = ((12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3))
MILESTONES = (
    "office_request", "prefecture_notice", "request_deadline", "office_data_deadline", "pre_delivery_notice",
    "closing_report",
)


class ScheduleError(ValueError):
    """The cycle config is missing or malformed."""


def is_business_day(day: dt.date) -> bool:
    import jpholiday

    if day.weekday() >= 5 or (day.month, day.day) in YEAR_END_CLOSURE:
        return False
    return not jpholiday.is_holiday(day)


def business_day_on_or_after(day: dt.date) -> dt.date:
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after ``day``."""
    return business_day_on_or_after(day + dt.timedelta(days=1))


def add_business_days(day: dt.date, n: int) -> dt.date:
    """``n`` business days after ``day`` (n ≥ 0; 0 gives business_day_on_or_after(day))."""
    day = business_day_on_or_after(day)
    for _ in range(n):
        day = next_business_day(day)
    return day


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days d with start < d ≤ end (0 when end ≤ start)."""
    n, d = 0, start
    while d < end:
        d += dt.timedelta(days=1)
        n += is_business_day(d)
    return n


def fiscal_year_of(day: dt.date) -> int:
    """Japanese fiscal year (年度): April to March."""
    return day.year if day.month >= 4 else day.year - 1


def _calendar_year(fiscal_year: int, month: int) -> int:
    return fiscal_year if month >= 4 else fiscal_year + 1


def resolve_date(spec: Any, fiscal_year: int) -> tuple[dt.date, dt.date]:
    """-> (nominal date, business date). See the module docstring for the forms of ``spec``."""
    if isinstance(spec, dt.date):
        nominal = spec
    elif isinstance(spec, str):
        nominal = dt.date.fromisoformat(spec)
    elif isinstance(spec, dict) and "date" in spec:
        raw = spec["date"]
        nominal = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
    elif isinstance(spec, dict) and "month" in spec:
        month = int(spec["month"])
        if not 1 <= month <= 12:
            raise ScheduleError(f"month out of range: {spec!r}")
        year = _calendar_year(fiscal_year, month)
        last = calendar.monthrange(year, month)[1]
        if "day" in spec:
            nominal = dt.date(year, month, int(spec["day"]))
        else:
            period = PERIOD_ALIASES.get(str(spec.get("period")), str(spec.get("period")))
            if "period" not in spec:  # month only (「6月」): the whole month
                first, end = 1, None
            elif period not in PERIODS:
                raise ScheduleError(f"period must be 上旬, 中旬 or 下旬: {spec!r}")
            else:
                first, end = PERIODS[period]
            end = end or last
            role = str(spec.get("as", "start"))
            if role not in ("start", "deadline"):
                raise ScheduleError(f"'as' must be start or deadline: {spec!r}")
            nominal = dt.date(year, month, first if role == "start" else end)
    else:
        raise ScheduleError(f"not a date spec: {spec!r}")
    return nominal, business_day_on_or_after(nominal)


@dataclass(frozen=True)
class Schedule:
    """One fiscal year's cycle, every date already moved to a business day."""

    fiscal_year: int
    title_ja: str
    dataset: str
    office_request: dt.date
    prefecture_notice: dt.date
    request_deadline: dt.date
    office_data_deadline: dt.date
    office_data_reminder: dt.date  # the first business day after office_data_deadline
    request_reminder: dt.date  # request_reminder_days_before_delivery before the window opens
    pre_delivery_notice: dt.date
    delivery_start: dt.date
    delivery_end: dt.date
    closing_report: dt.date
    request_reminder_days_before_delivery: int
    pre_delivery_lead_business_days: int
    max_attach_bytes: int
    offices: dict[str, str]
    prefecture_notice_to: dict[str, str]
    closing_report_to: tuple[str, ...]
    sender_ja: str
    request_form: Path | None
    nominal: dict[str, dt.date] = field(default_factory=dict)  # the dates before the business-day rule
    source: Path | None = None

    @property
    def delivery_window(self) -> tuple[dt.date, dt.date]:
        return self.delivery_start, self.delivery_end

    def in_delivery_window(self, day: dt.date) -> bool:
        return self.delivery_start <= day <= self.delivery_end

    def dates(self) -> dict[str, dt.date]:
        """Every resolved date by name, in calendar order (for display and the closing report)."""
        names = ("office_request", "prefecture_notice", "request_deadline", "office_data_deadline",
                 "office_data_reminder", "request_reminder", "pre_delivery_notice", "delivery_start",
                 "delivery_end", "closing_report")
        return dict(sorted(((n, getattr(self, n)) for n in names), key=lambda kv: (kv[1], names.index(kv[0]))))

    @property
    def first_day(self) -> dt.date:
        return min(self.dates().values())


def cycle_config_dir() -> Path:
    return include_dir() / "config" / "cycle"


def available_years() -> list[int]:
    return sorted(int(p.stem) for p in cycle_config_dir().glob("*.yaml") if p.stem.isdigit())


def load_schedule(fiscal_year: int, path: Path | None = None) -> Schedule:
    path = Path(path) if path else cycle_config_dir() / f"{int(fiscal_year)}.yaml"
    return _load(str(path), int(fiscal_year), path.stat().st_mtime_ns if path.exists() else 0)


@cache
def _load(path_s: str, fiscal_year: int, _mtime: int) -> Schedule:
    path = Path(path_s)
    if not path.exists():
        raise ScheduleError(f"no distribution cycle configured for fiscal year {fiscal_year}: {path} is missing")
    data = read_yaml(path) or {}
    if int(data.get("fiscal_year", fiscal_year)) != fiscal_year:
        raise ScheduleError(f"{path} is for fiscal year {data.get('fiscal_year')}, not {fiscal_year}")
    ms = data.get("milestones") or {}
    missing = [m for m in (*MILESTONES, "delivery_window") if m not in ms]
    if missing:
        raise ScheduleError(f"{path}: milestones missing: {missing}")
    nominal: dict[str, dt.date] = {}
    resolved: dict[str, dt.date] = {}
    for name in MILESTONES:
        nominal[name], resolved[name] = resolve_date(ms[name], fiscal_year)
    window = ms["delivery_window"]
    nominal["delivery_start"], resolved["delivery_start"] = resolve_date(window["start"], fiscal_year)
    nominal["delivery_end"], resolved["delivery_end"] = resolve_date(window["end"], fiscal_year)
    if resolved["delivery_end"] < resolved["delivery_start"]:
        raise ScheduleError(f"{path}: the delivery window ends before it starts")
    days_before = int(data.get("request_reminder_days_before_delivery", 7))
    nominal["request_reminder"] = nominal["delivery_start"] - dt.timedelta(days=days_before)
    reminder = resolved["delivery_start"] - dt.timedelta(days=days_before)
    resolved["request_reminder"] = business_day_on_or_after(reminder)
    resolved["office_data_reminder"] = next_business_day(nominal["office_data_deadline"])
    if resolved["office_data_reminder"] <= resolved["office_data_deadline"]:
        resolved["office_data_reminder"] = next_business_day(resolved["office_data_deadline"])
    form = data.get("request_form")
    from tsunagu.jurisdiction import load_jurisdiction

    codes = set(load_jurisdiction().prefectures)
    offices = {str(k).zfill(2): str(v) for k, v in (data.get("offices") or {}).items()}
    notice_to = {str(k).zfill(2): str(v) for k, v in (data.get("prefecture_notice_to") or {}).items()}
    unknown = (set(offices) | set(notice_to)) - codes
    if unknown:
        raise ScheduleError(f"{path}: prefectures not in the jurisdiction: {sorted(unknown)}")
    to = data.get("closing_report_to") or []
    return Schedule(
        fiscal_year=fiscal_year,
        title_ja=str(data.get("title_ja") or f"{fiscal_year}年度 定例報告の情報提供"),
        dataset=str(data.get("dataset") or "home_care_report"),
        office_request=resolved["office_request"],
        prefecture_notice=resolved["prefecture_notice"],
        request_deadline=resolved["request_deadline"],
        office_data_deadline=resolved["office_data_deadline"],
        office_data_reminder=resolved["office_data_reminder"],
        request_reminder=resolved["request_reminder"],
        pre_delivery_notice=resolved["pre_delivery_notice"],
        delivery_start=resolved["delivery_start"],
        delivery_end=resolved["delivery_end"],
        closing_report=resolved["closing_report"],
        request_reminder_days_before_delivery=days_before,
        pre_delivery_lead_business_days=int(data.get("pre_delivery_lead_business_days", 1)),
        max_attach_bytes=int(data.get("max_attach_bytes", 10_000_000)),
        offices=dict(sorted(offices.items())),
        prefecture_notice_to=dict(sorted(notice_to.items())),
        closing_report_to=tuple([to] if isinstance(to, str) else to),
        sender_ja=str(data.get("sender_ja") or "地域包括ケア推進課"),
        request_form=(include_dir() / form) if form else None,
        nominal=nominal,
        source=path,
    )
