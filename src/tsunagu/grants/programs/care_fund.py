"""地域医療介護総合確保基金（介護分） (design.md §2.3): one row per 区分 × 事業, filed by the prefecture itself.

Stages (include/config/grants/care_fund.yaml): requirement_survey 所要額調査, application 交付申請,
balance_survey 執行状況・残高調査, actual_report 実績報告. Templates:
include/templates/grant_care_fund_<stage>/ (the 所要額調査 is the base of the others).

The filer is the prefecture (its 2-digit 都道府県コード): the row's 都道府県コード when the file has
that column, else the sending prefecture; the common layer checks it is the sender
(``wrong_prefecture`` / ``unexpected_filer``). A row's item is ``<区分>/<事業>`` (e.g.
``facility/renovation``).

Computed columns (:func:`compute`, checked by the common layer as ``computed_mismatch``):

* 国庫 = 対象経費 × 2/3 (``rates.national`` of the config), rounded as ``rounding.national`` says
  (1円未満切捨て) — :func:`money.split_national`;
* 都道府県 = 対象経費 − 国庫 (the stated 国庫 when it is readable, so that one wrong 国庫 is reported
  once, on its own cell);
* 執行状況・残高調査: 年度末残高 = 前年度末残高 + 積立額 + 運用益 − 取崩額 (:func:`money.fund_balance`).

Rules (:data:`RULES`): a 事業 belongs to its 区分; 交付申請: 国庫 ≤ the row's 内示額 (施設分 and 人材分
have their own 内示); 執行状況・残高調査: the fund never goes below 0, and the 執行率 (執行額 ÷ 予算額)
of every row is reported as the warning ``execution_rate`` — a finding, so that it is visible in the
JSON report (records are not part of it); 実績報告: 国庫 ≤ the 国庫 of the accepted 交付申請 of the
row (``ctx.earlier['application']``), a warning when there is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from tsunagu.grants import money
from tsunagu.validate.registry import Hit, RuleSet

PROGRAM = "care_fund"
CATEGORIES: dict[str, tuple[str, str]] = {  # id -> (ja, en)
    "facility": ("施設分", "facility"),
    "workforce": ("人材分", "workforce"),
}
PROJECTS: dict[str, tuple[str, str, str]] = {  # id -> (category, ja, en)
    "facility_development": ("facility", "地域密着型サービス施設等の整備", "development of community-based facilities"),
    "opening_preparation": ("facility", "施設開設準備経費", "opening preparation of facilities"),
    "renovation": ("facility", "既存施設等の改修", "renovation of existing facilities"),
    "entry_promotion": ("workforce", "参入促進", "promoting entry"),
    "skill_improvement": ("workforce", "資質の向上", "improving skills"),
    "working_conditions": ("workforce", "労働環境・処遇の改善", "improving working conditions"),
}
DEFAULT_NATIONAL = Fraction(2, 3)  # 国 2/3, 都道府県 1/3 (design.md §2.3), when the config lacks the rate
BALANCE_PARTS = ("previous_balance", "deposits", "interest", "withdrawals")

RULES = RuleSet(f"grant.{PROGRAM}")
COMPUTED: tuple[str, ...] = ("national", "prefecture", "year_end_balance")
FILER_FIELD = "prefecture_code"
ITEM_FIELDS: tuple[str, ...] = ("category", "project")
FORMULAS: dict[str, tuple[str, str]] = {
    "national": ("対象経費 × 2/3（1円未満切捨て）", "eligible cost × 2/3 (truncated to 1 yen)"),
    "prefecture": ("対象経費 − 国庫", "eligible cost − national share"),
    "year_end_balance": ("前年度末残高 + 積立額 + 運用益 − 取崩額",
                         "previous balance + deposits + interest − withdrawals"),
}


# ------------------------------------------------------------------------------- the interface


def filer_of(values: Mapping[str, Any], ctx: Any) -> str | None:
    """The prefecture: the row's 都道府県コード, else the sending prefecture (the file's)."""
    code = values.get("prefecture_code")
    if isinstance(code, str) and code:
        return code
    sender = getattr(ctx, "prefecture_code", None)
    return sender or None


def item_key(values: Mapping[str, Any]) -> str:
    """``<区分>/<事業>``, e.g. ``facility/renovation``; "" when either is missing."""
    category, project = values.get("category"), values.get("project")
    if not category or not project:
        return ""
    return f"{category}/{project}"


def _yen_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _amount(values: Mapping[str, Any], fid: str) -> int | None:
    return _yen_or_none(values.get(fid))


def national_share(ctx: Any) -> tuple[Fraction, int, str]:
    """(国の負担割合, rounding unit, rounding mode) of the fiscal year: (2/3, 1, 'floor') by default."""
    rate: Fraction | None = None
    rounding: Mapping[str, Any] = {}
    config = getattr(ctx, "config", None)
    if config is not None:
        try:
            rate = config.rates(ctx.fiscal_year).get("national")
            rounding = config.rounding(ctx.fiscal_year).get("national") or {}
        except (KeyError, ValueError):
            pass
    return (rate if rate is not None else DEFAULT_NATIONAL, int(rounding.get("unit") or 1),
            str(rounding.get("mode") or "floor"))


def compute(values: Mapping[str, Any], ctx: Any) -> dict[str, int]:
    """The expected computed columns of a row for ``ctx.stage`` (see the module docstring)."""
    out: dict[str, int] = {}
    cost = _amount(values, "eligible_cost")
    if cost is not None:
        rate, unit, mode = national_share(ctx)
        national, _ = money.split_national(cost, rate, unit=unit, rounding=mode)
        out["national"] = national
        stated = _amount(values, "national")
        out["prefecture"] = cost - (stated if stated is not None else national)
    if getattr(ctx, "stage", None) == "balance_survey":
        parts = [_amount(values, f) for f in BALANCE_PARTS]
        if all(p is not None for p in parts):
            out["year_end_balance"] = money.fund_balance(*parts)
    return out


# ------------------------------------------------------------------------------- helpers


def yen(value: int) -> str:
    return f"{value:,}"


def category_ja(category: str | None) -> str:
    return CATEGORIES.get(category or "", (category or "", ""))[0]


def project_ja(project: str | None) -> str:
    return PROJECTS.get(project or "", ("", project or "", ""))[1]


def _key(row: Any) -> tuple[str, str]:
    return row.values.get("filer_code"), row.values.get("item_key")


def _item(row: Any) -> str:
    """「施設分・既存施設等の改修」 for a message."""
    return f"{category_ja(row.values.get('category'))}・{project_ja(row.values.get('project'))}"


def _half_up(value: Fraction, places: int = 0) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def permille(rate: Fraction) -> int:
    """執行率 in ‰, rounded half up: 2/3 -> 667."""
    return int(_half_up(rate * 1000))


def percent(rate: Fraction) -> str:
    """執行率 as a percentage to one decimal, rounded half up: 2/3 -> 66.7%."""
    return f"{_half_up(rate * 100, 1)}%"


# ------------------------------------------------------------------------------- rules


@RULES.rule("project_not_in_category",
            ja="事業『{project_ja}』は{category_ja}の事業ではありません（{category_ja}の事業: {choices_ja}）",
            en="project {project} is not a project of category {category} (its projects: {choices})")
def project_in_category(rows, ctx):
    """施設分: 整備・開設準備・改修; 人材分: 参入促進・資質の向上・労働環境・処遇の改善."""
    for r in rows:
        category, project = r.get("category"), r.get("project")
        if category not in CATEGORIES or project not in PROJECTS or PROJECTS[project][0] == category:
            continue
        own = [p for p, (c, _, _) in PROJECTS.items() if c == category]
        yield Hit(r, "project", project=project, project_ja=project_ja(project), category=category,
                  category_ja=category_ja(category), choices=", ".join(own),
                  choices_ja="、".join(project_ja(p) for p in own))


@RULES.rule("exceeds_naiji",
            ja="国庫 {national}円が{item}の内示額 {naiji}円を超えています",
            en="national share {national} yen exceeds the notified amount (内示額) of {key} ({naiji} yen)")
def within_naiji(rows, ctx):
    """交付申請: 国庫 ≤ the row's 内示額 (施設分 and 人材分 are notified separately)."""
    if ctx.stage != "application":
        return
    for r in rows:
        national, naiji = r.get("national"), r.get("naiji")
        if isinstance(national, int) and isinstance(naiji, int) and national > naiji:
            yield Hit(r, "national", national=yen(national), naiji=yen(naiji), item=_item(r),
                      key=r.values.get("item_key"))


