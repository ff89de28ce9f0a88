"""The flows the DAG tasks and the CLI both call: scan, ingest, validate, publish.

Every function here is idempotent: a file is keyed by its sha256, loads are
upserts, and reports and packages are rewritten byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.model import ValidationResult
from tsunagu.settings import Settings, get_settings

log = logging.getLogger(__name__)

REGISTER = "register"
HOME_CARE_REPORT = "home_care_report"
REQUEST_FORM = "request_form"
SURVEY_RETURN = "survey_return"
# Landing folders per channel: landing/register/…, and landing/<folder>/<fiscal_year>/<pref_code>/… for the rest.
LANDING_FOLDERS = {
    REGISTER: "register",
    HOME_CARE_REPORT: "home_care_reports",
    REQUEST_FORM: "request_forms",
    SURVEY_RETURN: "survey_returns",
}
FINAL_STATUSES = {"accepted", "rejected", "unreadable", "superseded"}
_IGNORED = re.compile(r"^(\.|~\$)|\.(tmp|part)$")  # hidden files, Excel lock files, partial uploads


@dataclass
class LandingFile:
    kind: str
    path: str
    prefecture_code: str | None = None
    fiscal_year: int | None = None


@dataclass
class Outcome:
    """The outcomes record of one processed file (what the DAG returns and the CLI prints)."""

    kind: str
    path: str
    sha256: str
    status: str  # accepted | rejected | unreadable | skipped (already processed)
    prefecture_code: str | None = None
    fiscal_year: int | None = None
    rows: int = 0
    errors: int = 0
    warnings: int = 0
    submission_id: int | None = None
    reports: dict[str, str] = field(default_factory=dict)
    quarantine: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_warehouse(settings: Settings | None = None):
    from tsunagu.warehouse.db import Warehouse

    settings = settings or get_settings()
    if settings.db_url.startswith("sqlite:///"):
        Path(settings.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(settings.db_url)
    warehouse.create_schema()
    return warehouse


def _existing_warehouse(settings: Settings):
    """For dry runs: the warehouse if it already exists (for roster checks), never created."""
    from tsunagu.warehouse.db import Warehouse

    if settings.db_url.startswith("sqlite:///") and not Path(settings.db_url.removeprefix("sqlite:///")).exists():
        return None
    warehouse = Warehouse(settings.db_url)
    try:
        warehouse.roster("00")
    except Exception:  # no schema yet
        return None
    return warehouse


def _landing_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not _IGNORED.search(p.name))


def scan_landing(
    landing: Path, *, fiscal_year: int | None = None, prefectures: list[str] | None = None
) -> list[LandingFile]:
    """Every file waiting in the landing folders, registers first (the roster checks need them)."""
    jurisdiction = load_jurisdiction()
    found = [LandingFile(REGISTER, str(p)) for p in _landing_files(landing / LANDING_FOLDERS[REGISTER])]
    for kind, folder in LANDING_FOLDERS.items():
        if kind == REGISTER:
            continue
        root = landing / folder
        for path in _landing_files(root):
            parts = path.relative_to(root).parts
            if len(parts) < 3 or not parts[0].isdigit() or parts[1] not in jurisdiction:
                log.warning("ignoring %s: expected %s/<fiscal_year>/<pref_code>/<file>", path, folder)
                continue
            fy, pref = int(parts[0]), parts[1]
            if (fiscal_year is None or fy == fiscal_year) and (not prefectures or pref in prefectures):
                found.append(LandingFile(kind, str(path), pref, fy))
    return found


def _already_done(warehouse, submission_id: int, is_new: bool, force: bool) -> dict | None:
    if is_new or force:
        return None
    sub = warehouse.get_submission(submission_id)
    return sub if sub and sub["status"] in FINAL_STATUSES else None


def _parse_register(path: str):
    """Parse in a worker process; an unreadable file comes back as its exception."""
    from tsunagu.intake.register import parse_register

    try:
        return parse_register(Path(path))
    except UnreadableFile as exc:
        return exc


def _parse_registers(paths: list[Path]) -> list:
    """Registers are independent and CPU-bound: parse them on every core, in file order."""
    if len(paths) < 2 or (os.cpu_count() or 1) < 2:
        return [_parse_register(str(p)) for p in paths]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        # fork: the workers only read files, and they start without re-importing anything.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1), mp_context=context) as pool:
            return list(pool.map(_parse_register, [str(p) for p in paths]))
    except (OSError, AssertionError, RuntimeError) as exc:  # e.g. a daemonic worker may not have children
        log.warning("parallel register parsing unavailable (%s); parsing one by one", exc)
        return [_parse_register(str(p)) for p in paths]


def ingest_registers(
    paths: list[Path], *, settings: Settings | None = None, warehouse=None, dry_run: bool = False,
    force: bool = False,
) -> list[Outcome]:
    """Archive, parse and load register (名簿) files. Each register replaces its prefecture's roster."""
    from tsunagu.warehouse.archive import archive_raw, file_sha256, quarantine

    settings = settings or get_settings()
    paths = [Path(p) for p in paths]
    if dry_run:
        archived = [None] * len(paths)
        shas = [file_sha256(p) for p in paths]
    else:
        warehouse = warehouse or open_warehouse(settings)
        archived = [archive_raw(p, settings) for p in paths]  # raw is sacred: archived before parsing
        shas = [a.sha256 for a in archived]
    done = {} if (dry_run or force) else {
        o["sha256"]: o for o in warehouse.outcomes(kind=REGISTER) if o["status"] in FINAL_STATUSES
    }
    outcomes: list[Outcome | None] = [
        Outcome(REGISTER, str(p), sha, "skipped", prefecture_code=done[sha]["sender"] or None,
                rows=done[sha]["rows"] or 0, submission_id=done[sha]["id"],
                note=f"already processed as {done[sha]['status']}")
        if sha in done else None
        for p, sha in zip(paths, shas, strict=True)
    ]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    for i, parse in zip(todo, _parse_registers([paths[i] for i in todo]), strict=True):
        path, sha = paths[i], shas[i]
        if isinstance(parse, UnreadableFile):
            findings, sender, rows, status = [parse.finding()], "", 0, "unreadable"
        else:
            findings, sender, rows = parse.findings, parse.prefecture_code, len(parse.rows)
            status = "rejected" if any(f.severity == "error" for f in findings) else "accepted"
        errors = sum(f.severity == "error" for f in findings)
        outcome = outcomes[i] = Outcome(
            REGISTER, str(path), sha, status, prefecture_code=sender or None, rows=rows, errors=errors,
            warnings=len(findings) - errors,
        )
        if dry_run:
            continue
        sid, _ = warehouse.register_submission(
            kind=REGISTER, sha256=sha, original_name=path.name, sender=sender, fiscal_year=None,
            archive_path=str(archived[i].archive_path), channel="landing",
        )
        outcome.submission_id = sid
        if status == "accepted":
            if not warehouse.load_register(parse, sha256=sha, submission_id=sid):
                outcome.note = "a newer register of this prefecture is loaded; roster not replaced"
        else:
            outcome.quarantine = str(quarantine(
                archived[i], findings, settings, kind=REGISTER, sender=sender, fiscal_year=None,
                original_name=path.name,
            ))
        warehouse.record_outcome(sid, status, findings, rows=rows, template_version=None, report_path=outcome.quarantine)
    return outcomes


