"""地域支援事業交付金 (介護保険法第122条の2, design.md §2.3): one row per 介護保険 保険者 × 事業区分.

Stages (include/config/grants/community_support.yaml): pre_consultation 事前協議, application 交付申請,
change 変更交付申請, actual_report 実績報告, adjustment_survey 調整交付金 調査, redetermination 過年度 再確定.
Templates: include/templates/grant_community_support_<stage>/ (the 事前協議 is the base of the others).

Computed columns (:func:`compute`, checked by the common layer as ``computed_mismatch``):

* 差引額 = 総事業費 − 寄附金その他の収入額; 選定額 = min(差引額, 基準額) (never below 0);
  交付額 = 選定額 × 負担率, rounded as the config says (千円未満切捨て) — :func:`money.community_support_row`.
  The rate is the config's rate for the 事業区分 and year (the stated rate is checked against it by
  ``rate_mismatch``; only when the config has none is the stated rate used), so a wrong rate shows
  both as ``rate_mismatch`` and as the 交付額 it should have given;
* 実績報告: 確定額 = min(交付決定額, 交付額 recomputed from the actuals), 返還額 = 交付決定額 − 確定額
  (:func:`money.settle`);
* 再確定: 増減額 = 交付額 (recomputed from the corrected actuals) − 前回確定額;
* 調整交付金 調査: 調整交付金額 = 対象事業費 × 調整交付金交付割合, 千円未満切捨て.

Rules (:data:`RULES`): the stated 負担率 equals the config's; 総合事業 選定額 ≤ the insurer's 上限額 unless
an approved 個別協議 covers it; between stages (``ctx.earlier``, same fiscal year = the grant's year):
交付申請 交付額 ≤ the accepted 事前協議 交付額; 変更 needs an accepted 交付申請 (warning); 実績報告
交付決定額 = the accepted 変更 (else 交付申請) 交付額; 再確定 前回確定額 = the accepted 実績報告 確定額,
and each row that changes is a warning; the 調整率 follows the 普通調整交付金 formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from tsunagu.codes import insurer_number, insurer_number_is_valid
from tsunagu.grants import money
from tsunagu.validate.registry import Hit, RuleSet

PROGRAM = "community_support"
CATEGORIES: dict[str, tuple[str, str]] = {  # id -> (ja, en)
    "general": ("介護予防・日常生活支援総合事業", "general (総合事業)"),
    "comprehensive": ("包括的支援事業（地域包括支援センターの運営）及び任意事業", "comprehensive support and optional"),
    "social_security": ("包括的支援事業（社会保障充実分）", "comprehensive support (social security enhancement)"),
}
SURVEY_ITEM = "general"  # the 調整交付金 調査 has no 事業区分 column: it is about the 総合事業
DEFAULT_UNIT = 1000  # 千円未満切捨て when the config has no rounding for the year
ADJUSTMENT_AVERAGE = Fraction(5, 100)  # 調整交付金: 5% of the 総合事業 on average nationally (design.md §2.3)
DEFAULT_FIRST_INSURED_SHARE = Fraction(23, 100)  # 第1号被保険者の負担割合 (第9期), when the config lacks it
ADJUSTMENT_TOLERANCE = Fraction(5, 100_000)  # ±0.005 percentage points: a rate stated to 0.01 %

RULES = RuleSet(f"grant.{PROGRAM}")
COMPUTED: tuple[str, ...] = ("difference", "selected", "grant", "confirmed", "refund", "change", "adjustment_grant")
FILER_FIELD = "insurer_number"
ITEM_FIELDS: tuple[str, ...] = ("category",)
FORMULAS: dict[str, tuple[str, str]] = {
    "difference": ("総事業費 − 寄附金その他の収入額", "total cost − donations"),
    "selected": ("差引額と基準額のいずれか少ない額", "min(difference, base amount)"),
    "grant": ("選定額 × 負担率（千円未満切捨て）", "selected × rate (truncated to 1,000 yen)"),
    "confirmed": ("交付決定額と実績による交付額のいずれか少ない額", "min(decided, grant recomputed from the actuals)"),
    "refund": ("交付決定額 − 確定額", "decided − confirmed"),
    "change": ("交付額（再確定後） − 前回確定額", "redetermined grant − previous confirmed"),
    "adjustment_grant": ("対象事業費 × 調整交付金交付割合（千円未満切捨て）",
                         "target cost × adjustment rate (truncated to 1,000 yen)"),
}


# ------------------------------------------------------------------------------- the interface


def filer_of(values: Mapping[str, Any], ctx: Any) -> str | None:
    """The 保険者番号."""
    number = values.get("insurer_number")
    return number if isinstance(number, str) and number else None


def item_key(values: Mapping[str, Any]) -> str:
    """The 事業区分 id (general / comprehensive / social_security); ``general`` for the 調整交付金 調査."""
    if "category" not in values:
        return SURVEY_ITEM
    return values.get("category") or ""


def _amount(values: Mapping[str, Any], fid: str) -> int | None:
    v = values.get(fid)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def config_rate(ctx: Any, category: str | None) -> Fraction | None:
    """The 負担率 of a 事業区分 in the fiscal year (config), None when unknown."""
    if not category or ctx is None or getattr(ctx, "config", None) is None:
        return None
    try:
        return ctx.config.rates(ctx.fiscal_year).get(category)
    except (KeyError, ValueError):
        return None


def grant_rounding(ctx: Any) -> tuple[int, str]:
    """(unit, mode) of the 交付額 in the fiscal year: (1000, 'floor') = 千円未満切捨て."""
    try:
        r = ctx.config.rounding(ctx.fiscal_year).get("grant") or {}
    except (AttributeError, KeyError, ValueError):
        r = {}
    return int(r.get("unit") or DEFAULT_UNIT), str(r.get("mode") or "floor")


def _grant_row(values: Mapping[str, Any], ctx: Any) -> dict[str, int]:
    """差引額, 選定額 and 交付額 from the stated inputs (what can be computed)."""
    total, donations, base = (_amount(values, f) for f in ("total_cost", "donations", "base_amount"))
    out: dict[str, int] = {}
    if total is None or donations is None:
        return out
    out["difference"] = total - donations
    if base is None:
        return out
    rate = config_rate(ctx, values.get("category"))
    if rate is None and isinstance(values.get("rate"), Fraction):  # no configured rate: the stated one
        rate = values["rate"]
    unit, mode = grant_rounding(ctx)
    row = money.community_support_row(total, donations, base, rate if rate is not None else 0, unit=unit)
    out["selected"] = row["selected"]
    if rate is not None:
        out["grant"] = row["grant"] if mode == "floor" else money.apply_rate(row["selected"], rate, unit=unit,
                                                                             rounding=mode)
    return out


def compute(values: Mapping[str, Any], ctx: Any) -> dict[str, int]:
    """The expected computed columns of a row for ``ctx.stage`` (see the module docstring)."""
    stage = getattr(ctx, "stage", None)
    if stage == "adjustment_survey":
        target, rate = _amount(values, "target_cost"), values.get("adjustment_rate")
        if target is None or not isinstance(rate, Fraction) or rate < 0:
            return {}
        return {"adjustment_grant": money.apply_rate(target, rate, unit=DEFAULT_UNIT)}
    out = _grant_row(values, ctx)
    grant = out.get("grant")
    if stage == "actual_report" and grant is not None:
        decided = _amount(values, "decided")
        if decided is not None:
            out["confirmed"], out["refund"] = money.settle(decided, grant)
    if stage == "redetermination" and grant is not None:
        previous = _amount(values, "previous_confirmed")
        if previous is not None:
            out["change"] = grant - previous
    return out


@cache
def _municipalities_by_jis5() -> dict[str, Any]:
    from tsunagu.municipalities import load_municipalities

    return {code[:5]: m for code, m in load_municipalities().by_code.items()}


def _city_of(ward: Any) -> Any:
    from tsunagu.municipalities import load_municipalities

    return load_municipalities().get(ward.city_code) if ward.city_code else None


def _ward_message(code: str, ward: Any, what_ja: str, what_en: str) -> tuple[str, str]:
    city = _city_of(ward)
    if city is not None:
        number = insurer_number(city.code[:5])
        return (f"{code} は政令指定都市の区（{ward.name}）の{what_ja}です。保険者は市です: "
                f"{city.name}の保険者番号 {number} を記入してください",
                f"{code} is the {what_en} of a ward of a designated city ({ward.code}); the insurer is the city: "
                f"use {city.code[:5]}'s insurer number {number}")
    return (f"{code} は政令指定都市の区（{ward.name}）の{what_ja}です。保険者は市です",
            f"{code} is the {what_en} of a ward of a designated city; the insurer is the city")


def filer_problem(code: str, ctx: Any) -> tuple[str, str] | None:
    """A 保険者番号 that fails its check digit (often a 全国地方公共団体コード), or that is a ward's."""
    if not (len(code) == 6 and code.isdigit()):
        return None  # the format is the field rules' (bad_format)
    m = _municipalities_by_jis5().get(code[:5])
    if not insurer_number_is_valid(code):
        if m is not None and m.code == code:
            if m.is_ward:
                return _ward_message(code, m, "全国地方公共団体コード", "local government code")
            number = insurer_number(code[:5])
            return (f"{code} は{m.name}の全国地方公共団体コードで、保険者番号ではありません。"
                    f"{m.name}の保険者番号は {number} です（検証番号の計算が異なります）",
                    f"{code} is the local government code of {m.code[:5]}, not its insurer number ({number}; "
                    "the check digits differ)")
        return (f"保険者番号 {code} の検証番号（末尾の1桁）が正しくありません。"
                "保険者番号は都道府県番号2桁＋保険者別番号3桁＋検証番号1桁です",
                f"the check digit (last digit) of insurer number {code} is wrong")
    if m is not None and m.is_ward:
        return _ward_message(code, m, "番号", "number")
    return None


