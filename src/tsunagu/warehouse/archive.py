"""Raw archive (content-addressed, read-only, never deleted) and quarantine of rejected files.

``archive/sha256/<ab>/<cd>/<sha256><suffix>`` holds every received file exactly as it came in
(design.md §5 "raw is sacred"). ``quarantine/<fiscal_year>/<sender>/<sha256[:12]>_<name>/`` holds a
rejected file next to a REASON.txt in Japanese and English.

A name we build from a sender's file name (quarantine, reports) keeps at most ``NAME_BYTES`` bytes of it
(:func:`short_name`): file systems allow 255 bytes per name, and a legal long Japanese name plus our
prefix would not fit. The sha256 prefix in front keeps such names unique.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tsunagu.faults import point
from tsunagu.findings import Finding
from tsunagu.normalize import storable
from tsunagu.settings import Settings

CHUNK = 1024 * 1024
READ_ONLY = 0o444
NAME_BYTES = 200  # of a sender's name in a name we build: with "<sha12>_" and "_data_docs" still < 255


@dataclass(frozen=True)
class ArchivedFile:
    sha256: str
    archive_path: Path
    size: int
    original_name: str | None = None
    is_new: bool = True  # False when the same bytes were already archived


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


file_sha256 = sha256_file


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


def archive_raw(path: str | os.PathLike[str], settings: Settings, original_name: str | None = None) -> ArchivedFile:
    """Copy ``path`` into the content-addressed archive (streaming hash, atomic, read-only, deduplicated).

    Partial ``.incoming-*`` files of archivers killed mid-copy are removed here (:func:`temporaries_lock`).
    """
    src = Path(path)
    name = original_name or src.name
    root = settings.archive_dir / "sha256"
    root.mkdir(parents=True, exist_ok=True)
    with temporaries_lock(root, sweep=lambda: _remove_partial_files(root)):
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=root)
        tmp = Path(tmp_name)
        try:
            h, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                point("archive_partial")
                os.fsync(out.fileno())
            digest = h.hexdigest()
            folder = root / digest[:2] / digest[2:4]
            folder.mkdir(parents=True, exist_ok=True)
            existing = sorted(folder.glob(f"{digest}*"))
            if existing:
                return ArchivedFile(digest, existing[0], existing[0].stat().st_size, name, is_new=False)
            dest = folder / f"{digest}{_suffix(name)}"
            os.chmod(tmp, READ_ONLY)
            try:
                os.link(tmp, dest)  # fails if another process archived the same bytes meanwhile
                is_new = True
            except FileExistsError:
                is_new = False
            return ArchivedFile(digest, dest, size, name, is_new=is_new)
        finally:
            tmp.unlink(missing_ok=True)


@contextmanager
def temporaries_lock(folder: Path, sweep: Callable[[], None]) -> Generator[None, None, None]:
    """Hold ``folder`` while writing temporary files in it; first ``sweep`` dead writers' ones if no writer is live.

    Writers hold a shared flock on the folder itself (no lock file next to the data). A writer killed
    with kill -9 leaves its temporaries but not its lock, so whoever gets the lock exclusively knows
    that every temporary there is a dead writer's. A live writer's are never touched: then the sweep
    waits for a later run.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):
            sweep()
        _flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _remove_partial_files(root: Path) -> None:
    for partial in root.glob(".incoming-*"):
        partial.unlink(missing_ok=True)


def _flock(fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how)
        return True
    except OSError:  # held by a live writer, or no locks on this file system: sweep nothing
        return False


def archived_path(sha256: str, settings: Settings) -> Path | None:
    folder = settings.archive_dir / "sha256" / sha256[:2] / sha256[2:4]
    found = sorted(folder.glob(f"{sha256}*")) if folder.is_dir() else []
    return found[0] if found else None


