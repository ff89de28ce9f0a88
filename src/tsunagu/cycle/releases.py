"""Releases: immutable, versioned snapshots of one prefecture's package, and what changed between two.

A release is the package that ``publish_prefecture`` builds (xlsx, CSV, datapackage.json,
manifest.json), built in a scratch folder and copied read-only to
``$TSUNAGU_HOME/releases/<fy>/<code>_<romaji>/<version>/``. It is never overwritten.

``version`` = the first 16 hex digits of sha256 over the sorted ``name:sha256`` lines of the data
files (CSV, xlsx, datapackage.json). manifest.json is left out of the hash because it also lists the
source files: the same data re-sent in another file gives the same version (and no new row).

After a delivery, new data gives a new release, which is delivered as 訂正版 with a summary of what
changed since the delivered version (:func:`diff_releases`, :func:`summarise_ja`).

Other datasets (the evaluation analysis, :mod:`tsunagu.cycle.evaluation`) keep their releases in the same
table, told apart by its ``dataset`` column (migration 0005): every query here takes ``dataset`` (default:
the home-care reports), so neither cycle ever sees the other's releases.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.archive import sha256_file as _sha256
from tsunagu.warehouse.cycle import dumps, loads, now_utc, table

VERSION_LENGTH = 16
VERSIONED_SUFFIXES = (".csv", ".xlsx")
VERSIONED_NAMES = ("datapackage.json",)
DATASET_KIND = "home_care_report"
DELIVERY_KINDS = ("delivery", "correction")
KEY_FIELD = "institution_code"
NAME_FIELD = "institution_name"


class ReleaseError(ValueError):
    """A release cannot be made (no accepted rows) or a stored snapshot does not match its version."""


@dataclass(frozen=True)
class Release:
    fiscal_year: int
    prefecture_code: str
    version: str
    dir: Path
    files: dict[str, str]  # every file of the snapshot: name -> sha256
    rows: int
    created_at: dt.datetime
    is_correction: bool = False
    previous_version: str | None = None
    sources: tuple[str, ...] = ()
    template_version: str | None = None
    created: bool = False  # this call made it (False: it existed already)
    dataset: str = DATASET_KIND

    @property
    def data_files(self) -> dict[str, str]:
        """The data files (CSV, xlsx) with their sha256: what the notices and the closing report list."""
        return {n: h for n, h in self.files.items() if is_versioned(n)}

    def paths(self) -> list[Path]:
        """Every file of the snapshot, data files first (CSV, xlsx), then datapackage.json, manifest.json."""
        order = {".csv": 0, ".xlsx": 1, ".json": 2}
        names = sorted(self.files, key=lambda n: (order.get(Path(n).suffix, 3), n != "datapackage.json", n))
        return [self.dir / n for n in names]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year, "prefecture_code": self.prefecture_code, "version": self.version,
            "dir": str(self.dir), "files": dict(self.files), "rows": self.rows,
            "created_at": self.created_at.isoformat(), "is_correction": self.is_correction,
            "previous_version": self.previous_version, "created": self.created,
        }


def in_dataset(r: sa.Table, dataset: str) -> Any:
    """The where-clause for the releases of one dataset."""
    return r.c.dataset == dataset


def is_versioned(name: str) -> bool:
    return name.endswith(VERSIONED_SUFFIXES) or name in VERSIONED_NAMES


def compute_version(files: dict[str, str]) -> str:
    """Short sha256 over the sorted (name, sha256) of the data files."""
    lines = "".join(f"{n}:{h}\n" for n, h in sorted(files.items()) if is_versioned(n))
    if not lines:
        raise ReleaseError("a release needs at least one data file (CSV, xlsx, datapackage.json)")
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:VERSION_LENGTH]


def releases_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "releases"


def _row_to_release(row: Any, created: bool = False) -> Release:
    return Release(
        fiscal_year=int(row["fiscal_year"]), prefecture_code=row["prefecture_code"], version=row["version"],
        dir=Path(row["dir"]), files=loads(row["files"], {}), rows=int(row["rows"]), created_at=row["created_at"],
        is_correction=bool(row["is_correction"]), previous_version=row["previous_version"],
        sources=tuple(loads(row["sources"], [])), template_version=row["template_version"], created=created,
        dataset=row.get("dataset") or DATASET_KIND,
    )


# ----------------------------------------------------------------------------- queries
def list_releases(warehouse: Any, fiscal_year: int, prefecture_code: str | None = None, *,
                  dataset: str = DATASET_KIND) -> list[Release]:
    """Releases of a year (and prefecture), oldest first by when they became current."""
    r = table(warehouse, "releases")
    q = (sa.select(r).where(r.c.fiscal_year == fiscal_year, in_dataset(r, dataset))
         .order_by(r.c.prefecture_code, r.c.head_seq))
    if prefecture_code is not None:
        q = q.where(r.c.prefecture_code == prefecture_code)
    with warehouse.engine.connect() as conn:
        return [_row_to_release(row) for row in conn.execute(q).mappings()]


def get_release(warehouse: Any, fiscal_year: int, prefecture_code: str, version: str) -> Release | None:
    r = table(warehouse, "releases")
    q = sa.select(r).where(r.c.fiscal_year == fiscal_year, r.c.prefecture_code == prefecture_code,
                           r.c.version == version)
    with warehouse.engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return _row_to_release(row) if row else None


def latest_release(warehouse: Any, fiscal_year: int, prefecture_code: str, *,
                   dataset: str = DATASET_KIND) -> Release | None:
    """The release holding the prefecture's current data (the one that became current last)."""
    r = table(warehouse, "releases")
    q = (sa.select(r).where(r.c.fiscal_year == fiscal_year, r.c.prefecture_code == prefecture_code,
                            in_dataset(r, dataset))
         .order_by(r.c.head_seq.desc()).limit(1))
    with warehouse.engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return _row_to_release(row) if row else None


