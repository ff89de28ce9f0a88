"""run_evaluation_cycle: each prefecture's analysis of the evaluation results, one run a day, all year round.

The national results of 保険者機能強化推進交付金・介護保険保険者努力支援交付金 are compared across years and
each prefecture gets an analysis of its municipalities (issue 9, seed 003 ⑦). Each run handles one day
(the run's data interval end date in Asia/Tokyo, or the `day` param) and does what the cycle has due on or
before it, exactly once per key: the release of each prefecture's analysis (rebuilt only when the results
or the analysis config change), the notice to the 都県事務所, and the delivery (or 訂正版) of the approved
version to the prefecture. Dates and addresses come from include/config/cycle/evaluation/<fy>.yaml; the same
engine runs distribution_cycle. A day no cycle covers, or a fiscal year asked for with no config, is
skipped (設定がありません / nothing configured), not failed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from tsunagu.cycle.dag_params import cycle_day, cycle_params
from tsunagu.dag_params import check_params

PARAMS = cycle_params()


@dag(
    dag_id="run_evaluation_cycle",
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2025, 4, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tsunagu", "evaluation", "deliver"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
)
def run_evaluation_cycle():
    @task(multiple_outputs=False)
    def plan_day(params: dict | None = None, dag_run=None, data_interval_end=None) -> dict:
        """Which day and which cycle years; a skip when nothing is configured for them."""
        import datetime as dt

        from airflow.sdk.exceptions import AirflowSkipException

        from tsunagu.cycle.evaluation import years_to_run
        from tsunagu.dag_params import run_params

        params = run_params(params, dag_run.conf)
        day = cycle_day(params, data_interval_end)
        years, missing = years_to_run(dt.date.fromisoformat(day), params["fiscal_year"])
        if missing:
            raise AirflowSkipException(missing)
        return {"day": day, "fiscal_years": years}

    @task(multiple_outputs=False)
    def run_day(plan: dict, params: dict | None = None, dag_run=None) -> list[dict]:
        """Everything due (release, notice, delivery) for every prefecture asked for. Idempotent by key;
        a dry run prints the plan and sends and records nothing."""
        import datetime as dt

        from tsunagu.cycle.engine import NOT_DONE
        from tsunagu.cycle.evaluation import run_evaluation_cycle_day
        from tsunagu.dag_params import run_params

        params = run_params(params, dag_run.conf)
        results = []
        for fy in plan["fiscal_years"]:
            results += run_evaluation_cycle_day(
                dt.date.fromisoformat(plan["day"]), fiscal_year=fy, prefectures=params["prefectures"] or None,
                dry_run=params["dry_run"],
            )
        for r in results:
            print(f"{r.status:<12} {r.kind:<22} {r.prefecture_code or '--'} {r.key or ''} {r.detail}")
        failed = [r for r in results if r.status in NOT_DONE]
        if failed:  # everything was tried; the retry (and the next day) sends only what failed
            raise RuntimeError(f"{len(failed)} action(s) not done: {[(r.key, r.detail) for r in failed]}")
        return [r.to_dict() for r in results]

    plan = plan_day()
    check_params(PARAMS) >> plan
    run_day(plan)


run_evaluation_cycle()
