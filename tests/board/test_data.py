"""The board's data on a warehouse filled by really ingesting the demo inputs (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from tests.board.conftest import HTML_NAME, MAIL_TIME
from tsunagu.board.data import board_data, days_late

DAY = dt.date(2025, 11, 5)  # 5 days after the 10月下旬 deadlines (2025-10-31)


def _channel(data, cid):
    (c,) = [c for c in data["channels"] if c["id"] == cid]
    return c


def _sender(channel, code):
    (s,) = [s for s in channel["senders"] if s["sender"] == code]
    return s


def test_counts_per_channel_and_status(home):
    data = board_data(2025, day=DAY, settings=home.settings, now=MAIL_TIME)
    counts = {c["id"]: c["counts"] for c in data["channels"]}
    assert counts["home_care_report"] == {"received": 0, "accepted": 2, "rejected": 2, "missing": 6}
    assert counts["request_form"] == {"received": 0, "accepted": 1, "rejected": 1, "missing": 8}
    assert counts["survey_return"] == {"received": 1, "accepted": 1, "rejected": 0, "missing": 8}
    # every grant stage of FY2025: the 450 insurers of the jurisdiction, none filed yet
    assert counts["grant.community_support.pre_consultation"] == {
        "received": 0, "accepted": 0, "rejected": 0, "missing": 450}
    assert counts["grant.care_fund.application"] == {"received": 0, "accepted": 0, "rejected": 0, "missing": 10}
    assert counts["evaluation_results"] == {"received": 0, "accepted": 0, "rejected": 0, "missing": 1}
    assert [c["id"] for c in data["channels"]][:4] == [
        "home_care_report", "request_form", "survey_return", "evaluation_results"]
    assert len(data["channels"]) == 4 + 6 + 4 + 4
    assert data["schedule"]["office_data_deadline"] == "2025-10-31"


def test_sender_rows_reason_report_and_days_late(home):
    data = board_data(2025, day=DAY, settings=home.settings, now=MAIL_TIME)
    reports = _channel(data, "home_care_report")
    assert _sender(reports, "19") == {
        "sender": "19", "sender_name": "山梨事務所", "prefecture_code": "19", "status": "rejected", "status_ja": "差戻し",
        "files": 1, "latest_file": "山梨_定例報告_R7_v1.xlsx", "latest_status": "rejected",
        "received_at": "2025-10-30 14:00",
        "reason_ja": "8行目 I列『死亡患者数』: 内訳(①〜④)の合計(10)と一致しません(11)",
        "reason_en": "Row 8, column I (deaths_total): does not equal the sum of its breakdown ①–④ (10 ≠ 11)",
        "report": "home_care_report/2025/19/7c6beaf23f03_山梨_定例報告_R7_v1.xlsx",
        "deadline": "2025-10-31", "days_late": 5,
    }
    assert (home.settings.reports_dir / _sender(reports, "19")["report"]).is_file()
    tochigi = _sender(reports, "09")  # accepted, and a later PDF that could not be read: its reason is kept
    assert (tochigi["status"], tochigi["days_late"], tochigi["latest_file"], tochigi["latest_status"]) == (
        "accepted", 0, "栃木_集計表_スキャン.pdf", "unreadable")
    assert tochigi["reason_ja"].startswith("PDFファイルを読み取れません")
    saitama = _sender(reports, "11")  # 16:30 UTC on 11/3 is 01:30 on 11/4 in Tokyo
    assert (saitama["status"], saitama["received_at"], saitama["reason_ja"], saitama["report"]) == (
        "accepted", "2025-11-04 01:30", None, None)
    ibaraki = _sender(reports, "08")
    assert (ibaraki["status"], ibaraki["latest_file"]) == ("rejected", HTML_NAME)
    assert _sender(reports, "20") == {
        "sender": "20", "sender_name": "長野事務所", "prefecture_code": "20", "status": "missing", "status_ja": "未提出",
        "files": 0, "latest_file": None, "latest_status": None, "received_at": None, "reason_ja": None,
        "reason_en": None, "report": None, "deadline": "2025-10-31", "days_late": 5,
    }
    survey = _channel(data, "survey_return")
    assert (_sender(survey, "11")["status"], _sender(survey, "11")["days_late"]) == ("received", None)  # no deadline
    # before the deadline nobody is late
    early = board_data(2025, day=dt.date(2025, 10, 31), settings=home.settings, now=MAIL_TIME)
    assert {s["days_late"] for s in _channel(early, "home_care_report")["senders"]} == {None}


def test_days_late_rule():
    deadline = dt.date(2025, 10, 31)
    assert days_late("missing", deadline, dt.date(2025, 10, 31)) is None
    assert days_late("missing", deadline, dt.date(2025, 11, 1)) == 1
    assert days_late("rejected", deadline, dt.date(2025, 12, 1)) == 31
    assert days_late("accepted", deadline, dt.date(2025, 12, 1)) == 0
    assert days_late("missing", None, dt.date(2025, 12, 1)) is None


def test_grant_stage_rows(home):
    data = board_data(2024, day=DAY, settings=home.settings, now=MAIL_TIME)
    stage = _channel(data, "grant.community_support.pre_consultation")
    assert stage["counts"] == {"received": 0, "accepted": 0, "rejected": 27, "missing": 423}
    kofu = _sender(stage, "192013")
    assert (kofu["sender_name"], kofu["status"], kofu["deadline"], kofu["days_late"], kofu["latest_file"]) == (
        "甲府市", "rejected", "2024-09-24", 407, "山梨県_地域支援事業交付金_事前協議.xlsx")
    assert kofu["reason_ja"].startswith("4行目 H列『選定額』: 総合事業の選定額 600,000,000円")
    assert kofu["report"].startswith("grant.community_support.pre_consultation/2024/19/")
    assert _channel(data, "home_care_report")["counts"] == {"received": 0, "accepted": 1, "rejected": 0, "missing": 9}


def test_prefectures_sent_and_waiting(home):
    data = board_data(2025, day=DAY, settings=home.settings, now=MAIL_TIME)
    prefs = {p["code"]: p for p in data["prefectures"]}
    assert list(prefs) == ["08", "09", "10", "11", "12", "13", "14", "15", "19", "20"]
    assert prefs["09"] == {
        "code": "09", "name_ja": "栃木県", "romaji": "tochigi", "request": "active",
        "received": {"home_care_report": "accepted", "request_form": "accepted", "survey_return": "missing"},
        "sent": [{"kind": "delivery", "kind_ja": "データ送付", "subject": "【送付】定例報告データ", "data_version": "v1",
                  "status": "sent", "status_ja": "送信済", "at": "2025-11-20 10:00", "files": []}],
        "waiting": [],
    }
    assert [m["status"] for m in prefs["19"]["sent"]] == ["unknown"]
    assert prefs["19"]["waiting"] == [{"ja": "調査票の集計結果", "en": "the survey summary"}]
    assert (prefs["11"]["request"], prefs["11"]["sent"], prefs["11"]["waiting"]) == ("none", [], [])


def test_problem_mails(home):
    data = board_data(2025, day=DAY, settings=home.settings, now=MAIL_TIME)
    (mail,) = data["problem_mails"]
    assert (mail["key"], mail["kind"], mail["prefecture_code"], mail["status"], mail["status_ja"], mail["attempts"],
            mail["last_attempt_at"]) == (
        "2025:survey_summary:19", "survey_summary", "19", "unknown", "送信結果不明", 1, "2025-11-20 10:00")
    assert board_data(2024, day=DAY, settings=home.settings, now=MAIL_TIME)["problem_mails"] == []


def test_completeness_series(home):
    data = board_data(2025, day=DAY, settings=home.settings, now=MAIL_TIME)
    assert data["completeness"] == [
        {"id": "home_care_report", "label_ja": "定例報告（様式11の3）", "label_en": "Home-care reports", "points": [
            {"date": "2025-10-20", "accepted": 1, "expected": 10, "share": 0.1},
            {"date": "2025-11-04", "accepted": 2, "expected": 10, "share": 0.2}]},
        {"id": "request_form", "label_ja": "情報提供依頼書", "label_en": "Request forms", "points": [
            {"date": "2025-09-12", "accepted": 1, "expected": 10, "share": 0.1}]},
        {"id": "survey_return", "label_ja": "調査票（地域支援事業 実施状況）", "label_en": "Survey returns", "points": [
            {"date": "2025-10-15", "accepted": 1, "expected": 10, "share": 0.1}]},
    ]


def test_no_warehouse_is_an_empty_board_and_creates_nothing(tmp_path):
    from tsunagu.settings import get_settings

    settings = get_settings(tmp_path / "empty")
    data = board_data(2025, day=DAY, settings=settings)
    assert data["warehouse"] is False
    assert _channel(data, "home_care_report")["counts"] == {"received": 0, "accepted": 0, "rejected": 0, "missing": 10}
    assert data["problem_mails"] == [] and all(p["sent"] == [] for p in data["prefectures"])
    assert not (tmp_path / "empty").exists()


def test_evaluation_results_channel_the_ministry_as_one_sender(tmp_path):
    from tsunagu.flows import get_flow
    from tsunagu.settings import REPO_ROOT, get_settings

    settings = get_settings(tmp_path / "home")
    path = REPO_ROOT / "include" / "demo" / "evaluation" / "2025" / "R7_hyoka_kekka.xlsx"
    outcome = get_flow("evaluation_results").ingest(path, fiscal_year=2025, settings=settings)
    assert outcome.status == "accepted"
    channel = _channel(board_data(2025, day=DAY, settings=settings), "evaluation_results")
    assert channel["counts"] == {"received": 0, "accepted": 1, "rejected": 0, "missing": 0}
    assert {k: _sender(channel, "00")[k] for k in ("sender_name", "status_ja", "files", "latest_file", "days_late")} == {
        "sender_name": "厚生労働省", "status_ja": "受理", "files": 1, "latest_file": "R7_hyoka_kekka.xlsx",
        "days_late": None}
    other = _channel(board_data(2024, day=DAY, settings=settings), "evaluation_results")
    assert _sender(other, "00")["status"] == "missing"
