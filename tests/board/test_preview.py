"""The rerun preview: exactly the files ingest_submissions would reprocess, the packages it would rewrite, and
not one byte or row written."""

from __future__ import annotations

import pytest

from tests.board.conftest import STOPPED, file_tree, table_dump
from tsunagu.board.preview import rerun_preview

REGISTERS = ["09届出受理医療機関名簿（医科）栃木r0710.xlsx", "11届出受理医療機関名簿（医科）埼玉r0710.xlsx",
             "19届出受理医療機関名簿（医科）山梨r0710.xlsx"]


def _actions(plan):
    return [(f["kind"], f["path"], f["action"], f["previous_status"]) for f in plan["files"]]


def test_preview_lists_what_a_rerun_reprocesses(home):
    plan = rerun_preview(2025, settings=home.settings)
    assert _actions(plan) == [
        *[("register", f"register/{name}", "skip", "accepted") for name in REGISTERS],
        ("home_care_report", "home_care_reports/2025/08/茨城_<img src=x onerror=alert(1)>.csv", "skip", "unreadable"),
        ("home_care_report", "home_care_reports/2025/09/栃木_令和7年度_定例報告集計.xlsx", "skip", "accepted"),
        ("home_care_report", "home_care_reports/2025/09/栃木_集計表_スキャン.pdf", "skip", "unreadable"),
        ("home_care_report", "home_care_reports/2025/11/埼玉_定例報告_R7.csv", "skip", "accepted"),
        ("home_care_report", "home_care_reports/2025/19/山梨_定例報告_R7_v1.xlsx", "skip", "rejected"),
        ("home_care_report", "home_care_reports/2025/19/山梨_定例報告_R7_v2_訂正.xlsx", "process", None),
        ("request_form", "request_forms/2025/09/栃木県_情報提供依頼書.xlsx", "skip", "accepted"),
        ("request_form", "request_forms/2025/19/山梨県_情報提供依頼書.xlsx", "skip", "rejected"),
        ("request_form", "request_forms/2025/19/山梨県_情報提供依頼書_再提出.xlsx", "process", None),
        ("survey_return", STOPPED, "process", "received"),
        ("survey_return", "survey_returns/2025/19/山梨県_地域支援事業実施状況.xlsx", "skip", "accepted"),
    ]
    assert (plan["reprocess"], plan["skip"], plan["publication_triggered"]) == (3, 11, True)
    stopped = plan["files"][-2]
    assert (stopped["reason_ja"], stopped["reason_en"]) == ("前回の処理が完了していません", "an earlier run did not finish it")
    assert plan["packages"] == [
        {"fiscal_year": 2025, "prefecture_code": "09", "name_ja": "栃木県", "dir": "2025/09_tochigi", "exists": False,
         "when_ja": "作成", "when_en": "built"},
        {"fiscal_year": 2025, "prefecture_code": "11", "name_ja": "埼玉県", "dir": "2025/11_saitama", "exists": False,
         "when_ja": "作成", "when_en": "built"},
        {"fiscal_year": 2025, "prefecture_code": "19", "name_ja": "山梨県", "dir": "2025/19_yamanashi", "exists": False,
         "when_ja": "受理された場合に作成", "when_en": "built if the file is accepted"},
    ]


def test_preview_narrowed_to_prefectures_and_forced(home):
    plan = rerun_preview(2025, ["19", "9"], settings=home.settings)  # "9" is 09
    assert plan["params"] == {"fiscal_year": 2025, "prefectures": ["09", "19"], "force": False}
    assert {f["prefecture_code"] for f in plan["files"] if f["kind"] != "register"} == {"09", "19"}
    assert (plan["reprocess"], plan["skip"]) == (2, 9)
    assert [p["prefecture_code"] for p in plan["packages"]] == ["09", "19"]

    forced = rerun_preview(2025, ["19"], True, settings=home.settings)
    assert [(f["path"].rsplit("/", 1)[-1], f["action"], f["previous_status"]) for f in forced["files"]][3:] == [
        ("山梨_定例報告_R7_v1.xlsx", "process", "rejected"),
        ("山梨_定例報告_R7_v2_訂正.xlsx", "process", None),
        ("山梨県_情報提供依頼書.xlsx", "process", "rejected"),
        ("山梨県_情報提供依頼書_再提出.xlsx", "process", None),
        ("山梨県_地域支援事業実施状況.xlsx", "process", "accepted"),
    ]
    assert (forced["reprocess"], forced["skip"]) == (8, 0)  # the registers too
    assert forced["files"][0]["reason_en"] == "forced (was accepted)"

    older = rerun_preview(2024, settings=home.settings)
    assert [(f["kind"], f["action"]) for f in older["files"]][3:] == [
        ("home_care_report", "skip"), ("grant.community_support.pre_consultation", "skip")]
    assert [(p["fiscal_year"], p["prefecture_code"]) for p in older["packages"]] == [(2024, "09")]


def test_preview_refuses_a_code_outside_the_jurisdiction(home):
    with pytest.raises(KeyError, match="'99' is not in the jurisdiction"):
        rerun_preview(2025, ["99"], settings=home.settings)


def test_preview_writes_nothing(home):
    before_files, before_rows = file_tree(home.settings.home), table_dump(home.settings)
    assert before_rows["submissions"] and before_rows["mail_ledger"]
    for fy, prefs, force in ((2025, None, False), (2025, ["19"], True), (None, None, True), (2024, ["11"], False)):
        rerun_preview(fy, prefs, force, settings=home.settings)
    assert file_tree(home.settings.home) == before_files
    assert table_dump(home.settings) == before_rows


def test_preview_without_a_warehouse_creates_none(tmp_path):
    from tests.board.conftest import stage_landing
    from tsunagu.settings import get_settings

    settings = get_settings(tmp_path / "fresh")
    stage_landing(settings.landing_dir)
    before = file_tree(settings.home)
    plan = rerun_preview(2025, ["11"], settings=settings)
    assert [(f["path"].rsplit("/", 1)[-1], f["action"]) for f in plan["files"]][3:] == [
        ("埼玉_定例報告_R7.csv", "process"), ("埼玉県_地域支援事業実施状況.xlsx", "process")]
    assert plan["files"][0]["reason_en"] == "new file (no warehouse yet)"
    assert plan["packages"][0]["when_en"] == "built if the file is accepted"
    assert file_tree(settings.home) == before and not (settings.home / "warehouse.sqlite").exists()
