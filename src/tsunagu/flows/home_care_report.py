"""様式11の3: the prefectural offices' tabulated annual reports of 在支診/在支病 (design.md §2.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.flows.base import Checked, Flow, Intake, Landing, Loaded, unreadable
from tsunagu.jurisdiction import load_jurisdiction

KIND = "home_care_report"


class HomeCareReportFlow(Flow):
    kind = KIND
    label_ja = "在宅療養支援診療所・病院 定例報告（様式11の3）"
    landing = Landing("home_care_reports")
    order = 10
    publishes_asset = True

    def check(self, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
              template_version: str | None = None, use_gx: bool = True, **_: Any) -> Checked:
        from tsunagu.intake.home_care_report import parse_home_care_report
        from tsunagu.intake.templates import load_template
        from tsunagu.validate.home_care_report import validate_home_care_report

        load_jurisdiction().get(prefecture_code)  # unknown prefecture: fail loudly, it is an operator error
        template = load_template(KIND, version=template_version, fiscal_year=fiscal_year)
        try:
            table = parse_home_care_report(Path(path), template=template, prefecture_code=prefecture_code,
                                           fiscal_year=fiscal_year)
        except UnreadableFile as exc:
            return unreadable(exc)
        roster = warehouse.roster(prefecture_code) if warehouse is not None else None
        previous = warehouse.previous_year_values(fiscal_year, prefecture_code) if warehouse is not None else None
        result = validate_home_care_report(
            table, prefecture_code=prefecture_code, fiscal_year=fiscal_year, roster=roster or None,
            previous=previous, use_gx=use_gx,
        )
        return Checked(result, table, table.template.version)

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        if not intake.warehouse.load_home_care_report(intake.sid, intake.prefecture_code, intake.fiscal_year,
                                                      checked.result.records):
            return Loaded("a newer accepted file exists for this prefecture and year; rows not reloaded", False)
        return Loaded()
