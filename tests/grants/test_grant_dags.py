"""dag.test() of the grant path: ingest_submissions picks grant files from landing through the flow
registry, and run_grant_cycles sends the stage requests and reminders through a real SMTP sink."""

from __future__ import annotations

import email
import email.policy
import json
import shutil

import pytest

from tsunagu.settings import REPO_ROOT, get_settings

pytestmark = pytest.mark.slow
STORY = REPO_ROOT / "include" / "demo" / "grants"


def _keys(sink) -> list[str]:
    return [email.message_from_bytes(r.path.read_bytes(), policy=email.policy.default)["X-Tsunagu-Key"]
            for r in sink.received]


def test_grant_files_through_ingest_submissions_then_the_grant_cycle(airflow_db, dag_bag, home, sink):
    settings = get_settings()
    for day in ("2024-09-19", "2024-09-20"):  # 山梨 (cap breach) and 埼玉 (小鹿野町 missing)
        shutil.copytree(STORY / day, settings.landing_dir, dirs_exist_ok=True)
    ingest = dag_bag.dags["ingest_submissions"]
    run = ingest.test(run_conf={"fiscal_year": 2024, "prefectures": [], "dry_run": False, "force": False})
    assert str(run.state) == "success"
    (record,) = (settings.reports_dir / "runs").glob("*/try-*.json")
    assert record.name == "try-1.json"
    outcomes = sorted((o["kind"], o["prefecture_code"], o["status"], o["rows"], o["errors"])
                      for o in json.loads(record.read_text("utf-8")))
    assert outcomes == [
        ("grant.community_support.pre_consultation", "11", "accepted", 186, 0),
        ("grant.community_support.pre_consultation", "19", "rejected", 81, 1),
    ]

    cycles = dag_bag.dags["run_grant_cycles"]
    conf = {"day": "2024-08-09", "dry_run": False, "fiscal_year": 2024, "prefectures": ["11", "19"],
            "programs": ["community_support"]}
    assert str(cycles.test(run_conf=conf).state) == "success"
    assert _keys(sink) == [f"2024:grant.community_support.pre_consultation:request:{p}" for p in ("11", "19")]
    assert str(cycles.test(run_conf={**conf, "day": "2024-09-25"}).state) == "success"
    assert _keys(sink)[2:] == [f"2024:grant.community_support.pre_consultation:reminder:{p}" for p in ("11", "19")]
    # Clearing and rerunning the day sends nothing twice.
    assert str(cycles.test(run_conf={**conf, "day": "2024-09-25"}).state) == "success"
    assert len(_keys(sink)) == 4
