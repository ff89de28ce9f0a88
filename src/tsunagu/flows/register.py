"""Registers (届出受理医療機関名簿): each accepted file replaces its prefecture's register and roster.

The only batch flow: registers are independent and CPU-bound, so one scan's registers are parsed
on every core, then loaded one by one. They run before everything else, because the roster they
load is what 様式11の3 rows are checked against.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile
from tsunagu.flows.base import Flow, Landing, Outcome, open_warehouse, processed
from tsunagu.settings import Settings, get_settings

log = logging.getLogger(__name__)

KIND = "register"


PR_SET_PDEATHSIG = 1  # linux/prctl.h
_parent: int | None = None  # in a worker: the pid of the process that forked it


def _die_with_parent(parent: int) -> None:
    """Pool initializer: a worker dies with its parent, even with a kill -9 of it, never left an orphan.

    Linux sends SIGKILL when the forking thread ends (prctl PR_SET_PDEATHSIG, via ctypes: no new
    dependency; the pool lives inside the calling thread's ``with``). A parent already gone before the
    prctl, or a system without it, is caught by checking the parent pid, here and before each file.
    """
    global _parent
    _parent = parent
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _exit_if_orphaned()


def _exit_if_orphaned() -> None:
    if _parent is not None and os.getppid() != _parent:
        os._exit(1)


def _parse_register(path: str):
    """Parse in a worker process; an unreadable file comes back as its exception."""
    from tsunagu.intake.register import parse_register

    _exit_if_orphaned()
    try:
        return parse_register(Path(path))
    except UnreadableFile as exc:
        return exc


def parse_registers(paths: list[Path]) -> Iterator:
    """Parse on every core, yielding in file order as each parse is ready, so that the caller loads one
    file while the workers parse the next (one by one when there is a single file or core)."""
    if len(paths) < 2 or (os.cpu_count() or 1) < 2:
        yield from (_parse_register(str(p)) for p in paths)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    done = 0
    try:
        # fork: the workers only read files, and they start without re-importing anything.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1), mp_context=context,
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            for parse in pool.map(_parse_register, [str(p) for p in paths]):
                yield parse
                done += 1
    except (OSError, AssertionError, RuntimeError) as exc:  # e.g. a daemonic worker may not have children
        log.warning("parallel register parsing unavailable (%s); parsing one by one", exc)
        yield from (_parse_register(str(p)) for p in paths[done:])


class RegisterFlow(Flow):
    kind = KIND
    label_ja = "届出受理医療機関名簿"
    landing = Landing("register", scoped=False)
    requires = ()
    order = 0
    batch = True

    def ingest(self, path: Path, **kwargs: Any) -> Outcome:
        (outcome,) = self.ingest_many([path], **kwargs)
        return outcome

    def ingest_many(
        self, paths: list[Path], *, settings: Settings | None = None, warehouse=None, dry_run: bool = False,
        force: bool = False, **_: Any,
    ) -> list[Outcome]:
        """Archive, parse and load register files. The sender is read from the file, not given."""
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
            o["sha256"]: o for o in warehouse.outcomes(kind=KIND) if processed(o)
        }
        outcomes: list[Outcome | None] = [
            Outcome(KIND, str(p), sha, "skipped", prefecture_code=done[sha]["sender"] or None,
                    rows=done[sha]["rows"] or 0, submission_id=done[sha]["id"],
                    note=f"already processed as {done[sha]['status']}")
            if sha in done else None
            for p, sha in zip(paths, shas, strict=True)
        ]
        todo = [i for i, o in enumerate(outcomes) if o is None]
        for i, parse in zip(todo, parse_registers([paths[i] for i in todo]), strict=True):
            path, sha = paths[i], shas[i]
            if isinstance(parse, UnreadableFile):
                findings, sender, rows, status = [parse.finding()], "", 0, "unreadable"
            else:
                findings, sender, rows = parse.findings, parse.prefecture_code, parse.row_count
                status = "rejected" if any(f.severity == "error" for f in findings) else "accepted"
            errors = sum(f.severity == "error" for f in findings)
            outcome = outcomes[i] = Outcome(
                KIND, str(path), sha, status, prefecture_code=sender or None, rows=rows, errors=errors,
                warnings=len(findings) - errors,
            )
            if dry_run:
                continue
            sid, _ = warehouse.register_submission(
                kind=KIND, sha256=sha, original_name=path.name, sender=sender, fiscal_year=None,
                archive_path=str(archived[i].archive_path), channel="landing",
            )
            outcome.submission_id = sid
            if status == "accepted":
                if not warehouse.load_register(parse, sha256=sha, submission_id=sid):
                    outcome.note = "a newer register of this prefecture is loaded; roster not replaced"
            else:
                outcome.quarantine = str(quarantine(
                    archived[i], findings, settings, kind=KIND, sender=sender, fiscal_year=None,
                    original_name=path.name,
                ))
            warehouse.record_outcome(sid, status, findings, rows=rows, template_version=None,
                                     report_path=outcome.quarantine)
        return outcomes
