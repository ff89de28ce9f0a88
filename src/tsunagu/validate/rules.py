"""Project rules for 様式11の3 that Great Expectations cannot express (pure Python, no GX).

Each rule is a small named function registered in :data:`RULES` (:mod:`tsunagu.validate.registry`)
with its code, severity and messages; it looks at the rows (normalised values + where they came
from) and a RuleContext and yields hits that become findings on the exact cell: check digits,
jurisdiction, roster, cross-field sums, duplicates, and the warnings (機能強化型 thresholds,
year-over-year jumps) that never block a file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tsunagu.codes import institution_code as make_institution_code
from tsunagu.codes import institution_number_is_valid, municipality_code_is_valid
from tsunagu.findings import Finding
from tsunagu.jurisdiction import Jurisdiction
from tsunagu.model import FormTemplate, RosterEntry
from tsunagu.validate.registry import Hit, RuleSet, locate, where_en, where_ja

__all__ = [
    "CLASS_JA", "RULES", "RowView", "RuleContext", "cell_finding", "expected_ratio", "fill_row", "fmt", "run_rules",
    "where_en", "where_ja",
]

IKA = "1"  # 点数表番号 of 医科: 在支診/在支病 are always 医科
RATIO_TOLERANCE = 0.1
DEFAULT_YOY_FACTOR = 3.0

DEATH_PARTS = ("deaths_home", "deaths_other_residence", "deaths_partner_hospital", "deaths_other_hospital")
VISIT_PARTS = ("house_calls", "home_visits", "nursing_visits")
NETWORK_REQUIRED = ("fulltime_doctors", "partner_institutions")
# 看取り (deaths cared for at home): 医療機関以外での死亡 ① 自宅 + ② 自宅以外
HOME_DEATHS = ("deaths_home", "deaths_other_residence")
THRESHOLD_ALIASES: dict[str, tuple[str, ...]] = {
    "home_deaths": HOME_DEATHS,
    "mitori": HOME_DEATHS,
    "end_of_life_care": HOME_DEATHS,
    "看取り": HOME_DEATHS,
}
CLASS_JA = {
    "enhanced_single": "機能強化型(単独型)",
    "enhanced_network": "機能強化型(連携型)",
    "standard": "従来型",
}


# --------------------------------------------------------------------------- where and how to say it


@dataclass
class RowView:
    """One institution row: normalised values (after filling) and where each value came from."""

    sheet: str
    row: int
    values: dict[str, Any]
    columns: dict[str, str]  # field id -> column letter
    bad: set[str] = field(default_factory=set)  # fields already reported as errors by earlier layers

    def get(self, field_id: str) -> Any:
        """The value for cross-field rules: None when the cell already failed (no follow-on findings)."""
        return None if field_id in self.bad else self.values.get(field_id)


@dataclass
class RuleContext:
    template: FormTemplate
    prefecture_code: str  # the sending office's prefecture
    fiscal_year: int
    jurisdiction: Jurisdiction
    roster: Mapping[str, RosterEntry] | None = None
    previous: Mapping[str, Mapping[str, Any]] | None = None
    columns: dict[str, str] = field(default_factory=dict)  # table-level field id -> column letter

    def label(self, field_id: str) -> str:
        try:
            return self.template.field(field_id).label_ja
        except KeyError:
            return field_id

    @property
    def office_name(self) -> str:
        """The sending office's prefecture by name (its code when it is outside the jurisdiction)."""
        office = self.prefecture_code
        return self.jurisdiction.prefectures[office].name_ja if office in self.jurisdiction else office


def fmt(value: Any) -> str:
    """Numbers as a clerk writes them: 6, 45.5 (no 45.50000001, no 6.0)."""
    if value is None:
        return "(空欄)"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def cell_finding(
    ctx: RuleContext, severity: str, code: str, row: RowView | None, field_id: str | None, ja: str, en: str,
    *, sheet: str | None = None, row_number: int | None = None,
) -> Finding:
    """A finding on one cell, with 「12行目 H列『死亡患者数』: …」 in front of the message (registry.locate)."""
    return locate(ctx, severity, code, Hit(row, field_id, sheet=sheet, row_number=row_number), ja, en)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sum_parts(row: RowView, parts: Iterable[str]) -> tuple[float | None, int]:
    """Sum of the parts that are given (blank parts count as 0); None when all are blank."""
    values = [row.get(p) for p in parts]
    given = [v for v in values if _is_num(v)]
    if not given:
        return None, 0
    return sum(given), len(given)


