"""What the DAG tasks and the CLI call: scan the landing folders, ingest files through the flow
registry (:mod:`tsunagu.flows`), record a run's outcomes, and publish.

Every function here is idempotent: a file is keyed by its sha256, loads are upserts, and reports
and packages are rewritten byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tsunagu.flows import LandingFile, Outcome, all_flows, get_flow, open_warehouse
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.normalize import storable
from tsunagu.settings import Settings, get_settings

__all__ = [
    "LandingFile", "Outcome", "ingest_batch", "ingest_batch_flows", "ingest_file", "ingest_registers", "is_batch",
    "open_warehouse", "publish", "publish_one", "plan_publication", "publishable", "scan_landing", "sender_batches",
    "validate_file", "write_outcomes",
]

log = logging.getLogger(__name__)

_IGNORED = re.compile(r"^(\.|~\$)|\.(tmp|part)$")  # hidden files, Excel lock files, partial uploads


def _landing_files(landing: Path, folder: str) -> list[Path]:
    """The regular files under ``landing/folder``. Landing never reads outside itself: no symlink is
    followed (to a file or a folder, wherever it points), each is skipped with a warning; hidden, lock
    and partial files are skipped with an info line. The landing root itself may be a link (a mount)."""
    base = landing.resolve()
    root = landing / folder
    if not (root.exists() or root.is_symlink()):
        return []
    if root.is_symlink():
        log.warning("skipping %s: a symlink (the landing scan never follows one)", root)
        return []
    if root.resolve() != base / folder:  # a folder between the landing root and this one is a link
        log.warning("skipping %s: a symlink on the way (the landing scan never follows one)", root)
        return []
    found = []
    for here, dirs, files in os.walk(root):  # a linked folder is listed in dirs, never entered
        for name in sorted(dirs + files):
            path = Path(here) / name
            if path.is_symlink():
                log.warning("skipping %s: a symlink (the landing scan never follows one)", path)
            elif name in dirs:
                continue
            elif _IGNORED.search(name):
                log.info("ignoring %s: a hidden, lock or partial file", path)
            elif not path.is_file():
                log.warning("skipping %s: not a regular file", path)
            elif not path.resolve().is_relative_to(base):  # a folder swapped for a link during the walk
                log.warning("skipping %s: outside the landing folder", path)
            else:
                found.append(path)
    return sorted(found)


def scan_landing(
    landing: Path, *, fiscal_year: int | None = None, prefectures: list[str] | None = None
) -> list[LandingFile]:
    """Every file waiting in the landing folders of every flow, in flow order (registers first)."""
    jurisdiction = load_jurisdiction()
    found: list[LandingFile] = []
    for flow in all_flows():
        root = landing / flow.landing.folder
        if not flow.landing.scoped:
            found += [LandingFile(flow.kind, str(p)) for p in _landing_files(landing, flow.landing.folder)]
            continue
        for path in _landing_files(landing, flow.landing.folder):
            parts = path.relative_to(root).parts
            if len(parts) < 3 or not parts[0].isdigit() or parts[1] not in jurisdiction:
                log.warning("ignoring %s: expected %s/<fiscal_year>/<pref_code>/<file>", path, flow.landing.folder)
                continue
            fy, pref = int(parts[0]), parts[1]
            if (fiscal_year is None or fy == fiscal_year) and (not prefectures or pref in prefectures):
                found.append(LandingFile(flow.kind, str(path), pref, fy))
    return found


def ingest_registers(paths: list[Path], **kwargs: Any) -> list[Outcome]:
    """Registers (名簿) in one call: parsed on every core, each replacing its prefecture's roster."""
    return get_flow("register").ingest_many([Path(p) for p in paths], **kwargs)


def is_batch(kind: str) -> bool:
    """Files of a batch flow (registers) are ingested together, before the per-sender batches."""
    return get_flow(kind).batch


def ingest_batch_flows(items: list[dict], **kwargs: Any) -> list[dict]:
    """The files of every batch flow, one call per kind."""
    outcomes: list[dict] = []
    for flow in all_flows():
        paths = [Path(i["path"]) for i in items if i["kind"] == flow.kind]
        if flow.batch and paths:
            outcomes += [o.to_dict() for o in flow.ingest_many(paths, **kwargs)]
    return outcomes


def publishable(outcomes: list[dict]) -> bool:
    """A newly accepted file of a kind whose data is published (this triggers publication)."""
    return any(o["status"] == "accepted" and get_flow(o["kind"]).publishes_asset for o in outcomes)


def ingest_file(item: LandingFile | dict, *, settings: Settings | None = None, warehouse=None, dry_run: bool = False,
                force: bool = False, **options: Any) -> Outcome:
    """Ingest one file through its kind's flow."""
    item = LandingFile(**item) if isinstance(item, dict) else item
    return get_flow(item.kind).ingest(
        Path(item.path), prefecture_code=item.prefecture_code, fiscal_year=item.fiscal_year,
        settings=settings, warehouse=warehouse, dry_run=dry_run, force=force, **options,
    )


def validate_file(kind: str, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
                  **options: Any):
    """Parse and validate one file of ``kind`` without loading it. Returns ``Checked``. Writes nothing."""
    return get_flow(kind).check(Path(path), prefecture_code=prefecture_code, fiscal_year=fiscal_year,
                                warehouse=warehouse, **options)


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


def write_outcomes(outcomes: list[dict], settings: Settings, run_id: str, try_number: int = 1) -> Path:
    """The outcomes record of one try of a run: ``reports/runs/<run_id>/try-<n>.json``, one entry per file.

    A record is never overwritten: clearing a task reruns it as a new try, and the first try's
    outcomes (accepted, rejected, unreadable) are the audit record of the run. Should a record of
    the same try exist already, this one is kept next to it as ``try-<n>-<k>.json`` (k = 2, 3, ...).
    """
    import itertools
    import tempfile

    folder = settings.reports_dir / "runs" / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".try-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(storable(json.dumps(outcomes, ensure_ascii=False, indent=2, sort_keys=True)) + "\n")  # names not UTF-8
        for k in itertools.count(1):
            out = folder / (f"try-{int(try_number)}.json" if k == 1 else f"try-{int(try_number)}-{k}.json")
            try:
                os.link(tmp, out)  # atomic, and fails instead of replacing an existing record
                return out
            except FileExistsError:
                continue
    finally:
        os.unlink(tmp)
    raise AssertionError("unreachable")


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
    template = load_template("home_care_report", fiscal_year=fiscal_year)
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