def short_name(name: str, limit: int = NAME_BYTES) -> str:
    """``name`` in at most ``limit`` bytes of UTF-8: its stem cut on a character boundary, its suffix kept."""
    name = storable(name)  # undecodable bytes in a name (lone surrogates) → U+FFFD, as in the warehouse
    if len(name.encode("utf-8")) <= limit:
        return name
    suffix = Path(name).suffix if _suffix(name) else ""  # an ordinary short suffix (.csv, .xlsx) is kept
    stem = name[: len(name) - len(suffix)]
    return stem.encode("utf-8")[: limit - len(suffix)].decode("utf-8", "ignore") + suffix  # a cut character goes


def _safe_name(name: str) -> str:
    name = short_name(name.replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r'[\x00-\x1f<>:"|?*]', "_", name).strip(" .")  # never longer: one byte for one byte
    return name or "file"


def _location(f: Finding) -> tuple[str, str]:
    ja, en = [], []
    if f.sheet:
        ja.append(f"シート「{f.sheet}」")
        en.append(f"sheet '{f.sheet}'")
    if f.row is not None:
        ja.append(f"{f.row}行目")
        en.append(f"row {f.row}")
    if f.column:
        ja.append(f"{f.column}列")
        en.append(f"column {f.column}")
    if f.field:
        ja.append(f"（項目 {f.field}）")
        en.append(f"(field {f.field})")
    return (" ".join(ja) or "ファイル全体", ", ".join(en) or "whole file")


def reason_text(
    archived: ArchivedFile, findings: Iterable[Finding], kind: str, sender: str | None, fiscal_year: int | None,
) -> str:
    findings = list(findings)
    errors = [f for f in findings if f.severity == "error"]
    lines = [
        "隔離理由 / Quarantine reason",
        "==========================",
        f"ファイル名 / File name: {archived.original_name or archived.archive_path.name}",
        f"SHA-256: {archived.sha256}",
        f"サイズ / Size: {archived.size} bytes",
        f"種別 / Kind: {kind}",
        f"送信元 / Sender: {sender or '不明 / unknown'}",
        f"年度 / Fiscal year: {fiscal_year if fiscal_year is not None else '－ / n/a'}",
        f"エラー {len(errors)} 件、警告 {len(findings) - len(errors)} 件 / "
        f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)",
        "",
        "このファイルは受け付けられませんでした。以下を修正して再送してください。",
        "This file was not accepted. Please correct the following and send it again.",
        "",
    ]
    for i, f in enumerate(findings, start=1):
        loc_ja, loc_en = _location(f)
        sev_ja = "エラー" if f.severity == "error" else "警告"
        lines += [
            f"[{i}] {sev_ja} / {f.severity}  {f.code}",
            f"    場所: {loc_ja}",
            f"    Location: {loc_en}",
            f"    内容: {f.message_ja}",
            f"    Detail: {f.message_en}",
            "",
        ]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def quarantine(
    archived: ArchivedFile, reason_findings: Iterable[Finding], settings: Settings, kind: str, sender: str | None,
    fiscal_year: int | None, original_name: str | None = None,
) -> Path:
    """Put a rejected file with its REASON.txt under quarantine/<fy>/<sender>/<sha[:12]>_<name>/ (idempotent).

    A register (no fiscal year) goes under ``quarantine/<kind>/``; an unknown sender is ``unknown``.
    """
    name = _safe_name(original_name or archived.original_name or archived.archive_path.name)
    year = str(fiscal_year) if fiscal_year is not None else kind
    folder = settings.quarantine_dir / year / (sender or "unknown") / f"{archived.sha256[:12]}_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / name
    if not copy.exists():
        tmp = folder / f".tmp-{name}"
        tmp.unlink(missing_ok=True)
        try:
            os.link(archived.archive_path, tmp)  # the archived file is read-only: a hardlink is safe
        except OSError:
            shutil.copyfile(archived.archive_path, tmp)
            os.chmod(tmp, READ_ONLY)
        os.replace(tmp, copy)
    _write_if_changed(folder / "REASON.txt", reason_text(archived, reason_findings, kind, sender, fiscal_year))
    return folder