def _code_field(row: RowView, ctx: RuleContext) -> str:
    """Where to point for an institution: its 医療機関コード column if the file has one, else 医療機関番号."""
    if row.columns.get("institution_code") or ctx.columns.get("institution_code"):
        return "institution_code"
    return "institution_number"


# --------------------------------------------------------------------------- rules

RULES = RuleSet("home_care_report")
Hits = Iterator[Hit]

_SEVEN = re.compile(r"^\d{7}$")
_SIX = re.compile(r"^\d{6}$")
_TEN = re.compile(r"^\d{10}$")


def _number_from_code(ctx: RuleContext) -> bool:
    """The table has no 医療機関番号 column: the parser took the number from the 医療機関コード (same cell)."""
    column = ctx.columns.get("institution_code")
    return column is not None and ctx.columns.get("institution_number") == column


@RULES.rule("check_digit",
            ja="医療機関番号 {number} の検査数字(末尾の1桁)が正しくありません。番号を確認してください",
            en="the check digit (last digit) of institution number {number} is wrong")
def institution_number_check_digit(rows: list[RowView], ctx: RuleContext) -> Hits:
    """医療機関番号: the prefecture's check digit (Luhn). Bad formats are left to the field rules."""
    if _number_from_code(ctx):
        return  # institution_code_check_digit says it of the code
    for r in rows:
        number = r.get("institution_number")
        if isinstance(number, str) and _SEVEN.match(number):
            pref = r.get("prefecture_code")
            if pref not in ctx.jurisdiction:
                pref = ctx.prefecture_code
            if pref in ctx.jurisdiction and not institution_number_is_valid(
                number, pref, ctx.jurisdiction.get(pref).check_digit, IKA
            ):
                yield Hit(r, "institution_number", number=number)


@RULES.rule("check_digit",
            ja="医療機関コード {code} の医療機関番号(下7桁 {number})の検査数字(末尾の1桁)が正しくありません。コードを確認してください",
            en="the check digit of the institution number {number} in institution code {code} is wrong")
def institution_code_check_digit(rows: list[RowView], ctx: RuleContext) -> Hits:
    """A table with 医療機関コード only: the number in it (its last 7 digits) has the check digit of the
    code's prefecture (the sending office's when the code's is not in the jurisdiction) and 点数表."""
    if not _number_from_code(ctx):
        return
    for r in rows:
        code = r.get("institution_code")
        if not (isinstance(code, str) and _TEN.match(code)) or "institution_number" in r.bad:
            continue
        pref = code[:2] if code[:2] in ctx.jurisdiction else ctx.prefecture_code
        if pref in ctx.jurisdiction and not institution_number_is_valid(
            code[3:], pref, ctx.jurisdiction.get(pref).check_digit, code[2]  # a wrong 点数表 is said once, below
        ):
            yield Hit(r, "institution_code", code=code, number=code[3:])


@RULES.rule("check_digit",
            ja="市町村コード {code} の検査数字(末尾の1桁)が正しくありません。6桁の全国地方公共団体コードを記入してください",
            en="the check digit of municipality code {code} is wrong (expected the 6-digit local government code)")
def municipality_code_check_digit(rows: list[RowView], ctx: RuleContext) -> Hits:
    """市町村コード: mod 11 check digit."""
    for r in rows:
        muni = r.get("municipality_code")
        if isinstance(muni, str) and _SIX.match(muni) and not municipality_code_is_valid(muni):
            yield Hit(r, "municipality_code", code=muni)


@RULES.rule("code_mismatch",
            ja="医療機関コード {code} が医療機関番号 {number} と一致しません(都道府県コード2桁 + 1 + 医療機関番号7桁)",
            en="institution code {code} does not match institution number {number} (prefecture 2 + 1 + number 7)")
