"""distribution_cycle: the September–December cycle of 定例報告の情報提供, one run a day.

Each run handles one day (the run's data interval end date in Asia/Tokyo, or the `day` param) and
does everything due on or before it, exactly once: data requests to the offices and notices to the
prefectures (9月上旬), reminders, pre-delivery notices to the offices, deliveries of approved releases
(and 訂正版) to the recipients of each prefecture's request form, and the closing report (12月下旬).
Dates come from include/config/cycle/<fy>.yaml. Clearing and rerunning any task sends nothing twice:
every mail has an idempotency key in the delivery ledger. A failed mail is retried on the next run.
A year with no include/config/cycle/<fy>.yaml is skipped (設定がありません / nothing configured), not failed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from tsunagu.cycle.dag_params import cycle_day, cycle_params
from tsunagu.dag_params import check_params

PARAMS = cycle_params()


@dag(
    dag_id="distribution_cycle",
    # 09:00 JST every day from September to December; the day handled is the interval's end date.
    schedule=CronDataIntervalTimetable("0 9 * 9-12 *", timezone="Asia/Tokyo"),
    start_date=pendulum.datetime(2025, 9, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tsunagu", "deliver"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
)
def distribution_cycle():
    @task(multiple_outputs=False)
    def plan_day(params: dict | None = None, dag_run=None, data_interval_end=None) -> list[dict]:
        """Which day, which year, which prefectures. A dry run prints the whole plan here and sends nothing."""
        import datetime as dt

        from airflow.sdk.exceptions import AirflowSkipException

        from tsunagu.cycle.dag_params import cycle_config_missing
        from tsunagu.cycle.schedule import fiscal_year_of, is_business_day
        from tsunagu.dag_params import run_params
        from tsunagu.jurisdiction import load_jurisdiction

        params = run_params(params, dag_run.conf)
        day = dt.date.fromisoformat(cycle_day(params, data_interval_end))
        fy = params["fiscal_year"] or fiscal_year_of(day)
        missing = cycle_config_missing(fy)
        if missing:  # e.g. the first run of a new year before its dates are set: a skip, not a failure
            raise AirflowSkipException(missing)
        codes = [c for c in sorted(load_jurisdiction().prefectures) if not params["prefectures"] or c in params["prefectures"]]
        if params["dry_run"]:
            from tsunagu.cycle.planner import run_cycle_day

            for r in run_cycle_day(day, fiscal_year=fy, prefectures=codes, dry_run=True):
                print(f"{r.status:<8} {r.kind:<20} {r.prefecture_code or '--'} {r.key or ''} {r.detail}")
        business = is_business_day(day)
        print(f"day {day} (fiscal year {fy}): {'business day' if business else 'closed day: nothing is sent'}")
        if not business or params["dry_run"]:
            return []
        return [{"day": day.isoformat(), "fiscal_year": fy, "prefecture_code": c} for c in codes]

    @task(map_index_template="{{ task.op_kwargs['target']['prefecture_code'] }}")
    def run_prefecture(target: dict) -> list[dict]:
        """Everything due for one prefecture (requests, reminders, notice, delivery). Idempotent by key."""
        import datetime as dt

        from tsunagu.cycle.planner import run_cycle_day

        results = run_cycle_day(dt.date.fromisoformat(target["day"]), fiscal_year=target["fiscal_year"],
                                prefectures=[target["prefecture_code"]], closing=False)
        for r in results:
            print(f"{r.status:<12} {r.kind:<20} {r.key or ''} {r.detail}")
        return [r.to_dict() for r in results]

    @task(multiple_outputs=False, trigger_rule="all_done")
    def close_day(results: list[list[dict]] | None, params: dict | None = None, dag_run=None,
                  data_interval_end=None) -> dict:
        """The closing report when due, then the day's record. When a mail failed, the task fails after
        everything was tried; its retry runs the whole day again (only failed mails go out), and the next
        day's run tries them too. Skipped, like plan_day, when the year has no config."""
        import datetime as dt
        import json

        from airflow.sdk.exceptions import AirflowSkipException

        from tsunagu.cycle.dag_params import cycle_config_missing
        from tsunagu.cycle.engine import NOT_DONE
        from tsunagu.cycle.planner import run_cycle_day
        from tsunagu.cycle.schedule import fiscal_year_of
        from tsunagu.dag_params import run_params
        from tsunagu.settings import get_settings

        params = run_params(params, dag_run.conf)
        day = cycle_day(params, data_interval_end)
        fiscal_year = params["fiscal_year"] or fiscal_year_of(dt.date.fromisoformat(day))
        if missing := cycle_config_missing(fiscal_year):  # runs on all_done, so it checks for itself
            raise AirflowSkipException(missing)
        done = [r for batch in (results[:] if results else []) for r in (batch or [])]  # one request
        retry = get_current_context()["ti"].try_number > 1
        if not params["dry_run"]:
            # On a retry of this task, the whole day is run again: only what failed is tried again.
            done = [r for r in done if not retry] + [r.to_dict() for r in run_cycle_day(
                dt.date.fromisoformat(day), fiscal_year=fiscal_year, prefectures=params["prefectures"] or None,
                per_prefecture=retry)]
        counts: dict[str, int] = {}
        for r in done:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        out = get_settings().reports_dir / "cycle" / str(fiscal_year) / "days" / f"{day}.json"
        if not params["dry_run"]:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(done, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{day}: {counts}")
        failed = [r for r in done if r["status"] in NOT_DONE]
        if failed:
            raise RuntimeError(f"{len(failed)} action(s) not done: {[(r['key'], r['detail']) for r in failed]}")
        return counts

    plan = plan_day()
    check_params(PARAMS) >> plan  # a failed check also stops close_day (see check_params)
    close_day(run_prefecture.expand(target=plan))


distribution_cycle()
