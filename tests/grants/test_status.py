"""Grant status boards (tsunagu.grants.status): real files through the real grant flow into a SQLite
warehouse, then the exact rows, the CSV, the xlsx (sheets, styles, the chart and the counts it reads),
prefecture scoping (with a hypothesis property) and byte-identical reruns.

The scene (地域支援事業交付金, FY2024, as of 2025-03-10):

* 山梨 (19) 交付申請: accepted — 甲府市 (general + comprehensive) and 北杜市 (general);
* 山梨 変更交付申請: a first file accepted for 北杜市, then a later file rejected (甲府市 with a wrong 交付額);
* 山梨 実績報告: accepted for 甲府市 (交付決定額 1,800,000; 実績 1,600,000 → 返還 200,000);
* 埼玉 (11) 交付申請: a file received but not processed yet (its name is a formula);
* everything else: nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from tests.grants.builders import FUJIYOSHIDA, HOKUTO, KOFU, cs_row, write_grant
from tsunagu.flows import get_flow
from tsunagu.flows.base import open_warehouse
from tsunagu.grants import status
from tsunagu.grants.config import load_program
from tsunagu.grants.insurers import expected_filers
from tsunagu.grants.status import (
    STATES,
    Board,
    ScopeError,
    board_rows,
    check_board_scope,
    state_counts,
    write_status_boards,
)
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.settings import get_settings
from tsunagu.warehouse.grants import load_grant

PROGRAM, FY = "community_support", 2024
DAY = dt.date(2025, 3, 10)
STAGES = ("pre_consultation", "application", "change", "actual_report", "adjustment_survey", "redetermination")
SAITAMA = "111005"  # さいたま市
EVIL_NAME = '=HYPERLINK("http://example.invalid","x").xlsx'
HEADER = ("prefecture_code,prefecture_name,filer_code,filer_name,filer_kind,stage,stage_label,state,state_ja,"
          "grant,confirmed,refund,adjustment_grant,change,deadline,days_late,rows,latest_file,latest_status,"
          "latest_received_at")
PREFS = tuple(sorted(load_jurisdiction().prefectures))


def read_ref(wb, ref: str) -> list:
    """The values a chart reference (``'sheet'!$A$1:$A$3``) points at, in order."""
    sheet, cells = ref.rsplit("!", 1)
    ws = wb[sheet.strip("'")]
    found = ws[cells.replace("$", "")]
    if not isinstance(found, tuple):
        return [found.value]
    return [c.value for line in found for c in (line if isinstance(line, tuple) else (line,))]


def n_filers(pref: str) -> int:
    return len(expected_filers(PROGRAM, "application", FY, pref))


# ------------------------------------------------------------------------------------------ the scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    home = tmp_path_factory.mktemp("status")
    conf = get_settings(home=home / "home")
    wh = open_warehouse(conf)

    def ingest(stage: str, name: str, rows: list[dict], pref: str = "19"):
        path = write_grant(home / name, stage, rows)
        return get_flow(f"grant.{PROGRAM}.{stage}").ingest(path, prefecture_code=pref, fiscal_year=FY, settings=conf,
                                                           warehouse=wh, use_gx=False)

    outcomes = {
        "application": ingest("application", "交付申請_山梨.xlsx", [
            cs_row(KOFU, "general", 10_000_000, 0, 9_000_000),  # 交付額 1,800,000
            cs_row(KOFU, "comprehensive", 5_000_000, 100_000, 6_000_000),  # 4,900,000 × 38.5% → 1,886,000
            cs_row(HOKUTO, "general", 2_000_000, 0, 3_000_000),  # 400,000
        ]),
        "change_1": ingest("change", "変更_山梨_1.xlsx", [cs_row(HOKUTO, "general", 2_500_000, 0, 3_000_000)]),
        "change_2": ingest("change", "変更_山梨_2.xlsx", [cs_row(KOFU, "general", 10_000_000, 0, 9_000_000, grant=1)]),
        "actual_report": ingest("actual_report", "実績_山梨.xlsx",
                                [cs_row(KOFU, "general", 8_000_000, 0, 9_000_000, decided=1_800_000)]),
    }
    assert [o.status for o in outcomes.values()] == ["accepted", "accepted", "rejected", "accepted"]
    # 埼玉's file arrived but is not processed yet: registered only, as the intake does first.
    sid, _ = wh.register_submission(kind=f"grant.{PROGRAM}.application", sha256="e" * 64, original_name=EVIL_NAME,
                                    sender="11", fiscal_year=FY)
    received = {o["id"]: o["received_at"].replace(microsecond=0) for o in wh.outcomes()}
    yield {"wh": wh, "outcomes": outcomes, "received": received, "pending": sid, "home": home}
    wh.dispose()


def at(scene, key: str) -> dt.datetime:
    return scene["received"][scene["outcomes"][key].submission_id]


def row(rows, filer: str, stage: str) -> dict:
    [r] = [r for r in rows if r["filer_code"] == filer and r["stage"] == stage]
    return r


def expect(filer: str, name: str, stage: str, label: str, state: str, state_ja: str, *, pref="19", pref_name="山梨県",
           deadline=None, days_late=None, rows=0, latest=None, **amounts) -> dict:
    file, file_status, received_at = latest or (None, None, None)
    return {
        "prefecture_code": pref, "prefecture_name": pref_name, "filer_code": filer, "filer_name": name,
        "filer_kind": "insurer", "stage": stage, "stage_label": label, "state": state, "state_ja": state_ja,
        "grant": None, "confirmed": None, "refund": None, "adjustment_grant": None, "change": None, **amounts,
        "deadline": deadline, "days_late": days_late, "rows": rows,
        "latest_file": file, "latest_status": file_status, "latest_received_at": received_at,
    }


# ------------------------------------------------------------------------------------------ rows


def test_exact_rows_of_a_few_filers(scene):
    rows = board_rows(scene["wh"], PROGRAM, FY, day=DAY, prefecture_code="19")
    app = ("交付申請_山梨.xlsx", "受理", at(scene, "application"))
    change = ("変更_山梨_2.xlsx", "差戻し", at(scene, "change_2"))
    actual = ("実績_山梨.xlsx", "受理", at(scene, "actual_report"))

    assert [r for r in rows if r["filer_code"] == KOFU] == [
        expect(KOFU, "甲府市", "pre_consultation", "当初交付 事前協議", "not_submitted", "未提出",
               deadline=dt.date(2024, 9, 24), days_late=167),
        expect(KOFU, "甲府市", "application", "当初交付 交付申請", "accepted", "受理", grant=3_686_000,
               deadline=dt.date(2025, 2, 26), days_late=0, rows=2, latest=app),
        expect(KOFU, "甲府市", "change", "変更交付申請", "returned", "差戻し",
               deadline=dt.date(2025, 1, 31), days_late=None, latest=change),  # optional stage: nobody is late
        # the 実績報告 is due 2025-07-01: before the deadline the days late are blank, even when accepted
        expect(KOFU, "甲府市", "actual_report", "前年度 実績報告", "accepted", "受理", grant=1_600_000,
               confirmed=1_600_000, refund=200_000, deadline=dt.date(2025, 7, 1), rows=1, latest=actual),
        expect(KOFU, "甲府市", "adjustment_survey", "調整交付金 調査", "not_submitted", "未提出",
               deadline=dt.date(2024, 12, 11), days_late=89),
        expect(KOFU, "甲府市", "redetermination", "過年度 再確定に係る報告", "not_submitted", "未提出",
               deadline=dt.date(2025, 9, 1)),
    ]
    # 北杜市: accepted in the first 変更 file, so the later rejected file does not make it 差戻し
    assert row(rows, HOKUTO, "application") == expect(
        HOKUTO, "北杜市", "application", "当初交付 交付申請", "accepted", "受理", grant=400_000,
        deadline=dt.date(2025, 2, 26), days_late=0, rows=1, latest=app)
    assert row(rows, HOKUTO, "change") == expect(
        HOKUTO, "北杜市", "change", "変更交付申請", "accepted", "受理", grant=500_000,
        deadline=dt.date(2025, 1, 31), days_late=None, rows=1, latest=change)
    # 富士吉田市 is in no file: 未提出 although its prefecture's file was accepted; 差戻し with the rest
    assert row(rows, FUJIYOSHIDA, "application") == expect(
        FUJIYOSHIDA, "富士吉田市", "application", "当初交付 交付申請", "not_submitted", "未提出",
        deadline=dt.date(2025, 2, 26), days_late=12, latest=app)
    assert row(rows, FUJIYOSHIDA, "change")["state_ja"] == "差戻し"


def test_received_file_makes_the_prefecture_s_filers_received(scene):
    rows = board_rows(scene["wh"], PROGRAM, FY, day=DAY, prefecture_code="11")
    assert row(rows, SAITAMA, "application") == expect(
        SAITAMA, "さいたま市", "application", "当初交付 交付申請", "received", "受付", pref="11", pref_name="埼玉県",
        deadline=dt.date(2025, 2, 26), days_late=12,
        latest=(EVIL_NAME, "受付（未処理）", scene["received"][scene["pending"]]))
    assert {r["state"] for r in rows if r["stage"] == "application"} == {"received"}
    assert {r["state"] for r in rows if r["stage"] != "application"} == {"not_submitted"}


def test_rows_order_and_the_bureau_board_is_every_prefecture(scene):
    every = board_rows(scene["wh"], PROGRAM, FY, day=DAY)
    order = {s: i for i, s in enumerate(STAGES)}
    keys = [(r["prefecture_code"], r["filer_code"], order[r["stage"]]) for r in every]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(every) == sum(n_filers(p) for p in PREFS) * len(STAGES) == 450 * 6
    assert every == [r for p in PREFS for r in board_rows(scene["wh"], PROGRAM, FY, day=DAY, prefecture_code=p)]


def test_days_late_blank_before_the_deadline_and_zero_on_it(scene):
    before = board_rows(scene["wh"], PROGRAM, FY, day=dt.date(2025, 2, 25), prefecture_code="19")
    assert {r["days_late"] for r in before if r["stage"] == "application"} == {None}
    on = board_rows(scene["wh"], PROGRAM, FY, day=dt.date(2025, 2, 26), prefecture_code="19")
    assert {r["days_late"] for r in on if r["stage"] == "application"} == {0}
    after = board_rows(scene["wh"], PROGRAM, FY, day=dt.date(2025, 2, 27), prefecture_code="19")
    assert row(after, FUJIYOSHIDA, "application")["days_late"] == 1
    assert row(after, KOFU, "application")["days_late"] == 0


def test_a_stage_missing_from_the_year_s_schedule_has_no_deadline(scene):
    schedule = load_program(PROGRAM).schedule(2023)
    assert "application" not in schedule and "actual_report" in schedule
    rows = board_rows(scene["wh"], PROGRAM, 2023, day=DAY, prefecture_code="19")
    app = row(rows, KOFU, "application")
    assert (app["state"], app["deadline"], app["days_late"]) == ("not_submitted", None, None)
    assert row(rows, KOFU, "actual_report")["deadline"] == schedule["actual_report"].deadline
    # a year without any calendar: no deadlines at all, still every filer × stage
    rows = board_rows(scene["wh"], PROGRAM, 2031, day=DAY, prefecture_code="19")
    assert len(rows) == 27 * 6 and {(r["deadline"], r["days_late"]) for r in rows} == {(None, None)}


def test_amount_fields_mapping():
    assert status.amount_fields(PROGRAM, "application") == (("grant", "交付額"),)
    assert status.amount_fields(PROGRAM, "actual_report") == (("grant", "交付額"), ("confirmed", "確定額"),
                                                               ("refund", "返還額"))
    assert ("national", "国庫") in status.amount_fields("care_fund", "application")
    assert status.amount_fields("integrated_health", "application") == (("amount", "申請額"),)
    assert [c.id for c in status.board_columns(PROGRAM)][9:14] == [
        "grant", "confirmed", "refund", "adjustment_grant", "change"]


@pytest.mark.parametrize(("program", "kind", "niigata", "columns"), [
    ("care_fund", "prefecture", "15,新潟県,15,新潟県,prefecture",
     ["eligible_cost", "national", "executed", "year_end_balance"]),
    ("integrated_health", "koiki", "15,新潟県,39150008,新潟県後期高齢者医療広域連合,koiki", ["amount", "decided", "actual"]),
])
def test_programs_filed_by_prefectures_and_koiki(scene, program, kind, niigata, columns):
    stages = load_program(program).stage_ids
    rows = board_rows(scene["wh"], program, FY, day=DAY)
    assert len(rows) == len(PREFS) * len(stages)
    assert {r["filer_kind"] for r in rows} == {kind} and {r["state"] for r in rows} == {"not_submitted"}
    assert [r["prefecture_code"] for r in rows[::len(stages)]] == list(PREFS)
    assert [c.id for c in status.board_columns(program)][9:9 + len(columns)] == columns
    [board] = write_status_boards(scene["wh"], program, FY, scene["home"] / "other", prefectures=["15"], day=DAY)
    lines = board.csv.read_bytes()[3:].decode("utf-8").split("\r\n")
    assert board.rows == len(stages) and len(lines) == len(stages) + 2
    assert all(line.startswith(niigata + ",") for line in lines[1:-1])


# ------------------------------------------------------------------------------------------ files


@pytest.fixture(scope="module")
def boards(scene):
    out = scene["home"] / "boards"
    return write_status_boards(scene["wh"], PROGRAM, FY, out, day=DAY)


def test_boards_and_file_names(scene, boards):
    folder = scene["home"] / "boards" / str(FY) / PROGRAM
    jur = load_jurisdiction()
    assert [b.scope for b in boards] == ["all", *PREFS]
    assert boards[0] == Board("all", 2700, folder / "status_all.xlsx", folder / "status_all.csv")
    assert boards[-1] == Board("20", n_filers("20") * 6, folder / "status_20_nagano.xlsx",
                               folder / "status_20_nagano.csv")
    for b in boards[1:]:
        assert b.xlsx.name == f"status_{b.scope}_{jur.get(b.scope).romaji}.xlsx"
        assert b.rows == n_filers(b.scope) * 6
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        name for b in boards for name in (b.xlsx.name, b.csv.name))  # no temporary files left


def test_csv_header_and_first_lines(boards, scene):
    b19 = next(b for b in boards if b.scope == "19")
    data = b19.csv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data[3:].decode("utf-8").split("\r\n")
    # times: stored as naive UTC, written as Japan time with the offset
    app_at = (at(scene, "application") + dt.timedelta(hours=9)).isoformat() + "+09:00"
    change_at = (at(scene, "change_2") + dt.timedelta(hours=9)).isoformat() + "+09:00"
    assert lines[:4] == [
        HEADER,
        "19,山梨県,192013,甲府市,insurer,pre_consultation,当初交付 事前協議,not_submitted,未提出,,,,,,2024-09-24,167,0,,,",
        f"19,山梨県,192013,甲府市,insurer,application,当初交付 交付申請,accepted,受理,3686000,,,,,2025-02-26,0,2,"
        f"交付申請_山梨.xlsx,受理,{app_at}",
        f"19,山梨県,192013,甲府市,insurer,change,変更交付申請,returned,差戻し,,,,,,2025-01-31,,0,"
        f"変更_山梨_2.xlsx,差戻し,{change_at}",
    ]
    assert len(lines) == 1 + 27 * 6 + 1 and lines[-1] == ""
    rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows[3]["confirmed"] == "1600000" and rows[3]["refund"] == "200000"


def test_text_is_inert_in_csv_and_xlsx(boards):
    b11 = next(b for b in boards if b.scope == "11")
    rows = list(csv.DictReader(io.StringIO(b11.csv.read_bytes()[3:].decode("utf-8"))))
    assert {r["latest_file"] for r in rows if r["stage"] == "application"} == {"'" + EVIL_NAME}
    ws = load_workbook(b11.xlsx)["状況一覧"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=3, column=header.index("最新の提出ファイル") + 1)  # row 2: pre_consultation, no file
    assert (cell.value, cell.data_type) == ("'" + EVIL_NAME, "s")
    assert not any(isinstance(c.value, str) and c.value.startswith("=") for line in ws.iter_rows() for c in line)


def test_xlsx_list_sheet_layout(scene, boards):
    wb = load_workbook(boards[0].xlsx)
    assert wb.sheetnames == ["状況一覧", "集計"]
    ws = wb["状況一覧"]
    header = [c.value for c in ws[1]]
    assert header == ["都道府県", "提出者コード", "提出者", "段階", "状況", "交付額", "確定額", "返還額", "調整交付金額",
                      "増減額", "提出期限", "超過日数", "行数", "最新の提出ファイル", "最新ファイルの状況",
                      "最新ファイル受付日時"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:P2701" and ws.max_row == 2701
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1"
    # widths from the content (display width, CJK counted double, capped at 40) or fixed per column
    assert [ws.column_dimensions[c].width for c in "ABCDEFGHIJKLMNOP"] == [
        10, 14, 16, 25, 9, 13, 13, 13, 13, 13, 12, 10, 8, 40, 16, 18]
    col = {h: i + 1 for i, h in enumerate(header)}
    fills = {}
    for r in range(2, ws.max_row + 1):
        state = ws.cell(row=r, column=col["状況"])
        fills.setdefault(state.value, set()).add(state.fill.fgColor.rgb)
        if ws.cell(row=r, column=col["提出者コード"]).value == KOFU and ws.cell(row=r, column=col["段階"]).value == \
                "当初交付 交付申請":
            amount = ws.cell(row=r, column=col["交付額"])
            assert (amount.value, amount.number_format) == (3_686_000, "#,##0")
            assert ws.cell(row=r, column=col["提出期限"]).value == dt.datetime(2025, 2, 26)
            assert ws.cell(row=r, column=col["提出者コード"]).number_format == "@"
            received = ws.cell(row=r, column=col["最新ファイル受付日時"])  # Japan time
            assert received.value == at(scene, "application") + dt.timedelta(hours=9)
            assert received.number_format == "yyyy-mm-dd hh:mm"
    assert fills == {"未提出": {"00D9D9D9"}, "受付": {"00BDD7EE"}, "差戻し": {"00FFC7CE"}, "受理": {"00C6EFCE"}}


def test_summary_sheet_chart_reads_the_counts_table(boards):
    counts_all = {  # stage -> (未提出, 受付, 差戻し, 受理)
        "当初交付 事前協議": (450, 0, 0, 0),
        "当初交付 交付申請": (450 - 2 - n_filers("11"), n_filers("11"), 0, 2),
        "変更交付申請": (450 - 27, 0, 26, 1),
        "前年度 実績報告": (449, 0, 0, 1),
        "調整交付金 調査": (450, 0, 0, 0),
        "過年度 再確定に係る報告": (450, 0, 0, 0),
    }
    assert n_filers("11") == 63
    wb = load_workbook(boards[0].xlsx)
    ws = wb["集計"]
    assert [c.value for c in ws[4]][:7] == ["段階", "提出期限", "未提出", "受付", "差戻し", "受理", "計"]
    table = {ws.cell(row=r, column=1).value: tuple(ws.cell(row=r, column=c).value for c in range(3, 7))
             for r in range(5, 11)}
    assert table == counts_all
    assert [ws.cell(row=11, column=c).value for c in range(1, 8)] == [
        "計", None, sum(v[0] for v in counts_all.values()), 63, 26, 4, 2700]

    assert len(wb["状況一覧"]._charts) == 0
    [chart] = ws._charts
    assert chart.type == "bar" and chart.grouping == "stacked"
    refs = [(s.tx.strRef.f, s.cat.strRef.f if s.cat.strRef else s.cat.numRef.f, s.val.numRef.f) for s in chart.series]
    assert refs == [(f"'集計'!{c}4", "'集計'!$A$5:$A$10", f"'集計'!${c}$5:${c}$10") for c in "CDEF"]
    # what the chart shows, read through its own references
    names = [read_ref(wb, title)[0] for title, _, _ in refs]
    categories = read_ref(wb, refs[0][1])
    values = [read_ref(wb, val) for _, _, val in refs]
    assert names == ["未提出", "受付", "差戻し", "受理"]
    assert {stage: tuple(v[i] for v in values) for i, stage in enumerate(categories)} == counts_all
    colours = [s.graphicalProperties.solidFill.srgbClr for s in chart.series]
    assert colours == ["A6A6A6", "5B9BD5", "E06666", "70AD47"]

    # the chart XML really sits in the 集計 sheet's drawing
    with zipfile.ZipFile(boards[0].xlsx) as z:
        names = z.namelist()
        assert "xl/charts/chart1.xml" in names and not any(n.startswith("xl/charts/chart2") for n in names)
        assert "drawing1.xml" in z.read("xl/worksheets/_rels/sheet2.xml.rels").decode()
        assert "chart1.xml" in z.read("xl/drawings/_rels/drawing1.xml.rels").decode()


def test_prefecture_summary_counts(boards):
    ws = load_workbook(next(b for b in boards if b.scope == "19").xlsx)["集計"]
    table = {ws.cell(row=r, column=1).value: tuple(ws.cell(row=r, column=c).value for c in range(2, 8))
             for r in range(5, 11)}
    assert table == {
        "当初交付 事前協議": (dt.datetime(2024, 9, 24), 27, 0, 0, 0, 27),
        "当初交付 交付申請": (dt.datetime(2025, 2, 26), 25, 0, 0, 2, 27),
        "変更交付申請": (dt.datetime(2025, 1, 31), 0, 0, 26, 1, 27),
        "前年度 実績報告": (dt.datetime(2025, 7, 1), 26, 0, 0, 1, 27),
        "調整交付金 調査": (dt.datetime(2024, 12, 11), 27, 0, 0, 0, 27),
        "過年度 再確定に係る報告": (dt.datetime(2025, 9, 1), 27, 0, 0, 0, 27),
    }
    assert ws["A1"].value == "地域支援事業交付金 2024年度 提出状況（山梨県）"
    assert "都道府県別（全段階の合計）" not in [c.value for line in ws.iter_rows() for c in line]


def test_rerun_is_byte_identical(scene, boards):
    before = {p: p.read_bytes() for b in boards for p in (b.xlsx, b.csv)}
    again = write_status_boards(scene["wh"], PROGRAM, FY, scene["home"] / "boards", day=DAY)
    assert again == boards
    assert {p: p.read_bytes() for b in again for p in (b.xlsx, b.csv)} == before
    other = write_status_boards(scene["wh"], PROGRAM, FY, scene["home"] / "elsewhere", prefectures=["19"], day=DAY)
    assert [b.scope for b in other] == ["19"]
    assert other[0].xlsx.read_bytes() == before[boards[PREFS.index("19") + 1].xlsx]
    assert sorted(p.name for p in other[0].xlsx.parent.iterdir()) == ["status_19_yamanashi.csv",
                                                                      "status_19_yamanashi.xlsx"]


# ------------------------------------------------------------------------------------------ scope


def test_each_prefecture_board_holds_only_its_own_filers(boards):
    for b in boards[1:]:
        rows = list(csv.DictReader(io.StringIO(b.csv.read_bytes()[3:].decode("utf-8"))))
        assert {r["prefecture_code"] for r in rows} == {b.scope}
        assert {r["filer_code"][:2] for r in rows} == {b.scope}
        ws = load_workbook(b.xlsx, read_only=True)["状況一覧"]
        names = {line[0] for line in ws.iter_rows(min_row=2, values_only=True)}
        assert names == {load_jurisdiction().get(b.scope).name_ja}


def test_a_foreign_filer_is_refused(scene, monkeypatch):
    real = expected_filers

    def leaky(program, stage, fiscal_year, prefecture_code):
        out = real(program, stage, fiscal_year, prefecture_code)
        return out + real(program, stage, fiscal_year, "11")[:1] if prefecture_code == "19" else out

    monkeypatch.setattr("tsunagu.grants.insurers.expected_filers", leaky)
    with pytest.raises(ScopeError, match="filer 111005 さいたま市 .* status board of prefecture 19"):
        board_rows(scene["wh"], PROGRAM, FY, day=DAY, prefecture_code="19")
    with pytest.raises(ScopeError):
        write_status_boards(scene["wh"], PROGRAM, FY, scene["home"] / "leak", prefectures=["19"], day=DAY)
    assert not list((scene["home"] / "leak").rglob("*.xlsx"))


def test_unknown_prefecture_is_an_error(scene):
    with pytest.raises(KeyError, match="'99'"):
        write_status_boards(scene["wh"], PROGRAM, FY, scene["home"] / "x", prefectures=["99"], day=DAY)


_row = st.fixed_dictionaries({
    "prefecture_code": st.sampled_from(PREFS),
    "filer_code": st.sampled_from(PREFS).map(lambda p: p + "1005"),
    "filer_kind": st.sampled_from(["insurer", "prefecture", "koiki"]),
})


@given(rows=st.lists(_row, max_size=6), scope=st.sampled_from(PREFS))
def test_check_board_scope_property(rows, scope):
    def own(r):
        code = r["filer_code"][2:4] if r["filer_kind"] == "koiki" else r["filer_code"][:2]
        return r["prefecture_code"] == scope and code == scope

    rows = [dict(r, filer_code="39" + r["filer_code"][:2] + "0007") if r["filer_kind"] == "koiki" else r
            for r in rows]
    if all(own(r) for r in rows):
        check_board_scope(rows, scope)
    else:
        with pytest.raises(ScopeError):
            check_board_scope(rows, scope)
    check_board_scope(rows, "all")


# random loads: (sending prefecture, stage, filer index) -> one accepted file per (prefecture, stage)
_load = st.tuples(st.sampled_from(PREFS), st.sampled_from(STAGES), st.integers(0, 200))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads=st.lists(_load, max_size=8), chosen=st.sets(st.sampled_from(PREFS), min_size=1, max_size=3))
def test_prefecture_boards_hold_only_their_filers_property(loads, chosen):
    with tempfile.TemporaryDirectory() as tmp:
        conf = get_settings(home=Path(tmp) / "home")
        wh = open_warehouse(conf)
        try:
            accepted: set[tuple[str, str, str]] = set()
            files: dict[tuple[str, str], set[str]] = {}
            for pref, stage, i in loads:
                filers = expected_filers(PROGRAM, stage, FY, pref)
                files.setdefault((pref, stage), set()).add(filers[i % len(filers)].code)
            for (pref, stage), codes in sorted(files.items()):
                sha = hashlib.sha256(f"{pref}{stage}{sorted(codes)}".encode()).hexdigest()
                sid, _ = wh.register_submission(kind=f"grant.{PROGRAM}.{stage}", sha256=sha, original_name="f.xlsx",
                                                sender=pref, fiscal_year=FY)
                load_grant(wh, sid, program=PROGRAM, stage=stage, prefecture_code=pref, fiscal_year=FY, records=[
                    {"filer_code": c, "item_key": "general", "grant": 1000 * n, "source_sheet": "s", "source_row": n}
                    for n, c in enumerate(sorted(codes), start=4)])
                accepted |= {(pref, stage, c) for c in codes}
            boards = write_status_boards(wh, PROGRAM, FY, Path(tmp) / "out", prefectures=sorted(chosen), day=DAY)
            assert [b.scope for b in boards] == sorted(chosen)
            for b in boards:
                rows = list(csv.DictReader(io.StringIO(b.csv.read_bytes()[3:].decode("utf-8"))))
                assert len(rows) == b.rows == n_filers(b.scope) * len(STAGES)
                assert {r["prefecture_code"] for r in rows} == {b.scope}
                assert all(r["filer_code"].startswith(b.scope) for r in rows)
                assert {(b.scope, r["stage"], r["filer_code"]) for r in rows if r["state"] == "accepted"} == {
                    a for a in accepted if a[0] == b.scope}
                counts = state_counts([{"stage": r["stage"], "state": r["state"]} for r in rows])
                assert all(sum(c.values()) == n_filers(b.scope) for c in counts.values())
                assert set(next(iter(counts.values()))) == set(STATES)
        finally:
            wh.dispose()