def ingest_register(path: Path, **kwargs) -> Outcome:
    (outcome,) = ingest_registers([path], **kwargs)
    return outcome


def validate_home_care_report(
    path: Path,
    *,
    prefecture_code: str,
    fiscal_year: int,
    warehouse=None,
    template_version: str | None = None,
    use_gx: bool = True,
):
    """Parse and validate one office file. Returns (ValidationResult, ParsedTable | None). Writes nothing."""
    from tsunagu.intake.home_care_report import parse_home_care_report
    from tsunagu.intake.templates import load_template
    from tsunagu.validate import validate_home_care_report as run_validation

    load_jurisdiction().get(prefecture_code)  # unknown prefecture: fail loudly, it is an operator error
    template = load_template(HOME_CARE_REPORT, version=template_version, fiscal_year=fiscal_year)
    try:
        table = parse_home_care_report(Path(path), template=template, prefecture_code=prefecture_code, fiscal_year=fiscal_year)
    except UnreadableFile as exc:
        return ValidationResult(status="unreadable", findings=[exc.finding()], records=[], rows=0), None
    roster = warehouse.roster(prefecture_code) if warehouse is not None else None
    previous = warehouse.previous_year_values(fiscal_year, prefecture_code) if warehouse is not None else None
    result = run_validation(
        table, prefecture_code=prefecture_code, fiscal_year=fiscal_year, roster=roster or None,
        previous=previous, use_gx=use_gx,
    )
    return result, table


