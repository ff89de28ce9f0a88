"""One way to declare a project rule, for every submission kind.

A rule is a small named function that yields :class:`Hit` s (where, and the values its message
needs); its code, severity and its Japanese and English messages are declared with it::

    RULES = RuleSet("grant.community_support")

    @RULES.rule("grant_difference", ja="差引額({stated})が総事業費−寄附金等({expected})と一致しません",
                en="difference {stated} is not total cost − donations ({expected})")
    def difference_is_computed(rows, ctx):
        for r in rows:
            ...
            yield Hit(r, "difference", stated=..., expected=...)

``RULES.run(rows, ctx)`` runs the rules in declaration order and turns each hit into a
:class:`~tsunagu.findings.Finding` that points at the cell (sheet, row, column letter, field) with
「12行目 H列『差引額』: …」 in front of the message. ``rows`` are anything with ``sheet``, ``row`` and
``columns`` (field id → column letter), e.g. :class:`tsunagu.validate.rules.RowView`; a row whose
cells are on different lines (a label/value form) gives ``row_of(field_id)`` instead of ``row``.
``ctx`` has ``label(field_id)`` and ``columns`` (table-level field id → column letter).

Besides the hit's own values, a message may use ``{field}`` (the field id) and ``{label}`` (its label).
``Hit(None, field, sheet=...)`` is a finding on the whole file (or sheet): no row, no column, no prefix.

How the place is written in front of the message is the rule set's ``prefix`` (or a rule's own):
:func:`prefix_row_column` 「12行目 H列『差引額』: 」 / "Row 12, column H (difference): " (the default),
:func:`prefix_cell` 「H列 12行目: 」 / "Cell H12: " (the intake layer's style), or :func:`no_prefix`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tsunagu.findings import Finding, Severity, error, warning


@dataclass(frozen=True)
class Hit:
    """One place a rule fires: a row (or None for the whole file), a field, and the message's values."""

    row: Any
    field: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    sheet: str | None = None  # for a file-level hit without a row
    row_number: int | None = None  # for a hit on a row that is not a RowView (e.g. a form label)
    column: str | None = None  # overrides the column found from the field

    def __init__(self, row: Any, field: str | None = None, *, sheet: str | None = None,
                 row_number: int | None = None, column: str | None = None, **params: Any):
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "sheet", sheet)
        object.__setattr__(self, "row_number", row_number)
        object.__setattr__(self, "column", column)


Check = Callable[[Any, Any], Iterable[Hit]]
# (row number, column letter, label, field id) -> (Japanese prefix, English prefix); "" for none
Prefix = Callable[[int | None, str | None, str | None, str | None], tuple[str, str]]


# --------------------------------------------------------------------------- where a finding points


def where_ja(row: int | None, column: str | None, label: str | None) -> str:
    parts = []
    if row is not None:
        parts.append(f"{row}行目")
    if column:
        parts.append(f"{column}列")
    text = " ".join(parts)
    if label:
        text += f"『{label}』"
    return text


def where_en(row: int | None, column: str | None, field_id: str | None) -> str:
    parts = []
    if row is not None:
        parts.append(f"Row {row}")
    if column:
        parts.append(f"column {column}")
    text = ", ".join(parts)
    if field_id:
        text += f" ({field_id})" if text else field_id
    return text


def prefix_row_column(row: int | None, column: str | None, label: str | None, field_id: str | None) -> tuple[str, str]:
    """「12行目 H列『差引額』」 / "Row 12, column H (difference)"; nothing for a finding on no cell."""
    if row is None and not column:
        return "", ""
    return where_ja(row, column, label), where_en(row, column, field_id)


def prefix_cell(row: int | None, column: str | None, label: str | None, field_id: str | None) -> tuple[str, str]:
    """「H列 12行目」 / "Cell H12" (as the intake layer writes it); nothing without a row."""
    if row is None:
        return "", ""
    if not column:
        return f"{row}行目", f"Row {row}"
    return f"{column}列 {row}行目", f"Cell {column}{row}"


