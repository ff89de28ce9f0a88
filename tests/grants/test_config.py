"""The grant programs' config: stages, exact rates, caps, and the FY2024 calendar of seed 003 §2."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from tsunagu.codes import insurer_number_is_valid
from tsunagu.cycle.schedule import is_business_day
from tsunagu.grants.config import (
    PROGRAMS,
    GrantConfigError,
    ProgramConfig,
    StageDates,
    load_program,
    program_path,
)
from tsunagu.grants.insurers import load_insurers

D = dt.date
STAGES = {
    "community_support": (
        ["pre_consultation", "application", "change", "actual_report", "adjustment_survey", "redetermination"],
        "insurer"),
    "care_fund": (["requirement_survey", "application", "balance_survey", "actual_report"], "prefecture"),
    "integrated_health": (["pre_application", "application", "change", "actual_report"], "koiki"),
}


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_loads_with_its_stages_in_order(program):
    cfg = load_program(program)
    assert isinstance(cfg, ProgramConfig) and cfg.program == program and cfg.title_ja
    ids, filer = STAGES[program]
    assert [s.id for s in cfg.stages] == ids
    assert {s.filer for s in cfg.stages} == {filer}
    for s in cfg.stages:
        assert s.template == f"grant_{program}_{s.id}" and s.label_ja
        assert cfg.stage(s.id) is s
    # community_support is keyed by the grant's year: 令和5年度's 実績報告 and 再確定 are in the seed.
    assert cfg.fiscal_years() == ([2023, 2024, 2025] if program == "community_support" else [2024, 2025])
    for fy in cfg.fiscal_years():
        sched = cfg.schedule(fy)
        if fy == 2023:
            assert list(sched) == ["actual_report", "redetermination"]
            continue
        assert list(sched) == ids  # every stage has dates, in stage order
        for stage, dates in sched.items():
            assert isinstance(dates, StageDates)
            assert dates.request <= dates.deadline
            # a grant's 実績報告 / 再確定 come in the next year's calendar, and are decided the year after
            late = program == "community_support" and stage in ("actual_report", "redetermination")
            for d in dates.dates().values():
                assert is_business_day(d)
                assert D(fy, 4, 1) <= d <= (D(fy + 2, 4, 30) if late else D(fy + 1, 4, 30))


def test_titles():
    assert load_program("community_support").title_ja == "地域支援事業交付金"
    assert load_program("care_fund").title_ja == "地域医療介護総合確保基金（介護分）"
    assert "一体的実施" in load_program("integrated_health").title_ja


def test_community_support_fy2024_dates_as_in_the_seed():
    s = load_program("community_support").schedule(2024)
    pre = s["pre_consultation"]
    assert (pre.request, pre.deadline, pre.review_end) == (D(2024, 8, 9), D(2024, 9, 24), D(2024, 10, 18))
    assert pre.extra["amount_notice"] == D(2024, 11, 29) and pre.decision is None
    app = s["application"]
    assert (app.request, app.deadline, app.review_end, app.decision) == (
        D(2025, 2, 13), D(2025, 2, 26), D(2025, 3, 3), D(2025, 3, 18))
    assert app.extra["payment"] == D(2025, 3, 28)
    adj = s["adjustment_survey"]
    assert (adj.request, adj.deadline, adj.review_end) == (D(2024, 11, 28), D(2024, 12, 11), D(2025, 1, 15))
    assert adj.extra["naiji"] == D(2025, 2, 13)
    # ④ 前年度確定 and ⑤ 過年度再確定 of the 令和6年度 calendar are the 令和5年度 grant's stages
    s = load_program("community_support").schedule(2023)
    act = s["actual_report"]
    assert (act.request, act.deadline, act.decision) == (D(2024, 6, 6), D(2024, 7, 1), D(2025, 1, 15))
    # 審査 7月〜8月: ends 8/31/2024, a Saturday -> the next business day
    assert act.nominal["review_end"] == D(2024, 8, 31) and act.review_end == D(2024, 9, 2)
    red = s["redetermination"]
    # 審査 9月〜10月: the deadline is the window's start, 9/1/2024, a Sunday -> Monday 9/2
    assert red.request == D(2024, 8, 16)
    assert red.nominal["deadline"] == D(2024, 9, 1) and red.deadline == D(2024, 9, 2)
    assert red.review_end == D(2024, 10, 31) and red.decision == D(2025, 1, 15)
    assert not any(d.placeholder for d in s.values())
    s = load_program("community_support").schedule(2024)
    assert not any(d.placeholder for k, d in s.items() if k not in ("change", "actual_report", "redetermination"))
    assert s["change"].placeholder  # ② 変更交付 is not in the seed
    assert s["actual_report"].placeholder and s["actual_report"].request == D(2025, 6, 6)  # the pattern a year on


def test_care_fund_fy2024_dates_as_in_the_seed():
    s = load_program("care_fund").schedule(2024)
    req = s["requirement_survey"]
    assert (req.request, req.deadline) == (D(2024, 6, 5), D(2024, 7, 10))
    assert req.extra["naiji_facility"] == D(2024, 10, 11)
    assert req.extra["naiji_workforce"] == D(2025, 2, 5)
    app = s["application"]
    assert (app.request, app.deadline, app.decision) == (D(2024, 12, 27), D(2025, 2, 14), None)
    assert s["balance_survey"].placeholder and s["actual_report"].placeholder


def test_integrated_health_fy2024_dates_as_in_the_seed():
    s = load_program("integrated_health").schedule(2024)
    pre = s["pre_application"]
    # 「6月」提出: the month's end, 6/30/2024, a Sunday -> 7/1
    assert pre.request == D(2024, 4, 5)
    assert pre.nominal["deadline"] == D(2024, 6, 30) and pre.deadline == D(2024, 7, 1)
    assert s["application"].deadline == D(2024, 10, 31)
    assert s["change"].request == D(2024, 11, 12) and s["change"].deadline == D(2025, 1, 31)
    assert s["actual_report"].request == D(2024, 4, 8) and s["actual_report"].deadline == D(2024, 7, 1)


def test_fy2025_is_the_shifted_placeholder_pattern():
    cfg = load_program("community_support")
    s = cfg.schedule(2025)
    assert all(d.placeholder for d in s.values())
    # 2025-08-09 is a Saturday; 8/11 山の日 -> Tuesday 8/12
    assert s["pre_consultation"].nominal["request"] == D(2025, 8, 9)
    assert s["pre_consultation"].request == D(2025, 8, 12)
    assert "schedule.2025.pre_consultation.request" in cfg.placeholders()
    with pytest.raises(GrantConfigError, match="2022"):
        cfg.schedule(2022)


def test_rates_are_exact_fractions():
    cs = load_program("community_support")
    for fy in (2021, 2023, 2024, 2026):
        rates = cs.rates(fy)
        assert rates == {"general": Fraction(20, 100), "comprehensive": Fraction(385, 1000),
                         "social_security": Fraction(385, 1000)}
        assert all(type(r) is Fraction for r in rates.values())
    assert cs.rates(2024)["comprehensive"] == Fraction(1, 2) * (1 - Fraction(23, 100))
    assert cs.rounding(2024) == {"grant": {"unit": 1000, "mode": "floor"}}
    assert cs.period(2024).name == "第9期" and cs.period(2022).name == "第8期"
    with pytest.raises(GrantConfigError, match="2027"):
        cs.rates(2027)
    cf = load_program("care_fund")
    assert cf.rates(2024) == {"national": Fraction(2, 3), "prefecture": Fraction(1, 3)}
    assert cf.rounding(2024) == {"national": {"unit": 1, "mode": "floor"}}


def test_caps_are_real_insurers_and_unknown_by_default():
    cs = load_program("community_support")
    master = load_insurers()
    for fy in (2024, 2025):
        caps = cs.caps(fy)
        assert caps and all(type(v) is int and v > 0 for v in caps.values())
        for number in caps:
            assert insurer_number_is_valid(number) and number[:2] in ("11", "19")
            assert master.get(number) is not None
    assert cs.caps(2024)["111005"] == 4_200_000_000  # さいたま市 (demo value)
    assert cs.default_cap is None
    assert cs.cap(2024, "111005") == 4_200_000_000
    assert cs.cap(2024, "131011") is None  # not listed: unknown -> the rule warns
    assert cs.caps(2030) == {}


def test_item_caps_of_integrated_health():
    caps = load_program("integrated_health").item_caps(2024)
    assert set(caps) == {"planning", "high_risk", "population"}
    assert caps["planning"].per == "municipality" and caps["planning"].label_ja == "企画・調整（医療専門職）人件費"
    assert caps["high_risk"].per == caps["population"].per == "area"
    assert all(type(c.amount) is int and c.placeholder for c in caps.values())


def test_placeholders_name_the_unconfirmed_figures():
    cs = load_program("community_support").placeholders()
    assert cs and "caps.by_fiscal_year.2024.111005" in cs and "caps.by_fiscal_year.2025.192013" in cs
    assert "periods.第8期.rates.comprehensive" in cs and "periods.第8期.first_insured_share" in cs
    assert not any(p.startswith("periods.第9期") for p in cs)  # confirmed by design.md §2.3
    assert not any(p.startswith("schedule.2024.pre_consultation") for p in cs)  # from the seed
    assert "schedule.2024.change.request" in cs
    ih = load_program("integrated_health").placeholders()
    assert {"periods.令和6年度〜.item_caps.planning.amount", "periods.令和6年度〜.item_caps.high_risk.amount",
            "periods.令和6年度〜.item_caps.population.amount"} <= set(ih)
    cf = load_program("care_fund").placeholders()
    assert "periods.基金（介護分）.rounding.national" in cf
    assert not any(".rates." in p for p in cf)  # 2/3 is confirmed


# --- errors name the file and the key ---------------------------------------------------------

def _variant(tmp_path: Path, program: str, edit) -> Path:
    data = yaml.safe_load(program_path(program).read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / f"{program}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _set_float_rate(d):
    d["periods"][0]["rates"]["general"] = 0.2


def _bad_filer(d):
    d["stages"][0]["filer"] = "clinic"


def _unknown_stage(d):
    d["schedule"][2024]["no_such_stage"] = {"request": {"date": "2024-05-01"}, "deadline": {"date": "2024-06-01"}}


def _no_deadline(d):
    del d["schedule"][2024]["pre_consultation"]["review_start"]


def _bad_cap(d):
    d["caps"]["by_fiscal_year"][2024]["111007"] = 1000  # a 全国地方公共団体コード, not a 保険者番号


def _inconsistent_share(d):
    d["periods"][0]["rates"]["comprehensive"] = "40/100"


def _bad_date(d):
    d["schedule"][2024]["application"]["decision"] = {"month": 3, "period": "末"}


def _deadline_before_request(d):
    d["schedule"][2024]["application"]["review_start"] = {"date": "2025-02-01"}


@pytest.mark.parametrize(("edit", "key"), [
    (_set_float_rate, "periods.第9期.rates.general"),
    (_bad_filer, "stages.pre_consultation.filer"),
    (_unknown_stage, "schedule.2024"),
    (_no_deadline, "schedule.2024.pre_consultation"),
    (_bad_cap, "caps.by_fiscal_year.2024.111007"),
    (_inconsistent_share, "periods.第9期.rates.comprehensive"),
    (_bad_date, "schedule.2024.application.decision"),
    (_deadline_before_request, "schedule.2024.application.deadline"),
])
def test_errors_name_the_file_and_the_key(tmp_path, edit, key):
    path = _variant(tmp_path, "community_support", edit)
    with pytest.raises(GrantConfigError) as err:
        load_program("community_support", path)
    assert str(path.resolve()) in str(err.value) and key in str(err.value)


def test_missing_and_unknown_programs(tmp_path):
    with pytest.raises(GrantConfigError, match="unknown grant program"):
        load_program("no_such_program")
    with pytest.raises(GrantConfigError, match="missing"):
        load_program("care_fund", tmp_path / "care_fund.yaml")
    path = _variant(tmp_path, "care_fund", lambda d: d.update(program="community_support"))
    with pytest.raises(GrantConfigError, match="program"):
        load_program("care_fund", path)
    with pytest.raises(GrantConfigError, match="no stage"):
        load_program("care_fund").stage("pre_consultation")


def test_cache_follows_the_file(tmp_path):
    path = _variant(tmp_path, "care_fund", lambda d: None)
    first = load_program("care_fund", path)
    assert load_program("care_fund", path) is first
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["title_ja"] = "変更後"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    import os

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_program("care_fund", path).title_ja == "変更後"
