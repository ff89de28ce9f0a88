"""ingest_submissions: monthly intake of every submission kind in the flow registry: registers,
office-tabulated 様式11の3 reports, prefectures' request forms (情報提供依頼書) and survey returns
(地域支援事業 実施状況), and grant applications (交付金) of the three programs, stage by stage.

Scans TSUNAGU_HOME/landing, archives each new file by sha256, validates, loads
accepted files and quarantines the rest. One bad file never fails the others.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from tsunagu.assets import HOME_CARE_REPORTS
from tsunagu.dag_params import check_params, rerun_params

PARAMS = rerun_params()


def _raise_if_failed(outcomes: list[dict]) -> list[dict]:
    """Every file was tried; a code failure still fails the task so that it is retried and seen."""
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} file(s) failed: {[(o['path'], o['note']) for o in failed]}")
    return outcomes


@dag(
    dag_id="ingest_submissions",
    # Each run covers the month before it; 03:00 JST on the 1st, no catch-up storms.
    schedule=CronDataIntervalTimetable("0 3 1 * *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2025, 9, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tsunagu", "intake"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
)
def ingest_submissions():
    @task
    def prepare_warehouse(params: dict | None = None) -> None:
        """Create the schema if missing (idempotent)."""
        if not params["dry_run"]:
            from tsunagu.pipeline import open_warehouse

            open_warehouse()

    @task(multiple_outputs=False)
    def scan_landing(params: dict | None = None, dag_run=None) -> dict[str, list[dict]]:
        from dataclasses import asdict

        from tsunagu.dag_params import run_params
        from tsunagu.pipeline import is_batch, scan_landing
        from tsunagu.settings import get_settings

        p = run_params(params, dag_run.conf)
        found = scan_landing(get_settings().landing_dir, fiscal_year=p["fiscal_year"], prefectures=p["prefectures"] or None)
        return {
            "registers": [asdict(f) for f in found if is_batch(f.kind)],
            "submissions": [asdict(f) for f in found if not is_batch(f.kind)],
        }

    @task
    def ingest_registers(found: dict, params: dict | None = None) -> list[dict]:
        """Registers (the batch flows) go first, in one task: the roster checks of the reports depend on them."""
        from tsunagu.pipeline import ingest_batch_flows

        return ingest_batch_flows(found["registers"], dry_run=params["dry_run"], force=params["force"])

    @task
    def list_senders(found: dict) -> list[dict]:
        from tsunagu.pipeline import sender_batches

        return sender_batches(found["submissions"])

    @task(map_index_template="{{ task.op_kwargs['batch']['kind'] }}/{{ task.op_kwargs['batch']['prefecture_code'] }}")
    def ingest_sender(batch: dict, params: dict | None = None) -> list[dict]:
        """One sender's files in order; senders in parallel. A bad file is an outcome, not a failure."""
        from tsunagu.pipeline import ingest_batch

        return _raise_if_failed(ingest_batch(batch["files"], dry_run=params["dry_run"], force=params["force"]))

    # all_done: every file's outcome is recorded even when one sender's task failed (not after a failed
    # check_params: a failed setup upstream makes it upstream_failed whatever its trigger rule).
    @task(outlets=[HOME_CARE_REPORTS], trigger_rule="all_done", multiple_outputs=False)
    def record_outcomes(registers: list[dict], reports: list[list[dict]] | None, params: dict | None = None) -> dict:
        """Write this try's outcomes record (a clear and rerun adds one); emit the asset only when new data was loaded."""
        from airflow.sdk.exceptions import AirflowSkipException

        from tsunagu.pipeline import publishable, write_outcomes
        from tsunagu.settings import get_settings

        # A slice reads mapped results in one request (iterating probes past the end and logs a 404).
        outcomes = list(registers or []) + [o for batch in (reports[:] if reports else []) for o in batch]
        context = get_current_context()
        path = write_outcomes(outcomes, get_settings(), context["run_id"], try_number=context["ti"].try_number)
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        print(f"outcomes: {counts} -> {path}")
        if params["dry_run"] or not publishable(outcomes):
            raise AirflowSkipException("no new accepted report: publication is not triggered")
        return counts

    checked = check_params(PARAMS)
    found = scan_landing()
    registers = ingest_registers(found)
    checked >> prepare_warehouse() >> found
    reports = ingest_sender.expand(batch=list_senders(found))
    registers >> reports
    record_outcomes(registers, reports)


ingest_submissions()
