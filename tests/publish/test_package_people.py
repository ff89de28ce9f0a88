"""The package for people and per municipality: Japanese enums and print set-up in the xlsx, a chart on
集計, one CSV per municipality (a ward's rows with its city, rows of no municipality listed), and a
descriptor the Frictionless validator accepts."""

from __future__ import annotations

import csv
import io
import json

import frictionless
import openpyxl
import pytest

from tests.support.warehouse import sample_record
from tsunagu.intake.templates import load_template
from tsunagu.municipalities import load_municipalities
from tsunagu.publish.package import (
    ScopeError,
    check_municipality_scope,
    municipality_of_row,
    publish_prefecture,
    split_by_municipality,
)

FY = 2025


@pytest.fixture(scope="module")
def template():
    return load_template("home_care_report", fiscal_year=FY)


def _saitama(wh):
    """Five 埼玉 rows: a ward's code, a city's code, a blank code (address), another prefecture's code with
    an address in 埼玉, and a row whose municipality cannot be told."""
    recs = [
        sample_record("11", 1, municipality_code="111074", address="さいたま市西区大字指扇１"),  # 西区 -> さいたま市
        sample_record("11", 2, municipality_code="112011", address="川越市大手町１"),
        sample_record("11", 3, municipality_code=None, address="北足立郡伊奈町小室１"),
        sample_record("11", 4, municipality_code="082015", address="さいたま市浦和区高砂３"),
        sample_record("11", 5, municipality_code=None, address="所在地不明"),
    ]
    sid, _ = wh.register_submission("home_care_report", "d" * 64, "11.xlsx", "11", FY, None, "email")
    wh.record_outcome(sid, "accepted", [], rows=len(recs), template_version="2024-08")
    wh.load_home_care_report(sid, "11", FY, recs)


def _rows(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))


def test_municipality_files(warehouse, template, tmp_path):
    _saitama(warehouse)
    res = publish_prefecture(warehouse, FY, "11", tmp_path, template=template)
    assert set(res.municipality_files) == {
        "home_care_reports_2025_11_111007.csv", "home_care_reports_2025_11_112011.csv",
        "home_care_reports_2025_11_113018.csv"}
    codes = {name: [r["institution_code"] for r in _rows(res.dir / name)] for name in res.municipality_files}
    assert codes == {
        "home_care_reports_2025_11_111007.csv": ["1110000001", "1110000004"],
        "home_care_reports_2025_11_112011.csv": ["1110000002"],
        "home_care_reports_2025_11_113018.csv": ["1110000003"],
    }
    # the rows are as in the prefecture's file: the reported code is kept (a ward's, another prefecture's)
    main = {r["institution_code"]: r for r in _rows(res.dir / "home_care_reports_2025_11.csv")}
    saitama = _rows(res.dir / "home_care_reports_2025_11_111007.csv")
    assert saitama == [main["1110000001"], main["1110000004"]]
    assert [r["municipality_code"] for r in saitama] == ["111074", "082015"]
    man = json.loads((res.dir / "manifest.json").read_text(encoding="utf-8"))
    assert man["municipalities"] == [
        {"code": "111007", "name_ja": "さいたま市", "path": "home_care_reports_2025_11_111007.csv", "rows": 2},
        {"code": "112011", "name_ja": "川越市", "path": "home_care_reports_2025_11_112011.csv", "rows": 1},
        {"code": "113018", "name_ja": "伊奈町", "path": "home_care_reports_2025_11_113018.csv", "rows": 1},
    ]
    assert man["unassigned_rows"] == ["1110000005"]
    assert {f["path"] for f in man["files"]} == {p.name for p in res.dir.iterdir()} - {"manifest.json"}

    dp = json.loads((res.dir / "datapackage.json").read_text(encoding="utf-8"))
    assert dp["profile"] == "data-package"
    assert [r["name"] for r in dp["resources"]] == [
        "home_care_reports", "home_care_reports-xlsx", "home_care_reports-111007", "home_care_reports-112011",
        "home_care_reports-113018"]
    assert dp["resources"][2]["title"].endswith("埼玉県 さいたま市")
    assert dp["resources"][1]["type"] == "file"
    report = frictionless.validate(str(res.dir / "datapackage.json"))
    assert report.valid, [(t.name, e.type, e.note) for t in report.tasks for e in t.errors][:10]


def test_a_package_without_rows_of_a_municipality_has_no_municipality_file(warehouse, template, tmp_path):
    recs = [sample_record("09", 5)]  # 栃木 row with 水戸市's code (茨城) and an address of nowhere
    sid, _ = warehouse.register_submission("home_care_report", "e" * 64, "09.xlsx", "09", FY, None, "email")
    warehouse.record_outcome(sid, "accepted", [], rows=1, template_version="2024-08")
    warehouse.load_home_care_report(sid, "09", FY, recs)
    res = publish_prefecture(warehouse, FY, "09", tmp_path, template=template)
    assert res.municipality_files == {}
    assert json.loads((res.dir / "manifest.json").read_text(encoding="utf-8"))["unassigned_rows"] == ["0910000005"]
    assert frictionless.validate(str(res.dir / "datapackage.json")).valid


