"""Validation of one grant file (交付金, design.md §2.3), common to every program and stage.

:func:`check_grant_file` is what the grant flows call (:mod:`tsunagu.flows.grants`):

1. parse with the stage's template (:func:`tsunagu.intake.grant.parse_grant`); structure findings
   (missing columns, unreadable cells) come from the parser;
2. field rules from the template, run with Great Expectations (``field_rule_findings``);
3. the common rules of this module (:data:`COMMON`): every row's filer is valid for the program
   (the program's ``filer_problem``), belongs to the sending prefecture and is an expected filer of the
   stage; one row per (filer, item); every computed column equals what the program's ``compute``
   gives from the stated inputs; and a warning listing the expected filers with no row (in this file
   nor already loaded for the stage), so that a late insurer shows;
4. the program's own rules (``RULES`` of :mod:`tsunagu.grants.programs.<program>`).

Findings are bilingual and point at sheet, row, column and field. Records are the rows' canonical
values plus ``filer_code``, ``item_key``, ``source_sheet`` and ``source_row``.

The fiscal year of a grant file is the fiscal year of the grant itself (交付年度): for a 実績報告
(前年度分) and a 再確定 (過年度分) it is the year reported on, not the year the report is sent, so that
the earlier stages of the same grant (``GrantContext.earlier``) are found under the same year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tsunagu.findings import Finding, UnreadableFile, error, sort_key, status_of
from tsunagu.flows.base import Checked, unreadable
from tsunagu.grants.context import GrantContext, RowKey
from tsunagu.grants.programs import filer_prefecture, filer_problem, formula, item_fields, program_module
from tsunagu.model import ParsedTable, ValidationResult
from tsunagu.validate.registry import Hit, RuleSet
from tsunagu.validate.rules import RowView

MAX_LISTED = 80  # filers named in one missing_filers message
FILER_KIND_JA = {"insurer": "保険者", "prefecture": "都道府県", "koiki": "後期高齢者医療広域連合"}
FILER_KIND_EN = {"insurer": "insurer", "prefecture": "prefecture", "koiki": "later-elderly 広域連合"}


@dataclass
class GrantCheckContext(GrantContext):
    """What the common rules see besides the GrantContext (program rules get this object too)."""

    module: ModuleType | None = None
    filer_kind: str = "insurer"  # the stage's filer: insurer | prefecture | koiki
    stage_label: str = ""
    expected: list[Any] = field(default_factory=list)  # tsunagu.grants.insurers.Filer of the stage
    loaded: frozenset[str] = frozenset()  # filers with rows already loaded for this stage and year
    sheet: str | None = None

    @property
    def prefecture_name(self) -> str:
        return prefecture_name(self.jurisdiction, self.prefecture_code)


def prefecture_name(jurisdiction: Any, code: str | None) -> str:
    if jurisdiction is not None and code in jurisdiction:
        return jurisdiction.get(code).name_ja
    return f"都道府県{code}"


def yen(value: int) -> str:
    """1234000 -> 1,234,000"""
    return f"{value:,}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------- the common rules

COMMON = RuleSet("grant.common")


@COMMON.rule("invalid_filer", ja="{problem_ja}", en="{problem_en}")
def filer_code_is_valid(rows: list[RowView], ctx: GrantCheckContext):
    """The program's own check of a filer code (e.g. a 保険者番号's check digit, a designated-city ward)."""
    ffield = ctx.module.FILER_FIELD
    for r in rows:
        code = r.values.get("filer_code")
        if not code or ffield in r.bad:
            continue
        problem = filer_problem(ctx.module, code, ctx)
        if problem is not None:
            r.bad.add(ffield)
            yield Hit(r, ffield, problem_ja=problem[0], problem_en=problem[1])


def _filer_prefecture(code: str, ctx: GrantCheckContext) -> str | None:
    """The prefecture a filer code belongs to: from the insurer master (保険者, 広域連合), else from its shape."""
    found = ctx.insurers.get(code) or ctx.insurers.koiki_by_code(code) if ctx.insurers is not None else None
    return found.prefecture_code if found is not None else filer_prefecture(code)


@COMMON.rule("wrong_prefecture",
             ja="{kind_ja} {code} は{other_name}({other})の{kind_ja}です。送付元の{pref_name}({pref})の分だけを記入してください",
             en="{kind_en} {code} belongs to prefecture {other}, not to the sending prefecture {pref}")
def filer_in_sending_prefecture(rows: list[RowView], ctx: GrantCheckContext):
    """Every row's filer belongs to the prefecture that sent the file (scope)."""
    expected = {f.code for f in ctx.expected}
    ffield = ctx.module.FILER_FIELD
    for r in rows:
        code = r.values.get("filer_code")
        if not code or ffield in r.bad or code in expected:
            continue
        other = _filer_prefecture(code, ctx)
        if other is not None and other != ctx.prefecture_code:
            r.bad.add(ffield)
            yield Hit(r, ffield, code=code, other=other, other_name=prefecture_name(ctx.jurisdiction, other),
                      pref=ctx.prefecture_code, pref_name=ctx.prefecture_name,
                      kind_ja=FILER_KIND_JA.get(ctx.filer_kind, "提出者"), kind_en=FILER_KIND_EN.get(ctx.filer_kind, "filer"))