def institution_code_consistency(rows: list[RowView], ctx: RuleContext) -> Hits:
    """A 医療機関コード given in the file next to the 医療機関番号 ends with that number (and its 点数表 is 医科:
    institution_code_is_medical)."""
    if not ctx.columns.get("institution_code") or _number_from_code(ctx):
        return
    for r in rows:
        code, number = r.get("institution_code"), r.get("institution_number")
        if not (isinstance(code, str) and _TEN.match(code) and isinstance(number, str) and _SEVEN.match(number)):
            continue
        if code[3:] != number:
            yield Hit(r, "institution_code", code=code, number=number)


@RULES.rule("code_mismatch",
            ja="医療機関コード {code} の3桁目(点数表番号)が {digit} です。在支診・在支病は医科(1)です"
               "(都道府県コード2桁 + 1 + 医療機関番号7桁)",
            en="institution code {code} has score table {digit} (3rd digit); home-care support institutions are "
               "医科 (1)")
def institution_code_is_medical(rows: list[RowView], ctx: RuleContext) -> Hits:
    """A 医療機関コード in the file has 点数表番号 1 (医科): 在支診/在支病 are 医科 (歯科 3, 薬局 4 are not)."""
    if not ctx.columns.get("institution_code"):
        return
    for r in rows:
        code = r.get("institution_code")
        if isinstance(code, str) and _TEN.match(code) and code[2] != IKA:
            yield Hit(r, "institution_code", code=code, digit=code[2])


@RULES.rule("wrong_prefecture",
            ja="都道府県コード {office} は{bureau}の管轄ではありません",
            en="prefecture {office} is not in the jurisdiction of this bureau")
def office_in_jurisdiction(rows: list[RowView], ctx: RuleContext) -> Hits:
    """The sending office's prefecture is in the bureau's jurisdiction (a finding on the whole file)."""
    if ctx.prefecture_code not in ctx.jurisdiction:
        yield Hit(None, "prefecture_code", office=ctx.prefecture_code, bureau=ctx.jurisdiction.bureau_ja)


@RULES.rule("wrong_prefecture",
            ja="都道府県コード {pref} が送付元の{office_name}({office})と異なります。他県の医療機関が含まれていないか確認してください",
            en="prefecture code {pref} differs from the sending office's prefecture {office}")
def row_prefecture_is_the_office(rows: list[RowView], ctx: RuleContext) -> Hits:
    """Every row's 都道府県コード is the sending office's."""
    office = ctx.prefecture_code
    for r in rows:
        pref = r.get("prefecture_code")
        if isinstance(pref, str) and pref != office:
            yield Hit(r, "prefecture_code", pref=pref, office=office, office_name=ctx.office_name)


@RULES.rule("wrong_prefecture",
            ja="医療機関コード {code} の先頭2桁({prefix})が送付元の{office_name}({office})と異なります",
            en="institution code {code} starts with prefecture {prefix}, not the sending office's {office}")
def institution_code_in_office_prefecture(rows: list[RowView], ctx: RuleContext) -> Hits:
    """A 医療機関コード in the file starts with the office's prefecture (rows naming another prefecture aside)."""
    if not ctx.columns.get("institution_code"):
        return
    office = ctx.prefecture_code
    for r in rows:
        pref, code = r.get("prefecture_code"), r.get("institution_code")
        if isinstance(pref, str) and pref != office:
            continue  # already reported on its 都道府県コード
        if isinstance(code, str) and _TEN.match(code) and code[:2] != office:
            yield Hit(r, "institution_code", code=code, prefix=code[:2], office=office, office_name=ctx.office_name)


@RULES.rule("roster_unavailable", severity="warning",
            ja="届出受理医療機関名簿が取り込まれていないため、在支診・在支病の届出があるかを確認できませんでした",
            en="the register (roster) is not loaded, so membership of the institutions was not checked")
def roster_loaded(rows: list[RowView], ctx: RuleContext) -> Hits:
    """Without the register, membership cannot be checked (a warning on the whole file)."""
    if ctx.roster is None:
        yield Hit(None)


@RULES.rule("not_in_roster",
            ja="医療機関コード {code}({name})は届出受理医療機関名簿に在支診・在支病として登録されていません",
            en="institution {code} is not a registered home-care support clinic/hospital in the register")