@dataclass
class Intake:
    """The start every file flow shares: the raw file archived by sha256 and registered, before parsing."""

    kind: str
    path: Path
    prefecture_code: str
    fiscal_year: int | None
    settings: Settings
    warehouse: Any  # None in a dry run without a warehouse
    sha: str
    dry_run: bool
    sid: int | None = None
    archived: Any = None
    skipped: Outcome | None = None  # set when the same bytes were processed before (and not forced)


def begin_submission(
    path: Path, kind: str, prefecture_code: str, fiscal_year: int | None, *, settings: Settings | None = None,
    warehouse=None, dry_run: bool = False, force: bool = False,
) -> Intake:
    from tsunagu.warehouse.archive import archive_raw, file_sha256

    settings = settings or get_settings()
    path = Path(path)
    warehouse = warehouse or (_existing_warehouse(settings) if dry_run else open_warehouse(settings))
    if dry_run:  # a dry run archives and registers nothing
        return Intake(kind, path, prefecture_code, fiscal_year, settings, warehouse, file_sha256(path), dry_run)
    archived = archive_raw(path, settings)  # raw is sacred: archived before any parsing
    sid, is_new = warehouse.register_submission(
        kind=kind, sha256=archived.sha256, original_name=path.name, sender=prefecture_code,
        fiscal_year=fiscal_year, archive_path=str(archived.archive_path), channel="landing",
    )
    intake = Intake(kind, path, prefecture_code, fiscal_year, settings, warehouse, archived.sha256, dry_run, sid, archived)
    if done := _already_done(warehouse, sid, is_new, force):
        intake.skipped = Outcome(
            kind, str(path), intake.sha, "skipped", prefecture_code, fiscal_year, rows=done.get("rows") or 0,
            submission_id=sid, note=f"already processed as {done['status']}",
        )
    return intake


def finish_submission(
    intake: Intake, result: ValidationResult, table, *, template_version: str | None, load,
    fiscal_year: int | None = None,
) -> Outcome:
    """Write the reports, then load (accepted, via ``load()`` → note) or quarantine, and record the outcome."""
    from tsunagu.validate.reports import write_reports
    from tsunagu.warehouse.archive import quarantine

    fy = fiscal_year if fiscal_year is not None else intake.fiscal_year
    errors = sum(f.severity == "error" for f in result.findings)
    outcome = Outcome(
        intake.kind, str(intake.path), intake.sha, result.status, intake.prefecture_code, fy, rows=result.rows,
        errors=errors, warnings=len(result.findings) - errors, submission_id=intake.sid,
    )
    base = intake.settings.home / "dry_run" if intake.dry_run else intake.settings.reports_dir
    report_dir = base / intake.kind / str(fy if fy is not None else "unknown") / intake.prefecture_code
    metadata = {"kind": intake.kind, "prefecture_code": intake.prefecture_code, "fiscal_year": fy,
                "submission_id": intake.sid, "sha256": intake.sha, "original_name": intake.path.name}
    paths = write_reports(result, table, intake.path, report_dir, stem=f"{intake.sha[:12]}_{intake.path.stem}",
                          metadata=metadata)
    outcome.reports = {k: str(v) for k, v in paths.items()}
    if intake.dry_run:
        return outcome
    if result.status == "accepted":
        outcome.note = load() or ""
    else:
        outcome.quarantine = str(quarantine(
            intake.archived, result.findings, intake.settings, kind=intake.kind, sender=intake.prefecture_code,
            fiscal_year=fy, original_name=intake.path.name,
        ))
    intake.warehouse.record_outcome(intake.sid, result.status, result.findings, rows=result.rows,
                                    template_version=template_version, report_path=outcome.reports.get("json"))
    return outcome


def ingest_home_care_report(
    path: Path,
    *,
    prefecture_code: str,
    fiscal_year: int,
    settings: Settings | None = None,
    warehouse=None,
    dry_run: bool = False,
    force: bool = False,
) -> Outcome:
    """Archive, validate, report, then load (accepted) or quarantine (rejected/unreadable) one office file."""
    intake = begin_submission(path, HOME_CARE_REPORT, prefecture_code, fiscal_year, settings=settings,
                              warehouse=warehouse, dry_run=dry_run, force=force)
    if intake.skipped:
        return intake.skipped
    result, table = validate_home_care_report(
        intake.path, prefecture_code=prefecture_code, fiscal_year=fiscal_year, warehouse=intake.warehouse
    )

    def load() -> str:
        if not intake.warehouse.load_home_care_report(intake.sid, prefecture_code, fiscal_year, result.records):
            return "a newer accepted file exists for this prefecture and year; rows not reloaded"
        return ""

    return finish_submission(intake, result, table, template_version=table.template.version if table else None,
                             load=load)