@COMMON.rule("unexpected_filer",
             ja="{code} は{pref_name}の{stage_label}の提出者（{kind_ja}）にありません。番号を確認してください",
             en="{code} is not an expected filer ({kind_en}) of {stage} for prefecture {pref}; please check the number")
def filer_is_expected(rows: list[RowView], ctx: GrantCheckContext):
    """Every row's filer is one of the stage's expected filers (tsunagu.grants.insurers.expected_filers)."""
    if ctx.prefecture_code not in ctx.jurisdiction:
        return
    expected = {f.code for f in ctx.expected}
    ffield = ctx.module.FILER_FIELD
    for r in rows:
        code = r.values.get("filer_code")
        if not code or ffield in r.bad or code in expected:
            continue
        r.bad.add(ffield)
        yield Hit(r, ffield, code=code, pref=ctx.prefecture_code, pref_name=ctx.prefecture_name,
                  stage=ctx.stage, stage_label=ctx.stage_label,
                  kind_ja=FILER_KIND_JA.get(ctx.filer_kind, "提出者"), kind_en=FILER_KIND_EN.get(ctx.filer_kind, "filer"))


@COMMON.rule("duplicate_row",
             ja="{code}・{item} の行が{first}行目と重複しています。1行にまとめてください",
             en="{code} / {item} is also on row {first}; give one row per filer and item")
def one_row_per_key(rows: list[RowView], ctx: GrantCheckContext):
    """One row per (filer, item) in a file."""
    point = (item_fields(ctx.module) or (ctx.module.FILER_FIELD,))[0]
    first: dict[RowKey, RowView] = {}
    for r in rows:
        key = (r.values.get("filer_code"), r.values.get("item_key"))
        if not key[0] or not key[1]:
            continue
        if key in first:
            yield Hit(r, point, code=key[0], item=key[1], first=first[key].row)
        else:
            first[key] = r


@COMMON.rule("computed_mismatch",
             ja="{stated}円と記入されていますが、{formula_ja}で計算すると{expected}円です（差 {diff}円）",
             en="stated {stated} yen, but {formula_en} gives {expected} yen (difference {diff})")
def computed_columns(rows: list[RowView], ctx: GrantCheckContext):
    """Each computed column equals the program's ``compute`` from the stated inputs (exactly, in yen)."""
    computed = set(ctx.module.COMPUTED)
    for r in rows:
        values = {k: r.get(k) for k in r.values}  # cells already reported as errors are None
        for fid, want in ctx.module.compute(values, ctx).items():
            if fid not in computed or fid in r.bad or fid not in r.columns:
                continue
            stated = r.values.get(fid)
            if not _is_int(stated) or stated == want:
                continue
            ja, en = formula(ctx.module, fid) or ("計算式", "the formula")
            yield Hit(r, fid, stated=yen(stated), expected=yen(want), diff=yen(stated - want),
                      formula_ja=ja, formula_en=en)


