"""kill -9 between a load's commit and the outcome record: the next run repairs the submission.

The CLI runs in a subprocess with ``TSUNAGU_FAULT=after_load_commit`` (``finish_submission`` kills
itself right after ``load()`` committed). That leaves the submission ``accepted`` by the load but
without its outcome: no template version, report path, findings, ``processed_at``, nor the outputs
written after the load. A rerun without the fault must not skip it as "already processed": it
re-validates, the load is a no-op, and the outcome (and outputs) are recorded. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tsunagu.warehouse.db import Warehouse

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"
REGISTER_19 = next((DEMO / "register").glob("19*.xlsx"))
HOME_CARE_19 = DEMO / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
SURVEY_19 = DEMO / "cycle" / "2025-10-15" / "survey_returns" / "2025" / "19" / "山梨県_地域支援事業実施状況.xlsx"
GRANT_19 = next((DEMO / "grants" / "2024-09-19").glob("**/19/*.xlsx"))  # 事前協議, 甲府市 above its cap


def cli(*args, home: Path, db_url: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI in its own process (a fault kills that process only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(TSUNAGU_HOME=str(home), TSUNAGU_DB_URL=db_url)
    if fault:
        env["TSUNAGU_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "tsunagu.cli", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def last_outcome(run: subprocess.CompletedProcess) -> dict:
    return json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])


@pytest.fixture
def wh(warehouse_url):
    warehouse = Warehouse(warehouse_url)
    yield warehouse
    warehouse.dispose()


def killed_after_load(args: tuple, home: Path, url: str, wh: Warehouse, kind: str) -> dict:
    """Run ``args`` with the fault: killed, and the submission loaded without its outcome."""
    run = cli(*args, home=home, db_url=url, fault="after_load_commit")
    assert run.returncode == -9, run.stderr[-2000:]
    (sub,) = wh.outcomes(kind=kind)
    assert sub["loaded_at"] is not None and sub["processed_at"] is None  # the state the kill leaves
    assert sub["template_version"] is None and sub["report_path"] is None
    return sub


def rerun_records_outcome(args: tuple, home: Path, url: str, wh: Warehouse, sid: int, template_version: str) -> dict:
    """Rerun without the fault: decided again (not skipped) and the whole outcome recorded."""
    run = cli(*args, home=home, db_url=url)
    assert run.returncode == 0, run.stderr[-2000:]
    outcome = last_outcome(run)
    assert (outcome["status"], outcome["submission_id"]) == ("accepted", sid), outcome
    sub = wh.get_submission(sid)
    assert sub["status"] == "accepted" and sub["processed_at"] is not None
    assert sub["template_version"] == template_version
    assert sub["report_path"] == outcome["reports"]["json"] and Path(sub["report_path"]).is_file()
    report = json.loads(Path(sub["report_path"]).read_text(encoding="utf-8"))
    assert (sub["errors"], sub["warnings"]) == (report["counts"]["error"], report["counts"]["warning"])
    found = [(f["code"], f["severity"], f["row"]) for f in report["errors"]]
    assert [(v["code"], v["severity"], v["row"]) for v in wh.validation_results(sid)] == found
    # and a third run skips it: the outcome is recorded now
    assert last_outcome(cli(*args, home=home, db_url=url))["status"] == "skipped"
    return sub


def test_kill_after_load_commit_home_care_report(warehouse_url, wh, tmp_path):
    home = tmp_path / "home"
    assert cli("ingest", "--kind", "register", REGISTER_19, home=home, db_url=warehouse_url).returncode == 0
    args = ("ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", HOME_CARE_19)
    sub = killed_after_load(args, home, warehouse_url, wh, "home_care_report")
    assert sub["status"] == "accepted"
    rerun_records_outcome(args, home, warehouse_url, wh, sub["id"], "2024-08")
    assert len(wh.home_care_reports(2025, "19")) == 89  # loaded once, not twice

    out = tmp_path / "published"
    run = cli("publish", "--fiscal-year", "2025", "--prefecture", "19", "--out", out, home=home, db_url=warehouse_url)
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((out / "2025" / "19_yamanashi" / "manifest.json").read_text(encoding="utf-8"))
    assert [(s["sha256"], s["template_version"]) for s in manifest["sources"]] == [(sub["sha256"], "2024-08")]


def test_kill_after_load_commit_survey_return(warehouse_url, wh, tmp_path):
    home = tmp_path / "home"
    args = ("ingest", "--kind", "survey_return", "--prefecture", "19", "--fiscal-year", "2025", SURVEY_19)
    sub = killed_after_load(args, home, warehouse_url, wh, "survey_return")
    assert sub["status"] == "accepted"
    summary = home / "published" / "survey_summaries" / "2025" / "19_yamanashi" / "survey_summary_2025_19.xlsx"
    assert not summary.exists()  # the outputs after the load never ran
    rerun_records_outcome(args, home, warehouse_url, wh, sub["id"], "2025")
    assert summary.is_file()


def test_kill_after_load_commit_grant_stage(warehouse_url, wh, tmp_path):
    home = tmp_path / "home"
    approve = ("grants", "approve-cap", "--fiscal-year", "2024", "--filer", "192013", "--amount", "600000000",
               "--approver", "地域包括ケア推進課長")
    assert cli(*approve, home=home, db_url=warehouse_url).returncode == 0  # else the file is rejected
    args = ("ingest", "--kind", "grant", "--program", "community_support", "--stage", "pre_consultation",
            "--prefecture", "19", "--fiscal-year", "2024", GRANT_19)
    sub = killed_after_load(args, home, warehouse_url, wh, "grant.community_support.pre_consultation")
    assert sub["status"] == "accepted"
    done = rerun_records_outcome(args, home, warehouse_url, wh, sub["id"], "2024")
    assert done["errors"] == 0 and done["warnings"] > 0  # the warnings are recorded, not lost