@RULES.rule("negative_balance",
            ja="取崩額 {withdrawals}円が前年度末残高・積立額・運用益の合計 {available}円を超えています（年度末残高 {balance}円）",
            en="withdrawals {withdrawals} yen exceed previous balance + deposits + interest ({available} yen); "
               "the year-end balance would be {balance} yen")
def balance_not_negative(rows, ctx):
    """執行状況・残高調査: the fund never goes below 0 (取崩額 ≤ 前年度末残高 + 積立額 + 運用益)."""
    if ctx.stage != "balance_survey":
        return
    for r in rows:
        parts = [_yen_or_none(r.get(f)) for f in BALANCE_PARTS]
        if any(p is None for p in parts):
            continue
        balance = money.fund_balance(*parts)
        if balance < 0:
            yield Hit(r, "withdrawals", withdrawals=yen(parts[3]), available=yen(sum(parts[:3])), balance=yen(balance))


@RULES.rule("execution_rate", severity="warning",
            ja="執行率 {percent}（{permille}‰）: 執行額 {executed}円 ÷ 予算額 {budget}円",
            en="execution rate {percent} ({permille}‰): executed {executed} yen ÷ budget {budget} yen")
def execution_rate_reported(rows, ctx):
    """執行状況・残高調査: every row's 執行率 = 執行額 ÷ 予算額, reported (a warning never rejects)."""
    if ctx.stage != "balance_survey":
        return
    for r in rows:
        executed, budget = r.get("executed"), r.get("budget")
        if not (isinstance(executed, int) and isinstance(budget, int)) or executed < 0 or budget <= 0:
            continue
        rate = money.execution_rate(executed, budget)
        yield Hit(r, "executed", percent=percent(rate), permille=permille(rate), executed=yen(executed),
                  budget=yen(budget))


