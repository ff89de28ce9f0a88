"""The typed Params of the trigger forms, shared by the DAGs (kept free of heavy imports)."""

from airflow.sdk import Param


def fiscal_year_param(empty_means: str = "すべての年度 / every year found") -> Param:
    ja, en = empty_means.split(" / ")
    return Param(
        None, type=["null", "integer"], minimum=2020, maximum=2100,
        title="報告年度 / Fiscal year",
        description=f"西暦の年度 (例 2025)。空欄: {ja} / Western fiscal year; empty means {en}.",
    )


def prefectures_param() -> Param:
    return Param(
        [], type="array", items={"type": "string", "pattern": "^[0-9]{2}$"}, uniqueItems=True,
        title="都県コード / Prefecture codes",
        description="JIS都道府県コード (例 11)。空: すべて / JIS codes, e.g. 11; empty means all.",
    )


def dry_run_param(does: str = "検証とレポートのみ。DBや公開ファイルには書き込まない / Validate and report only; write nothing.") -> Param:
    return Param(False, type="boolean", title="ドライラン / Dry run", description=does)


def rerun_params() -> dict[str, Param]:
    return {
        "fiscal_year": fiscal_year_param(),
        "prefectures": prefectures_param(),
        "dry_run": dry_run_param(),
        "force": Param(
            False, type="boolean", title="再処理 / Force",
            description="処理済みのファイルも再処理する / Reprocess files that were already processed.",
        ),
    }
