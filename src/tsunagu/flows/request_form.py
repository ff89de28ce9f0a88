"""Request forms (情報提供依頼書): which prefecture wants which data, sent to whom (design.md §2.2).

A form's fiscal year is the landing folder's, or else the one written on the form. ``today``
decides which fiscal years may be requested (the current and the next).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.flows.base import Checked, Flow, Intake, Landing, Loaded, unreadable
from tsunagu.jurisdiction import load_jurisdiction

KIND = "request_form"


class RequestFormFlow(Flow):
    kind = KIND
    label_ja = "情報提供依頼書"
    landing = Landing("request_forms")
    requires = ("prefecture_code",)
    order = 20

    def check(self, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
              today: dt.date | None = None, **_: Any) -> Checked:
        from tsunagu.intake.request_form import load_request_template, parse_request_form
        from tsunagu.validate.request_form import validate_request_form

        load_jurisdiction().get(prefecture_code)  # an unknown prefecture is an operator error: fail loudly
        template = load_request_template(fiscal_year=fiscal_year)
        try:
            form = parse_request_form(Path(path), template=template)
        except UnreadableFile as exc:
            return unreadable(exc)
        result = validate_request_form(form, prefecture_code=prefecture_code, fiscal_year=fiscal_year, today=today)
        record = result.records[0] if result.records else {}
        return Checked(result, form.as_table(), form.template.version,
                       fiscal_year=fiscal_year if fiscal_year is not None else record.get("fiscal_year"), form=form)

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        from tsunagu.warehouse.requests import load_request

        loaded = load_request(intake.warehouse, intake.sid, checked.result.records[0])
        if loaded.newer_submission is not None and not loaded.active:
            return Loaded(f"a newer request form (submission {loaded.newer_submission}) is active; kept as history",
                          False)
        if loaded.superseded:
            return Loaded("supersedes submission " + ", ".join(str(i) for i in loaded.superseded))
        return Loaded()
