"""Project rules for 様式11の3 that Great Expectations cannot express (pure Python, no GX).

Each rule takes the rows (normalised values + where they came from) and a RuleContext and returns
Findings that point at the exact cell: check digits, jurisdiction, roster, cross-field sums,
duplicates, and the warnings (機能強化型 thresholds, year-over-year jumps) that never block a file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tsunagu.codes import institution_code as make_institution_code
from tsunagu.codes import institution_number_is_valid, municipality_code_is_valid
from tsunagu.findings import Finding, error, warning
from tsunagu.jurisdiction import Jurisdiction
from tsunagu.model import FormTemplate, RosterEntry

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


def fmt(value: Any) -> str:
    """Numbers as a clerk writes them: 6, 45.5 (no 45.50000001, no 6.0)."""
    if value is None:
        return "(空欄)"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


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


def cell_finding(
    ctx: RuleContext, severity: str, code: str, row: RowView | None, field_id: str | None, ja: str, en: str,
    *, sheet: str | None = None, row_number: int | None = None,
) -> Finding:
    """A finding on one cell, with 「12行目 H列『死亡患者数』: …」 in front of the message."""
    column = None
    if field_id is not None:
        column = (row.columns.get(field_id) if row is not None else None) or ctx.columns.get(field_id)
    number = row.row if row is not None else row_number
    label = ctx.label(field_id) if field_id else None
    prefix_ja = where_ja(number, column, label)
    prefix_en = where_en(number, column, field_id)
    make = error if severity == "error" else warning
    return make(
        code,
        f"{prefix_ja}: {ja}" if prefix_ja else ja,
        f"{prefix_en}: {en}" if prefix_en else en,
        sheet=row.sheet if row is not None else sheet,
        row=number,
        column=column,
        field=field_id,
    )


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

_SEVEN = re.compile(r"^\d{7}$")
_SIX = re.compile(r"^\d{6}$")
_TEN = re.compile(r"^\d{10}$")


def check_digits(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """医療機関番号 (Luhn, the prefecture's rule) and 市町村コード (mod 11). Bad formats are left to the field rules."""
    out: list[Finding] = []
    for r in rows:
        number = r.get("institution_number")
        if isinstance(number, str) and _SEVEN.match(number):
            pref = r.get("prefecture_code")
            if pref not in ctx.jurisdiction:
                pref = ctx.prefecture_code
            if pref in ctx.jurisdiction:
                rule = ctx.jurisdiction.get(pref).check_digit
                if not institution_number_is_valid(number, pref, rule, IKA):
                    out.append(cell_finding(
                        ctx, "error", "check_digit", r, "institution_number",
                        f"医療機関番号 {number} の検査数字(末尾の1桁)が正しくありません。番号を確認してください",
                        f"the check digit (last digit) of institution number {number} is wrong",
                    ))
        muni = r.get("municipality_code")
        if isinstance(muni, str) and _SIX.match(muni) and not municipality_code_is_valid(muni):
            out.append(cell_finding(
                ctx, "error", "check_digit", r, "municipality_code",
                f"市町村コード {muni} の検査数字(末尾の1桁)が正しくありません。6桁の全国地方公共団体コードを記入してください",
                f"the check digit of municipality code {muni} is wrong (expected the 6-digit local government code)",
            ))
    return out


def institution_code_consistency(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """A 医療機関コード given in the file must be 都道府県コード + 1 (医科) + 医療機関番号."""
    if not ctx.columns.get("institution_code"):
        return []
    out: list[Finding] = []
    for r in rows:
        code, number = r.get("institution_code"), r.get("institution_number")
        if not (isinstance(code, str) and _TEN.match(code) and isinstance(number, str) and _SEVEN.match(number)):
            continue
        if code[3:] != number or code[2] != IKA:
            out.append(cell_finding(
                ctx, "error", "code_mismatch", r, "institution_code",
                f"医療機関コード {code} が医療機関番号 {number} と一致しません(都道府県コード2桁 + 1 + 医療機関番号7桁)",
                f"institution code {code} does not match institution number {number} (prefecture 2 + 1 + number 7)",
            ))
    return out


def jurisdiction_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """Every row belongs to the sending office's prefecture, and that prefecture is in the jurisdiction."""
    out: list[Finding] = []
    office = ctx.prefecture_code
    if office not in ctx.jurisdiction:
        out.append(error(
            "wrong_prefecture",
            f"都道府県コード {office} は{ctx.jurisdiction.bureau_ja}の管轄ではありません",
            f"prefecture {office} is not in the jurisdiction of this bureau",
            field="prefecture_code",
        ))
    pref_name = ctx.jurisdiction.prefectures[office].name_ja if office in ctx.jurisdiction else office
    in_file_code = bool(ctx.columns.get("institution_code"))
    for r in rows:
        pref = r.get("prefecture_code")
        if isinstance(pref, str) and pref != office:
            out.append(cell_finding(
                ctx, "error", "wrong_prefecture", r, "prefecture_code",
                f"都道府県コード {pref} が送付元の{pref_name}({office})と異なります。他県の医療機関が含まれていないか確認してください",
                f"prefecture code {pref} differs from the sending office's prefecture {office}",
            ))
            continue
        code = r.get("institution_code")
        if in_file_code and isinstance(code, str) and _TEN.match(code) and code[:2] != office:
            out.append(cell_finding(
                ctx, "error", "wrong_prefecture", r, "institution_code",
                f"医療機関コード {code} の先頭2桁({code[:2]})が送付元の{pref_name}({office})と異なります",
                f"institution code {code} starts with prefecture {code[:2]}, not the sending office's {office}",
            ))
    return out


def roster_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """Every institution must be a 在支診/在支病 in the register (届出受理医療機関名簿)."""
    if ctx.roster is None:
        return [warning(
            "roster_unavailable",
            "届出受理医療機関名簿が取り込まれていないため、在支診・在支病の届出があるかを確認できませんでした",
            "the register (roster) is not loaded, so membership of the institutions was not checked",
        )]
    out: list[Finding] = []
    for r in rows:
        code = r.get("institution_code")
        if isinstance(code, str) and _TEN.match(code) and code not in ctx.roster:
            name = r.get("institution_name") or ""
            out.append(cell_finding(
                ctx, "error", "not_in_roster", r, _code_field(r, ctx),
                f"医療機関コード {code}({name})は届出受理医療機関名簿に在支診・在支病として登録されていません",
                f"institution {code} is not a registered home-care support clinic/hospital in the register",
            ))
    return out


def deaths_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for r in rows:
        total = r.get("deaths_total")
        if not _is_num(total):
            continue
        parts, _ = _sum_parts(r, DEATH_PARTS)
        if parts is not None and parts != total:
            out.append(cell_finding(
                ctx, "error", "death_sum", r, "deaths_total",
                f"内訳(①〜④)の合計({fmt(parts)})と一致しません({fmt(total)})",
                f"does not equal the sum of its breakdown ①–④ ({fmt(parts)} ≠ {fmt(total)})",
            ))
        patients = r.get("total_patients")
        if _is_num(patients) and total > patients:
            out.append(cell_finding(
                ctx, "error", "death_sum", r, "deaths_total",
                f"死亡患者数({fmt(total)})が合計診療患者数({fmt(patients)})を超えています",
                f"deaths ({fmt(total)}) exceed total patients ({fmt(patients)})",
            ))
    return out


def emergency_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for r in rows:
        emergency, calls = r.get("emergency_house_calls"), r.get("house_calls")
        if _is_num(emergency) and _is_num(calls) and emergency > calls:
            out.append(cell_finding(
                ctx, "error", "emergency_exceeds_house_calls", r, "emergency_house_calls",
                f"うち緊急の往診({fmt(emergency)})が往診の回数({fmt(calls)})を超えています",
                f"emergency house calls ({fmt(emergency)}) exceed house calls ({fmt(calls)})",
            ))
    return out


def visits_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for r in rows:
        total = r.get("visits_total")
        if not _is_num(total):
            continue
        parts, _ = _sum_parts(r, VISIT_PARTS)
        if parts is not None and parts != total:
            out.append(cell_finding(
                ctx, "error", "visits_sum", r, "visits_total",
                f"①往診+②訪問診療+③訪問看護の合計({fmt(parts)})と一致しません({fmt(total)})",
                f"does not equal house calls + home visits + nursing visits ({fmt(parts)} ≠ {fmt(total)})",
            ))
    return out


def expected_ratio(home: float, all_: float) -> float:
    """②/①×100, one decimal, rounded half up as Excel's ROUND does."""
    return float((Decimal(home) * 100 / Decimal(all_)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def month_ratio_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """②≤①, and ③ = ②/①×100 to one decimal (±0.1). A ratio typed as a fraction (Excel % format) is accepted
    and normalised to percent in the row's values."""
    out: list[Finding] = []
    for r in rows:
        all_, home, ratio = r.get("month_patients_all"), r.get("month_patients_home"), r.get("month_home_ratio")
        if not (_is_num(all_) and _is_num(home)):
            continue
        if home > all_:
            out.append(cell_finding(
                ctx, "error", "month_ratio", r, "month_patients_home",
                f"②往診又は訪問診療を実施した患者数({fmt(home)})が①の患者数({fmt(all_)})を超えています",
                f"patients with house calls/visits ({fmt(home)}) exceed all patients of the month ({fmt(all_)})",
            ))
            continue
        if not _is_num(ratio):
            continue
        if all_ == 0:
            if ratio != 0:
                out.append(cell_finding(
                    ctx, "error", "month_ratio", r, "month_home_ratio",
                    f"①の患者数が0のため割合は0(または空欄)のはずです({fmt(ratio)})",
                    f"all patients of the month is 0, so the ratio should be 0 or blank (got {fmt(ratio)})",
                ))
            continue
        want = expected_ratio(home, all_)
        if abs(ratio - want) <= RATIO_TOLERANCE + 1e-9:
            continue
        if ratio <= 1 and abs(ratio * 100 - want) <= RATIO_TOLERANCE + 1e-9:
            r.values["month_home_ratio"] = want  # 0.455 typed in a % cell means 45.5 %
            continue
        out.append(cell_finding(
            ctx, "error", "month_ratio", r, "month_home_ratio",
            f"②÷①×100 = {fmt(want)}% と一致しません({fmt(ratio)})",
            f"does not equal ②/①×100 = {fmt(want)} % (got {fmt(ratio)})",
        ))
    return out


def _required_for(ctx: RuleContext) -> dict[str, tuple[str, ...]]:
    cfg = (ctx.template.warnings or {}).get("required_for")
    if isinstance(cfg, Mapping):
        return {cls: tuple(fields) for cls, fields in cfg.items()}
    return {"enhanced_network": NETWORK_REQUIRED}


def network_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """機能強化型(連携型) must give 常勤医師数 and 連携する保険医療機関数 (template.warnings.required_for)."""
    required = _required_for(ctx)
    out: list[Finding] = []
    for r in rows:
        cls = r.get("notification_class")
        for fid in required.get(cls, ()):
            if r.values.get(fid) is None and fid not in r.bad:
                out.append(cell_finding(
                    ctx, "error", "network_fields_required", r, fid,
                    f"{CLASS_JA.get(cls, cls)}の医療機関は記入が必要です(空欄になっています)",
                    f"required for {cls} institutions, but blank",
                ))
    return out


def duplicates_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    first: dict[str, RowView] = {}
    for r in rows:
        code = r.get("institution_code")
        if not isinstance(code, str):
            continue
        if code in first:
            prev = first[code]
            out.append(cell_finding(
                ctx, "error", "duplicate_institution", r, _code_field(r, ctx),
                f"医療機関コード {code} が{prev.row}行目と重複しています。どちらか一方にしてください",
                f"institution {code} is also on row {prev.row}; keep only one",
            ))
        else:
            first[code] = r
    return out


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


def enhanced_threshold_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """機能強化型 below the usual requirements (warning only; thresholds from template.warnings)."""
    table = _threshold_table(ctx.template.warnings)
    out: list[Finding] = []
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
            label = "+".join(ctx.label(p) for p in parts) if len(parts) > 1 else ctx.label(parts[0])
            out.append(cell_finding(
                ctx, "warning", "enhanced_threshold", r, parts[0],
                f"{CLASS_JA.get(cls, cls)}の目安({label} {fmt(minimum)}以上)を下回っています({fmt(actual)})。"
                "届出区分と実績を確認してください",
                f"below the usual requirement for {cls} ({'+'.join(parts)} ≥ {fmt(minimum)}; got {fmt(actual)})",
            ))
    return out


def yoy_rule(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    """×3 or ÷3 against last accepted year's value (warning; template.warnings.yoy_ratio / yoy_fields)."""
    if not ctx.previous:
        return []
    cfg = ctx.template.warnings or {}
    factor = float(cfg.get("yoy_ratio") or cfg.get("yoy_factor") or DEFAULT_YOY_FACTOR)
    fields = tuple(cfg.get("yoy_fields") or ("total_patients",))
    out: list[Finding] = []
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
                out.append(cell_finding(
                    ctx, "warning", "yoy_jump", r, fid,
                    f"前年度({fmt(before)})から大きく変動しています({fmt(now)})。記入誤りがないか確認してください",
                    f"changed sharply from last year ({fmt(before)} → {fmt(now)}); please check",
                ))
    return out


RULES: tuple[Callable[[list[RowView], RuleContext], list[Finding]], ...] = (
    check_digits,
    institution_code_consistency,
    jurisdiction_rule,
    roster_rule,
    deaths_rule,
    emergency_rule,
    visits_rule,
    month_ratio_rule,
    network_rule,
    duplicates_rule,
    enhanced_threshold_rule,
    yoy_rule,
)


def run_rules(rows: list[RowView], ctx: RuleContext) -> list[Finding]:
    out: list[Finding] = []
    for rule in RULES:
        out.extend(rule(rows, ctx))
    return out


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
