"""A real published package: 埼玉's roster from the bureau's register, one file per municipality,
a descriptor the Frictionless validator accepts, scoped and byte-identical on a rerun.

The institutions (names, addresses, classes) are the 659 of the real register (../shared/reference/meibo);
their 様式11の3 values are made up, and, as in the demo report, their 市町村コード is left blank: each row's
municipality comes from its 所在地.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import frictionless
import pytest

from tests.support.warehouse import sample_record
from tsunagu.deliver.scope import ScopeViolation, check_attachment, check_attachments
from tsunagu.intake.register import parse_register
from tsunagu.intake.templates import load_template
from tsunagu.municipalities import load_municipalities
from tsunagu.publish.package import publish_prefecture
from tsunagu.warehouse.db import Warehouse

FY = 2025
PREF = "11"


@pytest.fixture(scope="module")
def roster(meibo_files):
    (path,) = [p for p in meibo_files if p.name.startswith(PREF)]
    return parse_register(path).roster


@pytest.fixture(scope="module")
def template():
    return load_template("home_care_report", fiscal_year=FY)


@pytest.fixture(scope="module")
def warehouse(roster, tmp_path_factory):
    wh = Warehouse(f"sqlite:///{tmp_path_factory.mktemp('wh') / 'wh.sqlite'}")
    wh.create_schema()
    records = [
        sample_record(PREF, n, institution_number=e.institution_number, institution_code=e.institution_code,
                      institution_name=e.institution_name, address=e.address, municipality_code=None,
                      facility_type=e.facility_type, notification_class=e.notification_class)
        for n, e in enumerate(roster, start=1)
    ]
    sid, _ = wh.register_submission("home_care_report", "c" * 64, "埼玉_定例報告_R7.csv", PREF, FY, None, "email")
    wh.record_outcome(sid, "accepted", [], rows=len(records), template_version="2024-08")
    wh.load_home_care_report(sid, PREF, FY, records)
    yield wh
    wh.dispose()


@pytest.fixture(scope="module")
def package(warehouse, template, tmp_path_factory):
    return publish_prefecture(warehouse, FY, PREF, tmp_path_factory.mktemp("out"), template=template)


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    return lines[0], lines[1:]


def test_every_institution_is_in_the_file_of_its_municipality(package, roster, template):
    master = load_municipalities()
    manifest = json.loads((package.dir / "manifest.json").read_text(encoding="utf-8"))
    assert package.rows == len(roster) == 659
    assert manifest["unassigned_rows"] == []
    expected = Counter(e.municipality_code for e in roster)  # from the register's addresses
    assert {m["code"]: m["rows"] for m in manifest["municipalities"]} == expected
    assert len(expected) == 57 and expected["111007"] == 169  # さいたま市: its 10 wards together
    assert [m["code"] for m in manifest["municipalities"]] == sorted(expected)
    assert set(package.municipality_files) == {f"home_care_reports_{FY}_{PREF}_{c}.csv" for c in expected}
    for m in manifest["municipalities"]:
        unit = master.get(m["code"])
        assert unit is not None and not unit.is_ward and unit.prefecture_code == PREF and m["name_ja"] == unit.name

    header, all_rows = _csv(package.dir / f"home_care_reports_{FY}_{PREF}.csv")
    municipality_of = {e.institution_code: e.municipality_code for e in roster}
    code_col = header.index("institution_code")
    seen: list[list[str]] = []
    for m in manifest["municipalities"]:
        mheader, rows = _csv(package.dir / m["path"])
        assert mheader == header == template.field_ids  # the same columns
        assert len(rows) == m["rows"]
        # only that municipality's rows, only the prefecture's, in the order of the prefecture's file
        assert {municipality_of[r[code_col]] for r in rows} == {m["code"]}
        assert {r[header.index("prefecture_code")] for r in rows} == {PREF}
        assert rows == [r for r in all_rows if municipality_of[r[code_col]] == m["code"]]
        seen += rows
    assert sorted(seen) == sorted(all_rows)  # a partition: every row once


def test_manifest_and_descriptor_list_every_file(package):
    manifest = json.loads((package.dir / "manifest.json").read_text(encoding="utf-8"))
    on_disk = {p.name for p in package.dir.iterdir()}
    assert on_disk == set(package.files) | set(package.municipality_files)
    assert {f["path"] for f in manifest["files"]} == on_disk - {"manifest.json"}
    for f in manifest["files"]:
        assert f["bytes"] == (package.dir / f["path"]).stat().st_size
        assert f["sha256"] == (package.files | package.municipality_files)[f["path"]]
    dp = json.loads((package.dir / "datapackage.json").read_text(encoding="utf-8"))
    assert {r["path"] for r in dp["resources"]} == on_disk - {"manifest.json", "datapackage.json"}
    by_path = {r["path"]: r for r in dp["resources"]}
    main = by_path[f"home_care_reports_{FY}_{PREF}.csv"]
    for name in package.municipality_files:
        r = by_path[name]
        assert r["schema"] == main["schema"] and r["profile"] == "tabular-data-resource"
        assert r["hash"] == "sha256:" + package.municipality_files[name]
        assert r["name"] == f"home_care_reports-{name[-10:-4]}"


def test_the_descriptor_passes_the_frictionless_validator(package):
    report = frictionless.validate(str(package.dir / "datapackage.json"))
    problems = [(t.name, e.type, e.note) for t in report.tasks for e in t.errors] + [
        (None, e.type, e.note) for e in report.errors]
    assert report.valid, problems[:20]
    tasks = {t.name: t for t in report.tasks}
    assert len(tasks) == 2 + len(package.municipality_files)
    assert tasks["home_care_reports"].type == "table" and tasks["home_care_reports"].stats["rows"] == 659
    assert tasks["home_care_reports-xlsx"].type == "file"
    assert sum(tasks[f"home_care_reports-{n[-10:-4]}"].stats["rows"] for n in package.municipality_files) == 659


def test_the_validator_catches_a_changed_file(package, tmp_path):
    """The hashes and sizes in the descriptor are checked: a file edited after publication fails."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(package.dir, copy)
    name = sorted(package.municipality_files)[0]
    (copy / name).write_bytes((copy / name).read_bytes() + b"1110000000,x\r\n")
    report = frictionless.validate(str(copy / "datapackage.json"))
    assert not report.valid
    assert {e.type for t in report.tasks if t.name.endswith(name[-10:-4]) for e in t.errors} >= {
        "hash-count", "byte-count"}


def test_a_rerun_is_byte_identical(package, warehouse, template, tmp_path):
    again = publish_prefecture(warehouse, FY, PREF, tmp_path, template=template)
    assert again.files == package.files and again.municipality_files == package.municipality_files
    for name in {p.name for p in package.dir.iterdir()}:
        assert (again.dir / name).read_bytes() == (package.dir / name).read_bytes(), name


def test_every_file_passes_the_delivery_scope_of_its_prefecture_only(package):
    files = sorted(package.dir.iterdir())
    # the rows of the prefecture's CSV, of its xlsx and of the municipality files: each 659
    assert check_attachments(files, PREF) == 3 * 659
    for name in package.municipality_files:
        with pytest.raises(ScopeViolation, match="belongs to prefecture 11, not 12"):
            check_attachment(package.dir / name, "12")