def delivered_versions(warehouse: Any, fiscal_year: int, prefecture_code: str, *,
                       kinds: tuple[str, ...] = DELIVERY_KINDS) -> list[tuple[str, Any]]:
    """[(version, sent_at)] of the releases already delivered to the prefecture, oldest first."""
    a = table(warehouse, "cycle_actions")
    q = (sa.select(a.c.version, a.c.sent_at)
         .where(a.c.fiscal_year == fiscal_year, a.c.prefecture_code == prefecture_code,
                a.c.kind.in_(kinds), a.c.status == "sent")
         .order_by(a.c.sent_at, a.c.action_key))
    with warehouse.engine.connect() as conn:
        return [(v, t) for v, t in conn.execute(q)]


def current_sources(warehouse: Any, fiscal_year: int, prefecture_code: str) -> tuple[str, ...]:
    return tuple(sorted(s["sha256"] for s in warehouse.report_sources(fiscal_year, prefecture_code)))


# ----------------------------------------------------------------------------- making releases
def _read_only(path: Path) -> None:
    for p in path.iterdir():
        os.chmod(p, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.chmod(path, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def _snapshot(src: Path, final: Path, files: dict[str, str]) -> None:
    """Copy the package to ``final`` (read-only). A snapshot already there must hold the same data."""
    if final.exists():
        present = {p.name: _sha256(p) for p in final.iterdir() if p.is_file()}
        wanted = {n: h for n, h in files.items() if is_versioned(n)}
        if {n: present.get(n) for n in wanted} != wanted:
            raise ReleaseError(f"{final} exists but does not hold version {final.name}: refusing to overwrite it")
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        for name in files:
            shutil.copy2(src / name, tmp / name)
        _read_only(tmp)
        os.rename(tmp, final)
    except BaseException:
        os.chmod(tmp, stat.S_IRWXU)
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def package_files(package: Any) -> dict[str, str]:
    """Every file of a published package: the prefecture's files and the per-municipality CSVs."""
    return {**package.files, **package.municipality_files}


def make_release(
    warehouse: Any, settings: Settings | None, fiscal_year: int, prefecture_code: str, *, template: Any = None,
) -> Release:
    """Publish the prefecture's package into a scratch folder and keep it as a release (idempotent).

    Same data → same version → the existing release (``created=False``). Raises ReleaseError when the
    prefecture has no accepted rows for the year.
    """
    from tsunagu.intake.templates import load_template
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.publish.package import publish_prefecture

    settings = settings or get_settings()
    pref = load_jurisdiction().get(prefecture_code)
    if not warehouse.home_care_reports(fiscal_year, prefecture_code):
        raise ReleaseError(f"no accepted 様式11の3 rows for {fiscal_year} {prefecture_code}: nothing to release")
    template = template or load_template(DATASET_KIND, fiscal_year=fiscal_year)
    sources = current_sources(warehouse, fiscal_year, prefecture_code)
    root = releases_root(settings)
    scratch_parent = root / ".scratch"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_parent) as scratch:
        package = publish_prefecture(warehouse, fiscal_year, prefecture_code, Path(scratch), template=template)
        return keep_release(warehouse, fiscal_year, prefecture_code, package, root / str(fiscal_year) / pref.package_name,
                            sources=sources, template_version=getattr(template, "version", None))


def keep_release(
    warehouse: Any, fiscal_year: int, prefecture_code: str, package: Any, folder: Path, *, sources: tuple[str, ...],
    template_version: str | None, dataset: str = DATASET_KIND, delivery_kinds: tuple[str, ...] = DELIVERY_KINDS,
) -> Release:
    """Keep a published package as the release ``<folder>/<version>`` of ``dataset`` (idempotent: same data,
    same release)."""
    files = package_files(package)
    version = compute_version(files)
    final = folder / version
    delivered = {v for v, _ in delivered_versions(warehouse, fiscal_year, prefecture_code, kinds=delivery_kinds)}
    r = table(warehouse, "releases")
    scope = (r.c.fiscal_year == fiscal_year) & (r.c.prefecture_code == prefecture_code) & in_dataset(r, dataset)
    with warehouse.transaction(lock=f"release:{fiscal_year}:{prefecture_code}") as conn:
        existing = conn.execute(sa.select(r).where(scope, r.c.version == version)).mappings().first()
        head = conn.execute(sa.select(r.c.version, r.c.head_seq).where(scope)
                            .order_by(r.c.head_seq.desc()).limit(1)).first()
        if existing is not None:
            if head is not None and head.version != version:  # earlier data is current again
                conn.execute(r.update().where(scope, r.c.version == version).values(head_seq=head.head_seq + 1))
            return _row_to_release(existing)
        _snapshot(package.dir, final, files)
        row = {
            "fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "version": version,
            "head_seq": (head.head_seq + 1) if head is not None else 1, "dir": str(final),
            "files": dumps(files), "rows": package.rows, "sources": dumps(list(sources)),
            "template_version": template_version,
            "previous_version": head.version if head is not None else None,
            "is_correction": 1 if (delivered - {version}) else 0, "created_at": now_utc(), "dataset": dataset,
        }
        conn.execute(r.insert().values(**row))
    return _row_to_release(row, created=True)


def ensure_release(warehouse: Any, settings: Settings | None, fiscal_year: int, prefecture_code: str) -> Release:
    """The release of the prefecture's current data: the latest one when its sources are still current
    (no publication needed), else :func:`make_release`."""
    latest = latest_release(warehouse, fiscal_year, prefecture_code)
    if latest is not None and latest.sources == current_sources(warehouse, fiscal_year, prefecture_code):
        return latest
    return make_release(warehouse, settings, fiscal_year, prefecture_code)


def preview_release(warehouse: Any, fiscal_year: int, prefecture_code: str) -> dict[str, Any]:
    """For dry runs: the version the current data would get, computed in a throw-away folder."""
    from tsunagu.intake.templates import load_template
    from tsunagu.publish.package import publish_prefecture

    latest = latest_release(warehouse, fiscal_year, prefecture_code)
    if latest is not None and latest.sources == current_sources(warehouse, fiscal_year, prefecture_code):
        return {"version": latest.version, "rows": latest.rows, "files": dict(latest.files), "exists": True}
    template = load_template(DATASET_KIND, fiscal_year=fiscal_year)
    with tempfile.TemporaryDirectory() as scratch:
        package = publish_prefecture(warehouse, fiscal_year, prefecture_code, Path(scratch), template=template)
        files = package_files(package)
        version = compute_version(files)
    existing = get_release(warehouse, fiscal_year, prefecture_code, version)
    return {"version": version, "rows": package.rows, "files": files, "exists": existing is not None}


# ----------------------------------------------------------------------------- differences
@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class RowChange:
    institution_code: str
    institution_name: str
    changes: tuple[FieldChange, ...]


@dataclass
class Diff:
    fiscal_year: int | None
    template_version: str | None
    old_version: str
    new_version: str
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)
    old_rows: int = 0
    new_rows: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year, "old_version": self.old_version, "new_version": self.new_version,
            "old_rows": self.old_rows, "new_rows": self.new_rows,
            "added": [{KEY_FIELD: r.get(KEY_FIELD), NAME_FIELD: r.get(NAME_FIELD)} for r in self.added],
            "removed": [{KEY_FIELD: r.get(KEY_FIELD), NAME_FIELD: r.get(NAME_FIELD)} for r in self.removed],
            "changed": [
                {KEY_FIELD: c.institution_code, NAME_FIELD: c.institution_name,
                 "changes": [{"field": f.field, "old": f.old, "new": f.new} for f in c.changes]}
                for c in self.changed
            ],
        }


