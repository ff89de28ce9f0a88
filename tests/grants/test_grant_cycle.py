"""The grant cycle on the engine: stage requests, reminders naming late filers, notices of amounts.

Every mail goes through a real SMTP server on loopback; files go through the real grant flow.
地域支援事業交付金, 令和6年度: 事前協議 requested 2024-08-09, due 2024-09-24, amounts shown 2024-11-29.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from demo.grant_inputs import KOFU, rows, write_file
from tsunagu.flows import get_flow
from tsunagu.grants.cycle import run_grant_cycle_day
from tsunagu.grants.insurers import load_insurers
from tsunagu.settings import get_settings

PROGRAM, FY = "community_support", 2024
JST = dt.timezone(dt.timedelta(hours=9))
D = dt.date
FUJIYOSHIDA = "192021"


@pytest.fixture
def env(home):
    from tsunagu.pipeline import open_warehouse

    settings = get_settings()
    wh = open_warehouse(settings)
    yield settings, wh
    wh.dispose()


def run(env, day: dt.date, prefs=("19",), **kw):
    settings, wh = env
    return run_grant_cycle_day(PROGRAM, day, fiscal_year=FY, prefectures=list(prefs), settings=settings,
                               warehouse=wh, now=dt.datetime.combine(day, dt.time(9), JST), **kw)


def sent(results) -> list[tuple[str, str | None, str]]:
    return [(r.kind, r.prefecture_code, r.key) for r in results if r.status == "sent"]


def ingest(env, tmp_path: Path, pref: str, stage: str, data: list[dict], name: str = "f.xlsx"):
    settings, wh = env
    path = write_file(tmp_path / "in" / pref / stage / name, stage, data)
    return get_flow(f"grant.{PROGRAM}.{stage}").ingest(path, prefecture_code=pref, fiscal_year=FY,
                                                      settings=settings, warehouse=wh, use_gx=False)


def messages(sink) -> list[email.message.EmailMessage]:
    return sink.messages


def test_request_reminder_and_notice_each_exactly_once(env, sink, tmp_path):
    # 2024-08-09: the 事前協議 is requested (the only stage of FY2024 open that day), once.
    results = run(env, D(2024, 8, 9))
    assert sent(results) == [("grant_request", "19", "2024:grant.community_support.pre_consultation:request:19")]
    assert sent(run(env, D(2024, 8, 9))) == [] and len(messages(sink)) == 1
    request = messages(sink)[0]
    assert request["To"] == "kaigo-hoken@pref.yamanashi.lg.jp"
    assert request["Subject"] == "【依頼】令和6年度 地域支援事業交付金 当初交付 事前協議に係る書類のご提出について（山梨県）"
    assert "令和6年9月24日（火）までにご提出" in request.get_body(("plain",)).get_content()

    # 山梨 sends all its insurers but 甲府市 and 富士吉田市.
    outcome = ingest(env, tmp_path, "19", "pre_consultation", rows("19", "pre_consultation", skip={KOFU, FUJIYOSHIDA}))
    assert (outcome.status, outcome.rows) == ("accepted", 75)

    assert sent(run(env, D(2024, 9, 24))) == []  # the deadline day itself: no reminder
    assert sent(run(env, D(2024, 9, 25))) == [
        ("grant_reminder", "19", "2024:grant.community_support.pre_consultation:reminder:19")]
    text = messages(sink)[-1].get_body(("plain",)).get_content()
    assert re.findall(r"^  ・(\d{6}) (\S+)$", text, re.M) == [(KOFU, "甲府市"), (FUJIYOSHIDA, "富士吉田市")]
    assert sent(run(env, D(2024, 9, 26))) == []  # one reminder per stage

    # Before 2024-11-29 the amounts wait; on that day they are notified, once.
    waiting = [r for r in run(env, D(2024, 11, 28)) if r.kind == "grant_amount_notice"]
    assert [(r.status, r.prefecture_code) for r in waiting] == [("waiting", "19")]
    notice = [s for s in sent(run(env, D(2024, 11, 29))) if s[0] == "grant_amount_notice"]
    assert len(notice) == 1 and notice[0][2].startswith("2024:grant.community_support.pre_consultation:amounts:19:")
    text = messages(sink)[-1].get_body(("plain",)).get_content()
    numbers = re.findall(r"^  (\d{6}) / ", text, re.M)
    assert len(numbers) == 75 and set(numbers) == {i.number for i in load_insurers().insurers("19")} - {KOFU, FUJIYOSHIDA}
    first = rows("19", "pre_consultation", skip={KOFU, FUJIYOSHIDA})[0]
    assert f"  {first['insurer_number']} / {first['insurer_name']} / 介護予防・日常生活支援総合事業 / {first['grant']:,}円" in text
    assert sent(run(env, D(2024, 12, 2))) == []

    # 富士吉田市's rows arrive later: new amounts, a new notice (and no second reminder).
    assert ingest(env, tmp_path, "19", "pre_consultation", rows("19", "pre_consultation", only={FUJIYOSHIDA}),
                  name="late.xlsx").status == "accepted"
    later = sent(run(env, D(2024, 12, 3)))
    assert [k for k, *_ in later] == ["grant_amount_notice"] and later[0][2] != notice[0][2]
    assert len(re.findall(r"^  (\d{6}) / ", messages(sink)[-1].get_body(("plain",)).get_content(), re.M)) == 78


def test_optional_stage_is_requested_never_reminded(env, sink):
    """The 変更申請 is optional: only insurers who need it file, so nobody is reminded."""
    results = run(env, D(2025, 1, 14))
    assert ("grant_request", "19", "2024:grant.community_support.change:request:19") in sent(results)
    after = run(env, D(2025, 2, 3))
    assert not [r for r in after if r.kind == "grant_reminder" and ".change:" in (r.key or "")]


def test_dry_run_plans_and_sends_nothing(env, sink):
    results = run(env, D(2024, 8, 9), dry_run=True)
    assert [(r.kind, r.status) for r in results] == [("grant_request", "planned")]
    assert messages(sink) == []
    assert sent(run(env, D(2024, 8, 9))) != []  # the real run still sends it


def test_closed_day_sends_nothing(env, sink):
    results = run(env, D(2024, 8, 10))  # a Saturday
    assert [(r.kind, r.status) for r in results] == [("day", "skipped")]


@hsettings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(missing=st.fixed_dictionaries({
    "11": st.sets(st.sampled_from(["111005", "112011", "112037", "113654"]), max_size=2),
    "19": st.sets(st.sampled_from([KOFU, FUJIYOSHIDA, "192047", "192088"]), max_size=2),
}))
def test_no_prefecture_is_told_about_another_prefectures_insurers(tmp_path_factory, monkeypatch, missing):
    """Whatever each prefecture sent, its reminders and notices name only its own insurers."""
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse

    tmp = tmp_path_factory.mktemp("scope")
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp / "home"))
    settings = get_settings()
    wh = open_warehouse(settings)
    with MailSink(tmp / "sink") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="care@kantoshinetsu.example"))
        env = (settings, wh)
        for pref in ("11", "19"):
            data = rows(pref, "pre_consultation", skip={KOFU} | missing[pref])
            assert ingest(env, tmp, pref, "pre_consultation", data).status == "accepted"
        for day in (D(2024, 8, 9), D(2024, 9, 25), D(2024, 11, 29)):
            run(env, day, prefs=("11", "19"))
        mails = messages(sink)
    wh.dispose()
    own = {p: {i.number for i in load_insurers().insurers(p)} for p in ("11", "19")}
    kinds = set()
    for m in mails:
        pref = "11" if "saitama" in m["To"] else "19"
        text = m.get_body(("plain",)).get_content()
        named = set(re.findall(r"^  (?:・)?(\d{6})[ /]", text, re.M))
        assert named <= own[pref], (m["Subject"], named - own[pref])
        kinds.add(m["Subject"][:4])
        if "【再依頼】" in m["Subject"]:
            assert named == ({KOFU} | missing[pref]) & own[pref] if pref == "19" else named == missing[pref]
    assert "【通知】" in kinds