def ingest_file(item: LandingFile | dict, *, settings: Settings | None = None, dry_run: bool = False, force: bool = False) -> Outcome:
    item = LandingFile(**item) if isinstance(item, dict) else item
    if item.kind == REGISTER:
        return ingest_register(Path(item.path), settings=settings, dry_run=dry_run, force=force)
    if item.kind == HOME_CARE_REPORT:
        flow = ingest_home_care_report
    else:
        from tsunagu import submissions

        flow = {REQUEST_FORM: submissions.ingest_request_form, SURVEY_RETURN: submissions.ingest_survey_return}[item.kind]
    return flow(
        Path(item.path), prefecture_code=item.prefecture_code, fiscal_year=item.fiscal_year,
        settings=settings, dry_run=dry_run, force=force,
    )


def sender_batches(items: list[LandingFile | dict]) -> list[dict]:
    """Group files by kind and sender, oldest year first, then by file name.

    One sender's files of one kind are processed in order, never in parallel: a
    later file supersedes an earlier one, and the year-over-year checks need last
    year loaded first. Different senders and kinds run in parallel.
    """
    batches: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        item = asdict(item) if isinstance(item, LandingFile) else item
        batches.setdefault((item["kind"], item["prefecture_code"]), []).append(item)
    return [
        {"kind": kind, "prefecture_code": pref,
         "files": sorted(files, key=lambda f: (f["fiscal_year"], Path(f["path"]).name))}
        for (kind, pref), files in sorted(batches.items())
    ]


def ingest_batch(items: list[dict], *, settings: Settings | None = None, dry_run: bool = False, force: bool = False) -> list[dict]:
    """Ingest files one after another. A file that breaks the code is recorded as failed, and the rest go on."""
    outcomes = []
    for item in items:
        try:
            outcomes.append(ingest_file(item, settings=settings, dry_run=dry_run, force=force).to_dict())
        except Exception as exc:  # recorded, then re-raised by the caller once the batch is done
            log.exception("ingesting %s failed", item["path"])
            outcomes.append(Outcome(
                item["kind"], item["path"], "", "failed", item.get("prefecture_code"), item.get("fiscal_year"),
                note=f"{type(exc).__name__}: {exc}",
            ).to_dict())
    return outcomes


def write_outcomes(outcomes: list[dict], settings: Settings, run_id: str) -> Path:
    """The outcomes record of one run: one line per file, as JSON."""
    out = settings.reports_dir / "runs" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(outcomes, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def plan_publication(
    *, fiscal_year: int | None = None, prefectures: list[str] | None = None, settings: Settings | None = None
) -> list[dict]:
    """(fiscal year, prefecture) pairs that have accepted rows, narrowed by the params."""
    warehouse = open_warehouse(settings)
    pairs = warehouse.report_scopes()
    return [
        {"fiscal_year": fy, "prefecture_code": pref}
        for fy, pref in pairs
        if (fiscal_year is None or fy == fiscal_year) and (not prefectures or pref in prefectures)
    ]


def publish_one(
    fiscal_year: int, prefecture_code: str, *, out_dir: Path | None = None, settings: Settings | None = None,
    dry_run: bool = False,
) -> dict:
    """Build one prefecture's package. In a dry run it is built in a scratch folder and thrown away."""
    import tempfile

    from tsunagu.intake.templates import load_template
    from tsunagu.publish.package import publish_prefecture

    settings = settings or get_settings()
    warehouse = open_warehouse(settings)
    template = load_template(HOME_CARE_REPORT, fiscal_year=fiscal_year)
    if dry_run:
        with tempfile.TemporaryDirectory() as scratch:
            result = publish_prefecture(warehouse, fiscal_year, prefecture_code, Path(scratch), template=template)
            return {"fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "rows": result.rows,
                    "dir": "(dry run)", "files": dict(result.files)}
    result = publish_prefecture(
        warehouse, fiscal_year, prefecture_code, Path(out_dir or settings.publish_dir), template=template
    )
    return {"fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "rows": result.rows,
            "dir": str(result.dir), "files": dict(result.files)}


def publish(
    fiscal_year: int, *, prefectures: list[str] | None = None, out_dir: Path | None = None,
    settings: Settings | None = None, dry_run: bool = False,
) -> list[dict]:
    targets = plan_publication(fiscal_year=fiscal_year, prefectures=prefectures, settings=settings)
    return [
        publish_one(t["fiscal_year"], t["prefecture_code"], out_dir=out_dir, settings=settings, dry_run=dry_run)
        for t in targets
    ]