def in_roster(rows: list[RowView], ctx: RuleContext) -> Hits:
    """Every institution must be a 在支診/在支病 in the register (届出受理医療機関名簿)."""
    if ctx.roster is None:
        return
    for r in rows:
        code = r.get("institution_code")
        if isinstance(code, str) and _TEN.match(code) and code not in ctx.roster:
            yield Hit(r, _code_field(r, ctx), code=code, name=r.get("institution_name") or "")


@RULES.rule("death_sum",
            ja="内訳(①〜④)の合計({parts})と一致しません({total})",
            en="does not equal the sum of its breakdown ①–④ ({parts} ≠ {total})")
def deaths_are_their_breakdown(rows: list[RowView], ctx: RuleContext) -> Hits:
    """死亡患者数 = ①〜④ (blank parts count as 0)."""
    for r in rows:
        total = r.get("deaths_total")
        if not _is_num(total):
            continue
        parts, _ = _sum_parts(r, DEATH_PARTS)
        if parts is not None and parts != total:
            yield Hit(r, "deaths_total", parts=fmt(parts), total=fmt(total))


@RULES.rule("death_sum",
            ja="死亡患者数({total})が合計診療患者数({patients})を超えています",
            en="deaths ({total}) exceed total patients ({patients})")
def deaths_within_patients(rows: list[RowView], ctx: RuleContext) -> Hits:
    """死亡患者数 ≤ 合計診療患者数."""
    for r in rows:
        total, patients = r.get("deaths_total"), r.get("total_patients")
        if _is_num(total) and _is_num(patients) and total > patients:
            yield Hit(r, "deaths_total", total=fmt(total), patients=fmt(patients))


@RULES.rule("emergency_exceeds_house_calls",
            ja="うち緊急の往診({emergency})が往診の回数({calls})を超えています",
            en="emergency house calls ({emergency}) exceed house calls ({calls})")
def emergency_within_house_calls(rows: list[RowView], ctx: RuleContext) -> Hits:
    """うち緊急の往診 ≤ 往診."""
    for r in rows:
        emergency, calls = r.get("emergency_house_calls"), r.get("house_calls")
        if _is_num(emergency) and _is_num(calls) and emergency > calls:
            yield Hit(r, "emergency_house_calls", emergency=fmt(emergency), calls=fmt(calls))


@RULES.rule("visits_sum",
            ja="①往診+②訪問診療+③訪問看護の合計({parts})と一致しません({total})",
            en="does not equal house calls + home visits + nursing visits ({parts} ≠ {total})")
def visits_are_their_breakdown(rows: list[RowView], ctx: RuleContext) -> Hits:
    """訪問診療等の合計 = ①往診 + ②訪問診療 + ③訪問看護."""
    for r in rows:
        total = r.get("visits_total")
        if not _is_num(total):
            continue
        parts, _ = _sum_parts(r, VISIT_PARTS)
        if parts is not None and parts != total:
            yield Hit(r, "visits_total", parts=fmt(parts), total=fmt(total))


