"""Survey returns (地域支援事業 実施状況): the municipality master, exact findings, loads, the summary workbook."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from openpyxl import load_workbook

from tsunagu.flows import get_flow
from tsunagu.intake.survey_return import parse_survey_return, to_year_month
from tsunagu.municipalities import load_municipalities, municipalities_of
from tsunagu.publish.survey_summary import write_survey_summary
from tsunagu.warehouse.surveys import survey_history, survey_rows

from .helpers import FIRST_DATA_ROW, write_survey_csv, write_survey_xlsx
from .helpers import survey_rows as build_rows

JURISDICTION = ("08", "09", "10", "11", "12", "13", "14", "15", "19", "20")
YAMANASHI = 27


def where(result) -> list[tuple]:
    return [(f.code, f.severity, f.row, f.column) for f in result.findings]


# ------------------------------------------------------------------------------------------- master


def test_450_municipalities_in_the_jurisdiction():
    master = load_municipalities()
    counts = Counter(m.prefecture_code for m in master.municipalities() if m.prefecture_code in JURISDICTION)
    assert sum(counts.values()) == 450
    assert dict(counts) == {"08": 44, "09": 25, "10": 35, "11": 63, "12": 54, "13": 62, "14": 33, "15": 30,
                            "19": 27, "20": 77}
    with_wards = [m for m in master.by_code.values() if m.prefecture_code in JURISDICTION]
    assert len(with_wards) == 502
    wards = Counter(m.prefecture_code for m in with_wards if m.is_ward)
    assert dict(wards) == {"11": 10, "12": 6, "14": 28, "15": 8}


def test_wards_and_special_wards():
    master = load_municipalities()
    nishi = next(m for m in master.by_code.values() if m.name == "さいたま市 西区")
    assert nishi.is_ward and master.get(nishi.city_code).name == "さいたま市"
    assert "111007" in {m.code for m in municipalities_of("11")}  # さいたま市 itself
    tokyo = municipalities_of("13")
    assert sum(m.name.endswith("区") for m in tokyo) == 23  # 特別区 are municipalities
    assert tokyo[0].name == "千代田区" and tokyo[0].code == "131016"
    assert [m.name for m in municipalities_of("19")][:3] == ["甲府市", "富士吉田市", "都留市"]


def test_year_month():
    assert to_year_month("令和3年4月") == dt.date(2021, 4, 1)
    assert to_year_month("R3.4") == dt.date(2021, 4, 1)
    assert to_year_month("平成元年10月") == dt.date(1989, 10, 1)
    assert to_year_month("2021/04") == dt.date(2021, 4, 1)
    assert to_year_month("２０２１年４月") == dt.date(2021, 4, 1)
    assert to_year_month(dt.datetime(2021, 4, 15)) == dt.date(2021, 4, 1)
    assert to_year_month(None) is None
    for bad in ("令和3年13月", "そのうち", "2021/02/30"):
        with pytest.raises(ValueError):
            to_year_month(bad)


# ------------------------------------------------------------------------------------------- validation


def check(path, pref="19", fy=2025):
    checked = get_flow("survey_return").check(path, prefecture_code=pref, fiscal_year=fy)
    return checked.result, checked.table


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_full_valid_return(tmp_path, fmt):
    rows = build_rows("19", {3: {"道志村"}})
    rows[0][2:5] = ["○", "R2.4", "１２"]  # ○ for 実施, era abbreviation, full-width digits
    rows[1][14] = 1  # 1 for 実施 (number)
    rows[2][14] = "×"  # × for 未実施 ...
    rows[2][15:17] = [None, None]
    path = (write_survey_xlsx if fmt == "xlsx" else write_survey_csv)(tmp_path / f"r.{fmt}", rows)
    result, table = check(path)
    assert result.status == "accepted", where(result)
    assert (result.rows, len(result.records)) == (YAMANASHI, YAMANASHI * 5)
    first = [r for r in result.records if r["municipality_code"] == "192015"]
    assert [(r["program"], r["implemented"], r["started"], r["count"]) for r in first] == [
        ("general", True, dt.date(2020, 4, 1), 12),
        ("medical_care", True, dt.date(2020, 4, 1), 4),
        ("living_support", True, dt.date(2021, 4, 1), 5),
        ("dementia", True, dt.date(2022, 4, 1), 6),
        ("care_conference", True, dt.date(2023, 4, 1), 7),
    ]
    doshi = next(r for r in result.records if r["municipality_name"] == "道志村" and r["program"] == "dementia")
    assert (doshi["implemented"], doshi["started"], doshi["count"]) == (False, None, None)
    tsuru = next(r for r in result.records if r["municipality_code"] == "192040" and r["program"] == "care_conference")
    assert tsuru["implemented"] is False
    assert table.rows[0].row == (FIRST_DATA_ROW if fmt == "xlsx" else 2)


def test_blank_survey_form_parses(tmp_path):
    from tsunagu.settings import include_dir

    result, table = check(include_dir() / "forms" / "地域支援事業実施状況調査票_19_山梨県.xlsx")
    assert len(table.rows) == YAMANASHI
    assert result.status == "rejected"
    assert Counter(f.code for f in result.findings) == {"missing_value": YAMANASHI * 5}


def test_findings(tmp_path):
    master = load_municipalities()
    ward = next(m for m in master.by_code.values() if m.name == "さいたま市 西区")
    rows = build_rows("19")
    kosuge = next(i for i, r in enumerate(rows) if r[1] == "小菅村")
    del rows[kosuge]  # missing
    rows[5][8:11] = ["未実施", None, 3]  # a count without 実施 (生活支援体制整備事業: I, J, K)
    rows[6][4] = -1  # negative count (総合事業 count: E)
    rows[7][3] = "令和9年4月"  # starts after FY2025 (総合事業 start: D)
    rows[8][11] = None  # status blank (認知症総合支援事業: L)
    rows[9][1] = "韮崎町"  # name does not match the code
    extra = [
        list(rows[0]),  # duplicate 甲府市
        ["202011", "長野市", *rows[0][2:]],  # another prefecture
        ["192016", "甲府市?", *rows[0][2:]],  # check digit
        [ward.code, ward.name, *rows[0][2:]],  # ward of a designated city
        ["192031", "存在しない市", *rows[0][2:]],  # valid check digit, not in the master
    ]
    rows += extra
    result, _ = check(write_survey_xlsx(tmp_path / "bad.xlsx", rows))
    first_extra = FIRST_DATA_ROW + len(rows) - len(extra)
    r = FIRST_DATA_ROW
    assert where(result) == [
        ("missing_municipalities", "error", None, None),
        ("count_without_implementation", "error", r + 5, "K"),
        ("negative_count", "error", r + 6, "E"),
        ("start_after_fiscal_year", "error", r + 7, "D"),
        ("missing_value", "error", r + 8, "L"),
        ("municipality_name_mismatch", "warning", r + 9, "B"),
        ("duplicate_municipality", "error", first_extra, "A"),
        ("municipality_other_prefecture", "error", first_extra + 1, "A"),
        ("invalid_municipality_code", "error", first_extra + 2, "A"),
        ("designated_city_ward", "error", first_extra + 3, "A"),
        ("unknown_municipality", "error", first_extra + 4, "A"),
    ]
    missing = result.findings[0]
    assert "小菅村（194425）" in missing.message_ja and "1団体" in missing.message_ja
    assert missing.message_en.endswith("194425")
    dup = next(f for f in result.findings if f.code == "duplicate_municipality")
    assert f"{FIRST_DATA_ROW}行目と重複" in dup.message_ja
    ward_finding = next(f for f in result.findings if f.code == "designated_city_ward")
    assert "さいたま市（111007）" in ward_finding.message_ja
    assert result.status == "rejected"


def test_unreadable_without_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    result, table = check(path)
    assert table is None and where(result) == [("header_not_found", "error", None, None)]


def test_total_rows_are_skipped(tmp_path):
    rows = build_rows("19") + [["", "合計", 27, None, 100, 27, None, 100, 27, None, 100, 27, None, 100, 27, None, 100]]
    table = parse_survey_return(write_survey_xlsx(tmp_path / "t.xlsx", rows))
    assert len(table.rows) == YAMANASHI


# ------------------------------------------------------------------------------------------- flow + summary

NOT_RUNNING_2024 = {2: {"大月市", "韮崎市", "早川町", "丹波山村"}}
NOT_RUNNING_2025 = {2: {"早川町", "丹波山村", "小菅村"}, 3: {"道志村"}}


def test_ingest_supersede_and_summary(tmp_path, warehouse, settings):
    out = tmp_path / "out"
    y24 = write_survey_xlsx(tmp_path / "山梨_R6.xlsx", build_rows("19", NOT_RUNNING_2024))
    first = write_survey_csv(tmp_path / "山梨_R7_v1.csv", build_rows("19", {2: {"早川町"}}))
    second = write_survey_xlsx(tmp_path / "山梨_R7_v2.xlsx", build_rows("19", NOT_RUNNING_2025))
    bad = write_survey_xlsx(tmp_path / "山梨_R7_bad.xlsx", build_rows("19")[:-1])

    o24 = get_flow("survey_return").ingest(y24, prefecture_code="19", fiscal_year=2024, settings=settings, warehouse=warehouse)
    o1 = get_flow("survey_return").ingest(first, prefecture_code="19", fiscal_year=2025, settings=settings, warehouse=warehouse)
    assert (o24.status, o1.status, o1.rows) == ("accepted", "accepted", YAMANASHI)
    assert len(survey_rows(warehouse, 2025, "19")) == YAMANASHI * 5

    ob = get_flow("survey_return").ingest(bad, prefecture_code="19", fiscal_year=2025, settings=settings, warehouse=warehouse)
    assert ob.status == "rejected" and ob.quarantine
    assert {r["submission_id"] for r in survey_rows(warehouse, 2025, "19")} == {o1.submission_id}

    o2 = get_flow("survey_return").ingest(second, prefecture_code="19", fiscal_year=2025, settings=settings, warehouse=warehouse)
    summary = home_summary = settings.publish_dir / "survey_summaries" / "2025" / "19_yamanashi" / "survey_summary_2025_19.xlsx"
    assert o2.status == "accepted" and o2.note == f"supersedes submission {o1.submission_id}; summary: {summary}"
    assert home_summary.is_file()
    current = survey_rows(warehouse, 2025, "19")
    assert {r["submission_id"] for r in current} == {o2.submission_id}
    kofu = next(r for r in current if r["municipality_code"] == "192015" and r["program"] == "general")
    assert (kofu["source_sheet"], kofu["source_row"], kofu["source_sha256"]) == ("調査票", FIRST_DATA_ROW, o2.sha256)
    assert (kofu["implemented"], kofu["started"], kofu["count"]) == (True, dt.date(2019, 4, 1), 3)
    history = survey_history(warehouse, 2025, "19")
    assert len(history) == YAMANASHI * 5
    assert {(h["submission_id"], h["superseded_by"]) for h in history} == {(o1.submission_id, o2.submission_id)}
    assert warehouse.get_submission(o1.submission_id)["status"] == "superseded"

    skipped = get_flow("survey_return").ingest(second, prefecture_code="19", fiscal_year=2025, settings=settings,
                                   warehouse=warehouse)
    assert skipped.status == "skipped"

    path = write_survey_summary(warehouse, 2025, "19", out)
    assert path.name == "survey_summary_2025_19.xlsx"
    again = write_survey_summary(warehouse, 2025, "19", tmp_path / "again")
    assert path.read_bytes() == again.read_bytes()

    wb = load_workbook(path)
    assert wb.sheetnames == ["集計", "未実施市町村", "前年度からの変化", "市町村別"]
    ws = wb["集計"]
    assert ws["A1"].value == "山梨県 地域支援事業 実施状況（2025年度／令和7年度）"
    assert [c.value for c in ws[4]] == ["事業", "実施市町村数", "全市町村数", "実施率（%）", "前年度実施市町村数",
                                        "増減", "新規開始", "実施終了"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=5, max_row=9)] == [
        ["総合事業", 27, 27, 100, 27, 0, 0, 0],
        ["在宅医療・介護連携推進事業", 27, 27, 100, 27, 0, 0, 0],
        ["生活支援体制整備事業", 24, 27, 88.9, 23, 1, 2, 1],
        ["認知症総合支援事業", 26, 27, 96.3, 27, -1, 0, 1],
        ["地域ケア会議推進事業", 27, 27, 100, 27, 0, 0, 0],
    ]
    assert [[c.value for c in row] for row in wb["未実施市町村"].iter_rows()] == [
        ["事業", "市町村コード", "市町村名"],
        ["生活支援体制整備事業", "193640", "早川町"],
        ["生活支援体制整備事業", "194425", "小菅村"],
        ["生活支援体制整備事業", "194433", "丹波山村"],
        ["認知症総合支援事業", "194221", "道志村"],
    ]
    assert [[c.value for c in row] for row in wb["前年度からの変化"].iter_rows()] == [
        ["事業", "変化", "市町村コード", "市町村名"],
        ["生活支援体制整備事業", "新規開始", "192066", "大月市"],
        ["生活支援体制整備事業", "新規開始", "192074", "韮崎市"],
        ["生活支援体制整備事業", "実施終了", "194425", "小菅村"],
        ["認知症総合支援事業", "実施終了", "194221", "道志村"],
    ]
    detail = wb["市町村別"]
    assert detail.max_row == 1 + YAMANASHI
    assert [c.value for c in detail[2]][:6] == ["19", "192015", "甲府市", "実施", dt.datetime(2019, 4, 1), 3]
    assert {row[0] for row in detail.iter_rows(min_row=2, values_only=True)} == {"19"}

    # without last year's return: no comparison
    y24_only = write_survey_summary(warehouse, 2024, "19", out)
    ws = load_workbook(y24_only)["集計"]
    assert [c.value for c in ws[4]] == ["事業", "実施市町村数", "全市町村数", "実施率（%）"]
    assert [c.value for c in ws[7]] == ["生活支援体制整備事業", 23, 27, 85.2]
    assert ws["A11"].value.startswith("前年度の調査票が登録されていないため")


@pytest.mark.parametrize("pref", JURISDICTION)
def test_every_prefecture_full_return_is_accepted(tmp_path, pref):
    result, _ = check(write_survey_csv(tmp_path / f"{pref}.csv", build_rows(pref)), pref=pref)
    assert result.status == "accepted", where(result)[:3]
    assert result.rows == len(municipalities_of(pref))


def test_dry_run_writes_reports_only(tmp_path, warehouse, settings):
    rows = build_rows("19")
    rows[0][4] = -5
    o = get_flow("survey_return").ingest(write_survey_xlsx(tmp_path / "d.xlsx", rows), prefecture_code="19", fiscal_year=2025,
                             settings=settings, warehouse=warehouse, dry_run=True)
    assert (o.status, o.submission_id, o.quarantine) == ("rejected", None, None)
    ws = load_workbook(o.reports["xlsx"])["調査票"]
    assert ws[f"E{FIRST_DATA_ROW}"].fill.start_color.rgb == "FFFFC7CE"  # the error cell is highlighted
    assert warehouse.outcomes(kind="survey_return") == []
