from __future__ import annotations

import datetime as dt

import pytest

from tsunagu.findings import UnreadableFile
from tsunagu.intake.home_care_report import parse_home_care_report, to_fiscal_year
from tsunagu.intake.templates import load_template

from .builders import FLAT_FIELDS, FLAT_HEADER, write_csv, write_xlsx

T2024 = load_template("home_care_report", "2024-08")

# Two clinics as an office would type them (values in FLAT_HEADER order).
MITO = ["0110056", "水戸在宅クリニック", "水戸市三の丸3-12-48", 14.5, 120, 10, 5, 2, 2, 1, 0, 300, 40, 12, 250, 10,
        90, 60, 66.7, 3, 0]
KASAMA = ["0810027", "笠間ホームケア診療所", "笠間市笠間1", 8, 35, 3, 2, 0, 1, 0, 1, 95, 5, 1, 90, 0, 30, 28, 93.3, 1, 4]

MITO_VALUES = dict(zip(FLAT_FIELDS, MITO, strict=True))
KASAMA_VALUES = dict(zip(FLAT_FIELDS, KASAMA, strict=True))


def _expected(base: dict, **overrides) -> dict:
    out = {k: (float(v) if k in ("avg_care_months", "month_home_ratio") else v) for k, v in base.items()}
    out.update(overrides)
    return out


def _subset(values: dict, keys) -> dict:
    return {k: values[k] for k in keys}


def test_flat_header_with_title_rows_blank_and_total_rows(tmp_path):
    rows = [
        ["令和7年度 在宅療養支援診療所・在宅療養支援病院 定例報告 集計表"],
        ["茨城事務所", None, None, "令和7年8月1日現在"],
        [],
        FLAT_HEADER,
        MITO,
        [],
        KASAMA,
        [None, "合計", None, None, 155, 13],
        ["小計"],
        [None, "総　計", None, None, 155],
    ]
    path = write_xlsx(tmp_path / "ibaraki.xlsx", rows)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.source_format == "xlsx"
    assert table.sheet == "集計表"
    assert table.header_rows == (4,)
    assert table.findings == []
    assert table.extra_columns == []
    assert [r.row for r in table.rows] == [5, 7]
    assert table.columns["institution_number"] == "A"
    assert table.columns["month_home_ratio"] == "S"
    first, second = table.rows
    assert _subset(first.values, FLAT_FIELDS) == _expected(MITO_VALUES)
    assert _subset(second.values, FLAT_FIELDS) == _expected(KASAMA_VALUES, avg_care_months=8.0)
    # Derived from the arguments and the template.
    assert first.values["prefecture_code"] == "08"
    assert first.values["institution_code"] == "0810110056"
    assert first.values["fiscal_year"] == 2025
    assert first.values["report_date"] == dt.date(2025, 8, 1)
    assert first.values["facility_type"] is None and first.values["notification_class"] is None
    assert list(first.values) == T2024.field_ids
    assert first.columns["deaths_total"] == "F"
    assert first.raw["institution_number"] == "0110056"
    assert table.grid[4][1] == "水戸在宅クリニック"


