"""End to end: both DAGs with dag.test() on SQLite, over the bundled demo inputs."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from demo.run import stage_inputs

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EXPECTED_OUTCOMES = {
    "09届出受理医療機関名簿（医科）栃木r0710.xlsx": "accepted",
    "11届出受理医療機関名簿（医科）埼玉r0710.xlsx": "accepted",
    "19届出受理医療機関名簿（医科）山梨r0710.xlsx": "accepted",
    "栃木_令和6年度_定例報告集計.xlsx": "accepted",
    "栃木_令和7年度_定例報告集計.xlsx": "accepted",
    "栃木_集計表_スキャン.pdf": "unreadable",
    "埼玉_定例報告_R7.csv": "accepted",
    "山梨_定例報告_R7_v1.xlsx": "rejected",  # its corrected file arrives later, during the cycle
}
# Distinct 在支診/在支病 institutions in the bundled registers.
ROSTER = {"09": 174, "11": 659, "19": 89}


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _latest_outcomes(home: Path) -> list[dict]:
    runs = sorted((home / "reports" / "runs").glob("*/try-*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text(encoding="utf-8"))


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TSUNAGU_HOME", str(home))
    monkeypatch.delenv("TSUNAGU_DB_URL", raising=False)
    monkeypatch.delenv("TSUNAGU_LANDING", raising=False)
    monkeypatch.delenv("TSUNAGU_PUBLISH_DIR", raising=False)
    stage_inputs(home)
    return home


def test_ingest_then_publish_is_complete_scoped_and_idempotent(airflow_db, dag_bag, home):
    ingest, publish = dag_bag.dags["ingest_submissions"], dag_bag.dags["publish_home_care_reports"]

    run = ingest.test()
    assert str(run.state) == "success"
    outcomes = _latest_outcomes(home)
    assert {Path(o["path"]).name: o["status"] for o in outcomes} == EXPECTED_OUTCOMES
    rejected = next(o for o in outcomes if o["status"] == "rejected")
    assert Path(rejected["quarantine"]).is_dir()
    assert {Path(p).suffix for p in rejected["reports"].values()} >= {".json", ".xlsx"}
    tochigi = next(o for o in outcomes if o["path"].endswith("栃木_令和7年度_定例報告集計.xlsx"))
    assert tochigi["warnings"] >= 1  # the jump in total_patients against FY2024

    run = publish.test()
    assert str(run.state) == "success"
    published = home / "published"
    assert sorted(p.name for p in (published / "2025").iterdir()) == ["09_tochigi", "11_saitama"]
    assert sorted(p.name for p in (published / "2024").iterdir()) == ["09_tochigi"]
    for package in (published / "2025").iterdir():
        code = package.name[:2]
        csv_path = package / f"home_care_reports_2025_{code}.csv"
        with csv_path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == ROSTER[code]
        assert {r["prefecture_code"] for r in rows} == {code}
        manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
        for name, digest in _manifest_hashes(manifest).items():
            assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest
    before = _tree_hashes(published)

    # Rerunning both DAGs changes nothing: every file is skipped, every package rewritten byte for byte.
    run = ingest.test()
    assert str(run.state) == "success"
    assert {o["status"] for o in _latest_outcomes(home)} == {"skipped"}
    run = publish.test(run_conf={"fiscal_year": 2025, "prefectures": ["11"]})
    assert str(run.state) == "success"
    assert _tree_hashes(published) == before


def test_dry_run_writes_nothing(airflow_db, dag_bag, home):
    run = dag_bag.dags["ingest_submissions"].test(run_conf={"dry_run": True, "prefectures": ["19"], "fiscal_year": 2025})
    assert str(run.state) == "success"
    assert not (home / "archive").exists()
    assert not (home / "quarantine").exists()
    statuses = {Path(o["path"]).name: o["status"] for o in _latest_outcomes(home)}
    assert statuses["山梨_定例報告_R7_v1.xlsx"] == "rejected"
    assert "栃木_令和7年度_定例報告集計.xlsx" not in statuses


def _manifest_hashes(manifest: dict) -> dict[str, str]:
    files = manifest["files"]
    if isinstance(files, dict):
        return {name: (v["sha256"] if isinstance(v, dict) else v) for name, v in files.items()}
    return {f["path"]: f["sha256"] for f in files}