@COMMON.rule("missing_filers", severity="warning",
             ja="{pref_name}の{kind_ja}のうち{n}件の行がありません（{stage_label}）: {names}。後から別のファイルで送付できます",
             en="{n} expected filers ({kind_en}) of prefecture {pref} have no rows for {stage}: {codes}; "
                "they may be sent in a later file")
def expected_filers_missing(rows: list[RowView], ctx: GrantCheckContext):
    """Expected filers with no row in this file nor already loaded for the stage (a late insurer shows)."""
    present = {r.values.get("filer_code") for r in rows}
    missing = [f for f in ctx.expected if f.code not in present and f.code not in ctx.loaded]
    if not missing or not rows:
        return
    listed = missing[:MAX_LISTED]
    more = len(missing) - len(listed)
    names = "、".join(f"{f.code} {f.name}" for f in listed) + (f" ほか{more}件" if more else "")
    codes = ", ".join(f.code for f in listed) + (f" and {more} more" if more else "")
    yield Hit(None, None, sheet=ctx.sheet, n=len(missing), names=names, codes=codes, pref=ctx.prefecture_code,
              pref_name=ctx.prefecture_name, stage=ctx.stage, stage_label=ctx.stage_label,
              kind_ja=FILER_KIND_JA.get(ctx.filer_kind, "提出者"), kind_en=FILER_KIND_EN.get(ctx.filer_kind, "filer"))


# ------------------------------------------------------------------------------- validation


def no_rows(table: ParsedTable) -> Finding:
    """A file with a header and no rows: rejected (it would load nothing)."""
    return error(
        "no_rows",
        f"シート『{table.sheet}』に見出しの下のデータ行がありません。提出者ごとの行を記入してください",
        f"sheet '{table.sheet}' has no rows under the header",
        sheet=table.sheet,
    )


def _mark_bad(rows: list[RowView], findings: list[Finding]) -> None:
    bad: dict[int, set[str]] = {}
    for f in findings:
        if f.row is not None and f.field and f.severity == "error":
            bad.setdefault(f.row, set()).add(f.field)
    for r in rows:
        r.bad |= bad.get(r.row, set())


def grant_context(
    table: ParsedTable, *, program: str, stage: str, prefecture_code: str, fiscal_year: int,
    earlier: Mapping[str, Mapping[RowKey, Mapping[str, int]]] | None = None,
    approvals: Mapping[RowKey, int] | None = None, loaded: set[str] | frozenset[str] | None = None,
) -> GrantCheckContext:
    from tsunagu.grants.config import load_program
    from tsunagu.grants.insurers import expected_filers, load_insurers
    from tsunagu.jurisdiction import load_jurisdiction

    module = program_module(program)
    config = load_program(program)
    stage_config = config.stage(stage)
    jurisdiction = load_jurisdiction()
    expected = (expected_filers(program, stage, fiscal_year, prefecture_code)
                if prefecture_code in jurisdiction else [])
    return GrantCheckContext(
        program=program, stage=stage, fiscal_year=fiscal_year, prefecture_code=prefecture_code, config=config,
        insurers=load_insurers(), template=table.template, columns=dict(table.columns), earlier=dict(earlier or {}),
        approvals=dict(approvals or {}), jurisdiction=jurisdiction, module=module, filer_kind=stage_config.filer,
        stage_label=f"{config.title_ja} {stage_config.label_ja}", expected=list(expected),
        loaded=frozenset(loaded or ()), sheet=table.sheet,
    )


def row_views(table: ParsedTable, ctx: GrantCheckContext) -> list[RowView]:
    """The rows with their filer and item: values = template fields + ``filer_code`` + ``item_key``."""
    module = ctx.module
    views = []
    for parsed in table.rows:
        values = {fid: parsed.values.get(fid) for fid in table.template.field_ids}
        values["filer_code"] = module.filer_of(values, ctx)
        values["item_key"] = module.item_key(values)
        views.append(RowView(sheet=parsed.sheet, row=parsed.row, values=values,
                             columns={**table.columns, **(parsed.columns or {})}))
    return views