def test_two_row_merged_header(tmp_path):
    top = ["No.", "医療機関番号", "医療機関名称", "平均診療期間（月）", "合計診療患者数",
           "死亡患者数", None, None, None, None, "超重症児・準超重症児の患者数",
           "訪問診療等の実施回数", None, None, None, None, "直近1月", None, None, "備考"]
    item = [None, None, None, None, None,
            "合計", "①医療機関以外・自宅", "②医療機関以外・自宅以外", "③医療機関・連携医療機関",
            "④医療機関・連携医療機関以外", None,
            "合計", "①往診", "うち緊急の往診", "②訪問診療", "③訪問看護",
            "①初診・再診・往診・訪問診療を実施した患者数", "②往診又は訪問診療を実施した患者数", "③ ②／①(%)", None]
    data = [1, "0110056", "水戸在宅クリニック", 14.5, 120, 10, 5, 2, 2, 1, 0, 300, 40, 12, 250, 10, 90, 60, 66.7, "新規"]
    merges = ["A3:A4", "B3:B4", "C3:C4", "D3:D4", "E3:E4", "F3:J3", "K3:K4", "L3:P3", "Q3:S3", "T3:T4"]
    path = write_xlsx(tmp_path / "two_rows.xlsx", [["定例報告集計表"], [], top, item, data], merges=merges)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.header_rows == (3, 4)
    assert table.findings == []
    assert table.extra_columns == ["No.", "備考"]
    assert table.columns == {
        "institution_number": "B", "institution_name": "C", "avg_care_months": "D", "total_patients": "E",
        "deaths_total": "F", "deaths_home": "G", "deaths_other_residence": "H", "deaths_partner_hospital": "I",
        "deaths_other_hospital": "J", "severe_children": "K", "visits_total": "L", "house_calls": "M",
        "emergency_house_calls": "N", "home_visits": "O", "nursing_visits": "P", "month_patients_all": "Q",
        "month_patients_home": "R", "month_home_ratio": "S",
    }
    (row,) = table.rows
    assert row.row == 5
    v = row.values
    assert (v["deaths_total"], v["deaths_home"], v["deaths_other_residence"], v["deaths_partner_hospital"],
            v["deaths_other_hospital"]) == (10, 5, 2, 2, 1)
    assert (v["visits_total"], v["house_calls"], v["emergency_house_calls"], v["home_visits"],
            v["nursing_visits"]) == (300, 40, 12, 250, 10)
    assert (v["month_patients_all"], v["month_patients_home"], v["month_home_ratio"]) == (90, 60, 66.7)
    # Not in the file: missing but optional, so no finding.
    assert v["fulltime_doctors"] is None and v["address"] is None


def test_three_row_header_section_subsection_item(tmp_path):
    top = ["医療機関番号", "医療機関名称", "平均診療期間", "合計診療患者数", "死亡患者数", None, None, None, None]
    mid = [None, None, None, None, "合計", "医療機関以外", None, "医療機関", None]
    low = [None, None, None, None, None, "自宅", "自宅以外", "連携医療機関", "連携医療機関以外"]
    data = ["0110056", "水戸在宅クリニック", 3, 12, 4, 1, 1, 1, 1]
    merges = ["A1:A3", "B1:B3", "C1:C3", "D1:D3", "E1:I1", "E2:E3", "F2:G2", "H2:I2"]
    path = write_xlsx(tmp_path / "three.xlsx", [top, mid, low, data], merges=merges)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08")
    assert table.header_rows == (1, 2, 3)
    assert {k: table.columns[k] for k in ("deaths_total", "deaths_home", "deaths_other_residence",
                                         "deaths_partner_hospital", "deaths_other_hospital")} == {
        "deaths_total": "E", "deaths_home": "F", "deaths_other_residence": "G", "deaths_partner_hospital": "H",
        "deaths_other_hospital": "I"}
    assert table.rows[0].row == 4
    assert table.rows[0].values["deaths_other_hospital"] == 1


def test_line_breaks_full_width_reordered_and_extra_columns(tmp_path):
    header = ["備考", "医療機関\n名称", "ＮＯ．", "医療機関番号\n（７桁）", "合計診療\n患者数", "死亡\u3000患者数",
              "１　医療機関以外・自宅", "②医療機関以外\n・自宅以外", "③　医療機関・連携医療機関",
              "④医療機関・\r\n連携医療機関以外", "超重症児・準超重症児の患者数", "訪問診療等の実施回数　合計",
              " ①往診 ", "（うち緊急の往診）", "② 訪問診療", "③訪問看護", "平均診療期間\n（か月）",
              "①初診・再診・往診・訪問診療を\n実施した患者数", "②往診又は訪問診療を\n実施した患者数",
              "③　②／①（％）", "担当者"]
    data = ["", "笠間ホームケア診療所", 1, "0810027", 35, 3, 2, 0, 1, 0, 1, 95, 5, 1, 90, 0, 8, 30, 28, 93.3, "鈴木"]
    path = write_xlsx(tmp_path / "messy.xlsx", [header, data])
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.findings == []
    assert table.extra_columns == ["備考", "ＮＯ．", "担当者"]
    assert table.columns["institution_name"] == "B"
    assert table.columns["institution_number"] == "D"
    assert table.columns["avg_care_months"] == "Q"
    assert table.columns["deaths_home"] == "G"
    assert table.columns["emergency_house_calls"] == "N"
    assert table.columns["month_home_ratio"] == "T"
    values = table.rows[0].values
    assert _subset(values, [f for f in FLAT_FIELDS if f in table.columns]) == _expected(
        {k: v for k, v in KASAMA_VALUES.items() if k in table.columns}, avg_care_months=8.0)


