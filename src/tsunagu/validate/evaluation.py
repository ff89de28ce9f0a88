"""The rules of the ministry's evaluation results (design.md §2.4, issue 9 §1).

* every insurer is known to the insurer master (the national one: every municipality, 広域連合 members
  one by one) and belongs to the prefecture named on its row; no insurer twice;
* every indicator's points are between 0 and its 配点; 目標Ⅳ, printed under both 交付金, says the same twice;
* every total equals the sum of its parts: a 目標's total, the sum of that 交付金's indicators of the
  目標; a 交付金's total, the sum of all its indicators (目標Ⅳ included, once per 交付金);
* the file's fiscal year is the one it is sent for; a layout that cannot be mapped is an error
  (``evaluation_layout_unknown``, from the intake).

A file that breaks them is rejected whole, with the reports (the flow layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsunagu.findings import Finding, column_letter, error, sort_key, status_of
from tsunagu.intake.evaluation import (
    EvalRow,
    EvaluationFile,
    insurer_number_of,
    prefecture_code_of,
    prefecture_codes_by_name,
)
from tsunagu.model import ValidationResult
from tsunagu.validate.registry import Hit, RuleSet

RULES = RuleSet("evaluation_results")
TOLERANCE = 1e-6  # points are printed with decimals at most; sums compare as floats


@dataclass
class EvaluationContext:
    parsed: EvaluationFile
    fiscal_year: int | None
    insurers: dict[str, Any]  # 保険者番号 -> Insurer (national master)
    prefectures: dict[str, str]  # 都道府県名 -> code
    prefecture_names: dict[str, str]  # code -> 都道府県名

    @property
    def columns(self) -> dict[str, str]:
        return self.parsed.columns

    def label(self, field_id: str) -> str:
        return self.parsed.label(field_id)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@RULES.rule("evaluation_fiscal_year", ja="ファイルの年度（{found}）が受付の年度（{expected}）と異なります。",
            en="the file is for fiscal year {found}, not {expected} as sent.")
def fiscal_year_matches(rows: list[EvalRow], ctx: EvaluationContext):
    found = ctx.parsed.fiscal_year
    if ctx.fiscal_year is not None and found is not None and found != ctx.fiscal_year:
        yield Hit(None, sheet=ctx.parsed.sheet, found=found, expected=ctx.fiscal_year)
    if ctx.fiscal_year is None and found is None:
        yield Hit(None, sheet=ctx.parsed.sheet, found="不明/unknown", expected="不明/unknown")


@RULES.rule("evaluation_insurer_unknown",
            ja="保険者番号「{number}」（{name}）は保険者マスタにありません。",
            en="保険者番号 {number} ({name}) is not in the insurer master.")
def insurer_is_known(rows: list[EvalRow], ctx: EvaluationContext):
    for r in rows:
        number = insurer_number_of(r)
        if number not in ctx.insurers:
            yield Hit(r, "insurer_number", number=number or "(空欄)", name=r.values.get("municipality_name") or "")


@RULES.rule("evaluation_insurer_prefecture",
            ja="保険者番号「{number}」（{name}）は{actual}の保険者で、この行の都道府県「{stated}」ではありません。",
            en="保険者番号 {number} ({name}) is an insurer of {actual}, not of {stated} as the row says.")
def insurer_in_its_prefecture(rows: list[EvalRow], ctx: EvaluationContext):
    for r in rows:
        insurer = ctx.insurers.get(insurer_number_of(r))
        if insurer is None:
            continue
        stated = prefecture_code_of(r, ctx.prefectures)
        if stated != insurer.prefecture_code:
            yield Hit(r, "prefecture", number=insurer.number, name=insurer.name,
                      actual=ctx.prefecture_names.get(insurer.prefecture_code, insurer.prefecture_code),
                      stated=r.values.get("prefecture") or "(空欄)")


@RULES.rule("evaluation_insurer_duplicate", ja="保険者番号「{number}」が{first}行目にもあります。",
            en="保険者番号 {number} also appears on row {first}.")
def insurer_once(rows: list[EvalRow], ctx: EvaluationContext):
    seen: dict[str, int] = {}
    for r in rows:
        number = insurer_number_of(r)
        if not number:
            continue
        if number in seen:
            yield Hit(r, "insurer_number", number=number, first=seen[number])
        else:
            seen[number] = r.row


@RULES.rule("evaluation_points_range", ja="得点（{points}点）が0点以上、配点（{max}点）以下ではありません。",
            en="points {points} are not between 0 and the 配点 {max}.")
def points_within_max(rows: list[EvalRow], ctx: EvaluationContext):
    for i in ctx.parsed.indicators:
        for r in rows:
            for c in i.columns:
                v = r.points.get(c)
                if v is not None and (v < 0 or v > i.max_points + TOLERANCE):
                    yield Hit(r, i.key, column=column_letter(c), points=_fmt(v), max=i.max_points)


@RULES.rule("evaluation_shared_differs",
            ja="目標Ⅳの得点（{points}点）が{other}列（{other_points}点）と異なります（両交付金で同じ指標です）。",
            en="目標Ⅳ points {points} differ from column {other} ({other_points}): the indicator is shared by both grants.")
def shared_goal_once(rows: list[EvalRow], ctx: EvaluationContext):
    for i in ctx.parsed.indicators:
        if len(i.columns) < 2:
            continue
        first = i.columns[0]
        for r in rows:
            for c in i.columns[1:]:
                a, b = r.points.get(first), r.points.get(c)
                if a is not None and b is not None and abs(a - b) > TOLERANCE:
                    yield Hit(r, i.key, column=column_letter(c), points=_fmt(b), other=column_letter(first),
                              other_points=_fmt(a))


def _parts(ctx: EvaluationContext, grant: str, goal: str) -> list[int]:
    """The columns a total adds up, in its own 交付金's block (目標Ⅳ: the copy under that 交付金)."""
    block = [t.column for t in ctx.parsed.totals if t.grant == grant]
    start = max([t.column for t in ctx.parsed.totals if t.grant != grant and t.column < min(block, default=0)],
                default=-1)
    out = []
    for i in ctx.parsed.indicators:
        if i.grant not in (grant, "both") or (goal != "total" and i.goal != goal):
            continue
        out += [c for c in i.columns if start < c < min(block, default=10**9)]
    return out


