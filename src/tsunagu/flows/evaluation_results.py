"""Evaluation results (保険者機能強化推進交付金・介護保険保険者努力支援交付金, design.md §2.4): the ministry's
yearly workbook, one row per insurer of the whole country.

The sender is the ministry, not a prefecture: its submissions are recorded with sender ``00`` (全国),
and its files land under ``evaluation/<fiscal_year>/<file>`` (an unscoped landing folder: the scan gives
no prefecture; the year comes from the folder, else from the file's title 「令和7年度 …」). An accepted
file replaces the whole year in the warehouse (tsunagu.warehouse.evaluation); a rejected one is
quarantined with the reports, like every other kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.flows.base import Checked, Flow, Intake, Landing, Loaded, Outcome, unreadable
from tsunagu.settings import Settings

KIND = "evaluation_results"
SENDER = "00"  # 全国 (厚生労働省): the submissions' sender column holds a 2-character code
FOLDER = "evaluation"


def fiscal_year_from_path(path: Path) -> int | None:
    """The year folder of ``evaluation/<fiscal_year>/<file>``, when the file sits in one."""
    parent = Path(path).parent.name
    return int(parent) if parent.isdigit() and len(parent) == 4 else None


class EvaluationResultsFlow(Flow):
    kind = KIND
    label_ja = "保険者機能強化推進交付金・介護保険保険者努力支援交付金 評価結果"
    landing = Landing(FOLDER, scoped=False)
    requires = ("fiscal_year",)  # on the command line; a landing file's year is its folder's
    order = 60

    def check(self, path: Path, *, prefecture_code: str | None = None, fiscal_year: int | None, warehouse=None,
              **_: Any) -> Checked:
        from tsunagu.intake.evaluation import parse_evaluation
        from tsunagu.validate.evaluation import validate_evaluation

        try:
            parsed = parse_evaluation(Path(path))
        except UnreadableFile as exc:
            return unreadable(exc)
        result = validate_evaluation(parsed, fiscal_year=fiscal_year)
        year = fiscal_year if fiscal_year is not None else parsed.fiscal_year
        # The annotated copy re-opens the workbook (some 600,000 cells): only worth it when there is a finding.
        table = parsed.table if result.findings else None
        return Checked(result, table, template_version=f"ministry-scale-{parsed.scale}" if parsed.scale else None,
                       fiscal_year=year, form=parsed)

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        from tsunagu.intake.evaluation import to_frames
        from tsunagu.warehouse.evaluation import load_evaluation

        parsed = checked.form
        frames = to_frames(parsed, fiscal_year=checked.fiscal_year, source_sha256=intake.sha)
        loaded = load_evaluation(intake.warehouse, intake.sid, checked.fiscal_year, frames, scale=parsed.scale)
        return Loaded(loaded.note, loaded.current)

    def ingest(self, path: Path, *, prefecture_code: str | None = None, fiscal_year: int | None = None,
               settings: Settings | None = None, warehouse=None, dry_run: bool = False, force: bool = False,
               **options: Any) -> Outcome:
        """As every flow, with the ministry as the sender and the year from the landing folder if not given."""
        if fiscal_year is None:
            fiscal_year = fiscal_year_from_path(Path(path))
        return super().ingest(Path(path), prefecture_code=SENDER, fiscal_year=fiscal_year, settings=settings,
                              warehouse=warehouse, dry_run=dry_run, force=force, **options)