# ------------------------------------------------------------------------------- helpers


def pct(rate: Fraction) -> str:
    """77/200 -> 38.5%; a rate without a finite decimal (1/3) as a fraction."""
    value = Fraction(rate) * 100
    d = 1
    while d <= 10**8:
        if (value * d).denominator == 1:
            text = str(Decimal(int(value * d)) / Decimal(d))
            return f"{text}%"
        d *= 10
    return f"{rate.numerator}/{rate.denominator}"


def yen(value: int) -> str:
    return f"{value:,}"


def _category_ja(category: str | None) -> str:
    return CATEGORIES.get(category or "", (category or "", ""))[0]


def _insurer(row: Any, ctx: Any) -> str:
    number = row.values.get("filer_code") or ""
    name = row.values.get("insurer_name")
    if not name and getattr(ctx, "insurers", None) is not None and number:
        found = ctx.insurers.get(number)
        name = found.name if found is not None else None
    return f"{number}（{name}）" if name else number


def _key(row: Any) -> tuple[str, str]:
    return row.values.get("filer_code"), row.values.get("item_key")


def _has(ctx: Any, fid: str) -> bool:
    try:
        ctx.template.field(fid)
        return True
    except (KeyError, AttributeError):
        return False


def _selected(row: Any, ctx: Any) -> int | None:
    """The 選定額 the cap applies to: recomputed from the inputs, else the stated one."""
    values = {k: row.get(k) for k in row.values}
    computed = _grant_row(values, ctx).get("selected")
    return computed if computed is not None else _amount(values, "selected")


