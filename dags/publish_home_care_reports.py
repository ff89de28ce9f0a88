"""publish_home_care_reports: one package per prefecture (xlsx, CSV, datapackage.json, manifest.json).

Runs when ingestion loads new accepted reports (Asset), or by hand from the trigger form.
Publishing is deterministic: the same warehouse state gives byte-identical files.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from tsunagu.assets import HOME_CARE_REPORTS, PUBLISHED_PACKAGES
from tsunagu.dag_params import check_params, rerun_params

PARAMS = rerun_params()


@dag(
    dag_id="publish_home_care_reports",
    schedule=[HOME_CARE_REPORTS],
    start_date=pendulum.datetime(2025, 9, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tsunagu", "publish"],
    doc_md=__doc__,
)
def publish_home_care_reports():
    @task
    def plan_packages(params: dict | None = None, dag_run=None) -> list[dict]:
        """Which (fiscal year, prefecture) packages to build: the param, or every one with data."""
        from tsunagu.dag_params import run_params
        from tsunagu.pipeline import plan_publication

        p = run_params(params, dag_run.conf)
        return plan_publication(fiscal_year=p["fiscal_year"], prefectures=p["prefectures"] or None)

    @task(multiple_outputs=False, map_index_template="{{ task.op_kwargs['target']['fiscal_year'] }}/{{ task.op_kwargs['target']['prefecture_code'] }}")
    def publish_package(target: dict, params: dict | None = None) -> dict:
        from tsunagu.pipeline import publish_one

        return publish_one(target["fiscal_year"], target["prefecture_code"], dry_run=params["dry_run"])

    @task(outlets=[PUBLISHED_PACKAGES])
    def record_publication(packages: list[dict]) -> list[dict]:
        packages = list(packages[:])  # one request for all mapped results
        for p in packages:
            print(f"{p['fiscal_year']} {p['prefecture_code']}: {p['rows']} rows -> {p['dir']}")
        return packages

    plan = plan_packages()
    check_params(PARAMS) >> plan
    record_publication(publish_package.expand(target=plan))


publish_home_care_reports()
