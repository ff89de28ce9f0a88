"""The evaluation cycle on the engine: release → notice to the office → approval → delivery (→ 訂正版),
exactly once, on SQLite and PostgreSQL, with a real SMTP sink (issue 9 §2)."""

from __future__ import annotations

import datetime as dt
import email
from email import policy

import pytest

from .builders import load_into_warehouse as _load
from .builders import sample_frames

D = dt.date


@pytest.fixture
def env(warehouse_url, tmp_path, monkeypatch):
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TSUNAGU_DB_URL", warehouse_url)
    for var in ("TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    settings = get_settings()
    wh = open_warehouse(settings)
    with MailSink(tmp_path / "sink") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="care@kantoshinetsu.example"))
        try:
            yield settings, wh, sink
        finally:
            wh.dispose()


def _run(settings, wh, day):
    from tsunagu.cycle.engine import run_cycles

    return run_cycles(day, cycles=["evaluation"], settings=settings, warehouse=wh)


def _mails(sink, start=0):
    out = []
    for r in sink.received[start:]:
        msg = email.message_from_bytes(r.path.read_bytes(), policy=policy.default)
        out.append((msg["X-Tsunagu-Key"], tuple(r.rcpt_tos), sorted(a.get_filename() for a in msg.iter_attachments())))
    return out


def test_release_notice_approval_delivery_and_correction(env):
    from tsunagu.cycle.approvals import ApprovalError, approve
    from tsunagu.cycle.releases import latest_release, list_releases

    settings, wh, sink = env
    _load(wh, sample_frames(), "a" * 64)

    # 7月下旬 (7/21 is 海の日): the analyses are released; nothing is mailed before the notice date
    first = _run(settings, wh, D(2025, 7, 22))
    assert not [r for r in first if r.status == "sent"] and not sink.received
    r11 = latest_release(wh, 2025, "11", dataset="evaluation")
    assert r11.rows == 3 and r11.dataset == "evaluation" and r11.template_version == "evaluation/2025"
    assert sorted(r11.data_files) == ["datapackage.json", "evaluation_2025_11.xlsx", "evaluation_2025_11_averages.csv",
                                      "evaluation_2025_11_low.csv", "evaluation_2025_11_missed.csv",
                                      "evaluation_2025_11_scores.csv"]
    # the distribution cycle never sees these releases
    assert latest_release(wh, 2025, "11") is None and list_releases(wh, 2025) == []
    waiting = {(r.prefecture_code, r.detail[:4]) for r in first if r.status == "waiting"}
    assert ("13", "2025") in waiting  # no results for 東京 in the frames: said, not failed

    # 8月上旬: the notice to the 都県事務所, once per version
    notice = _run(settings, wh, D(2025, 8, 1))
    assert _mails(sink) == [(f"2025:evaluation_notice:11:{r11.version}", ("kantoshinetsu-saitama@mhlw.go.jp",), []),
                            (f"2025:evaluation_notice:12:{latest_release(wh, 2025, '12', dataset='evaluation').version}",
                             ("kantoshinetsu-chiba@mhlw.go.jp",), [])]
    assert [r.kind for r in notice if r.status == "waiting" and r.prefecture_code == "11"] == ["evaluation_delivery"]

    # in the window, nothing goes before the approval
    day = D(2025, 8, 12)
    before = _run(settings, wh, day)
    assert [r.detail.split("（")[0] for r in before if r.prefecture_code == "11"] == [f"版 {r11.version} の承認待ち"]
    approve(wh, 2025, "11", r11.version, "佐藤", "確認済み")
    delivered = _run(settings, wh, day)
    assert [(r.kind, r.status, r.prefecture_code) for r in delivered if r.status == "sent"] == [
        ("evaluation_delivery", "sent", "11")]
    key, to, files = _mails(sink, 2)[0]
    assert key == f"2025:evaluation_delivery:11:{r11.version}" and to == ("kaigo-hoken@pref.saitama.lg.jp",)
    assert files == ["datapackage.json", "evaluation_2025_11.xlsx", "evaluation_2025_11_averages.csv",
                     "evaluation_2025_11_low.csv", "evaluation_2025_11_missed.csv", "evaluation_2025_11_scores.csv",
                     "manifest.json"]
    assert len(sink.received) == 3
    assert not [r for r in _run(settings, wh, day) if r.status == "sent"] and len(sink.received) == 3  # exactly once

    # new results after the delivery: a new version, noticed, approved, sent as 訂正版 (the old one cannot be approved)
    frames = sample_frames()
    frames["scores"].loc[(frames["scores"].insurer_number == "111003") & (frames["scores"].fiscal_year == 2025)
                         & (frames["scores"].indicator_key == "doryoku-I-1-1"), "points"] = 10.0
    _load(wh, {k: v[v.fiscal_year == 2025] for k, v in frames.items()}, "b" * 64)
    _run(settings, wh, D(2025, 8, 13))
    r11b = latest_release(wh, 2025, "11", dataset="evaluation")
    assert r11b.version != r11.version and r11b.is_correction and r11b.previous_version == r11.version
    assert _mails(sink, 3)[0][0] == f"2025:evaluation_notice:11:{r11b.version}"
    with pytest.raises(ApprovalError):
        approve(wh, 2025, "11", r11.version, "佐藤")  # not the latest any more
    approve(wh, 2025, "11", r11b.version, "佐藤")
    fix = _run(settings, wh, D(2025, 8, 14))
    assert [(r.kind, r.status) for r in fix if r.prefecture_code == "11"] == [("evaluation_correction", "sent")]
    msg = email.message_from_bytes(sink.received[-1].path.read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("【訂正版】") and r11.version in msg.get_body().get_content()


def test_outside_its_season_and_without_config(env):
    from tsunagu.cycle.engine import run_cycles

    settings, wh, sink = env
    _load(wh, sample_frames(), "a" * 64)
    assert _run(settings, wh, D(2025, 6, 2)) == []  # before the release date: nothing to do
    skipped = run_cycles(D(2031, 8, 1), cycles=["evaluation"], fiscal_year=2031, settings=settings, warehouse=wh)
    assert [(r.status, r.cycle) for r in skipped] == [("skipped", "evaluation")]
    assert not sink.received


def test_cycle_ids_include_evaluation():
    from tsunagu.cycle.engine import cycle_ids

    assert cycle_ids()[-1] == "evaluation"
    from tsunagu.cycle.evaluation import load_schedule

    s = load_schedule(2025)
    assert (s.release, s.pre_delivery_notice, s.delivery_start, s.delivery_end) == (
        D(2025, 7, 22), D(2025, 8, 1), D(2025, 8, 12), D(2025, 9, 10))
    assert s.placeholder and s.evaluation_year == 2025 and s.recipients["11"] == ("kaigo-hoken@pref.saitama.lg.jp",)


def test_dry_run_plans_and_writes_nothing(env):
    from tsunagu.cycle.engine import run_cycles
    from tsunagu.cycle.releases import latest_release

    settings, wh, sink = env
    _load(wh, sample_frames(), "a" * 64)
    planned = run_cycles(D(2025, 8, 1), cycles=["evaluation"], settings=settings, warehouse=wh, dry_run=True)
    assert [(r.kind, r.prefecture_code) for r in planned if r.status == "planned"] == [
        ("evaluation_notice", "11"), ("evaluation_notice", "12")]
    assert latest_release(wh, 2025, "11", dataset="evaluation") is None and not sink.received
