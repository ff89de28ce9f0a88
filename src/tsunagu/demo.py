"""`tsunagu demo`: the whole flow on the bundled inputs, through Airflow, with no services.

SQLite warehouse, SQLite Airflow metadata, LocalExecutor. The demo home is
rebuilt from scratch on each run so that its output is always the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tsunagu.settings import REPO_ROOT, include_dir

DEMO_FISCAL_YEAR = 2025


def demo_inputs() -> Path:
    return include_dir() / "demo"


def airflow_env(home: Path) -> dict[str, str]:
    """Embedded Airflow: SQLite metadata under the demo home, our dags/ folder, LocalExecutor."""
    return {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "TSUNAGU_HOME": str(home),
    }


def stage_inputs(home: Path) -> Path:
    """Copy the bundled inputs into the landing folders, as offices would deliver them."""
    landing = home / "landing"
    src = demo_inputs()
    shutil.copytree(src / "register", landing / "register", dirs_exist_ok=True)
    shutil.copytree(src / "home_care_reports", landing / "home_care_reports", dirs_exist_ok=True)
    return landing


def run_dags(home: Path) -> None:
    """Run both DAGs with dag.test(); call in a process whose environment is airflow_env(home)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    for dag_id in ("ingest_submissions", "publish_home_care_reports"):
        run = bag.dags[dag_id].test()
        print(f"{dag_id}: {run.state}")
        if str(run.state) != "success":
            raise SystemExit(f"{dag_id} ended {run.state}")


def summarise(home: Path) -> None:
    runs = sorted((home / "reports" / "runs").glob("*.json"))
    if runs:
        print("\nFiles processed (outcomes record):")
        for o in json.loads(runs[-1].read_text(encoding="utf-8")):
            where = f"{o['fiscal_year'] or '':>4} {o['prefecture_code'] or '':>2}"
            print(f"  {o['status']:<10} {where} rows={o['rows']:<4} errors={o['errors']:<3} {Path(o['path']).name}")
            if o.get("quarantine"):
                print(f"             quarantined: {o['quarantine']}")
    published = home / "published"
    print(f"\nPublished packages under {published}:")
    for manifest in sorted(published.glob("*/*/manifest.json")):
        print(f"  {manifest.parent}")
        for name in sorted(p.name for p in manifest.parent.iterdir()):
            print(f"    {name}")
    print(f"\nValidation reports (JSON, annotated xlsx, Data Docs): {home / 'reports'}")


def run_demo(home: Path | None = None) -> int:
    home = Path(home or Path("var") / "demo").resolve()
    if home.exists():
        shutil.rmtree(home)  # the demo starts clean so that every run tells the same story
    home.mkdir(parents=True)
    stage_inputs(home)
    env = {**os.environ, **airflow_env(home)}
    print(f"tsunagu demo: home {home}")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", f"from tsunagu.demo import run_dags; run_dags(__import__('pathlib').Path({str(home)!r}))"], env=env, check=True)
    summarise(home)
    return 0