def test_value_variants(tmp_path):
    header = ["医療機関番号", "医療機関名称", "報告基準日", "報告年度", "合計診療患者数", "死亡患者数",
              "平均診療期間（月）", "訪問診療等の実施回数", "③ ②／① (%)", "都道府県コード", "医療機関コード"]
    serial = (dt.date(2025, 8, 1) - dt.date(1899, 12, 30)).days  # 45870
    rows = [
        header,
        [110056, "水戸在宅クリニック", "令和7年8月1日", "令和7年度", "１２３", "－", "１４．５", "1,234", "66.7", 8, None],
        [810027.0, "笠間ホームケア", "R7.8.1", 2025, 45.0, "―", 8, "12,345", "－", "08", 810810027],
        ["０８１００２７", "友部診療所", serial, "R7", "  7 ", "", "3.75", " 1 , 000 ", 100, None, None],
        ["0810027", "岩間医院", dt.datetime(2025, 8, 1), "2025年度", 0, 0, 0, 0, 0, None, None],
    ]
    path = write_xlsx(tmp_path / "values.xlsx", rows)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08")
    assert [f for f in table.findings if f.code != "missing_column"] == []
    got = [{k: r.values[k] for k in ("institution_number", "report_date", "fiscal_year", "total_patients",
                                    "deaths_total", "avg_care_months", "visits_total", "month_home_ratio",
                                    "prefecture_code", "institution_code")} for r in table.rows]
    aug1 = dt.date(2025, 8, 1)
    assert got == [
        {"institution_number": "0110056", "report_date": aug1, "fiscal_year": 2025, "total_patients": 123,
         "deaths_total": 0, "avg_care_months": 14.5, "visits_total": 1234, "month_home_ratio": 66.7,
         "prefecture_code": "08", "institution_code": "0810110056"},
        {"institution_number": "0810027", "report_date": aug1, "fiscal_year": 2025, "total_patients": 45,
         "deaths_total": 0, "avg_care_months": 8.0, "visits_total": 12345, "month_home_ratio": 0.0,
         "prefecture_code": "08", "institution_code": "0810810027"},
        {"institution_number": "0810027", "report_date": aug1, "fiscal_year": 2025, "total_patients": 7,
         "deaths_total": None, "avg_care_months": 3.8, "visits_total": 1000, "month_home_ratio": 100.0,
         "prefecture_code": "08", "institution_code": "0810810027"},
        {"institution_number": "0810027", "report_date": aug1, "fiscal_year": 2025, "total_patients": 0,
         "deaths_total": 0, "avg_care_months": 0.0, "visits_total": 0, "month_home_ratio": 0.0,
         "prefecture_code": "08", "institution_code": "0810810027"},
    ]
    assert table.rows[0].raw["institution_number"] == 110056.0  # as read


