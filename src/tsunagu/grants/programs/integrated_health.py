"""後期高齢者医療特別調整交付金（高齢者の保健事業と介護予防の一体的実施） (design.md §2.3): one row per member
municipality of the prefecture's 後期高齢者医療広域連合, filed by the 広域連合.

Stages (include/config/grants/integrated_health.yaml): pre_application 事前申請, application 交付申請,
change 変更交付申請, actual_report 実績報告. Templates: include/templates/grant_integrated_health_<stage>/
(the 事前申請 is the base of the others).

The filer of every row is the 広域連合 of the sending prefecture (``ctx.insurers.koiki(pref).code``):
the file has no filer column. A row's item is its 市町村コード (6-digit 全国地方公共団体コード).

Computed columns (:func:`compute`, checked by the common layer as ``computed_mismatch``):

* 申請額 (事前申請・交付申請・変更) = 企画・調整（医療専門職）人件費 + ハイリスクアプローチ事業費 +
  ポピュレーションアプローチ事業費;
* 実績額 (実績報告) = the same sum of the actual costs.

Rules (:data:`RULES`): the 市町村コード passes its check digit and is a member of the 広域連合 (a
designated-city ward gets its own message: the city is the member); 日常生活圏域数 ≥ 1; each item ≤
its 交付基準額 (``item_caps`` of the config: 企画・調整 per municipality, ハイリスク／ポピュレーション per
日常生活圏域 × 圏域数 — placeholders); between stages (``ctx.earlier``, same fiscal year = the grant's year):
交付申請 without an accepted 事前申請 and 変更 without an accepted 交付申請 are warnings; 実績報告:
the stated 交付決定額 = the accepted 変更 (else 交付申請) 申請額, and 実績額 ≤ 交付決定額 (the accepted
one when known, else the stated one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tsunagu.codes import municipality_code_is_valid
from tsunagu.validate.registry import Hit, RuleSet

PROGRAM = "integrated_health"
ITEMS: dict[str, tuple[str, str, str]] = {  # cost field -> (item_caps id, ja, en)
    "planning_cost": ("planning", "企画・調整（医療専門職）人件費", "planning and coordination staff cost"),
    "high_risk_cost": ("high_risk", "ハイリスクアプローチ事業費", "high-risk approach cost"),
    "population_cost": ("population", "ポピュレーションアプローチ事業費", "population approach cost"),
}

RULES = RuleSet(f"grant.{PROGRAM}")
COMPUTED: tuple[str, ...] = ("amount", "actual")
FILER_FIELD = "municipality_code"
ITEM_FIELDS: tuple[str, ...] = ("municipality_code",)
_SUM_JA = "企画・調整 + ハイリスクアプローチ + ポピュレーションアプローチ"
_SUM_EN = "planning + high-risk approach + population approach"
FORMULAS: dict[str, tuple[str, str]] = {
    "amount": (_SUM_JA, _SUM_EN),
    "actual": (f"{_SUM_JA}（実績）", f"{_SUM_EN} (actual costs)"),
}


# ------------------------------------------------------------------------------- the interface


def koiki_of(ctx: Any) -> Any:
    """The 後期高齢者医療広域連合 of the sending prefecture, None when none is declared."""
    from tsunagu.grants.config import GrantConfigError

    insurers = getattr(ctx, "insurers", None)
    if insurers is None:
        return None
    try:
        return insurers.koiki(ctx.prefecture_code)
    except (GrantConfigError, KeyError):
        return None


def filer_of(values: Mapping[str, Any], ctx: Any) -> str | None:
    """The 広域連合 of the sending prefecture (every row of the file has the same filer)."""
    koiki = koiki_of(ctx)
    return koiki.code if koiki is not None else None


def item_key(values: Mapping[str, Any]) -> str:
    """The 市町村コード ("" when missing)."""
    code = values.get("municipality_code")
    return code if isinstance(code, str) else ""


def _amount(values: Mapping[str, Any], fid: str) -> int | None:
    v = values.get(fid)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def sum_field(stage: str | None) -> str:
    """The computed sum of a stage: 実績額 in the 実績報告, 申請額 elsewhere."""
    return "actual" if stage == "actual_report" else "amount"


def compute(values: Mapping[str, Any], ctx: Any) -> dict[str, int]:
    """The expected computed columns of a row for ``ctx.stage`` (see the module docstring)."""
    parts = [_amount(values, f) for f in ITEMS]
    if any(p is None for p in parts):
        return {}
    return {sum_field(getattr(ctx, "stage", None)): sum(parts)}


# ------------------------------------------------------------------------------- helpers


def yen(value: int) -> str:
    return f"{value:,}"


def _key(row: Any) -> tuple[str, str]:
    return row.values.get("filer_code"), row.values.get("item_key")


def _master() -> Any:
    from tsunagu.municipalities import load_municipalities

    return load_municipalities()


def _municipality(row: Any) -> str:
    """「192015（甲府市）」 for a message."""
    code = row.values.get("item_key") or ""
    name = row.values.get("municipality_name")
    if not name:
        m = _master().get(code)
        name = m.name if m is not None else None
    return f"{code}（{name}）" if name else code


def _codes(rows, ctx):
    """(row, code, 広域連合) for the rows with a 6-digit 市町村コード, when the 広域連合 is known."""
    koiki = koiki_of(ctx)
    if koiki is None:
        return
    for r in rows:
        code = r.get("municipality_code")
        if isinstance(code, str) and len(code) == 6 and code.isdigit():
            yield r, code, koiki


# ------------------------------------------------------------------------------- rules


@RULES.rule("invalid_municipality_code",
            ja="市町村コード {code} の検査数字（末尾の1桁）が正しくありません。6桁の全国地方公共団体コードを記入してください",
            en="the check digit (last digit) of municipality code {code} is wrong (expected the 6-digit local "
               "government code)")
def municipality_code_valid(rows, ctx):
    """The 市町村コード passes its mod-11 check digit."""
    for r, code, _koiki in _codes(rows, ctx):
        if not municipality_code_is_valid(code):
            r.bad.add("municipality_code")
            yield Hit(r, "municipality_code", code=code)


@RULES.rule("not_a_member",
            ja="{code} は政令指定都市の区（{ward}）のコードです。{koiki}の構成市町村は市です: {city}のコード {city_code} を記入してください",
            en="{code} is the code of a ward of a designated city; the member of {koiki_code} is the city: "
               "use the city's code {city_code}")
def not_a_ward(rows, ctx):
    """A designated-city ward (政令指定都市の区) of a member city is not a member: the city is."""
    master = _master()
    for r, code, koiki in _codes(rows, ctx):
        if "municipality_code" in r.bad:
            continue
        m = master.get(code)
        if m is None or not m.is_ward:
            continue
        city = master.get(m.city_code) if m.city_code else None
        if city is None or city.code not in koiki.members:
            continue  # a ward of another prefecture's city: not a member either way (member_of_koiki)
        r.bad.add("municipality_code")
        yield Hit(r, "municipality_code", code=code, ward=m.name, koiki=koiki.name, koiki_code=koiki.code,
                  city=city.name, city_code=city.code)


@RULES.rule("not_a_member",
            ja="{municipality}は{koiki}（{koiki_code}）の構成市町村ではありません",
            en="{code} is not a member municipality of {koiki_code} ({koiki_en})")
def member_of_koiki(rows, ctx):
    """Every municipality is a member of the sending prefecture's 広域連合."""
    master = _master()
    for r, code, koiki in _codes(rows, ctx):
        if "municipality_code" in r.bad or code in koiki.members:
            continue
        m = master.get(code)
        if m is not None:
            where = f"{code}（{m.prefecture_name}{m.name}）"
        else:
            where = f"{code}（市町村一覧にないコード）"
        r.bad.add("municipality_code")
        yield Hit(r, "municipality_code", municipality=where, code=code, koiki=koiki.name, koiki_code=koiki.code,
                  koiki_en=f"the later-elderly 広域連合 of prefecture {koiki.prefecture_code}")


