from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from tests.support.warehouse import make_warehouse, sample_record
from tsunagu.intake.templates import load_template
from tsunagu.publish.package import ScopeError, csv_value, inert, publish, publish_prefecture

FY = 2025


@pytest.fixture(scope="module")
def template():
    return load_template("home_care_report", fiscal_year=FY)


def _load(wh, pref, records, sha):
    sid, _ = wh.register_submission("home_care_report", sha, f"{pref}.xlsx", pref, FY, None, "email")
    wh.record_outcome(sid, "accepted", [], rows=len(records), template_version="2024-08")
    wh.load_home_care_report(sid, pref, FY, records)
    return sid


def _fill(wh):
    recs08 = [sample_record("08", n) for n in (3, 1, 2)]
    recs08[0]["institution_name"] = "=HYPERLINK(\"http://evil\",\"x\")"
    recs08[1]["address"] = "-1+2"
    recs08[2]["address"] = "@SUM(A1)"
    _load(wh, "08", recs08, "a" * 64)
    _load(wh, "09", [sample_record("09", 5)], "b" * 64)


def test_inert_text():
    assert [inert(s) for s in ("=1+1", "+1", "-1", "@a", "\tx", "\rx", "ok", "")] == [
        "'=1+1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "ok", ""]
    assert csv_value(Decimal("12.50"), None) == "12.5"


def test_package_contents(warehouse, template, tmp_path):
    _fill(warehouse)
    out = tmp_path / "out"
    res = publish_prefecture(warehouse, FY, "08", out, template=template)
    assert res.dir == out / "2025" / "08_ibaraki"
    assert res.rows == 3
    names = {"home_care_reports_2025_08.xlsx", "home_care_reports_2025_08.csv", "datapackage.json", "manifest.json"}
    assert set(res.files) == names
    # the municipality files (here every row is in 水戸市 082015) are listed apart from the files a release keeps
    assert set(res.municipality_files) == {"home_care_reports_2025_08_082015.csv"}
    assert {p.name for p in res.dir.iterdir()} == names | set(res.municipality_files)
    assert [p.name for p in (out / "2025").iterdir()] == ["08_ibaraki"]  # no temp leftovers

    # CSV: BOM, canonical ids in template order, exact rows, inert text
    raw = (res.dir / "home_care_reports_2025_08.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert lines[0] == template.field_ids
    assert [line[lines[0].index("institution_code")] for line in lines[1:]] == ["0810000001", "0810000002", "0810000003"]
    first = dict(zip(lines[0], lines[1], strict=True))
    assert first == {
        "fiscal_year": "2025", "report_date": "2025-08-01", "prefecture_code": "08", "institution_number": "0000001",
        "institution_code": "0810000001", "institution_name": "テスト診療所1", "address": "'-1+2",
        "municipality_code": "082015", "facility_type": "clinic", "notification_class": "enhanced_network",
        "avg_care_months": "13.5", "total_patients": "51", "deaths_total": "3", "deaths_home": "1",
        "deaths_other_residence": "1", "deaths_partner_hospital": "1", "deaths_other_hospital": "0",
        "severe_children": "0", "visits_total": "54", "house_calls": "11", "emergency_house_calls": "3",
        "home_visits": "42", "nursing_visits": "1", "month_patients_all": "40", "month_patients_home": "30",
        "month_home_ratio": "75.0", "fulltime_doctors": "3", "partner_institutions": "2",
    }
    by_code = {line[4]: dict(zip(lines[0], line, strict=True)) for line in lines[1:]}
    assert by_code["0810000003"]["institution_name"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert by_code["0810000002"]["address"] == "'@SUM(A1)"
    assert by_code["0810000002"]["partner_institutions"] == ""

    # xlsx
    wb = openpyxl.load_workbook(res.dir / "home_care_reports_2025_08.xlsx")
    assert wb.sheetnames == ["データ", "定義書", "集計"]
    ws = wb["データ"]
    assert [c.value for c in ws[1]] == [f.label_ja for f in template.fields]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(template.fields))}4"
    assert ws.column_dimensions["F"].width >= 12
    evil = ws.cell(row=4, column=template.field_ids.index("institution_name") + 1)
    assert evil.value == "=HYPERLINK(\"http://evil\",\"x\")" and evil.data_type == "s"
    for row in ws.iter_rows():
        assert all(c.data_type != "f" for c in row)
    code = ws.cell(row=2, column=template.field_ids.index("institution_code") + 1)
    assert code.value == "0810000001" and code.data_type == "s"
    assert ws.cell(row=2, column=template.field_ids.index("total_patients") + 1).value == 51
    defs = wb["定義書"]
    assert [c.value for c in defs[1]] == ["項目ID", "項目名", "型", "必須", "説明・ルール"]
    assert [defs.cell(row=i, column=1).value for i in range(2, 2 + len(template.fields))] == template.field_ids
    assert defs.cell(row=2, column=2).value == "報告年度"
    summ = wb["集計"]
    grid = [[c.value for c in row] for row in summ.iter_rows()]
    assert grid[1] == ["区分", "機能強化型(単独型)", "機能強化型(連携型)", "従来型", "合計"]
    # records 1 (clinic, network), 2 (clinic, standard), 3 (clinic, single)
    assert grid[2] == ["在支診", 1, 1, 1, 3]
    assert grid[3] == ["在支病", 0, 0, 0, 0]
    assert grid[4] == ["合計", 1, 1, 1, 3]
    totals = {r[0]: r for r in grid if r and r[0] in template.field_ids}
    assert totals["total_patients"][2:4] == [3, 51 + 52 + 53]
    assert totals["avg_care_months"][2:5] == [3, None, pytest.approx(14.5)]

    # datapackage.json and manifest.json
    dp = json.loads((res.dir / "datapackage.json").read_text(encoding="utf-8"))
    assert dp["name"] == "tsunagu-home-care-reports-2025-08-ibaraki" and "茨城県" in dp["title"]
    resource = dp["resources"][0]
    assert resource["path"] == "home_care_reports_2025_08.csv"
    assert resource["hash"] == "sha256:" + res.files["home_care_reports_2025_08.csv"]
    fields = resource["schema"]["fields"]
    assert [f["name"] for f in fields] == template.field_ids
    assert fields[0] == {**fields[0], "name": "fiscal_year", "type": "integer", "title": "報告年度"}
    assert {f["name"]: f["type"] for f in fields}["avg_care_months"] == "number"
    assert {f["name"]: f["type"] for f in fields}["report_date"] == "date"
    assert all(f.get("description") for f in fields)
    man = json.loads((res.dir / "manifest.json").read_text(encoding="utf-8"))
    assert man["fiscal_year"] == FY and man["prefecture"]["code"] == "08" and man["rows"] == 3
    assert {f["path"]: f["sha256"] for f in man["files"]} == {
        k: v for k, v in (res.files | res.municipality_files).items() if k != "manifest.json"}
    assert all(f["bytes"] == (res.dir / f["path"]).stat().st_size for f in man["files"])
    assert [s["sha256"] for s in man["sources"]] == ["a" * 64]


def test_publish_twice_is_byte_identical(warehouse, template, tmp_path):
    _fill(warehouse)
    a = publish(warehouse, FY, None, tmp_path / "a", template=template)
    b = publish(warehouse, FY, None, tmp_path / "b", template=template)
    again = publish(warehouse, FY, ["08"], tmp_path / "a", template=template)  # overwrite in place
    assert [r.dir.name for r in a] == ["08_ibaraki", "09_tochigi"]
    for ra, rb in zip(a, b, strict=True):
        assert ra.files == rb.files
        assert ra.municipality_files == rb.municipality_files
        for name in ra.files | ra.municipality_files:
            assert (ra.dir / name).read_bytes() == (rb.dir / name).read_bytes()
    assert again[0].files == a[0].files
    assert again[0].municipality_files == a[0].municipality_files
    with zipfile.ZipFile(a[0].dir / "home_care_reports_2025_08.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(2025, 8, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
        assert "2025-08-01T00:00:00Z" in core


def test_cross_prefecture_row_raises_and_writes_nothing(warehouse, template, tmp_path):
    _fill(warehouse)
    real = warehouse.home_care_reports

    def leaky(fy, pref=None):
        return real(fy, pref) + real(fy, "09")

    warehouse.home_care_reports = leaky
    with pytest.raises(ScopeError, match="09"):
        publish_prefecture(warehouse, FY, "08", tmp_path / "out", template=template)
    assert not (tmp_path / "out" / "2025" / "08_ibaraki").exists()


def test_failed_publish_keeps_previous_package(warehouse, template, tmp_path, monkeypatch):
    _fill(warehouse)
    good = publish_prefecture(warehouse, FY, "08", tmp_path, template=template)
    import tsunagu.publish.package as pkg

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pkg, "_write_csv", boom)
    with pytest.raises(RuntimeError):
        publish_prefecture(warehouse, FY, "08", tmp_path, template=template)
    assert sorted(p.name for p in (tmp_path / "2025").iterdir()) == ["08_ibaraki"]
    assert {p.name: pkg._sha256(p) for p in good.dir.iterdir()} == good.files | good.municipality_files


@pytest.mark.postgres
def test_same_output_from_sqlite_and_postgresql(pg_url, template, tmp_path):
    results = {}
    for kind in ("sqlite", "postgresql"):
        (tmp_path / kind).mkdir()
        with make_warehouse(kind, tmp_path / kind, pg_url) as wh:
            _fill(wh)
            results[kind] = publish(wh, FY, None, tmp_path / kind / "out", template=template)
    lite, pg = results["sqlite"], results["postgresql"]
    assert [r.files for r in lite] == [r.files for r in pg]
    assert [r.municipality_files for r in lite] == [r.municipality_files for r in pg]
    for a, b in zip(lite, pg, strict=True):
        for name in a.files | a.municipality_files:
            assert (a.dir / name).read_bytes() == (b.dir / name).read_bytes()