def test_invalid_values_become_findings_with_cell_addresses(tmp_path):
    rows = [
        ["定例報告"],
        FLAT_HEADER,
        ["0110056", "水戸在宅クリニック", "水戸市", "約3か月", 120, "abc", 5, 2, 2, 1, 0, 300, 40, 12.5, 250, 10, 90,
         60, "66.7%", 3, 0],
        ["01100X6", "不明クリニック", "水戸市", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    path = write_xlsx(tmp_path / "bad.xlsx", rows)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    got = [(f.code, f.severity, f.sheet, f.row, f.column, f.field, f.message_ja, f.message_en) for f in table.findings]
    assert got == [
        ("invalid_value", "error", "集計表", 3, "D", "avg_care_months",
         "D列 3行目: 『平均診療期間（月）』の値『約3か月』を数値として読めません",
         "Cell D3: 'avg_care_months' value '約3か月' is not a number"),
        ("invalid_value", "error", "集計表", 3, "F", "deaths_total",
         "F列 3行目: 『死亡患者数』の値『abc』を数値として読めません",
         "Cell F3: 'deaths_total' value 'abc' is not a number"),
        ("invalid_value", "error", "集計表", 3, "N", "emergency_house_calls",
         "N列 3行目: 『うち緊急の往診』の値『12.5』は整数ではありません",
         "Cell N3: 'emergency_house_calls' value '12.5' is not a whole number"),
        ("invalid_value", "error", "集計表", 4, "A", "institution_number",
         "A列 4行目: 『医療機関番号』の値『01100X6』を7桁の番号として読めません",
         "Cell A4: 'institution_number' value '01100X6' is not a 7-digit code"),
    ]
    first, second = table.rows
    assert first.values["deaths_total"] is None and first.values["avg_care_months"] is None
    assert first.values["month_home_ratio"] == 66.7  # "66.7%" is read
    assert second.values["institution_number"] is None and second.values["institution_code"] is None
    assert second.row == 4


def test_missing_required_columns(tmp_path):
    header = [h for h in FLAT_HEADER if h not in ("死亡患者数", "うち緊急の往診")]
    data = [v for h, v in zip(FLAT_HEADER, MITO, strict=True) if h not in ("死亡患者数", "うち緊急の往診")]
    path = write_xlsx(tmp_path / "missing.xlsx", [header, data])
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    got = [(f.code, f.severity, f.field, f.sheet, f.message_ja, f.message_en) for f in table.findings]
    assert got == [
        ("missing_column", "error", "deaths_total", "集計表", "必須の列『死亡患者数』が見つかりません（見出し行 1行目）",
         "Required column 'deaths_total' (死亡患者数) is missing (header row 1)"),
        ("missing_column", "error", "emergency_house_calls", "集計表",
         "必須の列『うち緊急の往診』が見つかりません（見出し行 1行目）",
         "Required column 'emergency_house_calls' (うち緊急の往診) is missing (header row 1)"),
    ]
    assert table.rows[0].values["deaths_total"] is None
    assert table.rows[0].values["deaths_home"] == 5


def test_header_on_a_later_sheet(tmp_path):
    path = write_xlsx(tmp_path / "sheets.xlsx", [FLAT_HEADER, MITO],
                      before={"記入要領": [["記入要領"], ["医療機関番号は7桁で記入"]]})
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.sheet == "集計表"
    assert [r.sheet for r in table.rows] == ["集計表"]


def test_no_header_is_unreadable(tmp_path):
    path = write_xlsx(tmp_path / "other.xlsx", [["氏名", "電話"], ["山田", "03"]])
    with pytest.raises(UnreadableFile) as exc:
        parse_home_care_report(path, template=T2024)
    assert exc.value.code == "header_not_found"


def test_file_columns_win_over_derivation(tmp_path):
    header = ["都道府県コード", "医療機関コード", "区分", "受理記号", *FLAT_HEADER]
    path = write_xlsx(tmp_path / "full.xlsx", [header, ["8", "0810110056", "在支診", "支援診１", *MITO],
                                               [9, None, "在宅療養支援病院", "従来型", *KASAMA]])
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert table.findings == []
    a, b = (r.values for r in table.rows)
    assert (a["prefecture_code"], a["institution_code"], a["facility_type"], a["notification_class"]) == (
        "08", "0810110056", "clinic", "enhanced_single")
    assert (b["prefecture_code"], b["institution_code"], b["facility_type"], b["notification_class"]) == (
        "09", "0910810027", "hospital", "standard")


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_csv_encodings(tmp_path, encoding):
    rows = [
        ["医療機関番号", "医療機関名称", "合計診療患者数", "死亡患者数", "①医療機関以外・自宅", "備考"],
        ["0110056", "医療法人髙橋会　①クリニック", "1,200", "－", "１２", "ｶﾅ"],
        ["", "", "", "", "", ""],
        ["", "合計", "1,200", "0", "12", ""],
        ["110064", "㈱テスト診療所", "３", "―", "0", ""],
    ]
    path = write_csv(tmp_path / f"report-{encoding}.csv", rows, encoding)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert (table.source_format, table.encoding, table.sheet, table.header_rows) == ("csv", encoding, "csv", (1,))
    assert table.extra_columns == ["備考"]
    assert [r.row for r in table.rows] == [2, 5]
    got = [{k: r.values[k] for k in ("institution_number", "institution_name", "total_patients", "deaths_total",
                                    "deaths_home", "institution_code")} for r in table.rows]
    assert got == [
        {"institution_number": "0110056", "institution_name": "医療法人髙橋会 ①クリニック", "total_patients": 1200,
         "deaths_total": 0, "deaths_home": 12, "institution_code": "0810110056"},
        {"institution_number": "0110064", "institution_name": "㈱テスト診療所", "total_patients": 3,
         "deaths_total": 0, "deaths_home": 0, "institution_code": "0810110064"},
    ]
    assert {f.field for f in table.findings if f.code == "missing_column"} >= {"visits_total", "deaths_other_hospital"}


def test_older_template_with_july_date(tmp_path):
    t2022 = load_template("home_care_report", fiscal_year=2023)
    path = write_xlsx(tmp_path / "2023.xlsx", [["7月1日現在", *FLAT_HEADER], ["令和5年7月1日", *MITO]])
    table = parse_home_care_report(path, template=t2022, prefecture_code="08")
    row = table.rows[0].values
    assert table.columns["report_date"] == "A"
    assert (row["report_date"], row["fiscal_year"]) == (dt.date(2023, 7, 1), 2023)
    t2020 = load_template("home_care_report", "2020-07")
    path = write_xlsx(tmp_path / "2020.xlsx", [FLAT_HEADER, MITO])
    assert parse_home_care_report(path, template=t2020, fiscal_year=2021).rows[0].values["report_date"] == dt.date(
        2021, 7, 1)


@pytest.mark.parametrize(("text", "year"), [("令和7年度", 2025), ("R7", 2025), ("令和元年度", 2019), ("平成30年度", 2018),
                                            ("2025年度", 2025), (2024.0, 2024), ("２０２５", 2025)])
def test_fiscal_year_text(text, year):
    assert to_fiscal_year(text) == year


def test_thousands_of_rows(tmp_path):
    """5,000 rows parse (the hot path; its speed is measured by `make bench`, never by a timed test)."""
    rows = [FLAT_HEADER] + [[f"{i:06d}0", f"診療所{i}", "市", "1.5", "1,200", "－", *MITO[6:]] for i in range(5000)]
    path = write_csv(tmp_path / "big.csv", rows, "cp932")
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert len(table.rows) == 5000 and table.findings == []
    assert table.rows[-1].row == 5001 and table.rows[-1].values["total_patients"] == 1200


def test_total_rows_only_by_label_columns(tmp_path):
    header = ["No.", *FLAT_HEADER, "備考"]
    rows = [
        header,
        [1, *MITO, ""],
        ["合計", None, None, None, None, 155, 13],  # marker in the leading No. column
        [None, None, "名称未記入", None, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "計算中"],
    ]
    path = write_xlsx(tmp_path / "totals.xlsx", rows)
    table = parse_home_care_report(path, template=T2024, prefecture_code="08", fiscal_year=2025)
    assert [r.row for r in table.rows] == [2, 4]  # a note starting with 計 does not drop a row
    assert table.rows[1].values["institution_name"] == "名称未記入"
    assert table.rows[1].values["institution_number"] is None
    assert table.extra_columns == ["No.", "備考"]
