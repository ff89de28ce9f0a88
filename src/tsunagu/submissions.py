"""Flows for what prefectures send (DESIGN §2.2): request forms (情報提供依頼書) and survey returns (調査票).

Same shape as tsunagu.pipeline.ingest_home_care_report: archive the raw file by sha256 first,
register the submission, skip it if it was processed before (unless ``force``), parse, validate,
write a JSON report and an annotated copy, then load (accepted, one transaction) or quarantine
(rejected / unreadable), and record the outcome. Rerunning gives the same database and files.

Landing layout: ``landing/request_forms/<fiscal_year>/<pref_code>/<file>`` and
``landing/survey_returns/<fiscal_year>/<pref_code>/<file>`` (see LANDING_FOLDERS).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tsunagu.findings import UnreadableFile
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.model import ValidationResult
from tsunagu.pipeline import Outcome, begin_submission, finish_submission
from tsunagu.settings import Settings

REQUEST_FORM = "request_form"
SURVEY_RETURN = "survey_return"
LANDING_FOLDERS = {REQUEST_FORM: "request_forms", SURVEY_RETURN: "survey_returns"}


# ------------------------------------------------------------------------------------ request forms


def validate_request_form_file(
    path: Path, *, prefecture_code: str, fiscal_year: int | None = None, today: dt.date | None = None,
):
    """Parse and validate one request form. Returns (ValidationResult, RequestForm | None). Writes nothing."""
    from tsunagu.intake.request_form import load_request_template, parse_request_form
    from tsunagu.validate.request_form import validate_request_form

    load_jurisdiction().get(prefecture_code)  # an unknown prefecture is an operator error: fail loudly
    template = load_request_template(fiscal_year=fiscal_year)
    try:
        form = parse_request_form(Path(path), template=template)
    except UnreadableFile as exc:
        return ValidationResult(status="unreadable", findings=[exc.finding()], records=[], rows=0), None
    result = validate_request_form(form, prefecture_code=prefecture_code, fiscal_year=fiscal_year, today=today)
    return result, form


def ingest_request_form(
    path: Path,
    *,
    prefecture_code: str,
    fiscal_year: int | None = None,
    settings: Settings | None = None,
    warehouse=None,
    dry_run: bool = False,
    force: bool = False,
    today: dt.date | None = None,
) -> Outcome:
    """Archive, validate, report, then store (accepted: it becomes the active request) or quarantine a form.

    ``fiscal_year`` is the year of the landing folder (None: taken from the form). ``today`` decides
    which fiscal years may be requested (the current and the next).
    """
    from tsunagu.warehouse.requests import load_request

    intake = begin_submission(path, REQUEST_FORM, prefecture_code, fiscal_year, settings=settings,
                              warehouse=warehouse, dry_run=dry_run, force=force)
    if intake.skipped:
        return intake.skipped
    result, form = validate_request_form_file(intake.path, prefecture_code=prefecture_code, fiscal_year=fiscal_year,
                                              today=today)
    record = result.records[0] if result.records else {}

    def load() -> str:
        loaded = load_request(intake.warehouse, intake.sid, record)
        if loaded.newer_submission is not None and not loaded.active:
            return f"a newer request form (submission {loaded.newer_submission}) is active; kept as history"
        if loaded.superseded:
            return "supersedes submission " + ", ".join(str(i) for i in loaded.superseded)
        return ""

    return finish_submission(
        intake, result, form.as_table() if form else None, template_version=form.template.version if form else None,
        load=load, fiscal_year=fiscal_year if fiscal_year is not None else record.get("fiscal_year"),
    )


# ------------------------------------------------------------------------------------ survey returns


def validate_survey_return_file(path: Path, *, prefecture_code: str, fiscal_year: int):
    """Parse and validate one survey return. Returns (ValidationResult, ParsedTable | None). Writes nothing."""
    from tsunagu.intake.survey_return import load_survey_template, parse_survey_return
    from tsunagu.validate.survey_return import validate_survey_return

    load_jurisdiction().get(prefecture_code)
    template = load_survey_template(fiscal_year=fiscal_year)
    try:
        table = parse_survey_return(Path(path), template=template)
    except UnreadableFile as exc:
        return ValidationResult(status="unreadable", findings=[exc.finding()], records=[], rows=0), None
    return validate_survey_return(table, prefecture_code=prefecture_code, fiscal_year=fiscal_year), table


def survey_summary_dir(settings: Settings, fiscal_year: int, prefecture_code: str) -> Path:
    return settings.publish_dir / "survey_summaries" / str(fiscal_year) / load_jurisdiction().get(prefecture_code).package_name


def ingest_survey_return(
    path: Path,
    *,
    prefecture_code: str,
    fiscal_year: int,
    settings: Settings | None = None,
    warehouse=None,
    dry_run: bool = False,
    force: bool = False,
) -> Outcome:
    """Archive, validate, report, then load (accepted: supersedes the prefecture's earlier return) or quarantine."""
    from tsunagu.publish.survey_summary import write_survey_summary
    from tsunagu.warehouse.surveys import load_survey_return

    intake = begin_submission(path, SURVEY_RETURN, prefecture_code, fiscal_year, settings=settings,
                              warehouse=warehouse, dry_run=dry_run, force=force)
    if intake.skipped:
        return intake.skipped
    settings, warehouse = intake.settings, intake.warehouse
    result, table = validate_survey_return_file(intake.path, prefecture_code=prefecture_code, fiscal_year=fiscal_year)
    version = table.template.version if table else None

    def load() -> str:
        loaded = load_survey_return(warehouse, intake.sid, prefecture_code, fiscal_year, result.records,
                                    template_version=version)
        if loaded.stale:
            return "a newer accepted return exists for this prefecture and year; rows not reloaded"
        # The summary goes back to the prefecture: coverage by 事業, who is not yet running each, change since last year.
        summary = write_survey_summary(warehouse, fiscal_year, prefecture_code, survey_summary_dir(settings, fiscal_year, prefecture_code))
        note = f"summary: {summary}"
        if loaded.superseded:
            note = "supersedes submission " + ", ".join(str(i) for i in loaded.superseded) + "; " + note
        return note

    return finish_submission(intake, result, table, template_version=version, load=load)
