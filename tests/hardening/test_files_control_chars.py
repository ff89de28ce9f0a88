"""Control characters XML cannot hold (\\x01, \\x0b, NUL) in a sender's values or names never crash a
workbook writer: every workbook shows U+FFFD in their place; the warehouse keeps the value as received.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest

from tests.hardening.office import office_rows, write_csv
from tsunagu.flows import get_flow
from tsunagu.flows.base import open_warehouse
from tsunagu.settings import Settings
from tsunagu.validate.reports import LIST_SHEET

REPO = Path(__file__).resolve().parents[2]
ADDRESS, REMARKS = 3, 24  # 0-based columns D (所在地) and Y (備考)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")


def test_control_characters_in_csv_values_are_replaced_in_the_annotated_copy(tmp_path, settings):
    rows = office_rows()
    rows[2][REMARKS] = "a\x0bb"  # sheet row 3: a line break as some systems export it
    rows[3][ADDRESS] = "甲府市\x01天神町１４－４５"  # row 4: a field loaded into the warehouse
    rows[-1][REMARKS] = "末尾\x00"  # row 92: a NUL after the first 8 KB (the binary sniff reads 8 KB)
    path = write_csv(tmp_path / "山梨_制御文字.csv", rows)
    assert b"\x00" not in path.read_bytes()[:8192] and b"\x00" in path.read_bytes()

    flow = get_flow("home_care_report")
    outcome = flow.ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings)
    assert (outcome.status, outcome.rows, outcome.errors, outcome.warnings) == ("accepted", 89, 0, 1)
    ws = openpyxl.load_workbook(outcome.reports["xlsx"])["csv"]
    assert (ws["Y3"].value, ws["D4"].value, ws["Y92"].value) == ("a\ufffdb", "甲府市\ufffd天神町１４－４５", "末尾\ufffd")
    assert [c.data_type for c in (ws["Y3"], ws["D4"], ws["Y92"])] == ["s", "s", "s"]
    assert ws["C3"].value == "露木耳鼻咽喉科医院"  # everything else as sent

    warehouse = open_warehouse(settings)
    assert warehouse.get_submission(outcome.submission_id)["status"] == "accepted"
    [row] = [r for r in warehouse.home_care_reports(2025, "19") if r["source_row"] == 4]
    assert row["address"] == "甲府市\x01天神町１４－４５"  # the warehouse keeps the value as parsed
    again = flow.ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings)
    assert (again.status, again.note) == ("skipped", "already processed as accepted")

    # The package built from it: the xlsx shows U+FFFD, the CSV keeps the value.
    from tsunagu.pipeline import publish_one

    published = publish_one(2025, "19", out_dir=tmp_path / "out", settings=settings)
    package = Path(published["dir"])
    data = openpyxl.load_workbook(package / "home_care_reports_2025_19.xlsx")["データ"]
    header = [c.value for c in data[1]]
    addresses = {c.value for c in data[openpyxl.utils.get_column_letter(header.index("所在地") + 1)]}
    assert "甲府市\ufffd天神町１４－４５" in addresses
    assert "甲府市\x01天神町１４－４５" in (package / "home_care_reports_2025_19.csv").read_text(encoding="utf-8-sig")


def test_a_control_character_in_a_finding_message_is_replaced_in_comment_and_list(tmp_path, settings):
    rows = office_rows()[:5]
    rows[2][7] = "3\x014"  # 合計診療患者数 unreadable: the finding quotes the value
    path = write_csv(tmp_path / "山梨_誤り.csv", rows)
    outcome = get_flow("home_care_report").ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings,
                                                  use_gx=False)
    assert (outcome.status, outcome.errors) == ("rejected", 1)
    wb = openpyxl.load_workbook(outcome.reports["xlsx"])
    assert wb["csv"]["H3"].value == "3\ufffd4"
    [finding] = [r for r in wb[LIST_SHEET].iter_rows(min_row=2, values_only=True) if r[3] == "エラー"]
    assert finding == (3, "H", "合計診療患者数", "エラー", "H列 3行目: 『合計診療患者数』の値『3\ufffd4』を数値として読めません",
                       "Cell H3: 'total_patients' value '3\ufffd4' is not a number", "invalid_value")
    assert wb["csv"]["H3"].comment.text == "【エラー】H列 3行目: 『合計診療患者数』の値『3\ufffd4』を数値として読めません"
    report = json.loads(Path(outcome.reports["json"]).read_text(encoding="utf-8"))
    [found] = [e for e in report["errors"] if e["code"] == "invalid_value"]
    assert found["message_en"] == "Cell H3: 'total_patients' value '3\x014' is not a number"  # JSON: as found
    assert (Path(outcome.quarantine) / "山梨_誤り.csv").read_bytes() == path.read_bytes()


def test_every_workbook_writer_goes_through_the_shared_helper():
    from tsunagu.grants import status
    from tsunagu.publish import cells, package, survey_summary

    assert package.inert is cells.inert and status.inert is cells.inert  # the CSV writers' rule too
    ws = openpyxl.Workbook().active
    survey_summary._row(ws, ["=1+1", "a\x00b", 3])
    package._set(ws, 2, 1, "=x\x0b")
    status._set(ws, 3, 1, "@y\x1f")
    assert [c.value for c in ws[1]] == ["'=1+1", "a\ufffdb", 3]
    assert (ws["A2"].value, ws["A2"].data_type) == ("=x\ufffd", "s")  # the package's xlsx: a string cell, as stored
    assert (ws["A3"].value, ws["A3"].data_type) == ("'@y\ufffd", "s")


def test_grant_status_board_with_a_control_character_in_a_file_name(tmp_path, settings):
    from tsunagu.grants.status import write_status_boards

    warehouse = open_warehouse(settings)
    warehouse.register_submission(kind="grant.community_support.application", sha256="e" * 64,
                                  original_name="交付申請\x01山梨.xlsx", sender="19", fiscal_year=2024)
    [board] = write_status_boards(warehouse, "community_support", 2024, tmp_path / "boards", prefectures=["19"],
                                  day=dt.date(2025, 3, 10))
    ws = openpyxl.load_workbook(board.xlsx)["状況一覧"]
    header = [c.value for c in ws[1]]
    files = {ws.cell(row=i, column=header.index("最新の提出ファイル") + 1).value for i in range(2, ws.max_row + 1)}
    assert "交付申請\ufffd山梨.xlsx" in files
