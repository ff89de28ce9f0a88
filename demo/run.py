"""`make demo` (`python -m demo`): the whole flow on the bundled inputs, with no services.

Part 1 runs ingest_submissions and publish_home_care_reports through Airflow
(SQLite warehouse, SQLite Airflow metadata, LocalExecutor). Part 2 walks the
September–December distribution cycle day by day, with a real SMTP server on
loopback receiving every message (out/mail/*.eml) and the ledger exported as
out/deliveries.csv. The demo home and out/ are rebuilt on each run so that the
story is always the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tsunagu.settings import REPO_ROOT, include_dir

DEMO_FISCAL_YEAR = 2025
# The cycle walk covers the three prefectures whose registers are bundled.
DEMO_PREFECTURES = ("09", "11", "19")
JST = dt.timezone(dt.timedelta(hours=9))


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


def _ingest_arrivals(landing: Path, day: dt.date, settings, warehouse) -> list:
    """Process what is in the landing folders, as the monthly DAG would (already-processed files are skipped).

    ``today`` is the simulated day: a request form's year is checked against it.
    """
    from tsunagu.pipeline import ingest_file, ingest_registers, scan_landing

    found = scan_landing(landing, fiscal_year=DEMO_FISCAL_YEAR)
    outcomes = ingest_registers([f.path for f in found if f.kind == "register"], settings=settings, warehouse=warehouse)
    outcomes += [ingest_file(f, settings=settings, warehouse=warehouse, today=day) for f in found if f.kind != "register"]
    return [o for o in outcomes if o.status != "skipped"]


def walk_cycle(home: Path, out: Path) -> None:
    """September to December on a simulated calendar, through a real SMTP server on loopback.

    Call in a process whose environment is airflow_env(home): mail goes through Airflow's SMTP provider.
    """
    import yaml

    from tsunagu.cycle.approvals import approve
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.cycle.releases import ensure_release
    from tsunagu.deliver import export_ledger_csv
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    settings = get_settings()
    warehouse = open_warehouse(settings)
    story = demo_inputs() / "cycle"
    approvals: dict[dt.date, list[dict]] = {}
    for a in yaml.safe_load((story / "approvals.yaml").read_text(encoding="utf-8")):
        approvals.setdefault(a["day"], []).append(a)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"\nThe {DEMO_FISCAL_YEAR} distribution cycle, 1 September to 31 December (prefectures {', '.join(DEMO_PREFECTURES)}):")
    with MailSink(out / "mail") as sink:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_conn_uri(sink.port, from_email="kantoshinetsu-care@mhlw.go.jp")
        day = dt.date(DEMO_FISCAL_YEAR, 9, 1)
        while day <= dt.date(DEMO_FISCAL_YEAR, 12, 31):
            if (arrivals := story / day.isoformat()).is_dir():
                shutil.copytree(arrivals, settings.landing_dir, dirs_exist_ok=True)
                for o in _ingest_arrivals(settings.landing_dir, day, settings, warehouse):
                    print(f"  {day}  received  {o.kind:<16} {o.prefecture_code or '':>2} {o.status:<10} {Path(o.path).name}")
            for a in approvals.get(day, []):
                release = ensure_release(warehouse, settings, DEMO_FISCAL_YEAR, a["prefecture"])
                approve(warehouse, DEMO_FISCAL_YEAR, a["prefecture"], release.version, a["approver"], a.get("note", ""))
                print(f"  {day}  approved  {a['prefecture']} version {release.version} by {a['approver']}")
            now = dt.datetime.combine(day, dt.time(9), JST)
            for r in run_cycle_day(day, prefectures=DEMO_PREFECTURES, settings=settings, warehouse=warehouse, now=now):
                if r.status in ("sent", "failed", "blocked"):
                    detail = r.detail if r.status != "sent" else ", ".join(r.to)
                    print(f"  {day}  {r.status:<9} {r.kind:<20} {r.prefecture_code or '':>2} {detail}")
            day += dt.timedelta(days=1)
        received = len(sink.messages)
    export_ledger_csv(warehouse, out / "deliveries.csv", fiscal_year=DEMO_FISCAL_YEAR)
    print(f"\n{received} messages received by the loopback SMTP server, one .eml each: {out / 'mail'}")
    print(f"Mail ledger: {out / 'deliveries.csv'}")


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


def run_demo(home: Path | None = None, out: Path | None = None) -> int:
    home = Path(home or Path("var") / "demo").resolve()
    out = Path(out or "out").resolve()
    if home.exists():
        shutil.rmtree(home)  # the demo starts clean so that every run tells the same story
    home.mkdir(parents=True)
    stage_inputs(home)
    env = {**os.environ, **airflow_env(home)}
    print(f"tsunagu demo: home {home}")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", f"from demo.run import run_dags; run_dags(__import__('pathlib').Path({str(home)!r}))"], env=env, check=True, cwd=REPO_ROOT)
    summarise(home)
    walk = f"from pathlib import Path; from demo.run import walk_cycle; walk_cycle(Path({str(home)!r}), Path({str(out)!r}))"
    subprocess.run([sys.executable, "-c", walk], env=env, check=True, cwd=REPO_ROOT)
    return 0
