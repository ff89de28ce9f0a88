"""調査票 (survey return), e.g. 地域支援事業 実施状況: one row per municipality, xlsx or CSV -> ParsedTable.

The header is found by its labels (tsunagu.intake.header), one or two rows (事業 over 実施状況 /
開始年月 / 実施回数). Cells that cannot be read become ``invalid_value`` findings naming the cell;
the checks against the municipality master belong to tsunagu.validate.survey_return.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsunagu import normalize
from tsunagu.findings import UnreadableFile
from tsunagu.intake.header import Header, best_header
from tsunagu.intake.home_care_report import converter
from tsunagu.intake.reader import Sheet, read_sheets
from tsunagu.intake.request_form import template_extras, to_bool
from tsunagu.intake.rows import read_rows
from tsunagu.intake.templates import load_template
from tsunagu.model import FieldSpec, FormTemplate, ParsedTable

KIND = "survey_return"

_YM_WAREKI = re.compile(
    r"^(?P<era>令和|平成|昭和|[RHS])(?P<year>元|\d{1,2})[年./-](?P<month>\d{1,2})(?:[月./-](?P<day>\d{1,2})日?|月)?$",
    re.IGNORECASE,
)
_YM_WEST = re.compile(r"^(?P<year>\d{4})[年./-](?P<month>\d{1,2})(?:[月./-](?P<day>\d{1,2})日?|月)?$")
_ERA = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988, "昭和": 1925, "S": 1925}


@dataclass(frozen=True)
class Program:
    id: str
    name_ja: str
    full_name_ja: str
    implemented: str  # field ids
    started: str
    count: str


def load_survey_template(version: str | None = None, fiscal_year: int | None = None) -> FormTemplate:
    return load_template(KIND, version=version, fiscal_year=fiscal_year)


def programs(template: FormTemplate) -> list[Program]:
    """The 事業 of the survey, in template order, with their three field ids."""
    extras = template_extras(template)
    options = extras["field_options"]
    out = []
    for p in extras.get("programs") or ():
        ids = {o["measure"]: fid for fid, o in options.items() if o.get("program") == p["id"]}
        out.append(Program(p["id"], p["name_ja"], p.get("full_name_ja", p["name_ja"]),
                           ids["implemented"], ids["started"], ids["count"]))
    return out


def to_year_month(value: object) -> dt.date | None:
    """開始年月: 令和3年4月, R3.4, 2021年4月, 2021/4, a full date or an Excel date -> the first of that month."""
    if normalize.is_blank(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        day = normalize.to_date(value)
        return day.replace(day=1)
    text = re.sub(r"\s+", "", normalize.nfkc(value))
    if m := _YM_WAREKI.match(text):
        era = m["era"].upper() if len(m["era"]) == 1 else m["era"]
        year = _ERA[era] + (1 if m["year"] == "元" else int(m["year"]))
    elif m := _YM_WEST.match(text):
        year = int(m["year"])
    else:
        raise ValueError(value)
    month = int(m["month"])
    if not 1 <= month <= 12:
        raise ValueError(value)
    if m["day"]:
        dt.date(year, month, int(m["day"]))  # a full date must exist
    return dt.date(year, month, 1)


def _convert(spec: FieldSpec, fmt: str | None):
    if fmt == "boolean":
        return lambda v: to_bool(v, spec)
    if fmt == "year_month":
        return to_year_month
    return converter(spec)


def _choose(sheets: list[Sheet], template: FormTemplate) -> tuple[Sheet, Header]:
    best = best_header(sheets, template)
    if best is None or "municipality_code" not in best[1].columns or best[1].score < 3:
        raise UnreadableFile(
            "header_not_found",
            "見出し行（『市町村コード』『市町村名』と各事業の『実施状況』など）が見つかりません。"
            "調査票の様式に記入して再送してください。",
            "No header row with the survey's labels (municipality code, name, each program's status …) was found. "
            "Please fill in the survey form and send it again.",
        )
    return best


def _is_total_row(row: list[Any], code_col: int, name_col: int | None, markers: tuple[str, ...]) -> bool:
    code = row[code_col] if code_col < len(row) else None
    if not normalize.is_blank(code):
        return False
    for c in (name_col, code_col, 0):
        if c is not None and c < len(row) and isinstance(row[c], str):
            key = normalize.label_key(row[c])
            if key and (key.startswith(markers) or key.endswith(markers)) and len(key) <= 12:
                return True
    return False


def parse_survey_return(path: Path, *, template: FormTemplate | None = None) -> ParsedTable:
    """Parse a survey return. Raises UnreadableFile for an unreadable file or one without the survey's header."""
    template = template or load_survey_template()
    sheet, header = _choose(read_sheets(Path(path)), template)
    options = template_extras(template)["field_options"]
    converters = {f.id: _convert(f, options.get(f.id, {}).get("format")) for f in template.fields}
    code_col = header.columns["municipality_code"]
    name_col = header.columns.get("municipality_name")
    return read_rows(sheet, header, template, converters,
                     skip=lambda row: _is_total_row(row, code_col, name_col, template.skip_row_markers))
