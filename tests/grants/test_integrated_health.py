"""後期高齢者医療特別調整交付金（一体的実施） (integrated_health) end to end: real xlsx files built with openpyxl,
checked with ``check_grant_file`` (field rules in pure Python except in the GX test), exact findings for every
rule and computed column, clean files with exact records, and the stages read against each other through
the warehouse. The 交付基準額 are read from the config (placeholders there)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.grants.builders import accept_and_load as load_accepted
from tests.grants.builders import finding_tuples, letter_of, write_titled
from tsunagu.grants.config import load_program
from tsunagu.grants.programs import integrated_health, program_module
from tsunagu.grants.validate import check_grant_file

PROGRAM, PREF, FY = "integrated_health", "19", 2024  # 山梨県
KOIKI, KOIKI_NAME = "39190004", "山梨県後期高齢者医療広域連合"
KOFU, FUJIYOSHIDA, TSURU, YAMANASHI = "192015", "192023", "192040", "192058"
NAMES = {KOFU: "甲府市", FUJIYOSHIDA: "富士吉田市", TSURU: "都留市", YAMANASHI: "山梨市"}
SHEET = "市町村別"
CAPS = load_program(PROGRAM).item_caps(FY)
PLANNING, PER_AREA_HIGH, PER_AREA_POP = CAPS["planning"].amount, CAPS["high_risk"].amount, CAPS["population"].amount

BASE = [("municipality_code", "市町村コード"), ("municipality_name", "市町村名"), ("areas", "日常生活圏域数"),
        ("planning_cost", "企画・調整（医療専門職）人件費"), ("high_risk_cost", "ハイリスクアプローチ事業費"),
        ("population_cost", "ポピュレーションアプローチ事業費")]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "pre_application": [*BASE, ("amount", "申請額")],
    "application": [*BASE, ("amount", "交付申請額")],
    "change": [*BASE, ("amount", "変更後申請額")],
    "actual_report": [*BASE, ("actual", "実績額"), ("decided", "交付決定額")],
}
LABEL = {"amount": "申請額", "actual": "実績額", "decided": "交付決定額", **dict(BASE)}


def yen(v: int) -> str:
    return f"{v:,}"


# ------------------------------------------------------------------------------- building files


def letter(stage: str, field: str) -> str:
    return letter_of(COLUMNS[stage], field)


def row(code: str, areas: int, planning: int, high_risk: int, population: int, *, decided: int | None = None,
        **overrides: Any) -> dict[str, Any]:
    """One correct row (申請額 / 実績額 = the sum of the items), then ``overrides``."""
    total = planning + high_risk + population
    out: dict[str, Any] = {
        "municipality_code": code, "municipality_name": NAMES.get(code, "市町村"), "areas": areas,
        "planning_cost": planning, "high_risk_cost": high_risk, "population_cost": population,
        "amount": total, "actual": total, "decided": decided,
    }
    out.update(overrides)
    return out


def write(path: Path, stage: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Title row, blank row, header on row 3, data from row 4."""
    return write_titled(path, f"令和6年度 一体的実施 特別調整交付金 {stage}（山梨県後期高齢者医療広域連合）", COLUMNS[stage], rows, sheet=SHEET)


def check(path: Path, stage: str, *, warehouse: Any = None, use_gx: bool = False, prefecture_code: str = PREF):
    return check_grant_file(path, program=PROGRAM, stage=stage, prefecture_code=prefecture_code, fiscal_year=FY,
                            warehouse=warehouse, use_gx=use_gx)


def findings(checked) -> list[tuple]:
    return finding_tuples(checked)


def record(stage: str, r: Mapping[str, Any], source_row: int, *, koiki: str = KOIKI) -> dict[str, Any]:
    out: dict[str, Any] = {f: r.get(f) for f, _ in COLUMNS[stage]}
    out.update(filer_code=koiki, item_key=r["municipality_code"], source_sheet=SHEET, source_row=source_row)
    return out


