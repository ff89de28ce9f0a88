"""Factories for validation tests (imported relatively: `from .factory import …`): a 様式11の3 template, parsed tables and rosters built by hand."""

from __future__ import annotations

from typing import Any

from openpyxl.utils import column_index_from_string

from tsunagu.codes import luhn_check_digit
from tsunagu.findings import column_letter
from tsunagu.model import FieldSpec, FormTemplate, ParsedRow, ParsedTable, RosterEntry

PREF = "11"  # 埼玉: six_digit check-digit rule
SHEET = "報告"
HEADER_ROW = 4
FIRST_ROW = 5

WARNINGS = {
    "minimums": {
        "enhanced_single": {"fulltime_doctors": 3, "emergency_house_calls": 10, "deaths_home": 4},
        "enhanced_network": {"emergency_house_calls": 4, "deaths_home": 2},
    },
    "required_for": {"enhanced_network": ["fulltime_doctors", "partner_institutions"]},
    "yoy_ratio": 3,
    "yoy_fields": ["total_patients"],
}
CLASSES = {"支援診1": "enhanced_single", "支援診2": "enhanced_network", "支援診3": "standard",
           "enhanced_single": "enhanced_single", "enhanced_network": "enhanced_network", "standard": "standard"}

# (id, label_ja, type, extra)
_FIELDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("fiscal_year", "報告年度", "int", {"derived": True, "min": 2000, "max": 2100}),
    ("report_date", "報告基準日", "date", {"derived": True}),
    ("prefecture_code", "都道府県コード", "code", {"digits": 2, "derived": True}),
    ("institution_number", "医療機関番号", "code", {"digits": 7, "required": True, "not_null": True}),
    ("institution_code", "医療機関コード", "code", {"digits": 10, "derived": True}),
    ("institution_name", "医療機関名称", "text", {"required": True, "not_null": True}),
    ("address", "所在地", "text", {}),
    ("municipality_code", "市町村コード", "code", {"digits": 6}),
    ("facility_type", "区分", "enum", {"derived": True, "enum": {"在支診": "clinic", "在支病": "hospital",
                                                                  "clinic": "clinic", "hospital": "hospital"}}),
    ("notification_class", "受理記号", "enum", {"derived": True, "enum": CLASSES}),
    ("avg_care_months", "平均診療期間（月）", "decimal", {"places": 1, "min": 0, "required": True}),
    ("total_patients", "合計診療患者数", "int", {"min": 0, "required": True}),
    ("deaths_total", "死亡患者数", "int", {"min": 0, "required": True}),
    ("deaths_home", "① 医療機関以外・自宅", "int", {"min": 0, "required": True}),
    ("deaths_other_residence", "② 医療機関以外・自宅以外", "int", {"min": 0, "required": True}),
    ("deaths_partner_hospital", "③ 医療機関・連携医療機関", "int", {"min": 0, "required": True}),
    ("deaths_other_hospital", "④ 医療機関・連携医療機関以外", "int", {"min": 0, "required": True}),
    ("severe_children", "超重症児・準超重症児の患者数", "int", {"min": 0, "required": True}),
    ("visits_total", "訪問診療等の実施回数 合計", "int", {"min": 0, "required": True}),
    ("house_calls", "① 往診", "int", {"min": 0, "required": True}),
    ("emergency_house_calls", "うち緊急の往診", "int", {"min": 0, "required": True}),
    ("home_visits", "② 訪問診療", "int", {"min": 0, "required": True}),
    ("nursing_visits", "③ 訪問看護", "int", {"min": 0, "required": True}),
    ("month_patients_all", "直近1月 ① 初診・再診・往診・訪問診療を実施した患者数", "int", {"min": 0, "required": True}),
    ("month_patients_home", "直近1月 ② 往診又は訪問診療を実施した患者数", "int", {"min": 0, "required": True}),
    ("month_home_ratio", "③ ②／① (%)", "decimal", {"places": 1, "min": 0, "max": 100, "required": True}),
    ("fulltime_doctors", "在宅医療を担当する常勤の医師数", "int", {"min": 0}),
    ("partner_institutions", "連携する保険医療機関数", "int", {"min": 0}),
]