def expected_ratio(home: float, all_: float) -> float:
    """②/①×100, one decimal, rounded half up as Excel's ROUND does."""
    return float((Decimal(home) * 100 / Decimal(all_)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _month(r: RowView) -> tuple[Any, Any, Any] | None:
    """(①, ②, ③) of a row whose ① and ② are numbers and ② ≤ ①; None otherwise."""
    all_, home = r.get("month_patients_all"), r.get("month_patients_home")
    if not (_is_num(all_) and _is_num(home)) or home > all_:
        return None
    return all_, home, r.get("month_home_ratio")


@RULES.rule("month_ratio",
            ja="②往診又は訪問診療を実施した患者数({home})が①の患者数({all})を超えています",
            en="patients with house calls/visits ({home}) exceed all patients of the month ({all})")
def month_home_within_all(rows: list[RowView], ctx: RuleContext) -> Hits:
    """② ≤ ①."""
    for r in rows:
        all_, home = r.get("month_patients_all"), r.get("month_patients_home")
        if _is_num(all_) and _is_num(home) and home > all_:
            yield Hit(r, "month_patients_home", home=fmt(home), all=fmt(all_))


@RULES.rule("month_ratio",
            ja="①の患者数が0のため割合は0(または空欄)のはずです({ratio})",
            en="all patients of the month is 0, so the ratio should be 0 or blank (got {ratio})")
def month_ratio_zero_without_patients(rows: list[RowView], ctx: RuleContext) -> Hits:
    """③ is 0 (or blank) when ① is 0."""
    for r in rows:
        month = _month(r)
        if month is not None and month[0] == 0 and _is_num(month[2]) and month[2] != 0:
            yield Hit(r, "month_home_ratio", ratio=fmt(month[2]))


@RULES.rule("month_ratio",
            ja="②÷①×100 = {want}% と一致しません({ratio})",
            en="does not equal ②/①×100 = {want} % (got {ratio})")
def month_ratio_is_home_over_all(rows: list[RowView], ctx: RuleContext) -> Hits:
    """③ = ②/①×100 to one decimal (±0.1). A ratio typed as a fraction (Excel % format) is accepted
    and normalised to percent in the row's values."""
    for r in rows:
        month = _month(r)
        if month is None or month[0] == 0 or not _is_num(month[2]):
            continue
        all_, home, ratio = month
        want = expected_ratio(home, all_)
        if abs(ratio - want) <= RATIO_TOLERANCE + 1e-9:
            continue
        if ratio <= 1 and abs(ratio * 100 - want) <= RATIO_TOLERANCE + 1e-9:
            r.values["month_home_ratio"] = want  # 0.455 typed in a % cell means 45.5 %
            continue
        yield Hit(r, "month_home_ratio", want=fmt(want), ratio=fmt(ratio))


def _required_for(ctx: RuleContext) -> dict[str, tuple[str, ...]]:
    cfg = (ctx.template.warnings or {}).get("required_for")
    if isinstance(cfg, Mapping):
        return {cls: tuple(fields) for cls, fields in cfg.items()}
    return {"enhanced_network": NETWORK_REQUIRED}


@RULES.rule("network_fields_required",
            ja="{class_ja}の医療機関は記入が必要です(空欄になっています)",
            en="required for {cls} institutions, but blank")
def network_fields_given(rows: list[RowView], ctx: RuleContext) -> Hits:
    """機能強化型(連携型) must give 常勤医師数 and 連携する保険医療機関数 (template.warnings.required_for)."""
    required = _required_for(ctx)
    for r in rows:
        cls = r.get("notification_class")
        for fid in required.get(cls, ()):
            if r.values.get(fid) is None and fid not in r.bad:
                yield Hit(r, fid, cls=cls, class_ja=CLASS_JA.get(cls, cls))


@RULES.rule("duplicate_institution",
            ja="医療機関コード {code} が{first}行目と重複しています。どちらか一方にしてください",
            en="institution {code} is also on row {first}; keep only one")
def institution_once(rows: list[RowView], ctx: RuleContext) -> Hits:
    """Each institution on one row only (the finding names the first)."""
    first: dict[str, RowView] = {}
    for r in rows:
        code = r.get("institution_code")
        if not isinstance(code, str):
            continue
        if code in first:
            yield Hit(r, _code_field(r, ctx), code=code, first=first[code].row)
        else:
            first[code] = r


def _threshold_table(warnings_cfg: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """template.warnings → {notification_class: {field or alias: minimum}}.

    Accepted shapes (YAML):
        minimums: {enhanced_single: {fulltime_doctors: 3, emergency_house_calls: 10, deaths_home: 4}}
        enhanced_single: {fulltime_doctors: 3, emergency_house_calls: 10, home_deaths: 4}
        enhanced_threshold: {enhanced_network: {min_emergency_house_calls: 4, deaths_home+deaths_other_residence: 2}}
        enhanced_single: {fulltime_doctors: {min: 3}}
    """
    cfg: Mapping[str, Any] = warnings_cfg or {}
    for nest in ("minimums", "enhanced_threshold", "enhanced_thresholds", "thresholds"):
        if isinstance(cfg.get(nest), Mapping):
            cfg = {**cfg, **cfg[nest]}
    table: dict[str, dict[str, float]] = {}
    for cls in ("enhanced_single", "enhanced_network"):
        spec = cfg.get(cls)
        if not isinstance(spec, Mapping):
            continue
        mins: dict[str, float] = {}
        for key, value in spec.items():
            if isinstance(value, Mapping):
                value = value.get("min")
            if not _is_num(value):
                continue
            name = key[4:] if key.startswith("min_") else key
            mins[name] = float(value)
        table[cls] = mins
    return table


def _threshold_parts(name: str) -> tuple[str, ...]:
    if name in THRESHOLD_ALIASES:
        return THRESHOLD_ALIASES[name]
    return tuple(p.strip() for p in name.split("+"))


@RULES.rule("enhanced_threshold", severity="warning",
            ja="{class_ja}の目安({labels} {minimum}以上)を下回っています({actual})。届出区分と実績を確認してください",
            en="below the usual requirement for {cls} ({parts} ≥ {minimum}; got {actual})")
def enhanced_thresholds_met(rows: list[RowView], ctx: RuleContext) -> Hits:
    """機能強化型 below the usual requirements (warning only; thresholds from template.warnings)."""
    table = _threshold_table(ctx.template.warnings)
    for r in rows:
        cls = r.get("notification_class")
        for name, minimum in table.get(cls, {}).items():
            parts = _threshold_parts(name)
            values = [r.get(p) for p in parts]
            if not any(_is_num(v) for v in values):
                continue
            actual = sum(v for v in values if _is_num(v))
            if actual >= minimum:
                continue
            yield Hit(r, parts[0], cls=cls, class_ja=CLASS_JA.get(cls, cls), minimum=fmt(minimum), actual=fmt(actual),
                      labels="+".join(ctx.label(p) for p in parts), parts="+".join(parts))


@RULES.rule("yoy_jump", severity="warning",
            ja="前年度({before})から大きく変動しています({now})。記入誤りがないか確認してください",
            en="changed sharply from last year ({before} → {now}); please check")
def no_jump_from_last_year(rows: list[RowView], ctx: RuleContext) -> Hits:
    """×3 or ÷3 against last accepted year's value (warning; template.warnings.yoy_ratio / yoy_fields)."""
    if not ctx.previous:
        return
    cfg = ctx.template.warnings or {}
    factor = float(cfg.get("yoy_ratio") or cfg.get("yoy_factor") or DEFAULT_YOY_FACTOR)
    fields = tuple(cfg.get("yoy_fields") or ("total_patients",))
    for r in rows:
        code = r.get("institution_code")
        last = ctx.previous.get(code) if isinstance(code, str) else None
        if not last:
            continue
        for fid in fields:
            now, before = r.get(fid), last.get(fid)
            if isinstance(before, Decimal):  # NUMERIC from PostgreSQL
                before = float(before)
            if not (_is_num(now) and _is_num(before)) or before <= 0:
                continue
            if now >= before * factor or now * factor <= before:
                yield Hit(r, fid, before=fmt(before), now=fmt(now))


def run_rules(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    return RULES.run(rows, ctx)


def fill_row(values: dict[str, Any], ctx: RuleContext) -> dict[str, Any]:
    """Fill what the file may leave out: 年度, 都道府県コード, 医療機関コード, and 区分/受理記号 from the roster."""
    out = dict(values)
    if out.get("fiscal_year") is None and "fiscal_year" in out:
        out["fiscal_year"] = ctx.fiscal_year
    if out.get("report_date") is None and "report_date" in out and ctx.template.report_month:
        out["report_date"] = dt.date(ctx.fiscal_year, ctx.template.report_month, 1)
    if out.get("prefecture_code") is None and "prefecture_code" in out:
        out["prefecture_code"] = ctx.prefecture_code
    number = out.get("institution_number")
    if out.get("institution_code") is None and "institution_code" in out and isinstance(number, str) and _SEVEN.match(number):
        pref = out.get("prefecture_code") or ctx.prefecture_code
        out["institution_code"] = make_institution_code(pref, number, IKA)
    entry = ctx.roster.get(out.get("institution_code")) if ctx.roster and out.get("institution_code") else None
    if entry is not None:
        for fid in ("facility_type", "notification_class"):
            if fid in out and out.get(fid) is None:
                out[fid] = getattr(entry, fid)
    return out
