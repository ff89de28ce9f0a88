"""A NUL in a loaded value, and a file name that is not UTF-8, on SQLite and PostgreSQL.

PostgreSQL text cannot hold NUL (the load failed with "A string literal cannot contain NUL", leaving the
submission `received`), and a name of bytes that are not UTF-8 (an old CP932 zip, a Samba share) reaches
Python as lone surrogates, which no database driver can encode (register_submission crashed). Both are
now values like any other: NUL and undecodable bytes become U+FFFD, the same on both backends; the raw
file is archived byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hardening.office import office_rows, write_csv
from tsunagu.flows import get_flow
from tsunagu.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ADDRESS = 3  # 0-based column D (所在地)


@pytest.fixture
def settings(tmp_path, warehouse_url) -> Settings:
    return Settings(home=tmp_path / "home", db_url=warehouse_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wh.sqlite'}"
        return
    from tests.support.warehouse import postgres_schema_url

    with postgres_schema_url(request.getfixturevalue("pg_url")) as url:
        yield url


def test_a_nul_in_a_loaded_value_is_stored_as_u_fffd(tmp_path, settings):
    rows = office_rows(90)
    rows[-1][ADDRESS] = "甲府市\x00天神町"  # a loaded field, after the first 8 KB (the binary sniff)
    path = write_csv(tmp_path / "山梨_NUL.csv", rows)
    assert b"\x00" not in path.read_bytes()[:8192] and b"\x00" in path.read_bytes()

    outcome = get_flow("home_care_report").ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings,
                                                  use_gx=False)
    assert (outcome.status, outcome.rows) == ("accepted", 89)
    from tsunagu.flows.base import open_warehouse

    warehouse = open_warehouse(settings)
    assert warehouse.get_submission(outcome.submission_id)["status"] == "accepted"
    [row] = [r for r in warehouse.home_care_reports(2025, "19") if r["source_row"] == len(rows)]
    assert row["address"] == "甲府市\ufffd天神町"
    warehouse.dispose()


def test_a_file_name_that_is_not_utf8_is_ingested_and_recorded(tmp_path, settings):
    raw_name = "山梨_報告".encode("cp932") + b".csv"  # bytes that are not UTF-8
    folder = tmp_path / "landing"
    folder.mkdir()
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), raw_name)))
    write_csv(path, office_rows(3))
    assert os.fsencode(path.name) == raw_name

    outcome = get_flow("home_care_report").ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings,
                                                  use_gx=False)
    assert (outcome.status, outcome.rows) == ("accepted", 3)
    from tsunagu.flows.base import open_warehouse

    warehouse = open_warehouse(settings)
    name = warehouse.get_submission(outcome.submission_id)["original_name"]
    assert name == raw_name.decode("utf-8", "replace")
    assert "\ufffd" in name and name.endswith(".csv")
    for report in outcome.reports.values():
        assert Path(report).exists()
        Path(report).name.encode("utf-8")  # every name we write is UTF-8
    again = get_flow("home_care_report").ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings)
    assert (again.status, again.note) == ("skipped", "already processed as accepted")
    warehouse.dispose()


def test_a_name_that_is_not_utf8_through_the_landing_scan_and_the_outcomes_record(tmp_path, settings):
    import json

    from tsunagu.pipeline import ingest_batch, scan_landing, sender_batches, write_outcomes

    folder = settings.landing_dir / "home_care_reports" / "2025" / "19"
    folder.mkdir(parents=True)
    raw_name = "山梨_報告".encode("cp932") + b".csv"
    write_csv(Path(os.fsdecode(os.path.join(os.fsencode(folder), raw_name))), office_rows(3))

    found = scan_landing(settings.landing_dir, fiscal_year=2025)
    [batch] = sender_batches(found)
    outcomes = ingest_batch(json.loads(json.dumps(batch["files"])), settings=settings)  # as XCom carries them
    assert [(o["status"], o["rows"]) for o in outcomes] == [("accepted", 3)]
    record = write_outcomes(outcomes, settings, "manual__2025-11-01", try_number=1)
    [entry] = json.loads(record.read_text(encoding="utf-8"))
    assert Path(entry["path"]).name == raw_name.decode("utf-8", "replace")