def make_template(**overrides: Any) -> FormTemplate:
    fields = tuple(FieldSpec(id=fid, label_ja=label, labels=(label,), type=ftype, **extra)
                   for fid, label, ftype, extra in _FIELDS)
    kwargs: dict[str, Any] = dict(kind="home_care_report", version="2024-08", title_ja="様式11の3",
                                  valid_from_fiscal_year=2024, report_month=8, fields=fields, warnings=WARNINGS)
    kwargs.update(overrides)
    return FormTemplate(**kwargs)


TEMPLATE = make_template()
# Columns an office file has (the parser derives the rest): A=prefecture_code … Y=partner_institutions
FILE_FIELDS = [f[0] for f in _FIELDS if f[0] not in ("fiscal_year", "report_date", "institution_code")]
COLUMNS = {fid: column_letter(i) for i, fid in enumerate(FILE_FIELDS)}


def number_for(seq: int, pref: str = PREF) -> str:
    """A valid 医療機関番号 (six_digit rule for 11/12/13/14, prefixed otherwise)."""
    six = f"01{seq:04d}"
    payload = six if pref in ("11", "12", "13", "14") else pref + "1" + six
    return six + str(luhn_check_digit(payload))


def good_values(seq: int = 1, pref: str = PREF, **changes: Any) -> dict[str, Any]:
    """A row that passes every rule (standard class: no threshold warnings)."""
    values = {
        "prefecture_code": pref,
        "institution_number": number_for(seq, pref),
        "institution_name": f"つなぐ診療所{seq}",
        "address": "さいたま市浦和区高砂3-15-1",
        "municipality_code": "111074",  # さいたま市浦和区 (valid check digit)
        "facility_type": "clinic",
        "notification_class": "standard",
        "avg_care_months": 12.5,
        "total_patients": 40,
        "deaths_total": 6,
        "deaths_home": 3,
        "deaths_other_residence": 1,
        "deaths_partner_hospital": 1,
        "deaths_other_hospital": 1,
        "severe_children": 0,
        "visits_total": 100,
        "house_calls": 20,
        "emergency_house_calls": 5,
        "home_visits": 70,
        "nursing_visits": 10,
        "month_patients_all": 60,
        "month_patients_home": 25,
        "month_home_ratio": 41.7,
        "fulltime_doctors": 1,
        "partner_institutions": None,
    }
    values.update(changes)
    return values


def make_table(
    rows: list[dict[str, Any]], *, template: FormTemplate = TEMPLATE, columns: dict[str, str] | None = None,
    findings: list | None = None, first_row: int = FIRST_ROW, sheet: str = SHEET, source_format: str = "xlsx",
) -> ParsedTable:
    columns = dict(COLUMNS if columns is None else columns)
    parsed = []
    for i, values in enumerate(rows):
        full = {fid: values.get(fid) for fid in template.field_ids}
        parsed.append(ParsedRow(sheet=sheet, row=first_row + i, values=full,
                                raw={fid: values.get(fid) for fid in columns}, columns=dict(columns)))
    width = max((column_index_from_string(c) for c in columns.values()), default=1)
    grid: list[list[Any]] = [["様式11の3 集計表"] + [None] * (width - 1)]
    grid += [[None] * width for _ in range(first_row - 3)]
    header = [None] * width
    for fid, col in columns.items():
        header[column_index_from_string(col) - 1] = template.field(fid).label_ja
    grid.append(header)
    for values in rows:
        line = [None] * width
        for fid, col in columns.items():
            line[column_index_from_string(col) - 1] = values.get(fid)
        grid.append(line)
    assert len(grid) == first_row - 1 + len(rows)
    return ParsedTable(kind="home_care_report", template=template, source_format=source_format, sheet=sheet,
                       header_rows=(first_row - 1,), columns=columns, rows=parsed, findings=list(findings or []),
                       grid=grid)


def roster_for(rows: list[dict[str, Any]], pref: str = PREF, **entry: Any) -> dict[str, RosterEntry]:
    out = {}
    for values in rows:
        number = values["institution_number"]
        code = f"{pref}1{number}"
        out[code] = RosterEntry(
            institution_code=code, institution_number=number, prefecture_code=pref,
            institution_name=values.get("institution_name") or "", facility_type=entry.get("facility_type", "clinic"),
            notification_class=entry.get("notification_class", "standard"),
            notification_symbol=entry.get("notification_symbol", "支援診３"),
        )
    return out


def codes_of(findings) -> list[tuple]:
    """(code, severity, row, column, field) of each finding: the shape the tests compare exactly."""
    return [(f.code, f.severity, f.row, f.column, f.field) for f in findings]
