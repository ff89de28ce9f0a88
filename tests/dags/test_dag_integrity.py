"""DAG integrity: every DAG file imports cleanly, fast, without secrets and without heavy imports.

Like the astro project template, Variables and Connections are stubbed so that
parsing needs no secrets; a DAG that reads one at parse time fails here.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (REPO / "dags").glob("*.py"))
HEAVY = ("pandas", "great_expectations", "openpyxl", "python_calamine", "sqlalchemy", "psycopg", "numpy")
EXPECTED = {
    "approve_release.py": "approve_release",
    "distribution_cycle.py": "distribution_cycle",
    "ingest_submissions.py": "ingest_submissions",
    "publish_home_care_reports.py": "publish_home_care_reports",
    "run_evaluation_cycle.py": "run_evaluation_cycle",
    "run_grant_cycles.py": "run_grant_cycles",
}
RERUN_PARAMS = ["dry_run", "fiscal_year", "force", "prefectures"]
PARAMS = {
    "approve_release": ["approver", "fiscal_year", "note", "prefecture", "version"],
    "distribution_cycle": ["day", "dry_run", "fiscal_year", "prefectures"],
    "run_evaluation_cycle": ["day", "dry_run", "fiscal_year", "prefectures"],
    "run_grant_cycles": ["day", "dry_run", "fiscal_year", "prefectures", "programs"],
}


def test_every_dag_file_is_known():
    assert sorted(p.name for p in DAG_FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_top_level_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in HEAVY]


# Runs in a fresh interpreter: module caches of this test session must not hide a heavy import.
_PROBE = r"""
import sys, json
from unittest import mock
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseHook, Variable

def no_secrets(*a, **k):
    raise AssertionError(f"secret read at parse time: {a}")

before = set(sys.modules)
with mock.patch.object(Variable, "get", no_secrets), mock.patch.object(BaseHook, "get_connection", no_secrets):
    bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in HEAVY_MODULES)
print(json.dumps({"dags": sorted(bag.dag_ids), "heavy": heavy, "errors": {k: str(v) for k, v in bag.import_errors.items()},
  "tasks": {k: sorted(d.task_ids) for k, d in bag.dags.items()},
  "params": {k: sorted(d.params.keys()) for k, d in bag.dags.items()}}))
""".replace("HEAVY_MODULES", repr(HEAVY))


@pytest.fixture(scope="module")
def parsed() -> dict:
    import json

    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = {}
    for path in DAG_FILES:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[path.name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_imports_without_errors_or_heavy_modules(parsed, path: Path):
    result = parsed[path.name]
    assert result["errors"] == {}
    assert result["dags"] == [EXPECTED[path.name]]
    assert result["heavy"] == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_rerun_params_are_typed(parsed, path: Path):
    dag_id = EXPECTED[path.name]
    assert result_params(parsed, path.name, dag_id) == PARAMS.get(dag_id, RERUN_PARAMS)


def result_params(parsed: dict, name: str, dag_id: str) -> list[str]:
    return parsed[name]["params"][dag_id]


def test_task_wiring(parsed):
    assert parsed["ingest_submissions.py"]["tasks"]["ingest_submissions"] == [
        "check_params", "ingest_registers", "ingest_sender", "list_senders", "prepare_warehouse", "record_outcomes",
        "scan_landing",
    ]
    assert parsed["publish_home_care_reports.py"]["tasks"]["publish_home_care_reports"] == [
        "check_params", "plan_packages", "publish_package", "record_publication",
    ]
    assert parsed["distribution_cycle.py"]["tasks"]["distribution_cycle"] == [
        "check_params", "close_day", "plan_day", "run_prefecture",
    ]
    assert parsed["approve_release.py"]["tasks"]["approve_release"] == ["approve", "check_params"]
    assert parsed["run_grant_cycles.py"]["tasks"]["run_grant_cycles"] == ["check_params", "plan_programs", "run_program"]
    assert parsed["run_evaluation_cycle.py"]["tasks"]["run_evaluation_cycle"] == ["check_params", "plan_day", "run_day"]


def test_dag_bag_loads_with_no_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    from tsunagu.dag_params import current_fiscal_year

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    ingest = bag.dags["ingest_submissions"]
    assert type(ingest.timetable).__name__ == "CronDataIntervalTimetable"
    assert ingest.catchup is False
    publish = bag.dags["publish_home_care_reports"]
    assert [a.uri for a in publish.timetable.asset_condition.objects] == [
        "tsunagu://warehouse/home_care_reports"
    ]
    this_year = current_fiscal_year()
    for dag in (ingest, publish):
        assert dag.params["fiscal_year"] == this_year  # the form proposes it; runs without it take every year
        assert dag.params["prefectures"] == []
        assert dag.params["dry_run"] is False
        assert dag.params["force"] is False
    cycle = bag.dags["distribution_cycle"]
    assert type(cycle.timetable).__name__ == "CronDataIntervalTimetable"
    assert (cycle.catchup, cycle.max_active_runs) == (False, 1)
    assert (cycle.params["fiscal_year"], cycle.params["prefectures"], cycle.params["dry_run"]) == (this_year, [], False)
    assert cycle.params["day"] is None
    assert type(bag.dags["approve_release"].timetable).__name__ == "NullTimetable"  # manual only
    grants = bag.dags["run_grant_cycles"]
    assert (grants.catchup, grants.max_active_runs) == (False, 1)
    assert (grants.params["programs"], grants.params["prefectures"], grants.params["day"]) == ([], [], None)
    evaluation = bag.dags["run_evaluation_cycle"]
    assert type(evaluation.timetable).__name__ == "CronDataIntervalTimetable"
    assert (evaluation.catchup, evaluation.max_active_runs) == (False, 1)
    assert (evaluation.params["prefectures"], evaluation.params["day"]) == ([], None)
    # Every DAG checks its conf first: check_params is the one root, a setup task that is never retried.
    for dag in bag.dags.values():
        check = dag.get_task("check_params")
        assert [t.task_id for t in dag.roots] == ["check_params"]
        assert (check.is_setup, check.retries) == (True, 0)