@RULES.rule("areas_below_one",
            ja="日常生活圏域数は1以上を記入してください（{areas}）",
            en="the number of daily-life areas must be at least 1 (got {areas})")
def at_least_one_area(rows, ctx):
    """日常生活圏域数 ≥ 1 (the ハイリスク／ポピュレーション caps are per 圏域)."""
    for r in rows:
        areas = r.get("areas")
        if isinstance(areas, int) and areas < 1:
            yield Hit(r, "areas", areas=areas)


def item_cap(ctx: Any, field: str, areas: int | None) -> tuple[int, str, str] | None:
    """(交付基準額, how it was computed ja, en) of an item of a row, None when unknown."""
    cap_id, _, _ = ITEMS[field]
    try:
        cap = ctx.config.item_caps(ctx.fiscal_year).get(cap_id)
    except (AttributeError, KeyError, ValueError):
        cap = None
    if cap is None:
        return None
    if cap.per == "municipality":
        return cap.amount, f"1市町村あたり {yen(cap.amount)}円", f"{yen(cap.amount)} yen per municipality"
    if not isinstance(areas, int) or areas < 1:
        return None
    return (cap.amount * areas, f"1圏域あたり {yen(cap.amount)}円 × 日常生活圏域数 {areas}",
            f"{yen(cap.amount)} yen per area × {areas} areas")


