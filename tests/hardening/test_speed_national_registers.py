"""scripts/make_national_registers.py: registers for the national-scale bench, in the real layout.

A small run (from the demo registers) must give one register per prefecture that the intake reads
like a real one — header on row 4, the 「現在」 date, every 医療機関番号 valid for its new prefecture
(no findings at all, with the generated 47-prefecture jurisdiction), the rows the manifest says — and
the same bytes when run again. No timing here: bench/run.py national measures the intake against the
raw calamine read of the 580,000-row set.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from tsunagu.intake.register import parse_register
from tsunagu.jurisdiction import load_jurisdiction

REPO = Path(__file__).resolve().parents[2]
DEMO_REGISTERS = REPO / "include" / "demo" / "register"


def _script():
    spec = importlib.util.spec_from_file_location("make_national_registers", REPO / "scripts" / "make_national_registers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    out = tmp_path_factory.mktemp("national")
    return out, _script().generate(DEMO_REGISTERS, out, 2_000)


@pytest.fixture
def national_jurisdiction(national, monkeypatch):
    monkeypatch.setenv("TSUNAGU_INCLUDE", national[1]["include"])
    load_jurisdiction.cache_clear()
    yield load_jurisdiction()
    load_jurisdiction.cache_clear()


def test_one_register_per_prefecture_and_the_rows_asked_for(national):
    out, manifest = national
    assert [f["prefecture_code"] for f in manifest["files"]] == [f"{i:02d}" for i in range(1, 48)]
    assert abs(manifest["rows"] - 2_000) <= 47
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert sorted(p.name for p in (out / "registers").iterdir()) == [f["file"] for f in manifest["files"]]


def test_the_intake_reads_them_as_real_registers(national, national_jurisdiction):
    out, manifest = national
    assert len(national_jurisdiction.prefectures) == 47
    for entry in manifest["files"]:
        parsed = parse_register(out / "registers" / entry["file"])
        assert parsed.findings == []
        assert (parsed.prefecture_code, parsed.header_row, parsed.as_of, parsed.sheets) == (
            entry["prefecture_code"], 4, dt.date(2025, 9, 1), ["Sheet1"])
        assert len(parsed.rows) == entry["rows"]
        assert parsed.rows[0]["row"] == 5
        assert all(r["institution_code"].startswith(entry["prefecture_code"] + "1") for r in parsed.rows)


def test_a_real_prefecture_keeps_its_own_register(national, national_jurisdiction):
    out, manifest = national
    (yamanashi,) = [f for f in manifest["files"] if f["prefecture_code"] == "19"]
    assert yamanashi["source"].startswith("19")
    real = parse_register(next(DEMO_REGISTERS.glob("19*.xlsx")))
    copy = parse_register(out / "registers" / yamanashi["file"])
    assert copy.rows == real.rows[: len(copy.rows)]


def test_more_rows_than_a_source_renumber_the_repeats():
    from tsunagu.codes import institution_number_is_valid

    script = _script()
    source = [["1", "19", "山梨県", "医科", number, *[""] * 19] for number in ("0102530", "0102746", "2310230")]
    rows = script.scaled_rows(source, 8, "27", "大阪府")
    assert len(rows) == 8 and {r[1] for r in rows} == {"27"} and {r[2] for r in rows} == {"大阪府"}
    numbers = [r[4] for r in rows]
    assert len(set(numbers)) == 8  # each repeat of the source is a new set of institutions
    assert all(institution_number_is_valid(n, "27", "prefixed") for n in numbers)
    assert [n[:6] for n in numbers[:3]] == ["010253", "010274", "231023"]  # the first copy keeps the payload
    assert all(institution_number_is_valid(r[4], "13", "six_digit") for r in script.scaled_rows(source, 3, "13", "東京都"))


def test_deterministic(national, tmp_path):
    out, _ = national
    again = _script().generate(DEMO_REGISTERS, tmp_path, 2_000)
    for entry in again["files"]:
        assert (tmp_path / "registers" / entry["file"]).read_bytes() == (out / "registers" / entry["file"]).read_bytes()