def at(stage: str, n: int, field: str) -> tuple[str, str]:
    """The 「4行目 G列『申請額』: 」 / 「Row 4, column G (amount): 」 prefixes of a finding."""
    col = letter(stage, field)
    return f"{n}行目 {col}列『{LABEL[field]}』: ", f"Row {n}, column {col} ({field}): "


def accept_and_load(warehouse, path: Path, stage: str) -> dict:
    """Check a file with the warehouse, require it accepted, and load it as the stage's current rows."""
    return load_accepted(warehouse, check(path, stage, warehouse=warehouse), path, program=PROGRAM, stage=stage,
                         prefecture_code=PREF, fiscal_year=FY)


# ------------------------------------------------------------------------------- the module


def test_module_declares_the_interface():
    module = program_module(PROGRAM)
    assert module is integrated_health
    assert module.COMPUTED == ("amount", "actual")
    assert module.FILER_FIELD == "municipality_code" and module.ITEM_FIELDS == ("municipality_code",)
    assert [(r.name, r.code, r.severity) for r in module.RULES] == [
        ("municipality_code_valid", "invalid_municipality_code", "error"),
        ("not_a_ward", "not_a_member", "error"),
        ("member_of_koiki", "not_a_member", "error"),
        ("at_least_one_area", "areas_below_one", "error"),
        ("items_within_caps", "item_cap_exceeded", "error"),
        ("pre_application_present", "no_pre_application", "warning"),
        ("application_present", "no_application", "warning"),
        ("decided_is_the_decision", "decided_mismatch", "error"),
        ("actual_within_decision", "exceeds_decided", "error"),
        ("decision_present", "no_decision", "warning"),
    ]
    assert {k: (c.per, c.placeholder) for k, c in CAPS.items()} == {
        "planning": ("municipality", True), "high_risk": ("area", True), "population": ("area", True)}


def test_compute_and_keys():
    class Ctx:
        stage, prefecture_code, insurers = "application", PREF, None

    values = {"planning_cost": 1, "high_risk_cost": 20, "population_cost": 300}
    assert integrated_health.compute(values, Ctx) == {"amount": 321}
    Ctx.stage = "actual_report"
    assert integrated_health.compute(values, Ctx) == {"actual": 321}
    assert integrated_health.compute({**values, "population_cost": None}, Ctx) == {}
    assert integrated_health.item_key({"municipality_code": KOFU}) == KOFU
    assert integrated_health.item_key({"municipality_code": None}) == ""
    assert integrated_health.filer_of({}, Ctx) is None  # no insurer master: no filer


@given(st.lists(st.integers(min_value=0, max_value=10**10), min_size=3, max_size=3))
def test_the_sum_is_the_amount(items):
    class Ctx:
        stage = "change"

    values = dict(zip(("planning_cost", "high_risk_cost", "population_cost"), items, strict=True))
    assert integrated_health.compute(values, Ctx) == {"amount": sum(items)}


# ------------------------------------------------------------------------------- clean files


CLEAN = [
    row(KOFU, 8, PLANNING, PER_AREA_HIGH * 8, PER_AREA_POP * 8),  # every item at its cap
    row(FUJIYOSHIDA, 3, 4_000_000, 2_500_000, 1_234_567),
    row(TSURU, 1, 0, 0, 0),
]


def test_clean_pre_application_is_accepted_with_exact_records(tmp_path):
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", CLEAN), "pre_application")
    assert checked.result.status == "accepted"
    assert findings(checked) == []
    assert checked.result.records == [record("pre_application", r, 4 + i) for i, r in enumerate(CLEAN)]
    assert checked.result.records[1] == {
        "municipality_code": FUJIYOSHIDA, "municipality_name": "富士吉田市", "areas": 3, "planning_cost": 4_000_000,
        "high_risk_cost": 2_500_000, "population_cost": 1_234_567, "amount": 7_734_567, "filer_code": KOIKI,
        "item_key": FUJIYOSHIDA, "source_sheet": SHEET, "source_row": 5,
    }


