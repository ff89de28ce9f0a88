"""Survey returns (地域支援事業 実施状況調査): one row per municipality; a summary goes back (design.md §2.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.flows.base import Checked, Flow, Intake, Landing, Loaded, unreadable
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.settings import Settings

KIND = "survey_return"


def survey_summary_dir(settings: Settings, fiscal_year: int, prefecture_code: str) -> Path:
    return settings.publish_dir / "survey_summaries" / str(fiscal_year) / load_jurisdiction().get(prefecture_code).package_name


class SurveyReturnFlow(Flow):
    kind = KIND
    label_ja = "地域支援事業 実施状況調査票"
    landing = Landing("survey_returns")
    order = 30

    def check(self, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
              **_: Any) -> Checked:
        from tsunagu.intake.survey_return import load_survey_template, parse_survey_return
        from tsunagu.validate.survey_return import validate_survey_return

        load_jurisdiction().get(prefecture_code)
        template = load_survey_template(fiscal_year=fiscal_year)
        try:
            table = parse_survey_return(Path(path), template=template)
        except UnreadableFile as exc:
            return unreadable(exc)
        result = validate_survey_return(table, prefecture_code=prefecture_code, fiscal_year=fiscal_year)
        return Checked(result, table, table.template.version)

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        from tsunagu.warehouse.surveys import load_survey_return

        loaded = load_survey_return(intake.warehouse, intake.sid, intake.prefecture_code, intake.fiscal_year,
                                    checked.result.records, template_version=checked.template_version)
        if loaded.stale:
            return Loaded("a newer accepted return exists for this prefecture and year; rows not reloaded", False)
        if loaded.superseded:
            return Loaded("supersedes submission " + ", ".join(str(i) for i in loaded.superseded))
        return Loaded()

    def outputs(self, intake: Intake, checked: Checked) -> str:
        """The summary goes back to the prefecture: coverage by 事業, who does not run each yet, change since last year."""
        from tsunagu.publish.survey_summary import write_survey_summary

        out = survey_summary_dir(intake.settings, intake.fiscal_year, intake.prefecture_code)
        return f"summary: {write_survey_summary(intake.warehouse, intake.fiscal_year, intake.prefecture_code, out)}"
