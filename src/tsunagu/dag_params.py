"""The typed Params of the trigger form, shared by every DAG (kept free of heavy imports)."""

from airflow.sdk import Param


def rerun_params() -> dict[str, Param]:
    return {
        "fiscal_year": Param(
            None, type=["null", "integer"], minimum=2020, maximum=2100,
            title="報告年度 / Fiscal year",
            description="西暦の年度 (例 2025)。空欄: すべての年度 / Western fiscal year; empty means every year found.",
        ),
        "prefectures": Param(
            [], type="array", items={"type": "string", "pattern": "^[0-9]{2}$"}, uniqueItems=True,
            title="都県コード / Prefecture codes",
            description="JIS都道府県コード (例 11)。空: すべて / JIS codes, e.g. 11; empty means all.",
        ),
        "dry_run": Param(
            False, type="boolean", title="ドライラン / Dry run",
            description="検証とレポートのみ。DBや公開ファイルには書き込まない / Validate and report only; write nothing.",
        ),
        "force": Param(
            False, type="boolean", title="再処理 / Force",
            description="処理済みのファイルも再処理する / Reprocess files that were already processed.",
        ),
    }
