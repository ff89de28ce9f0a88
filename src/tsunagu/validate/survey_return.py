"""Validation of a survey return (地域支援事業 実施状況) against the municipality master.

Every municipality of the submitting prefecture must appear exactly once (Tokyo's special wards
included, designated-city wards never: the city answers), with a valid code of that prefecture,
and each 事業's values must agree (a count or a start date only when the 事業 is running).

Each row's 市町村コード is screened once (:func:`screen_rows`); the checks are the small named rules
of :data:`RULES` (:mod:`tsunagu.validate.registry`), each with its code and messages, written
「H列 12行目: …」 as the intake layer writes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tsunagu.codes import municipality_code_is_valid
from tsunagu.findings import Finding, sort_key, status_of
from tsunagu.intake.survey_return import Program, programs
from tsunagu.jurisdiction import Prefecture, load_jurisdiction
from tsunagu.model import FormTemplate, ParsedRow, ParsedTable, ValidationResult
from tsunagu.municipalities import Municipality, MunicipalityMaster, load_municipalities
from tsunagu.normalize import label_key
from tsunagu.validate.registry import Hit, RuleSet, prefix_cell

MAX_LISTED = 80  # municipalities named in one missing_municipalities message

# What a row's 市町村コード turned out to be; only "ok" rows are answers (and records).
BLANK, CHECK_DIGIT, UNKNOWN, WARD, OTHER_PREFECTURE, DUPLICATE, OK = (
    "blank", "check_digit", "unknown", "ward", "other_prefecture", "duplicate", "ok")


@dataclass
class SurveyRow:
    """One municipality row: its values, where they are, and what its 市町村コード is."""

    parsed: ParsedRow
    sheet: str
    columns: dict[str, str]  # field id -> column letter
    status: str
    municipality: Municipality | None = None
    first_row: int | None = None  # the row the municipality first appeared on (for a duplicate)

    @property
    def row(self) -> int:
        return self.parsed.row

    @property
    def values(self) -> dict[str, Any]:
        return self.parsed.values

    @property
    def code(self) -> str | None:
        return self.values.get("municipality_code")

    def get(self, field_id: str) -> Any:
        return self.values.get(field_id)


@dataclass
class SurveyContext:
    template: FormTemplate
    prefecture_code: str  # the submitting prefecture
    prefecture: Prefecture
    fiscal_year: int
    master: MunicipalityMaster
    sheet: str
    columns: dict[str, str]
    programs: list[Program]
    bad_cells: set[tuple[int | None, str | None]] = field(default_factory=set)  # (row, field) already reported

    @property
    def fiscal_year_end(self) -> dt.date:
        return dt.date(self.fiscal_year + 1, 3, 31)

    def label(self, field_id: str) -> str:
        try:
            return self.template.field(field_id).label_ja
        except KeyError:
            return field_id


def screen_rows(table: ParsedTable, ctx: SurveyContext) -> list[SurveyRow]:
    """Every row with the status of its 市町村コード (the first problem found, in this order)."""
    seen: dict[str, int] = {}
    out: list[SurveyRow] = []
    for r in table.rows:
        code = r.values.get("municipality_code")
        m = ctx.master.get(code) if code is not None else None
        first = None
        if code is None:
            status = BLANK
        elif not municipality_code_is_valid(code):
            status = CHECK_DIGIT
        elif m is None:
            status = UNKNOWN
        elif m.is_ward:
            status = WARD
        elif m.prefecture_code != ctx.prefecture_code:
            status = OTHER_PREFECTURE
        elif code in seen:
            status, first = DUPLICATE, seen[code]
        else:
            status = OK
            seen[code] = r.row
        out.append(SurveyRow(r, ctx.sheet, ctx.columns, status, m, first))
    return out


# ----------------------------------------------------------------------------------------- rules

RULES = RuleSet("survey_return", prefix=prefix_cell)
Hits = Iterator[Hit]


def _with(rows: list[SurveyRow], status: str) -> Iterator[SurveyRow]:
    return (r for r in rows if r.status == status)


@RULES.rule("no_rows",
            ja="シート『{sheet_name}』に市町村の行がありません。見出しの下に記入してください",
            en="sheet '{sheet_name}' has no municipality rows under the header")
def has_rows(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    if not rows:
        yield Hit(None, sheet=ctx.sheet, sheet_name=ctx.sheet)


@RULES.rule("missing_value", ja="『市町村コード』が記入されていません", en="the municipality code is blank")
def municipality_code_given(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    """Every row names its municipality (a cell that could not be read is already reported)."""
    for r in _with(rows, BLANK):
        if (r.row, "municipality_code") not in ctx.bad_cells:
            yield Hit(r, "municipality_code")


@RULES.rule("invalid_municipality_code",
            ja="市町村コード『{code}』の検査数字が正しくありません", en="municipality code {code} fails its check digit")
def municipality_code_check_digit(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r in _with(rows, CHECK_DIGIT):
        yield Hit(r, "municipality_code", code=r.code)


@RULES.rule("unknown_municipality",
            ja="市町村コード『{code}』は市町村一覧にありません",
            en="municipality code {code} is not in the municipality master")
def municipality_in_master(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r in _with(rows, UNKNOWN):
        yield Hit(r, "municipality_code", code=r.code)


@RULES.rule("designated_city_ward",
            ja="『{name}』（{code}）は政令指定都市の区です。{city_ja}として1行で回答してください",
            en="{code} is a ward of a designated city; answer once for the city{city_en}")
def not_a_designated_city_ward(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    """A designated city answers once for all its wards."""
    for r in _with(rows, WARD):
        m = r.municipality
        city = ctx.master.get(m.city_code or "")
        yield Hit(r, "municipality_code", code=r.code, name=m.name,
                  city_ja=f"{city.name}（{city.code}）" if city else "市", city_en=f" ({city.code})" if city else "")


@RULES.rule("municipality_other_prefecture",
            ja="『{name}』（{code}）は{other_ja}の市町村です（{pref_ja}の調査票には含めません）",
            en="{code} ({name}) is in prefecture {other}, not {pref}")
def municipality_of_the_prefecture(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r in _with(rows, OTHER_PREFECTURE):
        m = r.municipality
        yield Hit(r, "municipality_code", code=r.code, name=m.name, other=m.prefecture_code,
                  other_ja=m.prefecture_name, pref=ctx.prefecture_code, pref_ja=ctx.prefecture.name_ja)


@RULES.rule("duplicate_municipality",
            ja="『{name}』（{code}）が{first}行目と重複しています",
            en="municipality {code} already appears in row {first}")
def municipality_once(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r in _with(rows, DUPLICATE):
        yield Hit(r, "municipality_code", code=r.code, name=r.municipality.name, first=r.first_row)


@RULES.rule("municipality_name_mismatch", severity="warning",
            ja="市町村名『{name}』がコード{code}の『{master}』と一致しません",
            en="name '{name}' does not match {code} ({master})")
def municipality_name_matches_code(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r in _with(rows, OK):
        name = r.get("municipality_name")
        if name and label_key(name) != label_key(r.municipality.name):
            yield Hit(r, "municipality_name", name=name, code=r.code, master=r.municipality.name)


@RULES.rule("missing_value",
            ja="『{program_ja}』の実施状況が記入されていません（実施／未実施）",
            en="the status of '{program}' is blank (実施 or 未実施)")
def program_status_given(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    """Each 事業 of an answering municipality says 実施 or 未実施 (when the file has the column)."""
    for r in _with(rows, OK):
        for p in ctx.programs:
            if r.get(p.implemented) is None and (r.row, p.implemented) not in ctx.bad_cells and p.implemented in r.columns:
                yield Hit(r, p.implemented, program=p.id, program_ja=p.name_ja)


def _answers(rows: list[SurveyRow], ctx: SurveyContext) -> Iterator[tuple[SurveyRow, Program, Any, Any, Any]]:
    """(row, 事業, implemented, started, count) of each 事業 an answering municipality gave a status for."""
    for r in _with(rows, OK):
        for p in ctx.programs:
            implemented = r.get(p.implemented)
            if implemented is not None:
                yield r, p, implemented, r.get(p.started), r.get(p.count)


@RULES.rule("negative_count",
            ja="『{program_ja}』の回数・件数『{count}』が負の値です", en="the count of '{program}' is negative ({count})")
def count_not_negative(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r, p, _, _, count in _answers(rows, ctx):
        if count is not None and count < 0:
            yield Hit(r, p.count, program=p.id, program_ja=p.name_ja, count=count)


@RULES.rule("count_without_implementation",
            ja="『{program_ja}』が未実施なのに回数・件数（{count}）が記入されています",
            en="'{program}' is not running but has a count ({count})")
def count_only_when_running(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r, p, implemented, _, count in _answers(rows, ctx):
        if not implemented and count:
            yield Hit(r, p.count, program=p.id, program_ja=p.name_ja, count=count)


@RULES.rule("start_without_implementation", severity="warning",
            ja="『{program_ja}』が未実施なのに開始年月が記入されています",
            en="'{program}' is not running but has a start month")
def start_only_when_running(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    for r, p, implemented, started, _ in _answers(rows, ctx):
        if not implemented and started is not None:
            yield Hit(r, p.started, program=p.id, program_ja=p.name_ja)


@RULES.rule("start_after_fiscal_year",
            ja="『{program_ja}』の開始年月（{started.year}年{started.month}月）が{fy}年度より後です",
            en="the start month of '{program}' ({started:%Y-%m}) is after fiscal year {fy}")
def start_within_fiscal_year(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    """A 事業 cannot have started after the fiscal year surveyed."""
    for r, p, _, started, _ in _answers(rows, ctx):
        if started is not None and started > ctx.fiscal_year_end:
            yield Hit(r, p.started, program=p.id, program_ja=p.name_ja, started=started, fy=ctx.fiscal_year)


@RULES.rule("missing_municipalities",
            ja="{pref_ja}の市町村のうち{count}団体の行がありません: {names}{more}",
            en="{count} municipalities of prefecture {pref} are missing: {codes}")
def every_municipality_answers(rows: list[SurveyRow], ctx: SurveyContext) -> Hits:
    """Every municipality of the prefecture has a row (a finding on the whole sheet, naming them)."""
    if not rows:
        return
    answered = {r.code for r in _with(rows, OK)}
    missing = [m for m in ctx.master.of_prefecture(ctx.prefecture_code) if m.code not in answered]
    if missing:
        listed = missing[:MAX_LISTED]
        yield Hit(None, "municipality_code", sheet=ctx.sheet, pref_ja=ctx.prefecture.name_ja, pref=ctx.prefecture_code,
                  count=len(missing), names="、".join(f"{m.name}（{m.code}）" for m in listed),
                  more=f" ほか{len(missing) - MAX_LISTED}団体" if len(missing) > MAX_LISTED else "",
                  codes=", ".join(m.code for m in listed))


# ----------------------------------------------------------------------------------------- validate


def validate_survey_return(
    table: ParsedTable,
    *,
    prefecture_code: str,
    fiscal_year: int,
    master: MunicipalityMaster | None = None,
) -> ValidationResult:
    """Check a parsed survey return from ``prefecture_code`` for ``fiscal_year``. Records are long: one per
    municipality and 事業 (survey, fiscal_year, prefecture_code, municipality_code, program, implemented,
    started, count, lineage)."""
    ctx = SurveyContext(
        template=table.template, prefecture_code=prefecture_code,
        prefecture=load_jurisdiction().get(prefecture_code), fiscal_year=fiscal_year,
        master=master or load_municipalities(), sheet=table.sheet, columns=table.columns,
        programs=programs(table.template),
        bad_cells={(f.row, f.field) for f in table.findings if f.row is not None},
    )
    rows = screen_rows(table, ctx)
    findings: list[Finding] = [*table.findings, *RULES.run(rows, ctx)]
    findings.sort(key=sort_key)
    records = [
        {
            "fiscal_year": fiscal_year, "prefecture_code": prefecture_code, "municipality_code": r.code,
            "municipality_name": r.municipality.name, "program": p.id, "implemented": bool(implemented),
            "started": started if implemented else None, "count": count if implemented else (count or None),
            "source_sheet": r.parsed.sheet, "source_row": r.row,
        }
        for r, p, implemented, started, count in _answers(rows, ctx)
    ]
    return ValidationResult(status=status_of(findings), findings=findings, records=records,
                            rows=sum(1 for r in rows if r.status == OK))