def test_gx_field_rules(tmp_path):
    rows = [*CLEAN[:2], row(TSURU, -1, 0, 0, 0)]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application", use_gx=True)
    assert checked.result.gx_result is not None
    ja, en = at("pre_application", 6, "areas")
    assert findings(checked) == [
        ("out_of_range", "error", 6, "C", "areas", ja + "値(-1)が範囲外です。0以上で記入してください",
         en + "value -1 is out of range (must be ≥ 0)"),
    ]  # a cell out of range is not reported again by areas_below_one
    clean = check(write(tmp_path / "clean.xlsx", "pre_application", CLEAN), "pre_application", use_gx=True)
    assert clean.result.status == "accepted" and findings(clean) == []
    assert clean.result.records == [record("pre_application", r, 4 + i) for i, r in enumerate(CLEAN)]


# ------------------------------------------------------------------------------- computed columns


def test_amount_is_the_sum_of_the_items(tmp_path):
    rows = [row(KOFU, 2, 1_000_000, 2_000_000, 3_000_000, amount=6_000_001), CLEAN[1]]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application")
    ja, en = at("pre_application", 4, "amount")
    assert findings(checked) == [
        ("computed_mismatch", "error", 4, "G", "amount",
         ja + "6,000,001円と記入されていますが、企画・調整 + ハイリスクアプローチ + ポピュレーションアプローチで計算すると6,000,000円です（差 1円）",
         en + "stated 6,000,001 yen, but planning + high-risk approach + population approach gives 6,000,000 yen "
              "(difference 1)"),
    ]


def test_actual_is_the_sum_of_the_actual_costs(tmp_path):
    rows = [row(KOFU, 2, 1_000_000, 2_000_000, 3_000_000, actual=5_999_000, decided=6_000_000)]
    checked = check(write(tmp_path / "actual.xlsx", "actual_report", rows), "actual_report")
    ja, en = at("actual_report", 4, "actual")
    jd, ed = at("actual_report", 4, "decided")
    assert findings(checked) == [
        ("computed_mismatch", "error", 4, "G", "actual",
         ja + "5,999,000円と記入されていますが、企画・調整 + ハイリスクアプローチ + ポピュレーションアプローチ（実績）で計算すると"
              "6,000,000円です（差 -1,000円）",
         en + "stated 5,999,000 yen, but planning + high-risk approach + population approach (actual costs) gives "
              "6,000,000 yen (difference -1,000)"),
        ("no_decision", "warning", 4, "H", "decided",
         jd + "192015（甲府市）について、2024年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
         ed + "no accepted application (or change) row for 192015 in 2024: the decided amount was not checked"),
    ]


# ------------------------------------------------------------------------------- rules


def test_every_municipality_is_a_member(tmp_path):
    rows = [CLEAN[0],
            row("131016", 1, 0, 0, 0, municipality_name="千代田区"),  # 東京都: another 広域連合
            row("199991", 1, 0, 0, 0),  # a valid check digit, but no such municipality
            row("192016", 1, 0, 0, 0),  # 甲府市 with a wrong check digit
            row("111015", 1, 0, 0, 0, municipality_name="さいたま市西区")]  # a ward of another prefecture's city
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application")
    prefix = [at("pre_application", n, "municipality_code") for n in (5, 6, 7, 8)]
    assert findings(checked) == [
        ("not_a_member", "error", 5, "A", "municipality_code",
         prefix[0][0] + "131016（東京都千代田区）は山梨県後期高齢者医療広域連合（39190004）の構成市町村ではありません",
         prefix[0][1] + "131016 is not a member municipality of 39190004 (the later-elderly 広域連合 of prefecture 19)"),
        ("not_a_member", "error", 6, "A", "municipality_code",
         prefix[1][0] + "199991（市町村一覧にないコード）は山梨県後期高齢者医療広域連合（39190004）の構成市町村ではありません",
         prefix[1][1] + "199991 is not a member municipality of 39190004 (the later-elderly 広域連合 of prefecture 19)"),
        ("invalid_municipality_code", "error", 7, "A", "municipality_code",
         prefix[2][0] + "市町村コード 192016 の検査数字（末尾の1桁）が正しくありません。6桁の全国地方公共団体コードを記入してください",
         prefix[2][1] + "the check digit (last digit) of municipality code 192016 is wrong (expected the 6-digit "
                        "local government code)"),
        ("not_a_member", "error", 8, "A", "municipality_code",
         prefix[3][0] + "111015（埼玉県さいたま市 西区）は山梨県後期高齢者医療広域連合（39190004）の構成市町村ではありません",
         prefix[3][1] + "111015 is not a member municipality of 39190004 (the later-elderly 広域連合 of prefecture 19)"),
    ]
    assert [r["filer_code"] for r in checked.result.records] == [KOIKI] * 5


