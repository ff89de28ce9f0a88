from __future__ import annotations

import datetime as dt
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tsunagu.intake.request_form import template_extras
from tsunagu.intake.templates import TemplateError, list_templates, load_template
from tsunagu.model import FormTemplate
from tsunagu.normalize import label_key
from tsunagu.settings import REPO_ROOT, include_dir

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


# ----------------------------------------------------------------------------------------- extends

HOME_CARE = "home_care_report"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, encoding="utf-8",
                          check=True).stdout


def _last_full_commit(path: str) -> str | None:
    """The newest commit (HEAD first) in which ``path`` was a full file, without ``extends:``."""
    try:
        for commit in ["HEAD", *_git("log", "--format=%H", "HEAD", "--", path).split()]:
            if not (yaml.safe_load(_git("show", f"{commit}:{path}")) or {}).get("extends"):
                return commit
    except (OSError, subprocess.CalledProcessError):
        return None
    return None


def _use_include(monkeypatch, root: Path) -> None:
    monkeypatch.setenv("TSUNAGU_INCLUDE", str(root))


def _write(root: Path, kind: str, version: str, text: str) -> Path:
    folder = root / "templates" / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def full_versions(tmp_path, monkeypatch) -> dict[str, FormTemplate]:
    """The home_care_report templates as the full files gave them (git show HEAD:…, or the last commit before
    2020-07 and 2024-08 became short files extending 2022-07), loaded from a copy in tmp_path."""
    commit = _last_full_commit(f"include/templates/{HOME_CARE}/2020-07.yaml")
    if commit is None:
        pytest.skip("no git history with the full home_care_report templates (shallow clone?)")
    old = tmp_path / "old"
    for version in ("2020-07", "2022-07", "2024-08"):
        _write(old, HOME_CARE, version, _git("show", f"{commit}:include/templates/{HOME_CARE}/{version}.yaml"))
    before = os.environ.get("TSUNAGU_INCLUDE")
    _use_include(monkeypatch, old)
    loaded = {t.version: t for t in list_templates(HOME_CARE)}
    if before is None:
        monkeypatch.delenv("TSUNAGU_INCLUDE")
    else:
        monkeypatch.setenv("TSUNAGU_INCLUDE", before)
    assert set(loaded) == {"2020-07", "2022-07", "2024-08"}
    return loaded


@pytest.mark.parametrize("version", ["2020-07", "2024-08"])
def test_extending_versions_equal_the_full_files(full_versions, version):
    raw = yaml.safe_load((include_dir() / "templates" / HOME_CARE / f"{version}.yaml").read_text(encoding="utf-8"))
    assert raw["extends"] == "2022-07"
    want, got = full_versions[version], load_template(HOME_CARE, version)
    for key in ("kind", "version", "title_ja", "valid_from_fiscal_year", "report_month", "warnings",
                "skip_row_markers", "field_ids"):
        assert getattr(got, key) == getattr(want, key), key
    for w, g in zip(want.fields, got.fields, strict=True):
        assert g == w, w.id
    assert got == want


def test_2024_08_states_only_its_differences():
    raw = yaml.safe_load((include_dir() / "templates" / HOME_CARE / "2024-08.yaml").read_text(encoding="utf-8"))
    assert [f["id"] for f in raw["fields"]] == ["report_date"]
    assert set(raw) == {"extends", "kind", "version", "title_ja", "valid_from_fiscal_year", "report_month", "fields"}


BASE = """\
    kind: demo_form
    version: "2020"
    title_ja: 基本の様式
    valid_from_fiscal_year: 2020
    report_month: 7
    warnings: {yoy_ratio: 3, yoy_fields: [count]}
    rules: {fiscal_year_window: [0, 1]}
    fields:
      - id: code
        label_ja: コード
        labels: [コード, 番号]
        type: code
        digits: 6
        required: true
        format: municipality
        description_ja: 6桁のコード
      - id: name
        label_ja: 名称
        type: text
      - id: count
        label_ja: 件数
        type: int
        min: 0
        description_ja: 件数（回）
"""


