"""情報提供依頼書: parsing by labels, validation with exact findings, the active request in the warehouse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tsunagu.flows import get_flow
from tsunagu.intake.request_form import parse_request_form, split_emails
from tsunagu.settings import include_dir
from tsunagu.validate.request_form import check_email, domain_allowed, validate_request_form
from tsunagu.warehouse.requests import active_request, active_requests, request_history

from .helpers import ROW, TODAY, VALID_FORM, form, write_request_csv, write_request_xlsx

FORMS = include_dir() / "forms"


def check(path: Path, pref: str = "19", today: dt.date = TODAY, fiscal_year: int | None = None):
    checked = get_flow("request_form").check(path, prefecture_code=pref, fiscal_year=fiscal_year, today=today)
    return checked.result, checked.parsed


def where(result) -> list[tuple]:
    return [(f.code, f.severity, f.row, f.column, f.field) for f in result.findings]


# ------------------------------------------------------------------------------------------- parsing


def test_valid_xlsx_form_is_read_by_labels(tmp_path):
    result, parsed = check(write_request_xlsx(tmp_path / "依頼書.xlsx", VALID_FORM))
    assert result.status == "accepted", where(result)
    assert result.findings == []
    assert parsed.title_found
    record = result.records[0]
    assert {k: record[k] for k in record if k not in ("source_sheet", "source_row")} == {
        "prefecture_code": "19",
        "fiscal_year": 2025,
        "dataset": "home_care_report",
        "department": "福祉保健部 健康長寿推進課",
        "contact_name": "甲斐 花子",
        "email": "kai-hanako@pref.yamanashi.lg.jp",
        "cc": ("chiiki@pref.yamanashi.lg.jp", "kenkou@pref.yamanashi.lg.jp"),
        "phone": "055-223-1234",
        "purpose": "市町村への情報提供及び在宅医療の推進施策の検討",
        "request_date": dt.date(2025, 9, 10),
        "terms_accepted": True,
    }
    assert parsed.cells["email"] == (ROW["メールアドレス"], "B")


def test_label_variants_full_width_and_other_positions(tmp_path):
    values = {
        "■ 都道府県": "１９",  # a code, full width
        "所属（必須）": "福祉保健部",
        "担当者氏名": "甲斐 花子",
        "Ｅ－ｍａｉｌ": "ＫＡＩ@pref.yamanashi.lg.jp",
        "ＣＣ（任意）": "a@section.pref.yamanashi.lg.jp、b@pref.yamanashi.lg.jp\nc@pref.yamanashi.lg.jp",
        "ＴＥＬ": "０５５－２２３－１２３４（内線５６７８）",
        "提供希望データ": "定例報告",
        "年度": "R8",
        "使用目的": "施策の検討",
        "依頼年月日": dt.datetime(2025, 9, 10),
        "利用規約に同意する": "✓",
    }
    path = write_request_xlsx(tmp_path / "variants.xlsx", values, label_col=2, title=False)  # labels in B, values in C
    result, parsed = check(path)
    assert result.status == "accepted", where(result)
    rec = result.records[0]
    assert (rec["prefecture_code"], rec["fiscal_year"], rec["dataset"], rec["terms_accepted"]) == ("19", 2026, "home_care_report", True)
    assert rec["email"] == "KAI@pref.yamanashi.lg.jp"
    assert rec["cc"] == ("a@section.pref.yamanashi.lg.jp", "b@pref.yamanashi.lg.jp", "c@pref.yamanashi.lg.jp")
    assert rec["request_date"] == dt.date(2025, 9, 10)
    assert parsed.cells["email"] == (6, "C")
    assert not parsed.title_found


def test_values_below_a_row_of_labels(tmp_path):
    result, parsed = check(write_request_xlsx(tmp_path / "横.xlsx", VALID_FORM, layout="below"))
    assert result.status == "accepted", where(result)
    assert parsed.cells["prefecture"] == (4, "A")
    assert parsed.cells["terms_accepted"] == (4, "K")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_variant(tmp_path, encoding):
    result, parsed = check(write_request_csv(tmp_path / "依頼書.csv", VALID_FORM, encoding=encoding))
    assert result.status == "accepted", where(result)
    assert parsed.source_format == "csv"
    assert parsed.cells["email"] == (5, "B")  # line 1 is 項目,値
    assert result.records[0]["cc"] == ("chiiki@pref.yamanashi.lg.jp", "kenkou@pref.yamanashi.lg.jp")


def test_cc_parsing():
    assert split_emails("a@x.jp, b@x.jp；c@x.jp、d@x.jp\ne@x.jp ;; a@x.jp") == (
        "a@x.jp", "b@x.jp", "c@x.jp", "d@x.jp", "e@x.jp")
    assert split_emails("") == ()
    assert split_emails(None) == ()


def test_email_checks():
    assert check_email("kai@pref.yamanashi.lg.jp") == ("kai@pref.yamanashi.lg.jp", None)
    for bad in ("kai@@pref.yamanashi.lg.jp", "kai", "kai@pref", "甲斐@pref.yamanashi.lg.jp", "a b@pref.yamanashi.lg.jp",
                "kai@pref..yamanashi.lg.jp", ".kai@pref.yamanashi.lg.jp", "Kai <kai@pref.yamanashi.lg.jp>"):
        assert check_email(bad)[0] is None, bad
    domains = ("pref.yamanashi.lg.jp",)
    assert domain_allowed("a@pref.yamanashi.lg.jp", domains)
    assert domain_allowed("a@section.PREF.yamanashi.lg.jp", domains)
    assert not domain_allowed("a@evilpref.yamanashi.lg.jp", domains)
    assert not domain_allowed("a@pref.yamanashi.lg.jp.example.com", domains)


# ------------------------------------------------------------------------------------------- findings


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"メールアドレス": "kai-hanako@@pref.yamanashi.lg.jp"},
         [("invalid_email", "error", 6, "B", "email")]),
        ({"メールアドレス": "kai.hanako@gmail.com"},
         [("email_domain_not_allowed", "error", 6, "B", "email")]),
        ({"CC": "chiiki@pref.yamanashi.lg.jp, someone@pref.nagano.lg.jp"},
         [("email_domain_not_allowed", "error", 7, "B", "cc")]),
        ({"CC": "chiiki@pref.yamanashi.lg.jp; not-an-address"},
         [("invalid_email", "error", 7, "B", "cc")]),
        ({"利用規約への同意": "同意しない"},
         [("terms_not_accepted", "error", 13, "B", "terms_accepted")]),
        ({"対象年度": "令和9年度"},
         [("fiscal_year_out_of_range", "error", 10, "B", "fiscal_year")]),
        ({"対象年度": "2024"},
         [("fiscal_year_out_of_range", "error", 10, "B", "fiscal_year")]),
        ({"都道府県名": "長野県"},
         [("prefecture_mismatch", "error", 3, "B", "prefecture")]),
        ({"都道府県名": "大阪府"},
         [("prefecture_not_in_jurisdiction", "error", 3, "B", "prefecture")]),
        ({"都道府県名": "火星"},
         [("unknown_prefecture", "error", 3, "B", "prefecture")]),
        ({"担当者名": ""},
         [("missing_value", "error", 5, "B", "contact_name")]),
        ({"電話番号": "電話してください"},
         [("invalid_phone", "error", 8, "B", "phone")]),
        ({"提供を希望するデータ": "介護保険データ"},
         [("invalid_value", "error", 9, "B", "dataset")]),
        ({"依頼日": "令和7年9月31日"},
         [("invalid_value", "error", 12, "B", "request_date")]),
        ({"依頼日": "令和7年9月20日"},
         [("request_date_in_future", "warning", 12, "B", "request_date")]),
        ({"利用目的": None},
         [("missing_field", "error", None, None, "purpose")]),
    ],
)
def test_findings(tmp_path, changes, expected):
    result, _ = check(write_request_xlsx(tmp_path / "f.xlsx", form(**changes)))
    got = sorted(where(result), key=lambda w: (w[0], w[2] or 0))
    assert got == sorted(expected, key=lambda w: (w[0], w[2] or 0))
    assert result.status == ("rejected" if any(e[1] == "error" for e in expected) else "accepted")


def test_findings_are_bilingual_and_name_the_cell(tmp_path):
    result, _ = check(write_request_xlsx(tmp_path / "f.xlsx", form(メールアドレス="kai@example.com")))
    (f,) = result.findings
    assert "pref.yamanashi.lg.jp" in f.message_ja and "公用ドメイン" in f.message_ja
    assert "kai@example.com" in f.message_en and f.sheet == "依頼書"


def test_fiscal_year_window_follows_today(tmp_path):
    path = write_request_xlsx(tmp_path / "f.xlsx", form(対象年度="令和8年度"))
    assert check(path, today=dt.date(2026, 3, 31))[0].status == "accepted"  # FY2025: 2025 and 2026
    assert check(path, today=dt.date(2026, 4, 1))[0].status == "accepted"  # FY2026: 2026 and 2027
    assert where(check(path, today=dt.date(2025, 3, 31))[0]) == [  # FY2024: 2024 and 2025
        ("fiscal_year_out_of_range", "error", 10, "B", "fiscal_year"),
        ("request_date_in_future", "warning", 12, "B", "request_date")]


def test_fiscal_year_of_the_landing_folder_must_match(tmp_path):
    result, _ = check(write_request_xlsx(tmp_path / "f.xlsx", VALID_FORM), fiscal_year=2026)
    assert where(result) == [("fiscal_year_mismatch", "error", 10, "B", "fiscal_year")]


def test_blank_template_parses_as_missing_values():
    for name in ("情報提供依頼書_様式.xlsx", "情報提供依頼書_様式.csv"):
        result, parsed = check(FORMS / name)
        assert result.status == "rejected"
        codes = {(f.code, f.field) for f in result.findings}
        assert codes == {("missing_value", fid) for fid in (
            "prefecture", "department", "contact_name", "email", "phone", "dataset", "fiscal_year", "purpose",
            "request_date", "terms_accepted")}, name
        assert all(f.column == "B" for f in result.findings)


def test_blank_template_workbook(tmp_path):
    from openpyxl import load_workbook

    wb = load_workbook(FORMS / "情報提供依頼書_様式.xlsx")
    ws = wb.active
    assert ws["A1"].value == "定例報告データ 情報提供依頼書"
    assert [ws.cell(row=r, column=1).value for r in range(4, 15)] == [
        "都道府県名", "担当部署", "担当者名", "メールアドレス", "CC", "電話番号", "提供を希望するデータ", "対象年度",
        "利用目的", "依頼日", "利用規約への同意"]
    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert lists["B14"] == '"同意する,同意しない"'
    assert ws["B4"].fill.start_color.rgb == "FFFFF2CC"
    assert wb.properties.created == dt.datetime(2000, 1, 1)


def test_blank_forms_are_deterministic_and_committed(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_blank_forms", include_dir().parent / "scripts" / "make_blank_forms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.make_blank_forms(tmp_path / "forms")
    assert len(written) == 12
    for path in written:
        assert path.read_bytes() == (FORMS / path.name).read_bytes(), path.name


def test_not_a_request_form_is_unreadable(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("医療機関番号,名称\n1234567,テスト\n", encoding="utf-8")
    result, parsed = check(path)
    assert parsed is None
    assert where(result) == [("form_not_found", "error", None, None, None)]


def test_parse_needs_no_warehouse(tmp_path):
    parsed = parse_request_form(write_request_xlsx(tmp_path / "f.xlsx", VALID_FORM))
    result = validate_request_form(parsed, prefecture_code="19", today=TODAY)
    assert result.status == "accepted"


# ------------------------------------------------------------------------------------------- warehouse


def test_landing_folders():
    assert {k: get_flow(k).landing.folder for k in ("request_form", "survey_return")} == {"request_form": "request_forms", "survey_return": "survey_returns"}


def test_ingest_active_supersede_history(tmp_path, warehouse, settings):
    first = write_request_xlsx(tmp_path / "依頼書_v1.xlsx", VALID_FORM)
    second = write_request_csv(tmp_path / "依頼書_v2.csv", form(担当者名="峡南 太郎", CC=""), encoding="cp932")
    nagano = write_request_xlsx(tmp_path / "長野.xlsx", form(
        都道府県名="長野県", メールアドレス="k@pref.nagano.lg.jp", CC="", 対象年度="2025"))

    o1 = get_flow("request_form").ingest(first, prefecture_code="19", settings=settings, warehouse=warehouse, today=TODAY)
    assert (o1.status, o1.fiscal_year, o1.rows, o1.errors) == ("accepted", 2025, 1, 0)
    active = active_request(warehouse, "19", 2025)
    assert active.submission_id == o1.submission_id
    assert active.recipients == ("kai-hanako@pref.yamanashi.lg.jp", "chiiki@pref.yamanashi.lg.jp",
                                 "kenkou@pref.yamanashi.lg.jp")
    assert (active.department, active.contact_name, active.phone, active.dataset) == (
        "福祉保健部 健康長寿推進課", "甲斐 花子", "055-223-1234", "home_care_report")
    assert isinstance(active.received_at, dt.datetime)
    assert json.loads(Path(o1.reports["json"]).read_text(encoding="utf-8"))["status"] == "accepted"

    again = get_flow("request_form").ingest(first, prefecture_code="19", settings=settings, warehouse=warehouse, today=TODAY)
    assert (again.status, again.submission_id) == ("skipped", o1.submission_id)

    o2 = get_flow("request_form").ingest(second, prefecture_code="19", fiscal_year=2025, settings=settings, warehouse=warehouse,
                             today=TODAY)
    assert o2.status == "accepted" and o2.note == f"supersedes submission {o1.submission_id}"
    active = active_request(warehouse, "19", 2025)
    assert (active.submission_id, active.contact_name, active.recipients) == (
        o2.submission_id, "峡南 太郎", ("kai-hanako@pref.yamanashi.lg.jp",))
    history = [(r.submission_id, r.status, r.superseded_by, r.contact_name, r.cc)
               for r in request_history(warehouse, "19", 2025)]
    assert history == [
        (o1.submission_id, "superseded", o2.submission_id, "甲斐 花子",
         ("chiiki@pref.yamanashi.lg.jp", "kenkou@pref.yamanashi.lg.jp")),
        (o2.submission_id, "active", None, "峡南 太郎", ()),
    ]
    subs = {s["id"]: (s["kind"], s["status"], s["superseded_by"]) for s in warehouse.outcomes(kind="request_form")}
    assert subs == {o1.submission_id: ("request_form", "superseded", o2.submission_id),
                    o2.submission_id: ("request_form", "accepted", None)}

    # forcing the older form again does not make it active
    forced = get_flow("request_form").ingest(first, prefecture_code="19", settings=settings, warehouse=warehouse, today=TODAY,
                                 force=True)
    assert forced.status == "accepted"
    assert active_request(warehouse, "19", 2025).submission_id == o2.submission_id
    assert warehouse.get_submission(o1.submission_id)["status"] == "superseded"

    o3 = get_flow("request_form").ingest(nagano, prefecture_code="20", settings=settings, warehouse=warehouse, today=TODAY)
    assert o3.status == "accepted"
    assert sorted(active_requests(warehouse, 2025)) == ["19", "20"]
    assert active_request(warehouse, "19", 2026) is None
    assert active_request(warehouse, "19", 2025, dataset="other") is None


def test_rejected_form_is_quarantined_and_changes_nothing(tmp_path, warehouse, settings):
    good = write_request_xlsx(tmp_path / "good.xlsx", VALID_FORM)
    bad = write_request_xlsx(tmp_path / "bad.xlsx", form(メールアドレス="kai@gmail.com", 利用規約への同意="同意しない"))
    o1 = get_flow("request_form").ingest(good, prefecture_code="19", settings=settings, warehouse=warehouse, today=TODAY)
    o2 = get_flow("request_form").ingest(bad, prefecture_code="19", settings=settings, warehouse=warehouse, today=TODAY)
    assert (o2.status, o2.errors) == ("rejected", 2)
    assert (Path(o2.quarantine) / "REASON.txt").read_text(encoding="utf-8").count("エラー / error") == 2
    assert active_request(warehouse, "19", 2025).submission_id == o1.submission_id
    assert [(v["code"], v["row"], v["column_letter"]) for v in warehouse.validation_results(o2.submission_id)] == [
        ("email_domain_not_allowed", 6, "B"), ("terms_not_accepted", 13, "B")]
    # the annotated copy marks the two cells
    from openpyxl import load_workbook

    ws = load_workbook(o2.reports["xlsx"])["依頼書"]
    assert ws["B6"].comment is not None and ws["B13"].comment is not None and ws["B5"].comment is None


def test_unreadable_and_dry_run(tmp_path, warehouse, settings):
    pdf = tmp_path / "依頼書.pdf"
    pdf.write_bytes(b"%PDF-1.4 scanned")
    o = get_flow("request_form").ingest(pdf, prefecture_code="19", fiscal_year=2025, settings=settings, warehouse=warehouse,
                            today=TODAY)
    assert (o.status, o.errors) == ("unreadable", 1)
    assert warehouse.validation_results(o.submission_id)[0]["code"] == "unsupported_pdf"
    dry = get_flow("request_form").ingest(write_request_xlsx(tmp_path / "d.xlsx", VALID_FORM), prefecture_code="19",
                              settings=settings, warehouse=warehouse, today=TODAY, dry_run=True)
    assert (dry.status, dry.submission_id) == ("accepted", None)
    assert active_request(warehouse, "19", 2025) is None