@RULES.rule("item_cap_exceeded",
            ja="{item_ja} {amount}円が交付基準額 {cap}円（{how_ja}）を超えています",
            en="{item_en} {amount} yen exceeds the standard amount {cap} yen ({how_en})")
def items_within_caps(rows, ctx):
    """Each item ≤ its 交付基準額: 企画・調整 per municipality, ハイリスク／ポピュレーション per 圏域 × 圏域数."""
    for r in rows:
        areas = r.get("areas")
        for field, (_cap_id, item_ja, item_en) in ITEMS.items():
            amount = r.get(field)
            cap = item_cap(ctx, field, areas)
            if not isinstance(amount, int) or cap is None or amount <= cap[0]:
                continue
            yield Hit(r, field, item_ja=item_ja, item_en=item_en, amount=yen(amount), cap=yen(cap[0]),
                      how_ja=cap[1], how_en=cap[2])


def _missing_earlier(rows, ctx, stage: str, earlier: tuple[str, ...], point: str):
    if ctx.stage != stage:
        return
    for r in rows:
        key = _key(r)
        if not key[0] or not key[1]:
            continue
        if not any(key in (ctx.earlier.get(s) or {}) for s in earlier):
            yield Hit(r, point, municipality=_municipality(r), code=key[1], fy=ctx.fiscal_year)


@RULES.rule("no_pre_application", severity="warning",
            ja="{municipality}について、{fy}年度の事前申請の受付がありません",
            en="no accepted pre-application row for {code} in {fy}")
def pre_application_present(rows, ctx):
    """交付申請 without an accepted 事前申請 row for the municipality."""
    yield from _missing_earlier(rows, ctx, "application", ("pre_application",), "amount")


@RULES.rule("no_application", severity="warning",
            ja="{municipality}について、{fy}年度の交付申請の受付がありません",
            en="no accepted application row for {code} in {fy}")
def application_present(rows, ctx):
    """変更交付申請 without an accepted 交付申請 row for the municipality."""
    yield from _missing_earlier(rows, ctx, "change", ("application",), "amount")


def decision(ctx: Any, key: tuple[str, str]) -> tuple[int | None, str]:
    """The 交付決定額 of a row: the accepted 変更 申請額, else the accepted 交付申請 申請額 (None: unknown)."""
    for stage in ("change", "application"):
        amount = ctx.earlier_amount(stage, key, "amount")
        if amount is not None:
            return amount, stage
    return None, ""


_SOURCE_JA = {"change": "変更交付申請", "application": "交付申請"}


@RULES.rule("decided_mismatch",
            ja="交付決定額 {decided}円が受け付けた{source_ja}の申請額 {expected}円と一致しません",
            en="decided {decided} yen does not equal the accepted {source} amount ({expected} yen)")
def decided_is_the_decision(rows, ctx):
    """実績報告: the stated 交付決定額 = the accepted 変更交付申請 申請額, else the accepted 交付申請 申請額."""
    if ctx.stage != "actual_report":
        return
    for r in rows:
        decided = r.get("decided")
        expected, source = decision(ctx, _key(r))
        if isinstance(decided, int) and expected is not None and decided != expected:
            yield Hit(r, "decided", decided=yen(decided), expected=yen(expected), source=source,
                      source_ja=_SOURCE_JA[source])


@RULES.rule("exceeds_decided",
            ja="実績額 {actual}円が交付決定額 {decided}円（{source_ja}）を超えています",
            en="actual {actual} yen exceeds the decided amount {decided} yen ({source_en})")
def actual_within_decision(rows, ctx):
    """実績報告: 実績額 ≤ 交付決定額 (the accepted 変更 / 交付申請 申請額 when known, else the stated one)."""
    if ctx.stage != "actual_report":
        return
    for r in rows:
        actual = r.get("actual")
        decided, source = decision(ctx, _key(r))
        if decided is not None:
            source_ja, source_en = f"受け付けた{_SOURCE_JA[source]}の申請額", f"the accepted {source} amount"
        else:
            decided, source_ja, source_en = r.get("decided"), "記入された交付決定額", "as stated"
        if isinstance(actual, int) and isinstance(decided, int) and actual > decided:
            yield Hit(r, "actual", actual=yen(actual), decided=yen(decided), source_ja=source_ja,
                      source_en=source_en)


@RULES.rule("no_decision", severity="warning",
            ja="{municipality}について、{fy}年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
            en="no accepted application (or change) row for {code} in {fy}: the decided amount was not checked")
def decision_present(rows, ctx):
    """実績報告 without an accepted 交付申請 / 変更 row for the municipality."""
    yield from _missing_earlier(rows, ctx, "actual_report", ("change", "application"), "decided")
