"""Versioned form templates (include/templates/<kind>/<version>.yaml).

A new version of a form is a new YAML file, never a code change. Field ids are the
output contract and stay the same across versions; labels, title and report month
may differ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tsunagu.model import FieldSpec, FormTemplate
from tsunagu.normalize import label_key
from tsunagu.settings import include_dir

FIELD_TYPES = frozenset({"int", "decimal", "code", "date", "text", "enum"})


class TemplateError(ValueError):
    """A template file is missing or malformed."""


def templates_dir(kind: str) -> Path:
    return include_dir() / "templates" / kind


def _field(raw: dict[str, Any], where: str) -> FieldSpec:
    try:
        fid = str(raw["id"])
        ftype = str(raw["type"])
    except KeyError as exc:
        raise TemplateError(f"{where}: field without {exc.args[0]!r}") from None
    if ftype not in FIELD_TYPES:
        raise TemplateError(f"{where}: field {fid!r} has unknown type {ftype!r}")
    if ftype == "code" and not raw.get("digits"):
        raise TemplateError(f"{where}: code field {fid!r} needs digits")
    label_ja = str(raw.get("label_ja") or fid)
    labels = [str(x) for x in raw.get("labels") or ()]
    if label_ja not in labels:
        labels.insert(0, label_ja)
    enum = raw.get("enum")
    if enum is not None:
        if ftype != "enum" or not isinstance(enum, dict):
            raise TemplateError(f"{where}: field {fid!r}: enum must be a mapping on an enum field")
        enum = {label_key(k): str(v) for k, v in enum.items()}
        # The canonical values themselves are always accepted.
        for v in set(enum.values()):
            enum.setdefault(label_key(v), v)
    elif ftype == "enum":
        raise TemplateError(f"{where}: enum field {fid!r} needs an enum mapping")

    def num(key: str) -> float | None:
        value = raw.get(key)
        return None if value is None else float(value)

    return FieldSpec(
        id=fid,
        label_ja=label_ja,
        labels=tuple(labels),
        type=ftype,
        required=bool(raw.get("required", False)),
        not_null=bool(raw.get("not_null", False)),
        digits=int(raw["digits"]) if raw.get("digits") is not None else None,
        places=int(raw["places"]) if raw.get("places") is not None else None,
        min=num("min"),
        max=num("max"),
        enum=enum,
        description_ja=str(raw.get("description_ja") or ""),
        derived=bool(raw.get("derived", False)),
    )


@lru_cache(maxsize=64)
def _parse_file(path: Path, mtime_ns: int) -> FormTemplate:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise TemplateError(f"{path}: expected a mapping with a list of fields")
    fields = tuple(_field(f, str(path)) for f in data["fields"])
    ids = [f.id for f in fields]
    if len(set(ids)) != len(ids):
        raise TemplateError(f"{path}: duplicate field ids")
    version = str(data.get("version") or path.stem)
    if version != path.stem:
        raise TemplateError(f"{path}: version {version!r} does not match the file name")
    extra: dict[str, Any] = {}
    if data.get("skip_row_markers"):
        extra["skip_row_markers"] = tuple(str(m) for m in data["skip_row_markers"])
    return FormTemplate(
        kind=str(data.get("kind") or path.parent.name),
        version=version,
        title_ja=str(data.get("title_ja") or ""),
        valid_from_fiscal_year=int(data["valid_from_fiscal_year"]),
        report_month=int(data["report_month"]) if data.get("report_month") is not None else None,
        fields=fields,
        warnings=dict(data.get("warnings") or {}),
        **extra,
    )


def _load_path(path: Path) -> FormTemplate:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise TemplateError(f"template not found: {path}") from None
    return _parse_file(path, mtime)


def list_templates(kind: str) -> list[FormTemplate]:
    """All versions of a form, oldest first (by valid_from_fiscal_year, then version)."""
    folder = templates_dir(kind)
    if not folder.is_dir():
        return []
    templates = [_load_path(p) for p in sorted(folder.glob("*.yaml"))]
    return sorted(templates, key=lambda t: (t.valid_from_fiscal_year, t.version))


def load_template(kind: str, version: str | None = None, fiscal_year: int | None = None) -> FormTemplate:
    """One version of a form: by version, or the one in force in a fiscal year, or the newest."""
    if version is not None:
        return _load_path(templates_dir(kind) / f"{version}.yaml")
    templates = list_templates(kind)
    if not templates:
        raise TemplateError(f"no templates for {kind!r} in {templates_dir(kind)}")
    if fiscal_year is None:
        return templates[-1]
    in_force = [t for t in templates if t.valid_from_fiscal_year <= fiscal_year]
    if not in_force:
        raise TemplateError(f"no {kind!r} template is valid for fiscal year {fiscal_year}")
    return in_force[-1]


def clear_cache() -> None:
    _parse_file.cache_clear()