def no_prefix(row: int | None, column: str | None, label: str | None, field_id: str | None) -> tuple[str, str]:
    """The message says where itself (or the finding's sheet/row/column are enough)."""
    return "", ""


def _label(ctx: Any, field_id: str | None) -> str | None:
    if not field_id:
        return None
    return ctx.label(field_id) if hasattr(ctx, "label") else field_id


def _place(ctx: Any, hit: Hit) -> tuple[int | None, str | None]:
    """(row number, column letter) of a hit; a hit without a row (or row_number) is on the whole file."""
    row, field_id = hit.row, hit.field
    if row is None and hit.row_number is None:
        return None, hit.column
    number = hit.row_number
    if number is None:
        row_of = getattr(row, "row_of", None)
        number = row_of(field_id) if row_of is not None and field_id is not None else getattr(row, "row", None)
    column = hit.column
    if column is None and field_id is not None:
        columns = getattr(row, "columns", None) or {}
        column = columns.get(field_id) or (getattr(ctx, "columns", None) or {}).get(field_id)
    return number, column


def locate(ctx: Any, severity: str, code: str, hit: Hit, ja: str, en: str,
           *, prefix: Prefix = prefix_row_column) -> Finding:
    """A finding on one cell, with 「12行目 H列『死亡患者数』: …」 (or ``prefix``'s style) in front of the message."""
    number, column = _place(ctx, hit)
    field_id = hit.field
    prefix_ja, prefix_en = prefix(number, column, _label(ctx, field_id), field_id)
    make = error if severity == "error" else warning
    return make(
        code,
        f"{prefix_ja}: {ja}" if prefix_ja else ja,
        f"{prefix_en}: {en}" if prefix_en else en,
        sheet=getattr(hit.row, "sheet", None) if hit.row is not None else hit.sheet,
        row=number,
        column=column,
        field=field_id,
    )


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    name: str  # the function's name: what the rule checks
    code: str  # the finding code (several rules may share one)
    severity: Severity
    message_ja: str  # str.format template, filled from Hit.params (and {field}, {label})
    message_en: str
    check: Check
    doc: str = ""
    prefix: Prefix = prefix_row_column

    def findings(self, rows: Any, ctx: Any) -> Iterator[Finding]:
        for hit in self.check(rows, ctx):
            yield self.finding(hit, ctx)

    def finding(self, hit: Hit, ctx: Any) -> Finding:
        params = {"field": hit.field, "label": _label(ctx, hit.field), **hit.params}
        ja = self.message_ja.format(**params)
        en = self.message_en.format(**params)
        return locate(ctx, self.severity, self.code, hit, ja, en, prefix=self.prefix)


class RuleSet:
    """The rules of one kind, in the order they run. ``prefix``: how findings say where (per rule too)."""

    def __init__(self, name: str, *, prefix: Prefix = prefix_row_column):
        self.name = name
        self.prefix = prefix
        self.rules: list[Rule] = []

    def rule(self, code: str, *, ja: str, en: str, severity: Severity = "error",
             prefix: Prefix | None = None) -> Callable[[Check], Check]:
        if severity not in ("error", "warning"):
            raise ValueError(f"{self.name}: severity must be 'error' or 'warning', not {severity!r}")

        def register(fn: Check) -> Check:
            if any(r.name == fn.__name__ for r in self.rules):
                raise ValueError(f"{self.name}: rule {fn.__name__!r} declared twice")
            self.rules.append(Rule(fn.__name__, code, severity, ja, en, fn, (fn.__doc__ or "").strip(),
                                   prefix or self.prefix))
            return fn

        return register

    def run(self, rows: Any, ctx: Any) -> list[Finding]:
        out: list[Finding] = []
        for r in self.rules:
            out.extend(r.findings(rows, ctx))
        return out

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)
