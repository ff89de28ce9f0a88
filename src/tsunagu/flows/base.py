"""The shape every submission kind shares: landing folder → parse → validate → load → outputs.

A flow is one object (a subclass of :class:`Flow`) in the registry (:mod:`tsunagu.flows`). The
landing scan, ``ingest_file``, the CLI and the DAGs read the registry; nothing else dispatches on
the kind.

Ingesting one file (:meth:`Flow.ingest`) is always the same:

1. the raw file is archived by sha256 and registered as a submission (``begin_submission``); the
   same bytes processed before are skipped unless forced;
2. ``check()`` parses and validates it and writes nothing;
3. the three reports are written (JSON, annotated copy, GX Data Docs);
4. accepted: ``load()`` (one transaction), then ``outputs()`` (files for people, e.g. a summary);
   rejected or unreadable: the file is quarantined whole;
5. the outcome is recorded. Until then the submission is not done (:func:`processed`): a run killed
   after its load is decided again by the next run, whose load is then a no-op.

Every step is idempotent: a file is keyed by its sha256, loads are keyed upserts, and reports
are rewritten byte for byte.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tsunagu.faults import point
from tsunagu.findings import UnreadableFile
from tsunagu.model import ValidationResult
from tsunagu.normalize import storable
from tsunagu.settings import Settings, get_settings

log = logging.getLogger(__name__)

FINAL_STATUSES = {"accepted", "rejected", "unreadable", "superseded"}


def processed(submission: dict[str, Any]) -> bool:
    """Done with: a final status and its outcome recorded (``processed_at``).

    A load commits the status before ``record_outcome`` runs, so a kill in between leaves a final status
    without its template version, report or findings; such a submission is not done.
    """
    return submission["status"] in FINAL_STATUSES and submission["processed_at"] is not None


@dataclass(frozen=True)
class Landing:
    """Where a kind's files arrive, under the landing root."""

    folder: str  # e.g. "home_care_reports" or "grants/community_support/application"
    scoped: bool = True  # files under <folder>/<fiscal_year>/<pref_code>/; False: anywhere under <folder>


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
    status: str  # accepted | rejected | unreadable | skipped (already processed) | failed
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


@dataclass
class Checked:
    """What ``Flow.check`` found: the validation result and the parsed table (None when unreadable)."""

    result: ValidationResult
    table: Any = None  # a ParsedTable (or anything with the same grid/columns) for the annotated copy
    template_version: str | None = None
    fiscal_year: int | None = None  # when the file itself says (request forms); else the caller's
    form: Any = None  # the kind's own parse when it is not a table (a request form's labelled cells)

    @property
    def parsed(self) -> Any:
        return self.form if self.form is not None else self.table


@dataclass(frozen=True)
class Loaded:
    """What ``Flow.load`` did."""

    note: str = ""
    current: bool = True  # False: a newer file is current, so outputs are not rewritten


def unreadable(exc: UnreadableFile) -> Checked:
    return Checked(ValidationResult(status="unreadable", findings=[exc.finding()], records=[], rows=0))


# ------------------------------------------------------------------------------------ the warehouse


def open_warehouse(settings: Settings | None = None):
    """The warehouse of ``settings``, its schema created if missing."""
    from tsunagu.warehouse.db import Warehouse

    settings = settings or get_settings()
    warehouse = Warehouse.from_settings(settings)
    warehouse.create_schema()
    return warehouse


def existing_warehouse(settings: Settings):
    """For dry runs: the warehouse if it already exists (for roster checks), never created."""
    from tsunagu.warehouse.db import Warehouse

    if settings.db_url.startswith("sqlite:///") and not Path(settings.db_url.removeprefix("sqlite:///")).exists():
        return None
    warehouse = Warehouse(settings.db_url)
    return warehouse if warehouse.has_schema() else None


# ------------------------------------------------------------------------------------ one file


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
    warehouse = warehouse or (existing_warehouse(settings) if dry_run else open_warehouse(settings))
    if dry_run:  # a dry run archives and registers nothing
        return Intake(kind, path, prefecture_code, fiscal_year, settings, warehouse, file_sha256(path), dry_run)
    archived = archive_raw(path, settings)  # raw is sacred: archived before any parsing
    sid, is_new = warehouse.register_submission(
        kind=kind, sha256=archived.sha256, original_name=path.name, sender=prefecture_code,
        fiscal_year=fiscal_year, archive_path=str(archived.archive_path), channel="landing",
    )
    intake = Intake(kind, path, prefecture_code, fiscal_year, settings, warehouse, archived.sha256, dry_run, sid, archived)
    if force and not is_new:
        warehouse.reopen_submission(sid)  # a forced rerun decides again, e.g. after a 個別協議 or a new roster
    elif not is_new:
        done = warehouse.get_submission(sid)
        if done and processed(done):
            intake.skipped = Outcome(
                kind, str(path), intake.sha, "skipped", prefecture_code, fiscal_year, rows=done.get("rows") or 0,
                submission_id=sid, note=f"already processed as {done['status']}",
            )
        elif done and done["status"] in FINAL_STATUSES:
            log.warning("submission %s is %s without a recorded outcome (an earlier run was killed): "
                        "deciding it again", sid, done["status"])
    return intake