def test_a_designated_city_ward_is_named_with_its_city(tmp_path):
    """埼玉県: さいたま市 西区 (111015) is not a member; the city さいたま市 (111007) is."""
    rows = [row("111007", 10, 0, 0, 0, municipality_name="さいたま市"),
            row("111015", 1, 0, 0, 0, municipality_name="さいたま市西区")]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application", prefecture_code="11")
    ja, en = at("pre_application", 5, "municipality_code")
    assert findings(checked) == [
        ("not_a_member", "error", 5, "A", "municipality_code",
         ja + "111015 は政令指定都市の区（さいたま市 西区）のコードです。埼玉県後期高齢者医療広域連合の構成市町村は市です: "
              "さいたま市のコード 111007 を記入してください",
         en + "111015 is the code of a ward of a designated city; the member of 39110002 is the city: "
              "use the city's code 111007"),
    ]
    assert [r["filer_code"] for r in checked.result.records] == ["39110002"] * 2


def test_at_least_one_area(tmp_path):
    rows = [row(KOFU, 0, 1_000_000, 0, 0)]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application")
    ja, en = at("pre_application", 4, "areas")
    assert findings(checked) == [
        ("areas_below_one", "error", 4, "C", "areas", ja + "日常生活圏域数は1以上を記入してください（0）",
         en + "the number of daily-life areas must be at least 1 (got 0)"),
    ]


def test_each_item_within_its_cap(tmp_path):
    rows = [row(KOFU, 2, PLANNING + 1, PER_AREA_HIGH * 2 + 1, PER_AREA_POP * 2),
            row(FUJIYOSHIDA, 3, PLANNING, PER_AREA_HIGH * 3, PER_AREA_POP * 3 + 1000)]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application")
    p4, h4, o5 = at("pre_application", 4, "planning_cost"), at("pre_application", 4, "high_risk_cost"), \
        at("pre_application", 5, "population_cost")
    assert findings(checked) == [
        ("item_cap_exceeded", "error", 4, "D", "planning_cost",
         p4[0] + f"企画・調整（医療専門職）人件費 {yen(PLANNING + 1)}円が交付基準額 {yen(PLANNING)}円"
                 f"（1市町村あたり {yen(PLANNING)}円）を超えています",
         p4[1] + f"planning and coordination staff cost {yen(PLANNING + 1)} yen exceeds the standard amount "
                 f"{yen(PLANNING)} yen ({yen(PLANNING)} yen per municipality)"),
        ("item_cap_exceeded", "error", 4, "E", "high_risk_cost",
         h4[0] + f"ハイリスクアプローチ事業費 {yen(PER_AREA_HIGH * 2 + 1)}円が交付基準額 {yen(PER_AREA_HIGH * 2)}円"
                 f"（1圏域あたり {yen(PER_AREA_HIGH)}円 × 日常生活圏域数 2）を超えています",
         h4[1] + f"high-risk approach cost {yen(PER_AREA_HIGH * 2 + 1)} yen exceeds the standard amount "
                 f"{yen(PER_AREA_HIGH * 2)} yen ({yen(PER_AREA_HIGH)} yen per area × 2 areas)"),
        ("item_cap_exceeded", "error", 5, "F", "population_cost",
         o5[0] + f"ポピュレーションアプローチ事業費 {yen(PER_AREA_POP * 3 + 1000)}円が交付基準額 {yen(PER_AREA_POP * 3)}円"
                 f"（1圏域あたり {yen(PER_AREA_POP)}円 × 日常生活圏域数 3）を超えています",
         o5[1] + f"population approach cost {yen(PER_AREA_POP * 3 + 1000)} yen exceeds the standard amount "
                 f"{yen(PER_AREA_POP * 3)} yen ({yen(PER_AREA_POP)} yen per area × 3 areas)"),
    ]