@RULES.rule("execution_without_budget", severity="warning",
            ja="予算額が0円のため執行率を計算できません（執行額 {executed}円）",
            en="the budget is 0, so no execution rate (executed {executed} yen)")
def execution_has_budget(rows, ctx):
    """執行状況・残高調査: an amount executed without a budget: no 執行率, worth a look."""
    if ctx.stage != "balance_survey":
        return
    for r in rows:
        executed, budget = r.get("executed"), r.get("budget")
        if isinstance(executed, int) and executed > 0 and budget == 0:
            yield Hit(r, "budget", executed=yen(executed))


@RULES.rule("exceeds_application",
            ja="国庫 {national}円が受け付けた交付申請の{item}の国庫 {applied}円を超えています",
            en="national share {national} yen exceeds the accepted application's national share for {key} "
               "({applied} yen)")
def within_application(rows, ctx):
    """実績報告: 国庫 ≤ the 国庫 of the accepted 交付申請 of the same 区分・事業."""
    if ctx.stage != "actual_report":
        return
    for r in rows:
        national, applied = r.get("national"), ctx.earlier_amount("application", _key(r), "national")
        if isinstance(national, int) and applied is not None and national > applied:
            yield Hit(r, "national", national=yen(national), applied=yen(applied), item=_item(r),
                      key=r.values.get("item_key"))


@RULES.rule("no_application", severity="warning",
            ja="{item}について、{fy}年度の交付申請の受付がないため、国庫の上限を確認できませんでした",
            en="no accepted application row for {key} in {fy}: the national share was not checked")
def application_present(rows, ctx):
    """実績報告 without an accepted 交付申請 row of the same 区分・事業."""
    if ctx.stage != "actual_report":
        return
    accepted = ctx.earlier.get("application") or {}
    for r in rows:
        key = _key(r)
        if key[0] and key[1] and key not in accepted:
            yield Hit(r, "national", item=_item(r), key=key[1], fy=ctx.fiscal_year)