# ------------------------------------------------------------------------------- rules


@RULES.rule("rate_mismatch",
            ja="負担率 {stated} が{fy}年度の{category_ja}の負担率 {expected} と異なります",
            en="rate {stated} differs from the {fy} rate of {category} ({expected})")
def rate_matches_config(rows, ctx):
    """The stated 負担率 is the config's rate of the 事業区分 and fiscal year."""
    if not _has(ctx, "rate"):
        return
    for r in rows:
        stated, category = r.get("rate"), r.get("category")
        expected = config_rate(ctx, category)
        if isinstance(stated, Fraction | int) and expected is not None and Fraction(stated) != expected:
            yield Hit(r, "rate", stated=pct(Fraction(stated)), expected=pct(expected), fy=ctx.fiscal_year,
                      category=category, category_ja=_category_ja(category))


@RULES.rule("rate_unknown", severity="warning",
            ja="{fy}年度の{category_ja}の負担率が設定にないため、負担率を確認できませんでした",
            en="no rate for {category} in {fy} in the config: the rate was not checked")
def rate_known(rows, ctx):
    """A 事業区分 without a configured rate for the year (the stated rate is then used)."""
    if not _has(ctx, "rate"):
        return
    for r in rows:
        category = r.get("category")
        if category and config_rate(ctx, category) is None:
            yield Hit(r, "category", fy=ctx.fiscal_year, category=category, category_ja=_category_ja(category))


