"""Versioned form templates (include/templates/<kind>/<version>.yaml).

A new version of a form is a new YAML file, never a code change. Field ids are the
output contract and stay the same across versions; labels, title and report month
may differ.

A version may state only its differences from another: ``extends: <version>`` (same kind folder)
or ``extends: <kind>/<version>``. The child starts from the parent's YAML (itself resolved the
same way; a cycle is an error); its top-level keys replace the parent's (``warnings`` as a whole),
except ``fields``, merged by id: an entry with an existing id is merged key by key over the
parent's field (so it can change just ``labels``), a new id is appended, ``{id: x, remove: true}``
drops one. ``kind``, ``version`` and ``valid_from_fiscal_year`` always come from the child.
:func:`raw_template` gives the resolved YAML to the loaders that read more than FormTemplate.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tsunagu.model import FieldSpec, FormTemplate
from tsunagu.normalize import label_key
from tsunagu.settings import include_dir
from tsunagu.yamlfile import read_yaml

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


# ----------------------------------------------------------------------------------------- extends


@lru_cache(maxsize=256)
def _read_yaml(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping")
    return data


def _stat(path: Path, child: Path | None = None) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        raise TemplateError(f"template not found: {path}" + (f" (extended by {child})" if child else "")) from None


def parent_path(path: Path, extends: object) -> Path:
    """The file ``extends:`` names: ``<version>`` in the same kind folder, or ``<kind>/<version>``."""
    ref = str(extends).strip()
    if not ref or ref.endswith("/") or ref.count("/") > 1:
        raise TemplateError(f"{path}: extends {ref!r} is not '<version>' or '<kind>/<version>'")
    if "/" in ref:
        kind, version = ref.split("/")
        return path.parent.parent / kind / f"{version}.yaml"
    return path.parent / f"{ref}.yaml"


def _chain(path: Path) -> tuple[tuple[Path, int], ...]:
    """(file, mtime) of a template and of every template it extends, child first (cycles are errors)."""
    chain: list[tuple[Path, int]] = []
    seen: list[Path] = []
    child: Path | None = None
    while True:
        key = path.resolve()
        if key in seen:
            names = " -> ".join(str(p) for p in [*seen, key])
            raise TemplateError(f"{seen[0]}: extends cycle: {names}")
        seen.append(key)
        mtime = _stat(path, child)
        chain.append((path, mtime))
        extends = _read_yaml(path, mtime).get("extends")
        if extends is None:
            return tuple(chain)
        child, path = path, parent_path(path, extends)


def _merge_fields(parent: list[Any], child: list[Any], where: str) -> list[Any]:
    fields = [dict(f) if isinstance(f, dict) else f for f in parent]
    index = {str(f["id"]): i for i, f in enumerate(fields) if isinstance(f, dict) and "id" in f}
    removed: set[int] = set()
    for entry in child:
        if not isinstance(entry, dict) or "id" not in entry:
            raise TemplateError(f"{where}: a field of a template that extends another needs an id")
        fid = str(entry["id"])
        changes = {k: v for k, v in entry.items() if k != "remove"}
        if entry.get("remove"):
            if fid not in index or index[fid] in removed:
                raise TemplateError(f"{where}: cannot remove field {fid!r}: the parent template has none")
            removed.add(index[fid])
        elif fid in index and index[fid] not in removed:
            fields[index[fid]] = {**fields[index[fid]], **changes}
        else:
            index[fid] = len(fields)
            fields.append(changes)
    return [f for i, f in enumerate(fields) if i not in removed]


def merge_template(parent: dict[str, Any], child: dict[str, Any], where: str = "template") -> dict[str, Any]:
    """A child template over its parent's raw YAML: the child's top-level keys replace the parent's (a
    ``warnings`` mapping as a whole), ``fields`` are merged by id (an entry with an existing id is merged key
    by key over the parent's field, a new id is appended, ``{id: x, remove: true}`` drops one), and ``kind``,
    ``version`` and ``valid_from_fiscal_year`` are never inherited."""
    out = {k: v for k, v in parent.items() if k not in ("extends", "kind", "version", "valid_from_fiscal_year")}
    for key, value in child.items():
        if key == "extends":
            continue
        if key == "fields":
            if not isinstance(value, list):
                raise TemplateError(f"{where}: fields must be a list")
            value = _merge_fields(list(out.get("fields") or []), value, where)
        out[key] = value
    return out


@lru_cache(maxsize=64)
def _merged(chain: tuple[tuple[Path, int], ...]) -> dict[str, Any]:
    *_, (root, root_mtime) = chain
    data = _read_yaml(root, root_mtime)
    for path, mtime in reversed(chain[:-1]):
        data = merge_template(data, _read_yaml(path, mtime), str(path))
    return data


def raw_template(path: Path) -> dict[str, Any]:
    """A template file's YAML as a mapping, with ``extends:`` resolved (recursively). Shared: do not modify."""
    chain = _chain(Path(path))
    if len(chain) == 1:
        return _read_yaml(*chain[0])
    return _merged(chain)


# ----------------------------------------------------------------------------------------- parse


@lru_cache(maxsize=64)
def _parse(chain: tuple[tuple[Path, int], ...]) -> FormTemplate:
    path = chain[0][0]
    data = _merged(chain) if len(chain) > 1 else _read_yaml(*chain[0])
    if not isinstance(data.get("fields"), list):
        raise TemplateError(f"{path}: expected a mapping with a list of fields")
    fields = tuple(_field(f, str(path)) for f in data["fields"])
    ids = [f.id for f in fields]
    if len(set(ids)) != len(ids):
        raise TemplateError(f"{path}: duplicate field ids")
    version = str(data.get("version") or path.stem)
    if version != path.stem:
        raise TemplateError(f"{path}: version {version!r} does not match the file name")
    if data.get("valid_from_fiscal_year") is None:
        raise TemplateError(f"{path}: valid_from_fiscal_year is missing")
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
    return _parse(_chain(path))


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
    _parse.cache_clear()
    _merged.cache_clear()
    _read_yaml.cache_clear()