def test_municipality_of_a_row_and_its_scope():
    master = load_municipalities()
    ward = sample_record("11", 1, municipality_code="111074")
    assert municipality_of_row(ward, "11").code == "111007"
    assert municipality_of_row(sample_record("11", 2, municipality_code="131016"), "11") is None  # 千代田区: Tokyo's
    assert municipality_of_row(sample_record("13", 2, municipality_code="131016"), "13").name == "千代田区"
    groups, unassigned = split_by_municipality([ward], "11", master)
    [(unit, rows)] = groups
    assert unit.code == "111007" and rows == [ward] and unassigned == []
    check_municipality_scope(unit, rows, "11", master)
    with pytest.raises(ScopeError, match="112011"):
        check_municipality_scope(unit, [sample_record("11", 3, municipality_code="112011")], "11", master)
    with pytest.raises(ScopeError, match="prefecture '08'"):
        check_municipality_scope(unit, [sample_record("08", 3, municipality_code="111007")], "11", master)
    with pytest.raises(ScopeError, match="not a municipality of prefecture 11"):
        check_municipality_scope(master.get("111074"), [], "11", master)  # a ward is not a municipality
    with pytest.raises(ScopeError, match="not a municipality of prefecture 11"):
        check_municipality_scope(master.get("082015"), [], "11", master)


def test_the_xlsx_is_for_people(warehouse, template, tmp_path):
    _saitama(warehouse)
    res = publish_prefecture(warehouse, FY, "11", tmp_path, template=template)
    wb = openpyxl.load_workbook(res.dir / "home_care_reports_2025_11.xlsx")
    ws = wb["データ"]
    col = {fid: j for j, fid in enumerate(template.field_ids, start=1)}
    # enums in Japanese (the CSV keeps the codes)
    shown = [(ws.cell(row=i, column=col["facility_type"]).value, ws.cell(row=i, column=col["notification_class"]).value)
             for i in range(2, 7)]
    assert shown == [("在支診", "機能強化型(連携型)"), ("在支診", "従来型"), ("在支診", "機能強化型(単独型)"),
                     ("在支病", "機能強化型(連携型)"), ("在支診", "従来型")]
    csv_rows = _rows(res.dir / "home_care_reports_2025_11.csv")
    assert [(r["facility_type"], r["notification_class"]) for r in csv_rows][:2] == [
        ("clinic", "enhanced_network"), ("clinic", "standard")]
    # the fiscal year without a thousands separator; other counts keep theirs
    year = ws.cell(row=2, column=col["fiscal_year"])
    assert (year.value, year.number_format) == (2025, "0")
    assert ws.cell(row=2, column=col["total_patients"]).number_format == "#,##0"
    # print set-up: landscape, fit to width, the header row on every page
    for sheet in ("データ", "定義書", "集計"):
        s = wb[sheet]
        assert s.page_setup.orientation == "landscape" and int(s.page_setup.paperSize) == 9  # A4
        assert s.sheet_properties.pageSetUpPr.fitToPage
        assert int(s.page_setup.fitToWidth) == 1
    assert int(ws.page_setup.fitToHeight) == 0  # as many pages down as the rows need
    assert int(wb["集計"].page_setup.fitToHeight) == 1
    assert ws.print_title_rows == "$1:$1" and wb["定義書"].print_title_rows == "$1:$1"
    assert "2025年度 埼玉県" in ws.oddHeader.center.text and ws.oddFooter.center.text == "&P / &N"
    # 定義書 names the codes and their labels
    defs = {wb["定義書"].cell(row=i, column=1).value: wb["定義書"].cell(row=i, column=5).value
            for i in range(2, 2 + len(template.fields))}
    assert "clinic（在支診）" in defs["facility_type"] and "standard（従来型）" in defs["notification_class"]
    # a chart of the 区分×届出区分 counts on 集計
    summ = wb["集計"]
    [chart] = summ._charts
    assert chart.tagname == "barChart" and chart.type == "col" and len(chart.series) == 2

    def ref(f):
        return f.replace("$", "")

    assert [ref(s.tx.strRef.f) for s in chart.series] == ["'集計'!A3", "'集計'!A4"]  # 在支診, 在支病
    assert [ref(s.val.numRef.f) for s in chart.series] == ["'集計'!B3:D3", "'集計'!B4:D4"]
    assert ref(chart.series[0].cat.strRef.f) == "'集計'!B2:D2"
    assert [summ.cell(row=r, column=1).value for r in (3, 4)] == ["在支診", "在支病"]
    assert [summ.cell(row=2, column=j).value for j in (2, 3, 4)] == ["機能強化型(単独型)", "機能強化型(連携型)", "従来型"]
    assert [summ.cell(row=3, column=j).value for j in (2, 3, 4)] == [1, 1, 2]