def _cap_rows(rows, ctx):
    """(row, selected, cap, approved) for the 総合事業 rows whose 選定額 is known."""
    if not _has(ctx, "selected"):
        return
    for r in rows:
        if r.get("category") != "general" or not r.values.get("filer_code"):
            continue
        selected = _selected(r, ctx)
        if selected is None:
            continue
        cap = ctx.config.cap(ctx.fiscal_year, r.values["filer_code"])
        yield r, selected, cap, (ctx.approvals or {}).get(_key(r))


@RULES.rule("general_cap_exceeded",
            ja="総合事業の選定額 {selected}円が{insurer}の上限額 {cap}円を超えています{approval_ja}",
            en="the general (総合事業) selected amount {selected} yen exceeds the cap of {number} ({cap} yen){approval_en}")
def general_cap(rows, ctx):
    """総合事業: 選定額 ≤ the insurer's 上限額, unless an approved 個別協議 (上限超過承認額) covers it."""
    for r, selected, cap, approved in _cap_rows(rows, ctx):
        if cap is None or selected <= cap or (approved is not None and selected <= approved):
            continue
        if approved is not None:
            approval_ja = f"（個別協議の承認額 {yen(approved)}円も超えています）"
            approval_en = f" and the approved 個別協議 amount ({yen(approved)} yen)"
        else:
            approval_ja = "。上限額を超えるには個別協議の承認が必要です"
            approval_en = "; above the cap only with an approved individual consultation (個別協議)"
        yield Hit(r, "selected", selected=yen(selected), cap=yen(cap), insurer=_insurer(r, ctx),
                  number=r.values["filer_code"], approval_ja=approval_ja, approval_en=approval_en)


@RULES.rule("general_cap_approved", severity="warning",
            ja="総合事業の選定額 {selected}円は上限額 {cap}円を超えていますが、個別協議の承認額 {approved}円の範囲内です",
            en="the general selected amount {selected} yen exceeds the cap ({cap} yen) within the approved "
               "individual consultation amount ({approved} yen)")
def general_cap_approved(rows, ctx):
    """Above the cap but within an approved 個別協議: accepted, noted for the reviewer."""
    for r, selected, cap, approved in _cap_rows(rows, ctx):
        if cap is not None and selected > cap and approved is not None and selected <= approved:
            yield Hit(r, "selected", selected=yen(selected), cap=yen(cap), approved=yen(approved))


@RULES.rule("general_cap_unknown", severity="warning",
            ja="{insurer}の{fy}年度の総合事業の上限額が設定にないため、上限額を確認できませんでした",
            en="no general (総合事業) cap of {number} for {fy} in the config: the cap was not checked")
def general_cap_known(rows, ctx):
    """An insurer without a configured 上限額 for the year: the cap cannot be checked."""
    for r, _selected, cap, _approved in _cap_rows(rows, ctx):
        if cap is None:
            yield Hit(r, "selected", insurer=_insurer(r, ctx), number=r.values["filer_code"], fy=ctx.fiscal_year)


@RULES.rule("donations_exceed_cost", severity="warning",
            ja="寄附金その他の収入額 {donations}円が総事業費 {total}円を上回っています（選定額は0円になります）",
            en="donations ({donations} yen) exceed the total cost ({total} yen); the selected amount is 0")
def donations_within_cost(rows, ctx):
    """寄附金その他の収入額 above the 総事業費: nothing to grant; worth a look."""
    for r in rows:
        total, donations = r.get("total_cost"), r.get("donations")
        if isinstance(total, int) and isinstance(donations, int) and donations > total:
            yield Hit(r, "donations", donations=yen(donations), total=yen(total))