def test_one_row_per_municipality(tmp_path):
    rows = [CLEAN[0], CLEAN[1], CLEAN[0]]
    checked = check(write(tmp_path / "pre.xlsx", "pre_application", rows), "pre_application")
    ja, en = at("pre_application", 6, "municipality_code")
    assert findings(checked) == [
        ("duplicate_row", "error", 6, "A", "municipality_code",
         ja + "39190004・192015 の行が4行目と重複しています。1行にまとめてください",
         en + "39190004 / 192015 is also on row 4; give one row per filer and item"),
    ]


# ------------------------------------------------------------------------------- between stages


def test_application_and_change_without_their_earlier_stage_warn(tmp_path):
    checked = check(write(tmp_path / "app.xlsx", "application", CLEAN[:1]), "application")
    ja, en = at("application", 4, "amount")
    ja = ja.replace("『交付申請額』", "『申請額』")
    assert checked.result.status == "accepted"
    assert findings(checked) == [
        ("no_pre_application", "warning", 4, "G", "amount", ja + "192015（甲府市）について、2024年度の事前申請の受付がありません",
         en + "no accepted pre-application row for 192015 in 2024"),
    ]
    checked = check(write(tmp_path / "change.xlsx", "change", CLEAN[:1]), "change")
    assert findings(checked) == [
        ("no_application", "warning", 4, "G", "amount", ja + "192015（甲府市）について、2024年度の交付申請の受付がありません",
         en + "no accepted application row for 192015 in 2024"),
    ]


def test_application_and_change_after_their_earlier_stage(tmp_path, wh):
    accept_and_load(wh, write(tmp_path / "pre.xlsx", "pre_application", CLEAN), "pre_application")
    checked = check(write(tmp_path / "app.xlsx", "application", CLEAN), "application", warehouse=wh)
    assert checked.result.status == "accepted" and findings(checked) == []
    assert checked.result.records == [record("application", r, 4 + i) for i, r in enumerate(CLEAN)]
    accept_and_load(wh, write(tmp_path / "app.xlsx", "application", CLEAN), "application")
    checked = check(write(tmp_path / "change.xlsx", "change", CLEAN[1:]), "change", warehouse=wh)
    assert checked.result.status == "accepted" and findings(checked) == []


def test_actual_report_against_the_stated_decision(tmp_path):
    """Without accepted earlier stages the stated 交付決定額 is the bound (and a warning says it was not checked)."""
    rows = [row(KOFU, 2, 1_000_000, 2_000_000, 3_000_000, decided=5_999_999)]
    checked = check(write(tmp_path / "actual.xlsx", "actual_report", rows), "actual_report")
    ja, en = at("actual_report", 4, "actual")
    jd, ed = at("actual_report", 4, "decided")
    assert findings(checked) == [
        ("exceeds_decided", "error", 4, "G", "actual", ja + "実績額 6,000,000円が交付決定額 5,999,999円（記入された交付決定額）を超えています",
         en + "actual 6,000,000 yen exceeds the decided amount 5,999,999 yen (as stated)"),
        ("no_decision", "warning", 4, "H", "decided",
         jd + "192015（甲府市）について、2024年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
         ed + "no accepted application (or change) row for 192015 in 2024: the decided amount was not checked"),
    ]