def _package_csv(directory: Path) -> Path:
    """The prefecture's CSV (the per-municipality ones end with the 6-digit municipality code)."""
    found = [p for p in sorted(Path(directory).glob("*.csv")) if not re.search(r"_\d{6}\.csv$", p.name)]
    if len(found) != 1:
        raise ReleaseError(f"{directory}: expected one prefecture CSV in the package, found {len(found)}")
    return found[0]


def _read_rows(directory: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    text = _package_csv(directory).read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    rows = {r[KEY_FIELD]: dict(r) for r in reader if r.get(KEY_FIELD)}
    return header, rows


def _manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def diff_releases(old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str]) -> Diff:
    """Rows added and removed (by institution_code and name) and, per changed row, the changed fields."""
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    old_header, old = _read_rows(old_dir)
    new_header, new = _read_rows(new_dir)
    manifest = _manifest(new_dir)
    fields = [f for f in new_header if f != KEY_FIELD] + [f for f in old_header if f not in new_header]
    changed = []
    for code in sorted(set(old) & set(new)):
        a, b = old[code], new[code]
        changes = tuple(FieldChange(f, a.get(f, ""), b.get(f, "")) for f in fields if a.get(f, "") != b.get(f, ""))
        if changes:
            changed.append(RowChange(code, b.get(NAME_FIELD) or a.get(NAME_FIELD) or "", changes))
    fy = manifest.get("fiscal_year")
    return Diff(
        fiscal_year=int(fy) if fy is not None else None,
        template_version=(manifest.get("template") or {}).get("version"),
        old_version=old_dir.name, new_version=new_dir.name,
        added=[new[c] for c in sorted(set(new) - set(old))],
        removed=[old[c] for c in sorted(set(old) - set(new))],
        changed=changed, old_rows=len(old), new_rows=len(new),
    )