@RULES.rule("exceeds_pre_consultation",
            ja="交付額 {grant}円が事前協議で受け付けた交付額 {agreed}円を超えています",
            en="grant {grant} yen exceeds the amount accepted at the pre-consultation ({agreed} yen)")
def within_pre_consultation(rows, ctx):
    """交付申請: 交付額 ≤ the 交付額 accepted at the 事前協議."""
    if ctx.stage != "application":
        return
    for r in rows:
        grant, agreed = r.get("grant"), ctx.earlier_amount("pre_consultation", _key(r), "grant")
        if isinstance(grant, int) and agreed is not None and grant > agreed:
            yield Hit(r, "grant", grant=yen(grant), agreed=yen(agreed))


def _missing_earlier(rows, ctx, stage: str, earlier: tuple[str, ...], point: str):
    if ctx.stage != stage:
        return
    for r in rows:
        key = _key(r)
        if not key[0] or not key[1]:
            continue
        if not any(key in (ctx.earlier.get(s) or {}) for s in earlier):
            yield Hit(r, point, insurer=_insurer(r, ctx), category_ja=_category_ja(key[1]), fy=ctx.fiscal_year)


@RULES.rule("no_pre_consultation", severity="warning",
            ja="{insurer}の{category_ja}について、{fy}年度の事前協議の受付がありません",
            en="no accepted pre-consultation row for this insurer and category in {fy}")
def pre_consultation_present(rows, ctx):
    """交付申請 without an accepted 事前協議 row: the 交付額 could not be compared."""
    yield from _missing_earlier(rows, ctx, "application", ("pre_consultation",), "grant")


@RULES.rule("no_application", severity="warning",
            ja="{insurer}の{category_ja}について、{fy}年度の交付申請の受付がありません",
            en="no accepted application row for this insurer and category in {fy}")
def application_present(rows, ctx):
    """変更交付申請 without an accepted 交付申請 row."""
    yield from _missing_earlier(rows, ctx, "change", ("application",), "grant")


def _decision(ctx, key) -> tuple[int | None, str]:
    """The 交付決定額 of a row: the accepted 変更 交付額, else the accepted 交付申請 交付額."""
    for stage, ja in (("change", "変更交付申請"), ("application", "交付申請")):
        amount = ctx.earlier_amount(stage, key, "grant")
        if amount is not None:
            return amount, ja
    return None, ""


@RULES.rule("decided_mismatch",
            ja="交付決定額 {decided}円が受け付けた{source_ja}の交付額 {expected}円と一致しません",
            en="decided {decided} yen does not equal the accepted {source} grant ({expected} yen)")
def decided_is_the_decision(rows, ctx):
    """実績報告: 交付決定額 = the accepted 変更交付申請 交付額, else the accepted 交付申請 交付額."""
    if ctx.stage != "actual_report":
        return
    for r in rows:
        decided = r.get("decided")
        expected, source_ja = _decision(ctx, _key(r))
        if isinstance(decided, int) and expected is not None and decided != expected:
            source = "change" if source_ja == "変更交付申請" else "application"
            yield Hit(r, "decided", decided=yen(decided), expected=yen(expected), source_ja=source_ja, source=source)


@RULES.rule("no_decision", severity="warning",
            ja="{insurer}の{category_ja}について、{fy}年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
            en="no accepted application (or change) row for this insurer and category in {fy}: the decided amount "
               "was not checked")
def decision_present(rows, ctx):
    """実績報告 without an accepted 交付申請 / 変更 row."""
    yield from _missing_earlier(rows, ctx, "actual_report", ("change", "application"), "decided")


@RULES.rule("previous_confirmed_mismatch",
            ja="前回確定額 {stated}円が{fy}年度の実績報告で確定した額 {expected}円と一致しません",
            en="previous confirmed {stated} yen does not equal the amount confirmed at the {fy} actual report "
               "({expected} yen)")
def previous_is_the_confirmed(rows, ctx):
    """再確定: 前回確定額 = the 確定額 accepted at that year's 実績報告."""
    if ctx.stage != "redetermination":
        return
    for r in rows:
        stated = r.get("previous_confirmed")
        expected = ctx.earlier_amount("actual_report", _key(r), "confirmed")
        if isinstance(stated, int) and expected is not None and stated != expected:
            yield Hit(r, "previous_confirmed", stated=yen(stated), expected=yen(expected), fy=ctx.fiscal_year)


