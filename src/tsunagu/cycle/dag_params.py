"""Typed Params of the cycle DAGs (kept free of heavy imports: airflow.sdk.Param and tsunagu.dag_params)."""

from __future__ import annotations

from airflow.sdk import Param

from tsunagu.dag_params import (
    current_fiscal_year,
    dry_run_param,
    fiscal_year_param,
    prefecture_param,
    prefectures_param,
)


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
        "fiscal_year": Param(current_fiscal_year(), type="integer", minimum=2020, maximum=2100,
                             title="年度 / Fiscal year", description="既定は今年度 (4月始まり) / default: the current fiscal year"),
        "prefecture": prefecture_param(),
        "version": Param(type="string", pattern="^[0-9a-f]{16}$", title="版 / Release version",
                         description="提供データの版 (事前共有メールに記載) / the version in the pre-delivery notice"),
        "approver": Param(type="string", minLength=1, title="承認者 / Approver"),
        "note": Param("", type="string", title="備考 / Note"),
    }


def cycle_config_missing(fiscal_year: int) -> str | None:
    """The skip message when include/config/cycle/<fy>.yaml does not exist (a broken file still fails)."""
    from tsunagu.cycle.schedule import cycle_config_dir

    if (cycle_config_dir() / f"{int(fiscal_year)}.yaml").exists():
        return None
    return (f"{fiscal_year}年度の情報提供サイクルは設定がありません (config/cycle/{fiscal_year}.yaml がない)。何もしません / "
            f"nothing configured for the fiscal year {fiscal_year} cycle (config/cycle/{fiscal_year}.yaml is "
            f"missing): nothing to do")


def grant_programs_configured(programs: list[str], fiscal_year: int | None) -> tuple[list[str], str | None]:
    """The programs with a schedule for ``fiscal_year`` (all when it is None), and the skip message when none has."""
    if fiscal_year is None:
        return list(programs), None
    from tsunagu.grants.config import load_program

    kept = [p for p in programs if int(fiscal_year) in load_program(p).fiscal_years()]
    if kept:
        return kept, None
    return [], (f"{fiscal_year}年度の交付金 ({', '.join(programs)}) は設定がありません。何もしません / "
                f"nothing configured for the fiscal year {fiscal_year} of the grant programs "
                f"({', '.join(programs)}): nothing to do")