@pytest.fixture
def demo(tmp_path, monkeypatch) -> Path:
    _use_include(monkeypatch, tmp_path)
    _write(tmp_path, "demo_form", "2020", BASE)
    return tmp_path


def test_child_changes_one_field_adds_one_and_removes_one(demo):
    _write(demo, "demo_form", "2025", """\
        extends: "2020"
        version: "2025"
        valid_from_fiscal_year: 2025
        title_ja: 新しい様式
        warnings: {yoy_ratio: 5}
        fields:
          - id: code
            labels: [コード, 団体コード]
          - id: name
            remove: true
          - id: note
            label_ja: 備考
            type: text
    """)
    parent, child = load_template("demo_form", "2020"), load_template("demo_form", "2025")
    assert child.field_ids == ["code", "count", "note"]
    code = child.field("code")
    assert code.labels == ("コード", "団体コード")  # labels replaced, everything else from the parent
    assert (code.label_ja, code.type, code.digits, code.required, code.description_ja) == (
        "コード", "code", 6, True, "6桁のコード")
    assert child.field("count") == parent.field("count")
    assert child.field("note").label_ja == "備考"
    assert (child.kind, child.version, child.valid_from_fiscal_year) == ("demo_form", "2025", 2025)
    assert (child.title_ja, child.report_month) == ("新しい様式", 7)
    assert child.warnings == {"yoy_ratio": 5}  # a warnings mapping replaces the parent's as a whole
    assert [t.version for t in list_templates("demo_form")] == ["2020", "2025"]
    assert load_template("demo_form", fiscal_year=2024) is parent
    # the loaders that read more than FormTemplate see the same merge
    extras = template_extras(child)
    assert extras["rules"] == {"fiscal_year_window": [0, 1]}
    assert "extends" not in extras
    assert extras["field_options"]["code"]["format"] == "municipality"
    assert set(extras["field_options"]) == {"code", "count", "note"}


def test_extends_is_recursive_and_version_and_valid_from_are_never_inherited(demo):
    _write(demo, "demo_form", "2022", """\
        extends: "2020"
        version: "2022"
        valid_from_fiscal_year: 2022
        fields:
          - {id: count, max: 999}
    """)
    _write(demo, "demo_form", "2024", """\
        extends: "2022"
        version: "2024"
        valid_from_fiscal_year: 2024
        fields:
          - {id: count, label_ja: 回数}
    """)
    count = load_template("demo_form", "2024").field("count")
    assert (count.label_ja, count.min, count.max, count.description_ja) == ("回数", 0.0, 999.0, "件数（回）")
    assert "件数" not in count.labels  # the labels come from label_ja when the field gives none
    _write(demo, "demo_form", "2026", 'extends: "2024"\nversion: "2026"\n')
    with pytest.raises(TemplateError, match="valid_from_fiscal_year"):
        load_template("demo_form", "2026")


def test_extends_from_another_kind(demo):
    _write(demo, "demo_form_b", "2021", """\
        extends: demo_form/2020
        kind: demo_form_b
        version: "2021"
        valid_from_fiscal_year: 2021
    """)
    t = load_template("demo_form_b", "2021")
    assert (t.kind, t.field_ids) == ("demo_form_b", ["code", "name", "count"])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"2021": 'extends: "2022"', "2022": 'extends: "2021"'}, "cycle"),
        ({"2021": 'extends: "2021"'}, "cycle"),
        ({"2021": 'extends: "2019"'}, "not found"),
        ({"2021": 'extends: "2020"\nfields:\n  - {id: nothing, remove: true}'}, "cannot remove"),
        ({"2021": 'extends: "2020"\nfields:\n  - {label_ja: 無名}'}, "needs an id"),
    ],
)
def test_extends_errors(demo, files, message):
    for version, text in files.items():
        _write(demo, "demo_form", version, f'{text}\nversion: "{version}"\nvalid_from_fiscal_year: {version}\n')
    with pytest.raises(TemplateError, match=message):
        load_template("demo_form", "2021")
    with pytest.raises(TemplateError, match=message):
        list_templates("demo_form")
