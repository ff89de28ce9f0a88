from __future__ import annotations

import datetime as dt

import pytest

from tsunagu.intake.templates import TemplateError, list_templates, load_template
from tsunagu.normalize import label_key

FIELD_IDS = [
    "fiscal_year", "report_date", "prefecture_code", "institution_number", "institution_code",
    "institution_name", "address", "municipality_code", "facility_type", "notification_class",
    "avg_care_months", "total_patients", "deaths_total", "deaths_home", "deaths_other_residence",
    "deaths_partner_hospital", "deaths_other_hospital", "severe_children", "visits_total", "house_calls",
    "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all", "month_patients_home",
    "month_home_ratio", "fulltime_doctors", "partner_institutions",
]


def test_versions_listed_oldest_first():
    assert [t.version for t in list_templates("home_care_report")] == ["2020-07", "2022-07", "2024-08"]
    assert list_templates("no_such_form") == []


@pytest.mark.parametrize(
    ("fiscal_year", "version", "month"),
    [(2020, "2020-07", 7), (2021, "2020-07", 7), (2022, "2022-07", 7), (2023, "2022-07", 7),
     (2024, "2024-08", 8), (2025, "2024-08", 8)],
)
def test_template_in_force_by_fiscal_year(fiscal_year, version, month):
    t = load_template("home_care_report", fiscal_year=fiscal_year)
    assert (t.version, t.report_month, t.valid_from_fiscal_year) == (version, month, int(version[:4]))
    assert load_template("home_care_report", fiscal_year=fiscal_year) is t  # cached


def test_no_template_before_2020_and_unknown_version():
    with pytest.raises(TemplateError):
        load_template("home_care_report", fiscal_year=2019)
    with pytest.raises(TemplateError):
        load_template("home_care_report", version="1999-01")


def test_newest_without_arguments():
    t = load_template("home_care_report")
    assert t.version == "2024-08"
    assert t.title_ja == "在宅療養支援診療所・在宅療養支援病院に係る報告書（新規・８月報告）"


@pytest.mark.parametrize("version", ["2020-07", "2022-07", "2024-08"])
def test_field_contract_identical_across_versions(version):
    t = load_template("home_care_report", version)
    assert t.kind == "home_care_report"
    assert t.field_ids == FIELD_IDS
    required = {f.id for f in t.fields if f.required}
    assert {"institution_number", "institution_name", "total_patients", "deaths_total", "deaths_home",
            "deaths_other_residence", "deaths_partner_hospital", "deaths_other_hospital", "visits_total",
            "house_calls", "emergency_house_calls", "home_visits", "nursing_visits", "month_patients_all",
            "month_patients_home", "month_home_ratio"} <= required
    derived = {f.id for f in t.fields if f.derived}
    assert derived == {"fiscal_year", "report_date", "prefecture_code", "institution_code", "facility_type",
                       "notification_class"}
    assert not required & derived
    assert t.field("institution_number").digits == 7
    assert t.field("institution_code").digits == 10
    assert t.field("municipality_code").digits == 6
    ratio = t.field("month_home_ratio")
    assert (ratio.type, ratio.min, ratio.max, ratio.places) == ("decimal", 0.0, 100.0, 1)
    for f in t.fields:
        assert f.description_ja, f.id
        assert f.label_ja in f.labels
        if f.type == "int":
            assert f.min == 0 or f.id == "fiscal_year"
    assert t.warnings["minimums"]["enhanced_single"] == {"fulltime_doctors": 3, "emergency_house_calls": 10,
                                                         "deaths_home": 4}
    assert t.warnings["minimums"]["enhanced_network"] == {"emergency_house_calls": 4, "deaths_home": 2}
    assert t.warnings["yoy_ratio"] == 3


def test_enum_maps():
    t = load_template("home_care_report", "2024-08")
    ft = t.field("facility_type").enum
    nc = t.field("notification_class").enum
    assert {ft[label_key(x)] for x in ("在支診", "診療所", "在宅療養支援診療所", "clinic")} == {"clinic"}
    assert {ft[label_key(x)] for x in ("在支病", "病院", "在宅療養支援病院")} == {"hospital"}
    assert {nc[label_key(x)] for x in ("支援診１", "支援病1", "機能強化型（単独型）", "単独型")} == {"enhanced_single"}
    assert {nc[label_key(x)] for x in ("支援診２", "支援病２", "機能強化型(連携型)", "連携型")} == {"enhanced_network"}
    assert {nc[label_key(x)] for x in ("支援診３", "支援病３", "従来型")} == {"standard"}


def test_report_month_labels_differ_by_version():
    assert "8月1日現在" in load_template("home_care_report", "2024-08").field("report_date").labels
    assert "7月1日現在" in load_template("home_care_report", "2022-07").field("report_date").labels
    assert dt.date(2024, 8, 1).month == load_template("home_care_report", "2024-08").report_month