def _labels(diff: Diff) -> Any:
    from tsunagu.intake.templates import load_template

    try:
        if diff.template_version:
            return load_template(DATASET_KIND, version=diff.template_version)
        return load_template(DATASET_KIND, fiscal_year=diff.fiscal_year)
    except Exception:  # unknown template: fall back to field ids
        return None


def summarise_ja(diff: Diff, *, max_rows: int = 200) -> str:
    """The 訂正内容 in Japanese: rows added, removed, and changed fields with old → new values."""
    template = _labels(diff)

    def label(fid: str) -> str:
        if template is None:
            return fid
        try:
            return template.field(fid).label_ja
        except (KeyError, ValueError, AttributeError):
            return fid

    def show(value: str) -> str:
        return value if value != "" else "（空欄）"

    lines = [
        f"訂正内容（前回提供版 {diff.old_version} → 訂正版 {diff.new_version}）",
        f"  件数: {diff.old_rows}件 → {diff.new_rows}件"
        f"（追加 {len(diff.added)}件、削除 {len(diff.removed)}件、変更 {len(diff.changed)}件）",
    ]
    if diff.empty:
        lines.append("  データ内容に変更はありません（ファイル形式のみの更新）。")
        return "\n".join(lines)
    if diff.added:
        lines.append("■ 追加された医療機関")
        for r in diff.added[:max_rows]:
            lines.append(f"  ・{r.get(KEY_FIELD)} {r.get(NAME_FIELD, '')}")
    if diff.removed:
        lines.append("■ 削除された医療機関")
        for r in diff.removed[:max_rows]:
            lines.append(f"  ・{r.get(KEY_FIELD)} {r.get(NAME_FIELD, '')}")
    if diff.changed:
        lines.append("■ 内容が変更された医療機関")
        for c in diff.changed[:max_rows]:
            lines.append(f"  ・{c.institution_code} {c.institution_name}")
            for f in c.changes:
                lines.append(f"      {label(f.field)}: {show(f.old)} → {show(f.new)}")
        if len(diff.changed) > max_rows:
            lines.append(f"  （ほか {len(diff.changed) - max_rows}件）")
    return "\n".join(lines)