def test_actual_report_against_the_accepted_application_and_change(tmp_path, wh):
    application = [row(KOFU, 2, 1_000_000, 2_000_000, 3_000_000), row(FUJIYOSHIDA, 1, 1_000_000, 0, 0),
                   row(TSURU, 1, 500_000, 0, 0)]
    applied = accept_and_load(wh, write(tmp_path / "app.xlsx", "application", application), "application")
    assert applied[(KOIKI, KOFU)] == {"amount": 6_000_000, "areas": 2, "high_risk_cost": 2_000_000,
                                      "planning_cost": 1_000_000, "population_cost": 3_000_000}
    # 都留市 changes its plan: its decision is the change's amount from now on
    accept_and_load(wh, write(tmp_path / "change.xlsx", "change", [row(TSURU, 1, 800_000, 0, 0)]), "change")
    actual = [
        row(KOFU, 2, 1_000_000, 2_000_000, 3_000_000, decided=6_000_000),  # = the application: fine
        row(FUJIYOSHIDA, 1, 1_000_001, 0, 0, decided=1_000_000),  # 実績 above the decision
        row(TSURU, 1, 600_000, 0, 0, decided=500_000),  # states the application's amount, not the change's
        row(YAMANASHI, 1, 1, 0, 0, decided=1),  # never applied for
    ]
    checked = check(write(tmp_path / "actual.xlsx", "actual_report", actual), "actual_report", warehouse=wh)
    ja5, en5 = at("actual_report", 5, "actual")
    jd6, ed6 = at("actual_report", 6, "decided")
    jd7, ed7 = at("actual_report", 7, "decided")
    assert findings(checked) == [
        ("exceeds_decided", "error", 5, "G", "actual",
         ja5 + "実績額 1,000,001円が交付決定額 1,000,000円（受け付けた交付申請の申請額）を超えています",
         en5 + "actual 1,000,001 yen exceeds the decided amount 1,000,000 yen (the accepted application amount)"),
        ("decided_mismatch", "error", 6, "H", "decided",
         jd6 + "交付決定額 500,000円が受け付けた変更交付申請の申請額 800,000円と一致しません",
         ed6 + "decided 500,000 yen does not equal the accepted change amount (800,000 yen)"),
        ("no_decision", "warning", 7, "H", "decided",
         jd7 + "192058（山梨市）について、2024年度の交付申請（変更交付申請）の受付がないため、交付決定額を確認できませんでした",
         ed7 + "no accepted application (or change) row for 192058 in 2024: the decided amount was not checked"),
    ]
    # the accepted change is the bound, whatever the file states
    over = [row(TSURU, 1, 800_001, 0, 0, decided=900_000)]
    checked = check(write(tmp_path / "over.xlsx", "actual_report", over), "actual_report", warehouse=wh)
    assert [(f.code, f.field, f.message_ja.split(": ", 1)[1]) for f in checked.result.findings] == [
        ("exceeds_decided", "actual", "実績額 800,001円が交付決定額 800,000円（受け付けた変更交付申請の申請額）を超えています"),
        ("decided_mismatch", "decided", "交付決定額 900,000円が受け付けた変更交付申請の申請額 800,000円と一致しません"),
    ]


def test_every_stage_in_turn_through_the_warehouse(tmp_path, warehouse):
    """事前申請 → 交付申請 → 変更交付申請 → 実績報告 on SQLite and real PostgreSQL: clean files accepted."""
    accept_and_load(warehouse, write(tmp_path / "p.xlsx", "pre_application", CLEAN), "pre_application")
    accept_and_load(warehouse, write(tmp_path / "a.xlsx", "application", CLEAN), "application")
    changed = row(TSURU, 1, 100_000, 0, 0)
    decided = accept_and_load(warehouse, write(tmp_path / "c.xlsx", "change", [changed]), "change")
    assert decided == {(KOIKI, TSURU): {"amount": 100_000, "areas": 1, "high_risk_cost": 0, "planning_cost": 100_000,
                                        "population_cost": 0}}
    actual = [row(KOFU, 8, PLANNING, PER_AREA_HIGH, 0, decided=CLEAN[0]["amount"]),
              row(FUJIYOSHIDA, 3, 4_000_000, 2_500_000, 1_234_567, decided=7_734_567),
              row(TSURU, 1, 99_999, 0, 0, decided=100_000)]
    checked = check(write(tmp_path / "r.xlsx", "actual_report", actual), "actual_report", warehouse=warehouse)
    assert checked.result.status == "accepted" and findings(checked) == []
    assert checked.result.records == [record("actual_report", r, 4 + i) for i, r in enumerate(actual)]
