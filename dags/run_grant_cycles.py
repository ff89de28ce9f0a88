"""run_grant_cycles: the yearly cycles of the three 交付金 programs, one run a day, all year round.

Each run handles one day (the run's data interval end date in Asia/Tokyo, or the `day` param) and,
for each program (地域支援事業交付金, 地域医療介護総合確保基金（介護分）, 後期高齢者医療特別調整交付金),
does what its calendar has due on or before that day, exactly once per key: the stage requests to
the prefectures' grant contacts, reminders naming the filers still missing after a deadline, and the
notices of the amounts accepted. Stages and dates come from include/config/grants/<program>.yaml,
contacts from include/config/grants/contacts.yaml. The same engine runs distribution_cycle.
A fiscal year asked for that no program has a schedule for is skipped (設定がありません / nothing configured).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from tsunagu.cycle.dag_params import cycle_day, cycle_params
from tsunagu.dag_params import check_params

PROGRAMS = ["community_support", "care_fund", "integrated_health"]
PARAMS = {
    **cycle_params(),
    "programs": Param(
        [], type=["null", "array"], items={"type": "string", "enum": PROGRAMS}, uniqueItems=True, examples=PROGRAMS,
        values_display={"community_support": "地域支援事業交付金", "care_fund": "地域医療介護総合確保基金（介護分）",
                        "integrated_health": "後期高齢者医療特別調整交付金"},
        title="交付金 / Programs", description="未選択: すべて / none means every program.",
    ),
}


@dag(
    dag_id="run_grant_cycles",
    schedule=CronDataIntervalTimetable("0 9 * * *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2025, 4, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tsunagu", "grants", "deliver"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
)
def run_grant_cycles():
    @task(multiple_outputs=False)
    def plan_programs(params: dict | None = None, dag_run=None, data_interval_end=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from tsunagu.cycle.dag_params import grant_programs_configured
        from tsunagu.dag_params import run_params

        params = run_params(params, dag_run.conf)
        day = cycle_day(params, data_interval_end)
        programs, missing = grant_programs_configured(params["programs"] or PROGRAMS, params["fiscal_year"])
        if missing:
            raise AirflowSkipException(missing)
        return [{"day": day, "program": p} for p in programs]

    @task(map_index_template="{{ task.op_kwargs['target']['program'] }}")
    def run_program(target: dict, params: dict | None = None, dag_run=None) -> list[dict]:
        """Everything due for one program (every prefecture, every stage). Idempotent by key."""
        import datetime as dt

        from tsunagu.cycle.engine import NOT_DONE
        from tsunagu.dag_params import run_params
        from tsunagu.grants.cycle import run_grant_cycle_day

        params = run_params(params, dag_run.conf)
        results = run_grant_cycle_day(
            target["program"], dt.date.fromisoformat(target["day"]), fiscal_year=params["fiscal_year"],
            prefectures=params["prefectures"] or None, dry_run=params["dry_run"],
        )
        for r in results:
            print(f"{r.status:<12} {r.kind:<20} {r.prefecture_code or '--'} {r.key or ''} {r.detail}")
        failed = [r for r in results if r.status in NOT_DONE]
        if failed:  # everything was tried; the retry (and the next day) sends only what failed
            raise RuntimeError(f"{len(failed)} action(s) not done: {[(r.key, r.detail) for r in failed]}")
        return [r.to_dict() for r in results]

    plan = plan_programs()
    check_params(PARAMS) >> plan
    run_program.expand(target=plan)


run_grant_cycles()
