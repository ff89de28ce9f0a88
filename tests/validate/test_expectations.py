"""The GX layer: a suite generated from the template, failures mapped back to cells."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tsunagu.validate.expectations import BETWEEN, EXIST, IN_SET, NOT_NULL, REGEX, field_expectations
from tsunagu.validate.home_care_report import validate_home_care_report

from .factory import COLUMNS, PREF, TEMPLATE, codes_of, good_values, make_table, number_for, roster_for


def test_suite_is_generated_from_the_template():
    exps = field_expectations(TEMPLATE, set(COLUMNS))
    by_type: dict[str, list[str]] = {}
    for e in exps:
        by_type.setdefault(e.type, []).append(e.field)
    assert "institution_number" in by_type[EXIST] and "institution_code" not in by_type[EXIST]
    assert by_type[NOT_NULL] == ["institution_number", "institution_name"]
    assert by_type[REGEX] == ["prefecture_code", "institution_number", "municipality_code"]
    assert by_type[IN_SET] == ["facility_type", "notification_class"]
    assert "month_home_ratio" in by_type[BETWEEN]
    ratio = next(e for e in exps if e.type == BETWEEN and e.field == "month_home_ratio")
    assert ratio.kwargs == {"min_value": 0.0, "max_value": 100.0} or ratio.kwargs == {"min_value": 0, "max_value": 100}
    regex = {e.field: e.kwargs["regex"] for e in exps if e.type == REGEX}
    assert regex == {"prefecture_code": r"^\d{2}$", "institution_number": r"^\d{7}$", "municipality_code": r"^\d{6}$"}
    # the derived 医療機関コード gets its regex once the parser or the filler provides it
    with_code = field_expectations(TEMPLATE, set(COLUMNS) | {"institution_code"})
    assert {e.field: e.kwargs["regex"] for e in with_code if e.type == REGEX}["institution_code"] == r"^\d{10}$"


BAD_ROWS = [
    good_values(1),
    good_values(2, avg_care_months=-0.5),  # float out of range → row 6, column H
    good_values(3, institution_name=None, municipality_code="1234", notification_class="支援診9"),
    good_values(4, month_home_ratio=100.5, month_patients_home=60),
]


@pytest.fixture(scope="module")
def gx_run():
    table = make_table(BAD_ROWS)
    result = validate_home_care_report(table, prefecture_code=PREF, fiscal_year=2025, roster=roster_for(BAD_ROWS))
    return table, result


def test_gx_float_out_of_range_maps_to_the_cell(gx_run):
    _, result = gx_run
    found = [f for f in result.findings if f.code == "out_of_range" and f.field == "avg_care_months"]
    assert codes_of(found) == [("out_of_range", "error", 6, "H", "avg_care_months")]
    assert found[0].sheet == "報告"
    assert found[0].message_ja == "6行目 H列『平均診療期間（月）』: 値(-0.5)が範囲外です。0以上で記入してください"
    assert found[0].message_en == "Row 6, column H (avg_care_months): value -0.5 is out of range (must be ≥ 0)"


def test_gx_findings_are_exact(gx_run):
    _, result = gx_run
    assert codes_of(result.findings) == [
        ("out_of_range", "error", 6, "H", "avg_care_months"),
        ("missing_value", "error", 7, "C", "institution_name"),
        ("bad_format", "error", 7, "E", "municipality_code"),
        ("not_in_set", "error", 7, "G", "notification_class"),
        ("out_of_range", "error", 8, "W", "month_home_ratio"),
    ]
    assert result.status == "rejected"
    assert result.rows == 4


def test_gx_result_is_kept_and_matches_python_layer(gx_run):
    table, result = gx_run
    gx = result.gx_result
    assert gx is not None and gx.success is False
    failed = sorted((r.expectation_config.type, r.expectation_config.kwargs["column"]) for r in gx.results if not r.success)
    assert failed == [
        ("expect_column_values_to_be_between", "avg_care_months"),
        ("expect_column_values_to_be_between", "month_home_ratio"),
        ("expect_column_values_to_be_in_set", "notification_class"),
        ("expect_column_values_to_match_regex", "municipality_code"),
        ("expect_column_values_to_not_be_null", "institution_name"),
    ]
    python = validate_home_care_report(table, prefecture_code=PREF, fiscal_year=2025, roster=roster_for(BAD_ROWS),
                                       use_gx=False)
    assert python.findings == result.findings
    assert python.records == result.records


def test_gx_missing_required_column():
    cols = {k: v for k, v in COLUMNS.items() if k != "severe_children"}
    rows = [good_values(1)]
    result = validate_home_care_report(make_table(rows, columns=cols), prefecture_code=PREF, fiscal_year=2025,
                                       roster=roster_for(rows))
    assert codes_of(result.findings) == [("missing_column", "error", None, None, "severe_children")]
    assert result.findings[0].message_ja == "『超重症児・準超重症児の患者数』の列が見つかりません。見出しを確認してください"


def test_without_gx_great_expectations_is_never_imported():
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parents[2])!r})
        from tests.validate.factory import good_values, make_table, roster_for
        from tsunagu.validate import validate_home_care_report
        rows = [good_values(1)]
        r = validate_home_care_report(make_table(rows), prefecture_code="11", fiscal_year=2025,
                                      roster=roster_for(rows), use_gx=False)
        assert r.status == "accepted" and r.gx_result is None
        print("great_expectations" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_number_helper_is_valid():
    from tsunagu.codes import institution_number_is_valid

    assert institution_number_is_valid(number_for(3), "11", "six_digit")
    assert institution_number_is_valid(number_for(3, "09"), "09", "prefixed")