def validate_grant(
    table: ParsedTable, *, program: str, stage: str, prefecture_code: str, fiscal_year: int,
    earlier: Mapping[str, Mapping[RowKey, Mapping[str, int]]] | None = None,
    approvals: Mapping[RowKey, int] | None = None, loaded: set[str] | frozenset[str] | None = None,
    use_gx: bool = True,
) -> ValidationResult:
    """Validate a parsed grant table. Errors reject the file; warnings never do."""
    from tsunagu.validate.home_care_report import field_rule_findings

    ctx = grant_context(table, program=program, stage=stage, prefecture_code=prefecture_code,
                        fiscal_year=fiscal_year, earlier=earlier, approvals=approvals, loaded=loaded)
    rows = row_views(table, ctx)
    findings: list[Finding] = list(table.findings)  # 1. structure
    if prefecture_code not in ctx.jurisdiction:
        findings.append(error(
            "wrong_prefecture",
            f"都道府県コード {prefecture_code} は{ctx.jurisdiction.bureau_ja}の管轄ではありません",
            f"prefecture {prefecture_code} is not in the jurisdiction of this bureau",
            sheet=table.sheet,
        ))
    if not rows:
        findings.append(no_rows(table))
    name = f"{table.kind}_{table.template.version}_{prefecture_code}_{fiscal_year}"
    field_findings, gx_result = field_rule_findings(table, rows, name=name, use_gx=use_gx)  # 2. field rules
    findings.extend(field_findings)
    _mark_bad(rows, findings)
    common = COMMON.run(rows, ctx)  # 3. common rules
    findings.extend(common)
    _mark_bad(rows, common)
    findings.extend(ctx.module.RULES.run(rows, ctx))  # 4. the program's rules
    findings.sort(key=sort_key)
    records = [{**r.values, "source_sheet": r.sheet, "source_row": r.row} for r in rows]
    return ValidationResult(status=status_of(findings), findings=findings, records=records, rows=len(rows),
                            gx_result=gx_result)


def earlier_amounts(warehouse: Any, program: str, stage: str, fiscal_year: int,
                    prefecture_code: str) -> dict[str, dict[RowKey, dict[str, int]]]:
    """The current accepted amounts of the stages before ``stage`` (in the program's order), by stage."""
    from tsunagu.grants.config import load_program
    from tsunagu.warehouse.grants import current_amounts

    out: dict[str, dict[RowKey, dict[str, int]]] = {}
    if warehouse is None:
        return out
    for s in load_program(program).stage_ids:
        if s == stage:
            break
        out[s] = current_amounts(warehouse, program, s, fiscal_year, prefecture_code)
    return out


def check_grant_file(
    path: Path, *, program: str, stage: str, prefecture_code: str, fiscal_year: int | None,
    warehouse: Any = None, use_gx: bool = True,
) -> Checked:
    """Parse and validate one grant file of ``prefecture_code`` for a program's stage and fiscal year.

    With a warehouse, the earlier stages' accepted amounts (``GrantContext.earlier``), the 個別協議
    approvals and the filers already loaded for the stage are read from it; without one they are empty.
    Writes nothing.
    """
    from tsunagu.intake.grant import load_grant_template, parse_grant
    from tsunagu.warehouse.grants import cap_approvals, current_amounts

    if fiscal_year is None:
        raise ValueError("a grant file needs its fiscal year (the grant's 交付年度)")
    program_module(program)
    template = load_grant_template(program, stage, fiscal_year)
    try:
        table = parse_grant(Path(path), template=template)
    except UnreadableFile as exc:
        checked = unreadable(exc)
        checked.template_version = template.version
        checked.fiscal_year = fiscal_year
        return checked
    earlier: dict[str, dict[RowKey, dict[str, int]]] = {}
    approvals: dict[RowKey, int] = {}
    loaded: set[str] = set()
    if warehouse is not None:
        earlier = earlier_amounts(warehouse, program, stage, fiscal_year, prefecture_code)
        approvals = cap_approvals(warehouse, program, fiscal_year, prefecture_code)
        loaded = {filer for filer, _ in current_amounts(warehouse, program, stage, fiscal_year, prefecture_code)}
    result = validate_grant(table, program=program, stage=stage, prefecture_code=prefecture_code,
                            fiscal_year=fiscal_year, earlier=earlier, approvals=approvals, loaded=loaded,
                            use_gx=use_gx)
    return Checked(result, table=table, template_version=template.version, fiscal_year=fiscal_year)
