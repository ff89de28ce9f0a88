"""The operator's path through the real services, shared by the LocalExecutor and Celery tests:
land files → trigger ingest_submissions (REST API v2, params) → the Asset-triggered publication →
a rerun writes byte-identical packages → clearing a task changes nothing and keeps the first try's record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.services.conftest import (
    FISCAL_YEAR,
    PREFECTURES,
    Airflow,
    land_inputs,
    outcome_records,
    read_json,
    tree_hashes,
)

INGEST, PUBLISH = "ingest_submissions", "publish_home_care_reports"
CONF = {"fiscal_year": FISCAL_YEAR, "prefectures": PREFECTURES}
EXPECTED_OUTCOMES = {
    "09届出受理医療機関名簿（医科）栃木r0710.xlsx": "accepted",
    "11届出受理医療機関名簿（医科）埼玉r0710.xlsx": "accepted",
    "栃木_令和7年度_定例報告集計.xlsx": "accepted",
    "栃木_集計表_スキャン.pdf": "unreadable",
    "埼玉_定例報告_R7.csv": "accepted",
}
# Per-municipality CSVs: the municipalities with reporting institutions in the landed registers.
MUNICIPALITIES = {
    "09": "092011 092029 092037 092045 092053 092061 092088 092096 092100 092118 092134 092142 092151 092169 093017"
          " 093424 093441 093611 093645 093840 093866 094072 094111",
    "11": "111007 112011 112020 112038 112062 112071 112089 112097 112101 112119 112127 112143 112151 112160 112178"
          " 112186 112194 112216 112224 112232 112241 112259 112275 112283 112291 112305 112313 112321 112330 112348"
          " 112356 112372 112381 112399 112402 112411 112429 112437 112453 112461 113018 113247 113263 113425 113433"
          " 113468 113476 113484 113492 113620 113638 113654 113816 113832 113859 114642 114651",
}
PACKAGE_FILES = {
    f"{code}_{name}": sorted(
        ["datapackage.json", "manifest.json", f"home_care_reports_2025_{code}.csv", f"home_care_reports_2025_{code}.xlsx"]
        + [f"home_care_reports_2025_{code}_{m}.csv" for m in MUNICIPALITIES[code].split()]
    )
    for code, name in (("09", "tochigi"), ("11", "saitama"))
}


def package_listing(published: Path) -> dict[str, list[str]]:
    return {
        p.name: sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file())
        for p in sorted((published / str(FISCAL_YEAR)).iterdir())
    }


def run_scenario(af: Airflow, label: str) -> float:
    """Returns the seconds from the files landing to the package being published (the run's end)."""
    af.wait_parsed(INGEST, PUBLISH)
    af.unpause(INGEST, PUBLISH)
    af.settle(INGEST)  # the monthly run that unpausing makes: it must not pick up our files
    known_publish = {r["dag_run_id"] for r in af.runs(PUBLISH)}

    landed = land_inputs(af.home)
    run_id = af.trigger(INGEST, CONF)
    run = af.wait_run(INGEST, run_id)
    states = af.task_states(INGEST, run_id)
    print(f"[{label}] ingest {run_id}: {run['state']} {states}")

    publish = af.new_run(PUBLISH, known_publish)
    latency = dt.datetime.fromisoformat(publish["end_date"]).timestamp() - landed
    print(f"[{label}] publish {publish['dag_run_id']} ({publish['run_type']}): {publish['state']}")
    print(f"[{label}] landing → published: {latency:.1f} s")

    records = outcome_records(af.home, run_id)
    outcomes = read_json(records[0])
    print(f"[{label}] outcomes {records}: {[(Path(o['path']).name, o['status']) for o in outcomes]}")
    published = af.home / "published"
    listing = package_listing(published)
    print(f"[{label}] packages {listing}")

    assert run["state"] == "success"
    assert states == {
        "prepare_warehouse": ["success"],
        "scan_landing": ["success"],
        "ingest_registers": ["success"],
        "list_senders": ["success"],
        "ingest_sender": ["success", "success"],
        "record_outcomes": ["success"],
        "check_params": ["success"],
    }
    assert {Path(o["path"]).name: o["status"] for o in outcomes} == EXPECTED_OUTCOMES
    assert publish["state"] == "success"
    assert publish["run_type"] == "asset_triggered"
    publish_states = af.task_states(PUBLISH, publish["dag_run_id"])
    print(f"[{label}] publish tasks {publish_states}")
    assert publish_states == {
        "check_params": ["success"],
        "plan_packages": ["success"],
        "publish_package": ["success", "success"],
        "record_publication": ["success"],
    }
    assert listing == PACKAGE_FILES
    # 19's file was left out by the params: still waiting in landing, never archived.
    assert (af.home / "landing" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v1.xlsx").is_file()
    first_record = records[0].read_bytes()
    before = tree_hashes(published)

    # A manual publication rewrites the packages byte for byte.
    rerun = af.wait_run(PUBLISH, af.trigger(PUBLISH, CONF))
    assert rerun["state"] == "success"
    assert tree_hashes(published) == before

    # Clearing the senders' task (and what follows) reruns it: every file is already processed.
    known_publish = {r["dag_run_id"] for r in af.runs(PUBLISH)}
    af.post(
        f"/api/v2/dags/{INGEST}/clearTaskInstances",
        {"dag_run_id": run_id, "task_ids": ["ingest_sender"], "include_downstream": True, "only_failed": False,
         "reset_dag_runs": True, "dry_run": False},
    )
    cleared = af.wait_run(INGEST, run_id)
    assert cleared["state"] == "success"
    assert af.task_states(INGEST, run_id)["record_outcomes"] == ["skipped"]  # nothing new: no Asset event
    records = outcome_records(af.home, run_id)
    assert len(records) == 2
    assert records[0].read_bytes() == first_record  # the first try's audit record survives
    # The second try: the registers' outcomes come from their (uncleared) task; the reports are known files.
    assert {Path(o["path"]).name: o["status"] for o in read_json(records[1])} == {
        name: "accepted" if "名簿" in name else "skipped" for name in EXPECTED_OUTCOMES
    }
    assert tree_hashes(published) == before
    assert {r["dag_run_id"] for r in af.runs(PUBLISH)} == known_publish
    return latency