@RULES.rule("evaluation_total_mismatch", ja="合計（{stated}点）が内訳の合計（{expected}点）と一致しません。",
            en="the total {stated} is not the sum of its parts ({expected}).")
def totals_add_up(rows: list[EvalRow], ctx: EvaluationContext):
    parts = {t.column: _parts(ctx, t.grant, t.goal) for t in ctx.parsed.totals}
    for t in ctx.parsed.totals:
        cols = parts[t.column]
        for r in rows:
            stated = r.points.get(t.column)
            values = [r.points.get(c) for c in cols]
            if stated is None or any(v is None for v in values):
                continue  # an unreadable cell is reported as such
            expected = sum(values)
            if abs(stated - expected) > TOLERANCE:
                yield Hit(r, t.field, column=column_letter(t.column), stated=_fmt(stated), expected=_fmt(expected))


def validate_evaluation(parsed: EvaluationFile, *, fiscal_year: int | None) -> ValidationResult:
    """Check a parsed workbook. Records stay empty: the frames are made from ``parsed`` once accepted."""
    from tsunagu.grants.insurers import national_insurer_index
    from tsunagu.municipalities import load_municipalities

    findings: list[Finding] = list(parsed.findings)
    if parsed.layout_known:
        names = {m.prefecture_code: m.prefecture_name for m in load_municipalities().by_code.values()}
        ctx = EvaluationContext(parsed, fiscal_year, national_insurer_index(), prefecture_codes_by_name(), names)
        findings += RULES.run(parsed.rows, ctx)
    elif not findings:
        findings.append(error("evaluation_layout_unknown", "評価結果の様式を認識できません。",
                              "Unknown layout of the evaluation results.", sheet=parsed.sheet))
    findings.sort(key=sort_key)
    return ValidationResult(status=status_of(findings), findings=findings, records=[], rows=len(parsed.rows))
