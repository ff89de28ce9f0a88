"""A legal but long file name (241 bytes of UTF-8) is ingested, reported and quarantined like any other.

Every name built from a sender's file name keeps at most 200 bytes of it, cut on a character
boundary, behind the sha256 prefix; a rerun of the same bytes is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hardening.office import office_rows, write_csv
from tsunagu.flows import get_flow
from tsunagu.flows.base import open_warehouse
from tsunagu.pipeline import ingest_file
from tsunagu.settings import Settings

REPO = Path(__file__).resolve().parents[2]
LONG = "あ" * 79  # 237 bytes; "<LONG>.csv" is 241 bytes, legal on Linux (255 a name)
KEPT_STEM = "あ" * 66  # what the reports keep of the stem: 198 bytes (a 67th あ would pass 200)
KEPT_NAME = "あ" * 65 + ".csv"  # what the quarantine keeps of the name: 199 bytes, the suffix kept


def settings_in(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")


def components_fit(path: Path) -> bool:
    return all(len(part.encode("utf-8")) <= 255 for part in path.parts)


def test_short_name_cuts_on_a_character_boundary_and_keeps_the_suffix():
    from tsunagu.warehouse.archive import short_name

    assert short_name(f"{LONG}.csv") == KEPT_NAME
    assert short_name(LONG) == KEPT_STEM
    assert short_name("あいう.xlsx", limit=12) == "あい.xlsx"  # 11 bytes
    assert short_name("あいう.xlsx", limit=10) == "あ.xlsx"  # 5 bytes left for the stem: never half an い
    assert short_name("a" * 300) == "a" * 200
    assert short_name("報告.csv") == "報告.csv"


def test_long_named_accepted_csv_through_the_flow(tmp_path):
    settings = settings_in(tmp_path)
    path = write_csv(tmp_path / "in" / f"{LONG}.csv", office_rows(3))
    assert len(path.name.encode("utf-8")) == 241
    flow = get_flow("home_care_report")
    outcome = flow.ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings)
    assert (outcome.status, outcome.rows, outcome.errors, outcome.quarantine) == ("accepted", 3, 0, None)
    stem = f"{outcome.sha256[:12]}_{KEPT_STEM}"
    folder = settings.reports_dir / "home_care_report" / "2025" / "19"
    assert outcome.reports == {"json": str(folder / f"{stem}.json"), "xlsx": str(folder / f"{stem}.xlsx"),
                               "data_docs": str(folder / f"{stem}_data_docs" / "index.html")}
    assert all(Path(p).is_file() and components_fit(Path(p)) for p in outcome.reports.values())
    report = json.loads(Path(outcome.reports["json"]).read_text(encoding="utf-8"))
    assert report["source_file"] == path.name and report["submission"]["original_name"] == path.name
    record = open_warehouse(settings).get_submission(outcome.submission_id)
    assert (record["status"], record["original_name"]) == ("accepted", path.name)
    again = flow.ingest(path, prefecture_code="19", fiscal_year=2025, settings=settings)
    assert (again.status, again.note) == ("skipped", "already processed as accepted")


def test_long_named_rejected_csv_from_landing_is_quarantined(tmp_path):
    settings = settings_in(tmp_path)
    rows = office_rows(3)
    rows[2][8] = "99"  # 死亡患者数 ≠ the sum of ①〜④ → death_sum
    path = write_csv(tmp_path / "landing" / "home_care_reports" / "2025" / "19" / f"{LONG}.csv", rows)
    item = {"kind": "home_care_report", "path": str(path), "prefecture_code": "19", "fiscal_year": 2025}
    outcome = ingest_file(item, settings=settings)
    assert (outcome.status, outcome.errors) == ("rejected", 1)
    folder = settings.quarantine_dir / "2025" / "19" / f"{outcome.sha256[:12]}_{KEPT_NAME}"
    assert outcome.quarantine == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["REASON.txt", KEPT_NAME]
    assert (folder / KEPT_NAME).read_bytes() == path.read_bytes()
    reason = (folder / "REASON.txt").read_text(encoding="utf-8")
    assert f"ファイル名 / File name: {path.name}\n" in reason and "] エラー / error  death_sum\n" in reason
    assert all(Path(p).is_file() and components_fit(Path(p)) for p in outcome.reports.values())
    report = json.loads(Path(outcome.reports["json"]).read_text(encoding="utf-8"))
    assert [(e["code"], e["row"], e["column"]) for e in report["errors"] if e["severity"] == "error"] == [
        ("death_sum", 3, "I")]
    assert open_warehouse(settings).get_submission(outcome.submission_id)["status"] == "rejected"
    again = ingest_file(item, settings=settings)
    assert (again.status, again.note) == ("skipped", "already processed as rejected")


def test_quarantine_of_the_longest_legal_name(tmp_path):
    """253 bytes: the longest あ-name with .csv; once 120 characters were kept, and the folder overflowed."""
    from tsunagu.findings import error
    from tsunagu.warehouse.archive import archive_raw, quarantine

    settings = settings_in(tmp_path)
    path = write_csv(tmp_path / "in" / ("あ" * 83 + ".csv"), [["x"]])
    archived = archive_raw(path, settings)
    folder = quarantine(archived, [error("E_X", "誤り", "wrong")], settings, kind="home_care_report", sender="19",
                        fiscal_year=2025, original_name=path.name)
    assert folder == settings.quarantine_dir / "2025" / "19" / f"{archived.sha256[:12]}_{KEPT_NAME}"
    assert (folder / KEPT_NAME).read_bytes() == b"x\r\n"
    assert f"ファイル名 / File name: {path.name}\n" in (folder / "REASON.txt").read_text(encoding="utf-8")