@RULES.rule("no_actual_report", severity="warning",
            ja="{insurer}の{category_ja}について、{fy}年度の実績報告の受付がないため、前回確定額を確認できませんでした",
            en="no accepted actual report row for this insurer and category in {fy}: the previous confirmed amount "
               "was not checked")
def actual_report_present(rows, ctx):
    """再確定 without an accepted 実績報告 row of the year."""
    yield from _missing_earlier(rows, ctx, "redetermination", ("actual_report",), "previous_confirmed")


@RULES.rule("redetermination_change", severity="warning",
            ja="再確定により{direction_ja} {amount}円（前回確定額 {previous}円 → {new}円）",
            en="the redetermination {direction_en} the grant by {amount} yen ({previous} → {new} yen)")
def redetermination_changes(rows, ctx):
    """再確定: every row whose 増減額 is not 0, for the reviewer (追加交付 or 返還)."""
    if ctx.stage != "redetermination":
        return
    for r in rows:
        change, previous, new = r.get("change"), r.get("previous_confirmed"), r.get("grant")
        if not (isinstance(change, int) and change != 0 and isinstance(previous, int) and isinstance(new, int)):
            continue
        up = change > 0
        yield Hit(r, "change", amount=yen(abs(change)), previous=yen(previous), new=yen(new),
                  direction_ja="増額（追加交付）" if up else "減額（返還）",
                  direction_en="increases" if up else "decreases")


def first_insured_share(ctx: Any) -> Fraction:
    """第1号被保険者の負担割合 of the fiscal year's period (config ``first_insured_share``), else 23%."""
    from tsunagu.grants.config import parse_fraction

    raw = getattr(getattr(ctx, "config", None), "raw", None) or {}
    for p in raw.get("periods") or ():
        start, end = p.get("from_fiscal_year"), p.get("to_fiscal_year")
        if start is not None and start <= ctx.fiscal_year and (end is None or ctx.fiscal_year <= end):
            if p.get("first_insured_share") is not None:
                return parse_fraction(p["first_insured_share"])
    return DEFAULT_FIRST_INSURED_SHARE


def adjustment_rate(late_elderly_factor: Fraction, income_factor: Fraction, share: Fraction) -> Fraction:
    """普通調整交付金の交付割合 = 第1号負担割合 + 5% − 第1号負担割合 × 後期高齢者補正 × 所得段階補正 (≥ 0)."""
    return max(Fraction(0), share + ADJUSTMENT_AVERAGE - share * late_elderly_factor * income_factor)


@RULES.rule("adjustment_rate_mismatch",
            ja="調整交付金交付割合 {stated} が補正係数から計算した {expected} と一致しません"
               "（{share} + 5% − {share} × 後期高齢者加入割合補正係数 × 所得段階別加入割合補正係数）",
            en="adjustment rate {stated} does not match {expected} computed from the correction factors "
               "({share} + 5% − {share} × late-elderly factor × income factor)")
def adjustment_rate_follows_factors(rows, ctx):
    """調整交付金 調査: the 調整率 follows the 普通調整交付金 formula (±0.005 percentage points)."""
    if ctx.stage != "adjustment_survey":
        return
    share = first_insured_share(ctx)
    for r in rows:
        stated, late, income = r.get("adjustment_rate"), r.get("late_elderly_factor"), r.get("income_factor")
        if not all(isinstance(v, Fraction | int) and not isinstance(v, bool) for v in (stated, late, income)):
            continue
        expected = adjustment_rate(Fraction(late), Fraction(income), share)
        if abs(Fraction(stated) - expected) > ADJUSTMENT_TOLERANCE:
            yield Hit(r, "adjustment_rate", stated=pct(Fraction(stated)), expected=_pct_rounded(expected),
                      share=pct(share))


def _pct_rounded(rate: Fraction, places: int = 4) -> str:
    """A rate as a percentage to ``places`` decimals (half up), for a message."""
    from decimal import ROUND_HALF_UP

    value = Decimal(rate.numerator) * 100 / Decimal(rate.denominator)
    text = str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)).rstrip("0").rstrip(".")
    return f"{text}%"