def finish_submission(intake: Intake, checked: Checked, *, load, outputs=None) -> Outcome:
    """Write the reports, then load (accepted) and write the outputs, or quarantine; record the outcome."""
    from tsunagu.validate.reports import write_reports
    from tsunagu.warehouse.archive import quarantine, short_name

    result = checked.result
    fy = checked.fiscal_year if checked.fiscal_year is not None else intake.fiscal_year
    errors = sum(f.severity == "error" for f in result.findings)
    outcome = Outcome(
        intake.kind, str(intake.path), intake.sha, result.status, intake.prefecture_code, fy, rows=result.rows,
        errors=errors, warnings=len(result.findings) - errors, submission_id=intake.sid,
    )
    base = intake.settings.home / "dry_run" if intake.dry_run else intake.settings.reports_dir
    report_dir = base / intake.kind / str(fy if fy is not None else "unknown") / intake.prefecture_code
    metadata = {"kind": intake.kind, "prefecture_code": intake.prefecture_code, "fiscal_year": fy,
                "submission_id": intake.sid, "sha256": intake.sha, "original_name": storable(intake.path.name)}
    paths = write_reports(result, checked.table, intake.path, report_dir,
                          stem=f"{intake.sha[:12]}_{short_name(intake.path.stem)}", metadata=metadata)  # < 255 bytes
    outcome.reports = {k: str(v) for k, v in paths.items()}
    if intake.dry_run:
        return outcome
    if result.status == "accepted":
        loaded = load()
        point("after_load_commit")
        notes = [loaded.note] if loaded.note else []
        if loaded.current and outputs is not None and (written := outputs()):
            notes.append(written)
        outcome.note = "; ".join(notes)
    else:
        outcome.quarantine = str(quarantine(
            intake.archived, result.findings, intake.settings, kind=intake.kind, sender=intake.prefecture_code,
            fiscal_year=fy, original_name=intake.path.name,
        ))
    intake.warehouse.record_outcome(intake.sid, result.status, result.findings, rows=result.rows,
                                    template_version=checked.template_version,
                                    report_path=outcome.reports.get("json"))
    return outcome


# ------------------------------------------------------------------------------------ the flow


class Flow:
    """One submission kind. Subclasses set the class attributes and implement ``check`` and ``load``."""

    kind: ClassVar[str]
    label_ja: ClassVar[str]
    landing: ClassVar[Landing]
    # What the caller must give (CLI flags, landing path parts): a subset of ("prefecture_code", "fiscal_year").
    requires: ClassVar[tuple[str, ...]] = ("prefecture_code", "fiscal_year")
    order: ClassVar[int] = 50  # scan and ingest order: registers (roster) before what is checked against them
    batch: ClassVar[bool] = False  # all files of a scan in one call (ingest_many), before the per-sender batches
    publishes_asset: ClassVar[bool] = False  # a newly accepted file triggers publication

    def check(self, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
              **options: Any) -> Checked:
        """Parse and validate one file. Writes nothing."""
        raise NotImplementedError

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        """Load an accepted file in one transaction."""
        raise NotImplementedError

    def outputs(self, intake: Intake, checked: Checked) -> str:
        """Files for people written after a load (a note saying where), or ''."""
        return ""

    def ingest(
        self, path: Path, *, prefecture_code: str | None = None, fiscal_year: int | None = None,
        settings: Settings | None = None, warehouse=None, dry_run: bool = False, force: bool = False,
        **options: Any,
    ) -> Outcome:
        """Archive, validate, report, then load (accepted) or quarantine (rejected/unreadable) one file."""
        intake = begin_submission(path, self.kind, prefecture_code, fiscal_year, settings=settings,
                                  warehouse=warehouse, dry_run=dry_run, force=force)
        if intake.skipped:
            return intake.skipped
        checked = self.check(intake.path, prefecture_code=prefecture_code, fiscal_year=fiscal_year,
                             warehouse=intake.warehouse, **options)
        return finish_submission(intake, checked, load=lambda: self.load(intake, checked),
                                 outputs=lambda: self.outputs(intake, checked))

    def ingest_many(self, paths: list[Path], **kwargs: Any) -> list[Outcome]:
        return [self.ingest(p, **kwargs) for p in paths]

    def __repr__(self) -> str:
        return f"<Flow {self.kind}>"
