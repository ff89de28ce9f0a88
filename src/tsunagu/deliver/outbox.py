"""The outbox: one folder per prefecture, fiscal year and data version, for bureaus that use file shares.

``$TSUNAGU_HOME/outbox/<code>_<romaji>/<fiscal_year>/<version>/<file>``

Placed files are read-only and never overwritten: placing the same file again is a no-op; placing a
different file under an existing name is refused (a new data version gets a new folder). Every
delivery (kinds ``delivery`` and ``correction``) places its files here, and a mail whose attachments
are too large for e-mail carries the outbox location instead.

``TSUNAGU_OUTBOX_DIR`` overrides the root; ``TSUNAGU_OUTBOX_URL`` (e.g. a file-share or https URL
that serves the same tree) turns locations into links.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.archive import sha256_file

_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class OutboxConflict(FileExistsError):
    """A different file already sits under this name in the outbox: outbox files are never overwritten."""


def outbox_root(settings: Settings | None = None) -> Path:
    env = os.environ.get("TSUNAGU_OUTBOX_DIR")
    return Path(env) if env else (settings or get_settings()).home / "outbox"


def outbox_dir(settings: Settings | None, prefecture_code: str, fiscal_year: int, version: str) -> Path:
    if not _SAFE_VERSION.match(str(version)):
        raise ValueError(f"unsafe data version for a folder name: {version!r}")
    pref = load_jurisdiction().get(prefecture_code)
    return outbox_root(settings) / pref.package_name / str(int(fiscal_year)) / str(version)


def outbox_location(settings: Settings | None, folder: Path) -> str:
    """What a mail tells the recipient: ``TSUNAGU_OUTBOX_URL`` + the relative path, else the folder path."""
    base = os.environ.get("TSUNAGU_OUTBOX_URL")
    if not base:
        return str(folder)
    rel = folder.relative_to(outbox_root(settings)).as_posix()
    return base.rstrip("/") + "/" + quote(rel) + "/"


def place_in_outbox(
    settings: Settings | None, prefecture_code: str, fiscal_year: int, version: str, files: Iterable[str | Path]
) -> Path:
    """Copy ``files`` into the prefecture's outbox folder (read-only); idempotent. -> the folder."""
    folder = outbox_dir(settings, prefecture_code, fiscal_year, version)
    folder.mkdir(parents=True, exist_ok=True)
    for src in (Path(f) for f in files):
        if not src.is_file():
            raise FileNotFoundError(f"not a file: {src}")
        target = folder / src.name
        digest = sha256_file(src)
        if target.exists():
            if sha256_file(target) != digest:
                raise OutboxConflict(
                    f"{target} already holds different content; outbox files are never overwritten "
                    f"(use a new data version)"
                )
            continue
        fd, tmp = tempfile.mkstemp(prefix=".placing-", dir=folder)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            try:
                os.link(tmp, target)  # atomic and never replaces an existing file
            except FileExistsError:  # placed concurrently: same content is fine
                if sha256_file(target) != digest:
                    raise OutboxConflict(f"{target} already holds different content") from None
            except OSError:  # a share without hard links: rename (the existence check above stands)
                os.replace(tmp, target)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    return folder
