"""`make demo` (`python -m demo`): the whole flow on the bundled inputs, with no services.

Part 1 runs ingest_submissions and publish_home_care_reports through Airflow
(SQLite warehouse, SQLite Airflow metadata, LocalExecutor). Part 2 walks the
September–December distribution cycle day by day, with a real SMTP server on
loopback receiving every message (out/mail/*.eml) and the ledger exported as
out/deliveries.csv. Part 3 walks the 令和6年度 地域支援事業交付金 of 埼玉 and 山梨
(out/grants/: mail, ledger and status boards). Part 4 ingests the evaluation results of 令和5–8年度,
analyses 埼玉 and 山梨 and walks the 令和8年度 evaluation cycle (out/evaluation/). The demo home and out/
are rebuilt on each run so that the story is always the same.
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
    from tsunagu.cycle.engine import NOT_DONE
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
                if r.status in ("sent", *NOT_DONE):
                    detail = r.detail if r.status != "sent" else ", ".join(r.to)
                    print(f"  {day}  {r.status:<9} {r.kind:<20} {r.prefecture_code or '':>2} {detail}")
            day += dt.timedelta(days=1)
        received = len(sink.messages)
    export_ledger_csv(warehouse, out / "deliveries.csv", fiscal_year=DEMO_FISCAL_YEAR)
    print(f"\n{received} messages received by the loopback SMTP server, one .eml each: {out / 'mail'}")
    print(f"Mail ledger: {out / 'deliveries.csv'}")


GRANT_PROGRAM, GRANT_FISCAL_YEAR = "community_support", 2024
GRANT_PREFECTURES = ("11", "19")


def walk_grants(home: Path, out: Path) -> None:
    """The 地域支援事業交付金 of 令和6年度 for 埼玉 and 山梨, August 2024 to January 2026, day by day.

    Files arrive on their days (include/demo/grants/<day>/), ケア課 records a 個別協議 approval and
    reprocesses a rejected file (include/demo/grants/approvals.yaml), and the cycle engine sends the stage
    requests, the reminders to late filers and the notices of amounts through a loopback SMTP server.
    Ends with the status boards. Call in a process whose environment is airflow_env(home).
    """
    import yaml

    from tsunagu.cycle.engine import NOT_DONE
    from tsunagu.deliver import export_ledger_csv
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.grants.cycle import run_grant_cycle_day
    from tsunagu.grants.status import write_status_boards
    from tsunagu.pipeline import ingest_file, open_warehouse, scan_landing
    from tsunagu.settings import get_settings
    from tsunagu.warehouse.grants import approve_cap

    settings = get_settings()
    warehouse = open_warehouse(settings)
    story = demo_inputs() / "grants"
    approvals: dict[dt.date, list[dict]] = {}
    for a in yaml.safe_load((story / "approvals.yaml").read_text(encoding="utf-8")):
        approvals.setdefault(a["day"], []).append(a)
    grants_out = out / "grants"
    shutil.rmtree(grants_out, ignore_errors=True)
    grants_out.mkdir(parents=True)
    print(f"\nThe 令和6年度 地域支援事業交付金, August 2024 to January 2026 (prefectures {', '.join(GRANT_PREFECTURES)}):")
    with MailSink(grants_out / "mail") as sink:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_conn_uri(sink.port, from_email="kantoshinetsu-care@mhlw.go.jp")
        day = dt.date(2024, 8, 1)
        while day <= dt.date(2026, 1, 31):
            if (arrivals := story / day.isoformat()).is_dir():
                shutil.copytree(arrivals, settings.landing_dir, dirs_exist_ok=True)
                for f in scan_landing(settings.landing_dir, fiscal_year=GRANT_FISCAL_YEAR):
                    if not f.kind.startswith("grant."):
                        continue
                    o = ingest_file(f, settings=settings, warehouse=warehouse)
                    if o.status != "skipped":
                        print(f"  {day}  received  {o.prefecture_code} {o.status:<9} rows={o.rows:<3} "
                              f"errors={o.errors} warnings={o.warnings} {Path(o.path).name}")
            for a in approvals.get(day, []):
                approve_cap(warehouse, program=a["program"], fiscal_year=a["fiscal_year"], filer_code=a["filer"],
                            item_key=a["item"], approved_cap=a["amount"], approver=a["approver"], note=a.get("note", ""))
                print(f"  {day}  個別協議   {a['filer']}/{a['item']} cap {a['amount']:,} yen approved by {a['approver']}")
                if a.get("reprocess"):
                    path = settings.landing_dir / a["reprocess"]
                    (f,) = [f for f in scan_landing(settings.landing_dir) if Path(f.path) == path]
                    o = ingest_file(f, settings=settings, warehouse=warehouse, force=True)
                    print(f"  {day}  reprocess {o.prefecture_code} {o.status:<9} rows={o.rows:<3} "
                          f"errors={o.errors} warnings={o.warnings} {path.name}")
            now = dt.datetime.combine(day, dt.time(9), JST)
            for r in run_grant_cycle_day(GRANT_PROGRAM, day, fiscal_year=GRANT_FISCAL_YEAR,
                                         prefectures=GRANT_PREFECTURES, settings=settings, warehouse=warehouse,
                                         now=now):
                if r.status in ("sent", *NOT_DONE):
                    detail = r.detail if r.status != "sent" else ", ".join(r.to)
                    print(f"  {day}  {r.status:<9} {r.kind:<20} {r.prefecture_code or '':>2} {r.key.split(':')[1]} {detail}")
            day += dt.timedelta(days=1)
        received = len(sink.messages)
    export_ledger_csv(warehouse, grants_out / "deliveries.csv", fiscal_year=GRANT_FISCAL_YEAR)
    boards = write_status_boards(warehouse, GRANT_PROGRAM, GRANT_FISCAL_YEAR, grants_out / "status",
                                 prefectures=None, day=dt.date(2026, 1, 31))
    print(f"\n{received} grant messages received by the loopback SMTP server: {grants_out / 'mail'}")
    print(f"Status boards ({len(boards)}): {grants_out / 'status'}")
    for b in boards:
        if b.scope in ("all", *GRANT_PREFECTURES):
            print(f"  {b.scope:<3} {b.rows} rows  {b.xlsx.name}  {b.csv.name}")


EVALUATION_FISCAL_YEAR = 2026
EVALUATION_PREFECTURES = ("11", "19")
EVALUATION_APPROVER = "地域包括ケア推進課 佐藤"


def walk_evaluation(home: Path, out: Path) -> None:
    """The evaluation results of 保険者機能強化推進交付金・介護保険保険者努力支援交付金 (issue 9), 埼玉 and 山梨.

    The ministry's files of 令和5–8年度 (include/demo/evaluation/<fy>/, cut to the 10 prefectures: see
    demo/evaluation_inputs.py) land in landing/evaluation/<fy>/ and go through the flow; the 令和5年度 file
    is on the old 2,185-point scale, so it is flagged 比較不可 and kept out of the trend. Then the analysis
    of 2026 for the two prefectures (out/evaluation/analysis/), and the 令和8年度 evaluation cycle walked
    from July to September: release, notice to the 都県事務所, approval, delivery through a loopback SMTP
    server (out/evaluation/mail/). Call in a process whose environment is airflow_env(home).
    """
    from tsunagu.cycle.approvals import approve
    from tsunagu.cycle.engine import NOT_DONE
    from tsunagu.cycle.evaluation import DATASET, load_schedule, run_evaluation_cycle_day
    from tsunagu.cycle.releases import latest_release
    from tsunagu.deliver import export_ledger_csv
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import ingest_file, open_warehouse, scan_landing
    from tsunagu.publish.evaluation_workbook import publish
    from tsunagu.settings import get_settings
    from tsunagu.warehouse.evaluation import loads

    settings = get_settings()
    warehouse = open_warehouse(settings)
    fy = EVALUATION_FISCAL_YEAR
    ev_out = out / "evaluation"
    shutil.rmtree(ev_out, ignore_errors=True)
    ev_out.mkdir(parents=True)
    print(f"\n評価結果 (保険者機能強化推進交付金・介護保険保険者努力支援交付金), 令和5–8年度 "
          f"(analysis and cycle for prefectures {', '.join(EVALUATION_PREFECTURES)}):")
    shutil.copytree(demo_inputs() / "evaluation", settings.landing_dir / "evaluation", dirs_exist_ok=True)
    for f in sorted((f for f in scan_landing(settings.landing_dir) if f.kind == "evaluation_results"),
                    key=lambda f: f.path):
        o = ingest_file(f, settings=settings, warehouse=warehouse)
        print(f"  received  {o.fiscal_year} {o.status:<9} rows={o.rows:<4} errors={o.errors} {Path(o.path).name}: {o.note}")
    scales = {row["fiscal_year"]: row["scale"] for row in loads(warehouse) if row["superseded_by"] is None}
    print("  scales: " + ", ".join(f"{y} {s} points{'' if s == 400 else ' (比較不可 / not comparable)'}"
                                  for y, s in sorted(scales.items())))
    for p in publish(warehouse, fy, list(EVALUATION_PREFECTURES), ev_out / "analysis"):
        low = (p.dir / f"evaluation_{fy}_{p.prefecture_code}_low.csv").read_text(encoding="utf-8-sig").count("\n") - 1
        print(f"  analysis  {p.prefecture_code} {p.rows} municipalities, {low} 著しく低い rows -> {p.dir}")
    s = load_schedule(fy)
    approve_on = s.delivery_start  # ケア課 approves each prefecture's version once its notice went out
    with MailSink(ev_out / "mail") as sink:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_conn_uri(sink.port, from_email="kantoshinetsu-care@mhlw.go.jp")
        day = s.release
        while day <= s.delivery_end:
            if day == approve_on:
                for pref in EVALUATION_PREFECTURES:
                    release = latest_release(warehouse, fy, pref, dataset=DATASET)
                    approve(warehouse, fy, pref, release.version, EVALUATION_APPROVER, "デモ / demo")
                    print(f"  {day}  approved  {pref} version {release.version} by {EVALUATION_APPROVER}")
            now = dt.datetime.combine(day, dt.time(9), JST)
            for r in run_evaluation_cycle_day(day, fiscal_year=fy, prefectures=EVALUATION_PREFECTURES,
                                              settings=settings, warehouse=warehouse, now=now):
                if r.status in ("sent", *NOT_DONE):
                    detail = r.detail if r.status != "sent" else ", ".join(r.to)
                    print(f"  {day}  {r.status:<9} {r.kind:<21} {r.prefecture_code or '':>2} {detail}")
            day += dt.timedelta(days=1)
        received = len(sink.messages)
    export_ledger_csv(warehouse, ev_out / "deliveries.csv", fiscal_year=fy)
    print(f"\n{received} evaluation messages received by the loopback SMTP server: {ev_out / 'mail'}")
    print(f"Analysis: {ev_out / 'analysis'}; mail ledger: {ev_out / 'deliveries.csv'}")


def summarise(home: Path) -> None:
    runs = sorted((home / "reports" / "runs").glob("*/try-*.json"), key=lambda p: p.stat().st_mtime)  # one per try
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
    for part in ("walk_cycle", "walk_grants", "walk_evaluation"):
        walk = f"from pathlib import Path; from demo.run import {part}; {part}(Path({str(home)!r}), Path({str(out)!r}))"
        subprocess.run([sys.executable, "-c", walk], env=env, check=True, cwd=REPO_ROOT)
    return 0
