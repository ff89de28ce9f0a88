"""Typed Params of the cycle DAGs (kept free of heavy imports: only airflow.sdk.Param)."""

from __future__ import annotations

from airflow.sdk import Param

from tsunagu.dag_params import dry_run_param, fiscal_year_param, prefectures_param


def cycle_params() -> dict[str, Param]:
    return {
        "fiscal_year": fiscal_year_param("処理日の年度 / the day's fiscal year"),
        "prefectures": prefectures_param(),
        "dry_run": dry_run_param("予定を表示するだけで、送信も記録もしない / Plan and print; send and record nothing."),
        "day": Param(
            None, type=["null", "string"], format="date",
            title="処理日 / Day handled",
            description="再実行用 (例 2025-11-11)。空欄: 実行のデータ区間の終了日 (JST) / For manual reruns; "
                        "empty: the run's data interval end date in Asia/Tokyo.",
        ),
    }


def cycle_day(params: dict, data_interval_end) -> str:
    """The day a cycle run handles: the ``day`` param, else its data interval end date in Asia/Tokyo (ISO)."""
    import pendulum

    if params.get("day"):
        return str(params["day"])[:10]
    end = pendulum.instance(data_interval_end) if data_interval_end is not None else pendulum.now("Asia/Tokyo")
    return end.in_timezone("Asia/Tokyo").date().isoformat()


def approval_params() -> dict[str, Param]:
    return {
        "fiscal_year": Param(type="integer", minimum=2020, maximum=2100, title="年度 / Fiscal year"),
        "prefecture": Param(type="string", pattern="^[0-9]{2}$", title="都県コード / Prefecture code"),
        "version": Param(type="string", pattern="^[0-9a-f]{16}$", title="版 / Release version",
                         description="提供データの版 (事前共有メールに記載) / the version in the pre-delivery notice"),
        "approver": Param(type="string", minLength=1, title="承認者 / Approver"),
        "note": Param("", type="string", title="備考 / Note"),
    }
