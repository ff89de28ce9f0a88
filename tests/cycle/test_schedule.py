"""The cycle calendar: 上旬/中旬/下旬, closed days (weekends, jpholiday, 年末年始) and the 2025 dates."""

from __future__ import annotations

import datetime as dt

import pytest

from tsunagu.cycle.schedule import (
    ScheduleError,
    add_business_days,
    business_day_on_or_after,
    business_days_between,
    fiscal_year_of,
    is_business_day,
    load_schedule,
    resolve_date,
)

D = dt.date


def test_calendar_facts_of_2025():
    assert D(2025, 9, 1).weekday() == 0  # Monday
    assert D(2025, 11, 1).weekday() == 5  # Saturday
    assert not is_business_day(D(2025, 11, 3))  # 文化の日
    assert not is_business_day(D(2025, 11, 24))  # 勤労感謝の日 振替休日
    assert not is_business_day(D(2025, 9, 15)) and not is_business_day(D(2025, 9, 23))  # 敬老の日, 秋分の日
    assert not is_business_day(D(2025, 10, 13))  # スポーツの日
    assert is_business_day(D(2025, 11, 4))
    for day in (D(2025, 12, 29), D(2025, 12, 31), D(2026, 1, 2), D(2026, 1, 3)):
        assert not is_business_day(day)  # 年末年始 (行政機関の休日)


def test_next_business_day_rule():
    assert business_day_on_or_after(D(2025, 9, 1)) == D(2025, 9, 1)
    assert business_day_on_or_after(D(2025, 11, 1)) == D(2025, 11, 4)  # Sat, Sun, 文化の日
    assert business_day_on_or_after(D(2025, 11, 22)) == D(2025, 11, 25)  # Sat, Sun, 振替休日
    assert business_day_on_or_after(D(2025, 12, 27)) == D(2026, 1, 5)  # weekend + 年末年始
    assert add_business_days(D(2025, 11, 21), 1) == D(2025, 11, 25)
    assert business_days_between(D(2025, 11, 21), D(2025, 11, 25)) == 1
    assert business_days_between(D(2025, 11, 4), D(2025, 11, 4)) == 0


@pytest.mark.parametrize(("spec", "nominal", "business"), [
    ({"month": 10, "period": "下旬", "as": "deadline"}, D(2025, 10, 31), D(2025, 10, 31)),
    ({"month": 10, "period": "下旬", "as": "start"}, D(2025, 10, 21), D(2025, 10, 21)),
    ({"month": 9, "period": "上旬", "as": "start"}, D(2025, 9, 1), D(2025, 9, 1)),
    ({"month": 9, "period": "上旬", "as": "deadline"}, D(2025, 9, 10), D(2025, 9, 10)),
    ({"month": 11, "period": "上旬", "as": "start"}, D(2025, 11, 1), D(2025, 11, 4)),
    ({"month": 11, "period": "中旬", "as": "deadline"}, D(2025, 11, 20), D(2025, 11, 20)),
    ({"month": 11, "period": "下旬", "as": "deadline"}, D(2025, 11, 30), D(2025, 12, 1)),  # Sunday
    ({"month": 12, "period": "中旬", "as": "deadline"}, D(2025, 12, 20), D(2025, 12, 22)),
    ({"month": 2, "period": "下旬", "as": "deadline"}, D(2026, 2, 28), D(2026, 3, 2)),  # next calendar year
    ({"month": 12, "day": 25}, D(2025, 12, 25), D(2025, 12, 25)),
    ({"date": "2025-11-23"}, D(2025, 11, 23), D(2025, 11, 25)),
])
def test_resolve_date(spec, nominal, business):
    assert resolve_date(spec, 2025) == (nominal, business)


@pytest.mark.parametrize("spec", [{"month": 10, "period": "末"}, {"month": 13, "period": "上旬"},
                                  {"month": 10, "period": "上旬", "as": "soon"}, 42])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ScheduleError):
        resolve_date(spec, 2025)


def test_2025_schedule_resolved_dates():
    s = load_schedule(2025)
    assert s.dates() == {
        "office_request": D(2025, 9, 1),  # 9月上旬, Monday
        "prefecture_notice": D(2025, 9, 1),
        "request_deadline": D(2025, 10, 31),  # 10月下旬 (deadline), Friday
        "office_data_deadline": D(2025, 10, 31),
        "office_data_reminder": D(2025, 11, 4),  # first business day after 10/31 (11/3 文化の日)
        "request_reminder": D(2025, 11, 4),  # 7 days before the window
        "pre_delivery_notice": D(2025, 11, 4),  # 11月上旬: 11/1 Sat → 11/4
        "delivery_start": D(2025, 11, 11),  # 11月中旬
        "delivery_end": D(2025, 12, 22),  # 12月中旬 (deadline): 12/20 Sat → 12/22
        "closing_report": D(2025, 12, 22),  # 12月下旬: 12/21 Sun → 12/22
    }
    assert s.nominal["pre_delivery_notice"] == D(2025, 11, 1)
    assert s.in_delivery_window(D(2025, 11, 11)) and not s.in_delivery_window(D(2025, 11, 10))
    assert sorted(s.offices) == sorted(s.prefecture_notice_to) == ["08", "09", "10", "11", "12", "13", "14", "15",
                                                                   "19", "20"]
    assert all(a.endswith("@mhlw.go.jp") for a in s.offices.values())
    assert s.max_attach_bytes == 10_000_000 and s.request_reminder_days_before_delivery == 7
    assert s.request_form is not None and s.request_form.name == "情報提供依頼書_様式.xlsx"


def test_prefecture_addresses_are_on_the_jurisdictions_domains():
    from tsunagu.jurisdiction import load_jurisdiction

    s = load_schedule(2025)
    for code, address in s.prefecture_notice_to.items():
        domains = load_jurisdiction().get(code).email_domains
        assert address.split("@")[1] in domains, (code, address)


def test_missing_year_and_fiscal_year():
    with pytest.raises(ScheduleError, match="no distribution cycle configured"):
        load_schedule(2031)
    assert fiscal_year_of(D(2025, 9, 1)) == 2025 and fiscal_year_of(D(2026, 3, 31)) == 2025
    assert fiscal_year_of(D(2026, 4, 1)) == 2026


def test_another_year_is_another_file(tmp_path):
    path = tmp_path / "2026.yaml"
    path.write_text(
        "fiscal_year: 2026\nmilestones:\n"
        "  office_request: {month: 9, period: 上旬, as: start}\n"
        "  prefecture_notice: {month: 9, period: 上旬, as: start}\n"
        "  request_deadline: {month: 10, period: 下旬, as: deadline}\n"
        "  office_data_deadline: {month: 10, period: 下旬, as: deadline}\n"
        "  pre_delivery_notice: {month: 11, period: 上旬, as: start}\n"
        "  delivery_window: {start: {month: 11, period: 中旬, as: start}, end: {month: 12, period: 中旬, as: deadline}}\n"
        "  closing_report: {month: 12, period: 下旬, as: start}\n",
        encoding="utf-8",
    )
    s = load_schedule(2026, path)
    assert s.office_request == D(2026, 9, 1)  # Tuesday
    assert s.office_data_deadline == D(2026, 11, 2)  # 10/31 Saturday → Monday 11/2
    assert s.office_data_reminder == D(2026, 11, 4)  # the business day after 11/2 (11/3 文化の日)
