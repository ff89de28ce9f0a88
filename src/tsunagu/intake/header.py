"""Finding a form's header in a sheet by its labels, not by its position.

Offices put title rows above the header, split it over two or three rows (a merged
section title over item labels), break labels over lines, type them in full or half
width, reorder columns and add their own. The header is the row (or run of rows)
whose labels match the most template fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsunagu.findings import Finding, column_letter, error, warning
from tsunagu.model import FormTemplate
from tsunagu.normalize import is_blank, label_key

SCAN_ROWS = 30  # header rows are looked for in the first rows of each sheet
MAX_HEADER_ROWS = 3  # section / sub-section / item

_CIRCLED = {cp: None for cp in [*range(0x2460, 0x2474), *range(0x2776, 0x2780), *range(0x24F5, 0x24FF)]}
_LEADING_ENUM = re.compile(r"^(?:\d{1,2}|[a-zA-Z])[.．、]?(?=\D)")
_UNITS = frozenset({"人", "名", "回", "件", "月", "か月", "ヶ月", "ヵ月", "%", "％", "箇所", "施設", "日", "円", "単位"})


def loose_key(text: object) -> str:
    """label_key without item numbers: ①, (1), 1. at the start of a label do not matter."""
    if text is None:
        return ""
    return _LEADING_ENUM.sub("", label_key(str(text).translate(_CIRCLED)), count=1)


@dataclass(frozen=True)
class LabelIndex:
    exact: dict[str, frozenset[str]]
    loose: dict[str, frozenset[str]]

    def resolve(self, key: str, loose: str) -> str | None:
        ids = self.exact.get(key)
        if ids is not None and len(ids) == 1:
            return next(iter(ids))
        ids = self.loose.get(loose)
        if ids is not None and len(ids) == 1:
            return next(iter(ids))
        return None


_INDEXES: dict[int, tuple[FormTemplate, LabelIndex]] = {}


def label_index(template: FormTemplate) -> LabelIndex:
    """Label lookup of a template (cached; templates are immutable)."""
    cached = _INDEXES.get(id(template))
    if cached is not None and cached[0] is template:
        return cached[1]
    index = _build_index(template)
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    _INDEXES[id(template)] = (template, index)
    return index


def _build_index(template: FormTemplate) -> LabelIndex:
    exact: dict[str, set[str]] = {}
    loose: dict[str, set[str]] = {}
    for f in template.fields:
        for label in f.labels:
            if k := label_key(label):
                exact.setdefault(k, set()).add(f.id)
            if k := loose_key(label):
                loose.setdefault(k, set()).add(f.id)
    return LabelIndex(
        exact={k: frozenset(v) for k, v in exact.items()}, loose={k: frozenset(v) for k, v in loose.items()}
    )


@dataclass
class Header:
    top: int  # 0-based index of the first header row
    depth: int  # number of header rows
    columns: dict[str, int]  # field id -> 0-based column index
    labels: dict[int, str]  # 0-based column index -> header text as shown (parts joined by " / ")
    extra_columns: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # (field id, column) matched twice

    @property
    def first_data_row(self) -> int:
        return self.top + self.depth

    @property
    def score(self) -> int:
        return len(self.columns)

    def rows_1based(self) -> tuple[int, ...]:
        return tuple(range(self.top + 1, self.top + self.depth + 1))


def _text(value: Any) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header_parts(rows: list[list[Any]], top: int, depth: int) -> list[list[str]]:
    """Per column, the header texts from section down to item, merged titles carried to the right."""
    band = [[_text(c) for c in rows[top + d]] for d in range(depth)]
    width = max((len(r) for r in band), default=0)
    for r in band:
        r.extend([""] * (width - len(r)))
    carry = [""] * depth
    parts: list[list[str]] = []
    for c in range(width):
        column = [band[d][c] for d in range(depth)]
        if not any(column):
            carry = [""] * depth
            parts.append([])
            continue
        out = []
        for d in range(depth):
            if column[d]:
                carry[d] = column[d]
                for below in range(d + 1, depth):  # a new section starts: deeper carries end
                    carry[below] = ""
                out.append(column[d])
            elif d < depth - 1 and carry[d] and any(column[d + 1:]):
                out.append(carry[d])  # inside a merged section title
        parts.append(out)
    return parts


def _match(index: LabelIndex, parts: list[str]) -> str | None:
    """Most qualified first: section + item, then the item alone."""
    for start in range(len(parts)):
        tail = parts[start:]
        fid = index.resolve("".join(label_key(p) for p in tail), "".join(loose_key(p) for p in tail))
        if fid is not None:
            return fid
    return None


def match_header(rows: list[list[Any]], top: int, depth: int, template: FormTemplate) -> Header:
    index = label_index(template)
    columns: dict[str, int] = {}
    labels: dict[int, str] = {}
    extras: list[str] = []
    duplicates: list[tuple[str, int]] = []
    for c, parts in enumerate(_header_parts(rows, top, depth)):
        if not parts:
            continue
        shown = " / ".join(dict.fromkeys(p.replace("\n", "") for p in parts))
        labels[c] = shown
        fid = _match(index, parts)
        if fid is None:
            extras.append(shown)
        elif fid in columns:
            duplicates.append((fid, c))
        else:
            columns[fid] = c
    return Header(top=top, depth=depth, columns=columns, labels=labels, extra_columns=extras, duplicates=duplicates)


def find_header(rows: list[list[Any]], template: FormTemplate, scan_rows: int = SCAN_ROWS) -> Header | None:
    """The best header in the first scan_rows rows: most fields matched, then fewer header rows, then higher up."""
    best: Header | None = None
    limit = min(scan_rows, len(rows))
    for top in range(limit):
        if not any(not is_blank(c) for c in rows[top]):
            continue
        for depth in range(1, MAX_HEADER_ROWS + 1):
            if top + depth > len(rows):
                break
            h = match_header(rows, top, depth, template)
            if best is None or (h.score, -h.depth) > (best.score, -best.depth):
                best = h
    if best is None or best.score == 0:
        return None
    # A units row right under the header ((人), 回, %) belongs to the header.
    while best.first_data_row < len(rows) and _is_units_row(rows[best.first_data_row]):
        best.depth += 1
    return best


def _is_units_row(row: list[Any]) -> bool:
    cells = [label_key(c) for c in row if not is_blank(c)]
    return bool(cells) and all(c in _UNITS for c in cells)


def best_header(sheets: list, template: FormTemplate) -> tuple[Any, Header] | None:
    """(sheet, header) of the sheet whose header matches the template best; None when none matches."""
    best = None
    for sheet in sheets:
        header = find_header(sheet.rows, template)
        if header is not None and (best is None or header.score > best[1].score):
            best = (sheet, header)
    return best


def header_findings(
    header: Header, template: FormTemplate, sheet: str, *, alternatives: Mapping[str, Sequence[str]] | None = None,
) -> list[Finding]:
    """Required columns that are missing (errors) and columns given twice (warnings: the first is used).

    alternatives: a required field whose value another column gives (様式11の3: a 医療機関コード column
    gives the 医療機関番号) is not missing when that column is there.
    """
    findings: list[Finding] = []
    alternatives = alternatives or {}
    for f in template.fields:
        if f.required and not f.derived and f.id not in header.columns:
            if any(alt in header.columns for alt in alternatives.get(f.id, ())):
                continue
            findings.append(error(
                "missing_column",
                f"必須の列『{f.label_ja}』が見つかりません（見出し行 {header.top + 1}行目）",
                f"Required column '{f.id}' ({f.label_ja}) is missing (header row {header.top + 1})",
                sheet=sheet, field=f.id,
            ))
    for fid, col in header.duplicates:
        letter, used = column_letter(col), column_letter(header.columns[fid])
        findings.append(warning(
            "duplicate_column",
            f"{letter}列: 『{template.field(fid).label_ja}』の列が重複しています。{used}列を使います",
            f"Column {letter}: '{fid}' appears twice; column {used} is used",
            sheet=sheet, column=letter, field=fid,
        ))
    return findings


def has_marker(row: list[Any], markers: tuple[str, ...], label_columns: list[int]) -> bool:
    """A 合計・小計 marker word at the start of a label cell, or at the end of a short one."""
    for c in label_columns:
        if c >= len(row):
            break
        cell = row[c]
        if isinstance(cell, str) and cell.strip():
            key = label_key(cell)
            if key.startswith(markers) or (key.endswith(markers) and len(key) <= 12):
                return True
    return False
