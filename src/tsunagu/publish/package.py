"""One data package per prefecture: xlsx for people, CSV + datapackage.json for machines, manifest.json.

``<out>/<fiscal_year>/<pref_code>_<romaji>/``::

    home_care_reports_<fy>_<code>.xlsx   データ / 定義書 / 集計
    home_care_reports_<fy>_<code>.csv    UTF-8 with BOM, header = canonical field ids in template order
    home_care_reports_<fy>_<code>_<municipality>.csv   the same, one file per municipality (a designated
                                         city's wards together under the city; Tokyo's special wards each)
    datapackage.json                     Frictionless Data Package descriptor (passes frictionless validate)
    manifest.json                        sha256 and size of every file, rows, municipalities, source file hashes

The xlsx is for people: enums in Japanese (在支診, 従来型 …), printable (landscape, fit to width, the
header row on every page), a chart of the counts on 集計. The CSVs keep the canonical codes.

A row's municipality is its 市町村コード when that is a municipality of the prefecture (a ward's
code counts for its city), else the municipality of its 所在地 (:mod:`tsunagu.intake.address`); a row
with neither is in no municipality file and is listed in manifest.json (``unassigned_rows``).

Rules (design.md §5): scoped (every row belongs to the package's prefecture, else ``ScopeError``),
deterministic (the same warehouse state gives byte-identical files), inert text (no formula can
be smuggled into a spreadsheet), atomic (built in a temporary folder, then renamed into place).
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import functools
import io
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from tsunagu.faults import point
from tsunagu.intake.address import municipality_of
from tsunagu.jurisdiction import Prefecture, load_jurisdiction
from tsunagu.model import FieldSpec, FormTemplate
from tsunagu.municipalities import Municipality, MunicipalityMaster, load_municipalities
from tsunagu.publish.cells import inert, put  # inert() lives there now: one rule for every workbook
from tsunagu.warehouse.archive import sha256_file as _sha256
from tsunagu.warehouse.archive import temporaries_lock

DATASET = "home_care_reports"
KIND = "home_care_report"

FACILITY_LABELS = {"clinic": "在支診", "hospital": "在支病"}
CLASS_LABELS = {
    "enhanced_single": "機能強化型(単独型)",
    "enhanced_network": "機能強化型(連携型)",
    "standard": "従来型",
}
UNKNOWN_LABEL = "不明"
# Enum fields shown in Japanese in the xlsx (the CSVs keep the canonical codes).
ENUM_LABELS = {"facility_type": FACILITY_LABELS, "notification_class": CLASS_LABELS}
# Integer fields shown without a thousands separator (a year is not a quantity: 2025, not 2,025).
PLAIN_INTS = frozenset({"fiscal_year"})
TYPE_JA = {"int": "整数", "decimal": "小数", "code": "コード（文字列）", "date": "日付", "text": "文字列", "enum": "区分"}
FRICTIONLESS_TYPES = {"int": "integer", "decimal": "number", "date": "date"}

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class ScopeError(ValueError):
    """A row of another prefecture was about to be published in this prefecture's package."""


@dataclass
class PackageResult:
    dir: Path
    files: dict[str, str]  # file name -> sha256
    rows: int
    prefecture_code: str = ""
    fiscal_year: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # every file, municipality files included
    # The per-municipality CSVs (file name -> sha256), apart from ``files``: a release snapshots ``files``.
    municipality_files: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- values
def _places(spec: FieldSpec | None) -> int | None:
    return spec.places if spec is not None and spec.places is not None else None


def _decimal(value: Any, spec: FieldSpec | None) -> Decimal:
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    places = _places(spec)
    if places is not None:
        return d.quantize(Decimal(1).scaleb(-places))
    d = d.normalize()
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def csv_value(value: Any, spec: FieldSpec | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (Decimal, float)):
        return format(_decimal(value, spec), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if spec is not None and spec.type == "date" else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return inert(str(value))


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# ----------------------------------------------------------------------------- xlsx
def _set(ws, row: int, col: int, value: Any, *, text: bool = False) -> Cell:
    """Write a cell; any text becomes an explicit string cell, never a formula."""
    cell = ws.cell(row=row, column=col)
    if value is None:
        return cell
    return put(cell, str(value) if text else value, make_inert=False)  # an explicit string cell is inert


def _xlsx_value(value: Any, spec: FieldSpec | None) -> Any:
    labels = ENUM_LABELS.get(spec.id) if spec is not None else None
    if labels is not None and isinstance(value, str):
        return labels.get(value, value)  # 在支診, 従来型 …; an unexpected code is shown as it is
    if isinstance(value, Decimal):
        return _decimal(value, spec)
    if isinstance(value, float):
        return _decimal(value, spec)
    if isinstance(value, dt.datetime) and spec is not None and spec.type == "date":
        return value.date()
    return value


def _number_format(spec: FieldSpec) -> str | None:
    if spec.type == "date":
        return "yyyy-mm-dd"
    if spec.type == "decimal":
        places = spec.places if spec.places is not None else 2
        return "0." + "0" * places if places else "0"
    if spec.type == "int":
        return "0" if spec.id in PLAIN_INTS else "#,##0"
    if spec.type in ("code", "text", "enum"):
        return "@"
    return None


HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
WRAP = Alignment(wrap_text=True, vertical="top")


def _rule_text(spec: FieldSpec) -> str:
    parts = []
    if spec.description_ja:
        parts.append(spec.description_ja.rstrip("。"))
    if spec.digits:
        parts.append(f"{spec.digits}桁")
    if spec.places is not None:
        parts.append(f"小数点以下{spec.places}桁")
    if spec.min is not None:
        parts.append(f"最小 {_num(spec.min)}")
    if spec.max is not None:
        parts.append(f"最大 {_num(spec.max)}")
    if spec.enum:
        labels = ENUM_LABELS.get(spec.id, {})
        values = sorted(set(spec.enum.values()))
        parts.append("値: " + " / ".join(f"{v}（{labels[v]}）" if v in labels else v for v in values))
        if labels:
            parts.append("Excelでは括弧内の日本語で表示、CSVではコード")
    if spec.derived:
        parts.append("（取込時に導出）")
    return "。".join(parts) + ("。" if parts else "")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _summary(rows: list[dict[str, Any]], template: FormTemplate) -> tuple[list[list[Any]], list[list[Any]]]:
    """(counts by facility_type × notification_class, totals of the numeric fields)."""
    classes = list(CLASS_LABELS)
    facilities = list(FACILITY_LABELS)
    extra_c = sorted({r.get("notification_class") or "" for r in rows} - set(classes))
    extra_f = sorted({r.get("facility_type") or "" for r in rows} - set(facilities))
    col_keys = classes + extra_c
    row_keys = facilities + extra_f
    header = ["区分"] + [CLASS_LABELS.get(c) or (c or UNKNOWN_LABEL) for c in col_keys] + ["合計"]
    table = [header]
    for fk in row_keys:
        counts = [sum(1 for r in rows if (r.get("facility_type") or "") == fk and (r.get("notification_class") or "") == ck)
                  for ck in col_keys]
        table.append([FACILITY_LABELS.get(fk) or (fk or UNKNOWN_LABEL), *counts, sum(counts)])
    col_totals = [sum(line[i] for line in table[1:]) for i in range(1, len(header))]
    table.append(["合計", *col_totals])

    totals = [["項目ID", "項目名", "件数（値あり）", "合計", "平均"]]
    for spec in template.fields:
        if spec.type not in ("int", "decimal") or spec.id == "fiscal_year":
            continue
        values = [r.get(spec.id) for r in rows if r.get(spec.id) is not None]
        dec = [v if isinstance(v, Decimal) else Decimal(str(v)) for v in values]
        total = sum(dec, Decimal(0))
        mean = (total / len(dec)).quantize(Decimal("0.01")) if dec else None
        # A sum of averages or ratios means nothing: decimal fields get their mean only.
        total_out: Any = int(total) if spec.type == "int" else None
        totals.append([spec.id, spec.label_ja, len(dec), total_out, mean])
    return table, totals


def _write_xlsx(path: Path, rows: list[dict[str, Any]], template: FormTemplate, pref: Prefecture, fiscal_year: int,
                stamp: dt.datetime) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "データ"
    specs = list(template.fields)
    widths = []
    for j, spec in enumerate(specs, start=1):
        cell = _set(ws, 1, j, spec.label_ja)
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, WRAP
        widths.append(-(-_display_width(spec.label_ja) // HEADER_LINES))  # the header wraps on 3 lines
    formats = [_number_format(s) for s in specs]
    for i, r in enumerate(rows, start=2):
        for j, spec in enumerate(specs, start=1):
            value = _xlsx_value(r.get(spec.id), spec)
            cell = _set(ws, i, j, value, text=spec.type in ("code", "text", "enum") and value is not None)
            if formats[j - 1] and value is not None:
                cell.number_format = formats[j - 1]
            shown = value if isinstance(value, str) else csv_value(r.get(spec.id), spec)
            widths[j - 1] = max(widths[j - 1], _display_width(shown))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 48)
    ws.row_dimensions[1].height = 45
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(specs))}{max(len(rows) + 1, 1)}"
    title = f"{template.title_ja} {fiscal_year}年度 {pref.name_ja}"
    _print_setup(ws, title, repeat_rows="1:1")

    defs = wb.create_sheet("定義書")
    head = ["項目ID", "項目名", "型", "必須", "説明・ルール"]
    for j, h in enumerate(head, start=1):
        c = _set(defs, 1, j, h)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
    for i, spec in enumerate(specs, start=2):
        _set(defs, i, 1, spec.id)
        _set(defs, i, 2, spec.label_ja)
        _set(defs, i, 3, f"{spec.type}（{TYPE_JA.get(spec.type, spec.type)}）")
        _set(defs, i, 4, "必須" if spec.not_null else "")
        _set(defs, i, 5, _rule_text(spec)).alignment = WRAP
    for col, w in zip("ABCDE", (26, 40, 20, 6, 80), strict=True):
        defs.column_dimensions[col].width = w
    defs.freeze_panes = "A2"
    note_row = len(specs) + 3
    _set(defs, note_row, 1, "様式")
    _set(defs, note_row, 2, f"{template.title_ja}（{template.kind} {template.version}）")
    _set(defs, note_row + 1, 1, "対象")
    _set(defs, note_row + 1, 2, f"{fiscal_year}年度 {pref.name_ja}（{pref.code}）")
    _set(defs, note_row + 2, 1, "CSV")
    _set(defs, note_row + 2, 2, "UTF-8（BOM付き）、見出しは項目ID。= + - @ で始まる文字列は先頭に ' を付与")
    _print_setup(defs, title, repeat_rows="1:1")

    summ = wb.create_sheet("集計")
    counts, totals = _summary(rows, template)
    _set(summ, 1, 1, f"{fiscal_year}年度 {pref.name_ja} 区分×届出区分 件数").font = HEADER_FONT
    for i, line in enumerate(counts, start=2):
        for j, v in enumerate(line, start=1):
            c = _set(summ, i, j, v)
            if i == 2 or j == 1:
                c.font = HEADER_FONT
    start = len(counts) + 4
    _set(summ, start - 1, 1, "数値項目の合計").font = HEADER_FONT
    for i, line in enumerate(totals, start=start):
        for j, v in enumerate(line, start=1):
            c = _set(summ, i, j, v)
            if i == start:
                c.font = HEADER_FONT
    for col, w in zip("ABCDEF", (26, 44, 22, 22, 14, 10), strict=True):
        summ.column_dimensions[col].width = w
    summ.add_chart(_counts_chart(summ, counts, fiscal_year, pref), f"A{start + len(totals) + 2}")
    _print_setup(summ, title, pages_tall=1)  # the tables and the chart on one page

    wb.properties.creator = "tsunagu"
    wb.properties.lastModifiedBy = "tsunagu"
    wb.properties.title = f"{template.title_ja} {fiscal_year}年度 {pref.name_ja}"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_normalise_zip(buf.getvalue(), stamp))


HEADER_LINES = 3  # the データ header row (height 45) holds three lines of wrapped text


def _print_setup(ws, title: str, *, repeat_rows: str | None = None, pages_tall: int = 0) -> None:
    """A4 landscape, fitted to the page width (``pages_tall`` 0: as many pages down as needed), the header
    row on every page, the title above and the page number below."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = pages_tall
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.8
    ws.page_margins.header = ws.page_margins.footer = 0.3
    if repeat_rows:
        ws.print_title_rows = repeat_rows
    ws.oddHeader.center.text = title.replace("&", "&&")
    ws.oddFooter.center.text = "&P / &N"


def _counts_chart(ws, counts: list[list[Any]], fiscal_year: int, pref: Prefecture) -> BarChart:
    """Columns of the 区分×届出区分 table (row 2 = its header; 合計 row and column left out)."""
    n_classes = len(counts[0]) - 2
    n_facilities = len(counts) - 2
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "clustered"
    chart.title = f"{fiscal_year}年度 {pref.name_ja} 届出区分別 件数"
    chart.y_axis.title = "件数"
    chart.x_axis.title = "届出区分"
    chart.y_axis.majorGridlines = None
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    data = Reference(ws, min_col=1, max_col=1 + n_classes, min_row=3, max_row=2 + n_facilities)
    chart.add_data(data, titles_from_data=True, from_rows=True)
    categories = Reference(ws, min_col=2, max_col=1 + n_classes, min_row=2, max_row=2)
    for series in chart.series:  # the categories are text (機能強化型(単独型) …): a string reference
        series.cat = AxDataSource(strRef=StrRef(f=str(categories)))
    chart.width, chart.height = 16, 7.5
    return chart


_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _normalise_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """Rewrite an xlsx with fixed entry timestamps and fixed docProps/core.xml times (byte-identical output)."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    date_time = max(_ZIP_EPOCH, stamp.timetuple()[:6])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = _CORE_TIMES.sub(lambda m: m.group(1) + iso + m.group(3), payload)
            zi = zipfile.ZipInfo(info.filename, date_time=date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zi.create_system = 0
            dst.writestr(zi, payload, compresslevel=6)
    return out.getvalue()


# ----------------------------------------------------------------------------- csv / json
def _write_csv(path: Path, rows: list[dict[str, Any]], template: FormTemplate) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    specs = list(template.fields)
    w.writerow([s.id for s in specs])
    for r in rows:
        w.writerow([csv_value(r.get(s.id), s) for s in specs])
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))


def _schema_field(spec: FieldSpec) -> dict[str, Any]:
    f: dict[str, Any] = {
        "name": spec.id,
        "type": FRICTIONLESS_TYPES.get(spec.type, "string"),
        "title": spec.label_ja,
    }
    if spec.description_ja:
        f["description"] = spec.description_ja
    if spec.type == "date":
        f["format"] = "default"
    constraints: dict[str, Any] = {}
    if spec.not_null:
        constraints["required"] = True
    if spec.type in ("int", "decimal"):
        if spec.min is not None:
            constraints["minimum"] = int(spec.min) if spec.type == "int" else spec.min
        if spec.max is not None:
            constraints["maximum"] = int(spec.max) if spec.type == "int" else spec.max
    if spec.type == "code" and spec.digits:
        constraints["pattern"] = f"[0-9]{{{spec.digits}}}"
    if spec.enum:
        constraints["enum"] = sorted(set(spec.enum.values()))
    if constraints:
        f["constraints"] = constraints
    return f


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- publish
def _stamp(rows: list[dict[str, Any]], fiscal_year: int) -> dt.datetime:
    """A fixed timestamp derived from the data: the latest report date, else 1 April of the fiscal year."""
    dates = [r["report_date"] for r in rows if isinstance(r.get("report_date"), dt.date)]
    day = max(dates) if dates else dt.date(fiscal_year, 4, 1)
    if isinstance(day, dt.datetime):
        day = day.date()
    return dt.datetime(day.year, day.month, day.day)


def check_scope(rows: Sequence[dict[str, Any]], prefecture_code: str, fiscal_year: int) -> None:
    for r in rows:
        code = str(r.get("institution_code") or "")
        if r.get("prefecture_code") != prefecture_code or not code.startswith(prefecture_code):
            raise ScopeError(
                f"row of institution {code or '?'} (prefecture {r.get('prefecture_code')!r}) "
                f"must not be published in the package of prefecture {prefecture_code}"
            )
        if r.get("fiscal_year") is not None and int(r["fiscal_year"]) != fiscal_year:
            raise ScopeError(f"row of institution {code} is for fiscal year {r['fiscal_year']}, not {fiscal_year}")


def municipality_of_row(row: dict[str, Any], prefecture_code: str,
                        master: MunicipalityMaster | None = None) -> Municipality | None:
    """The row's municipality: its 市町村コード when that is one of the prefecture's (a ward: its city),
    else the municipality of its 所在地; None when neither gives one."""
    master = master or load_municipalities()
    unit = master.unit_of(str(row.get("municipality_code") or "") or None)
    if unit is not None and unit.prefecture_code == prefecture_code:
        return unit
    return municipality_of(row.get("address"), prefecture_code, master)


def split_by_municipality(
    rows: Sequence[dict[str, Any]], prefecture_code: str, master: MunicipalityMaster | None = None,
) -> tuple[list[tuple[Municipality, list[dict[str, Any]]]], list[dict[str, Any]]]:
    """([(municipality, its rows)] in code order, rows in no municipality); rows keep their order."""
    master = master or load_municipalities()
    groups: dict[str, tuple[Municipality, list[dict[str, Any]]]] = {}
    unassigned: list[dict[str, Any]] = []
    for r in rows:
        unit = municipality_of_row(r, prefecture_code, master)
        if unit is None:
            unassigned.append(r)
        else:
            groups.setdefault(unit.code, (unit, []))[1].append(r)
    return [groups[code] for code in sorted(groups)], unassigned


def check_municipality_scope(unit: Municipality, rows: Sequence[dict[str, Any]], prefecture_code: str,
                             master: MunicipalityMaster | None = None) -> None:
    """Every row of a municipality's file is of that municipality, in the package's prefecture."""
    master = master or load_municipalities()
    if unit.is_ward or unit.prefecture_code != prefecture_code:
        raise ScopeError(f"{unit.name} ({unit.code}) is not a municipality of prefecture {prefecture_code}")
    for r in rows:
        got = municipality_of_row(r, prefecture_code, master) if r.get("prefecture_code") == prefecture_code else None
        if got != unit:
            raise ScopeError(
                f"row of institution {r.get('institution_code') or '?'} (prefecture {r.get('prefecture_code')!r}, "
                f"municipality {got.code if got else None}) must not be in the file of {unit.name} ({unit.code})"
            )


def _csv_resource(name: str, path: Path, title: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "path": path.name,
        "profile": "tabular-data-resource",
        "title": title,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",  # with a BOM, which Frictionless readers skip
        "bytes": path.stat().st_size,
        "hash": "sha256:" + _sha256(path),
        "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "header": True},
        "schema": schema,
    }


def publish_prefecture(
    warehouse: Any, fiscal_year: int, prefecture_code: str, out_dir: str | os.PathLike[str], *,
    template: FormTemplate,
) -> PackageResult:
    """Write (atomically) the package of one prefecture under ``<out>/<fiscal_year>/<code>_<romaji>/``.

    First the folders a killed publisher of this package left are cleaned (:func:`_sweep_package`),
    unless another publisher is live in ``<out>/<fiscal_year>/`` (``temporaries_lock``).
    """
    parent = Path(out_dir) / str(fiscal_year)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / load_jurisdiction().get(prefecture_code).package_name
    with temporaries_lock(parent, sweep=lambda: _sweep_package(final)):
        return _publish_prefecture(warehouse, fiscal_year, prefecture_code, out_dir, template=template)


def _sweep_package(final: Path) -> None:
    """Remove a dead publisher's ``.<pkg>.tmp-*`` and ``.<pkg>.old-*`` folders (we hold the folder alone).

    A kill between the two renames of the fallback swap left no ``final``: its ``.old-*`` comes back.
    """
    olds = sorted(final.parent.glob(f".{final.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not final.exists():
        os.rename(olds.pop(), final)
    for leftover in [*olds, *final.parent.glob(f".{final.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _publish_prefecture(
    warehouse: Any, fiscal_year: int, prefecture_code: str, out_dir: str | os.PathLike[str], *,
    template: FormTemplate,
) -> PackageResult:
    pref = load_jurisdiction().get(prefecture_code)
    rows = warehouse.home_care_reports(fiscal_year, prefecture_code)
    check_scope(rows, prefecture_code, fiscal_year)
    sources = warehouse.report_sources(fiscal_year, prefecture_code) if hasattr(warehouse, "report_sources") else []
    stamp = _stamp(rows, fiscal_year)

    stem = f"{DATASET}_{fiscal_year}_{pref.code}"
    parent = Path(out_dir) / str(fiscal_year)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / pref.package_name
    tmp = Path(tempfile.mkdtemp(prefix=f".{pref.package_name}.tmp-", dir=parent))
    try:
        xlsx, csv_path = tmp / f"{stem}.xlsx", tmp / f"{stem}.csv"
        _write_xlsx(xlsx, rows, template, pref, fiscal_year, stamp)
        _write_csv(csv_path, rows, template)
        # One CSV per municipality: same columns, only that municipality's rows (design.md §5: scoped).
        master = load_municipalities()
        groups, unassigned = split_by_municipality(rows, pref.code, master)
        muni_paths: list[tuple[Municipality, Path, int]] = []
        for unit, unit_rows in groups:
            check_municipality_scope(unit, unit_rows, pref.code, master)
            muni_path = tmp / f"{stem}_{unit.code}.csv"
            _write_csv(muni_path, unit_rows, template)
            muni_paths.append((unit, muni_path, len(unit_rows)))
        title = f"{template.title_ja} {fiscal_year}年度 {pref.name_ja}"
        schema = {
            "fields": [_schema_field(s) for s in template.fields],
            "primaryKey": [k for k in ("fiscal_year", "institution_code") if k in template.field_ids],
            "missingValues": [""],
        }
        descriptor = {
            # A plain data package: the xlsx is a file for people, not a table (frictionless validate passes).
            "profile": "data-package",
            "name": f"tsunagu-{DATASET.replace('_', '-')}-{fiscal_year}-{pref.code}-{pref.romaji}",
            "title": title,
            "description": f"{load_jurisdiction().bureau_ja} {load_jurisdiction().division_ja}が整理した"
                           f"{pref.name_ja}分の{template.title_ja}（{fiscal_year}年度）",
            "version": f"{fiscal_year}.{template.version}",
            "keywords": ["在宅療養支援診療所", "在宅療養支援病院", "定例報告", pref.name_ja],
            "resources": [
                _csv_resource(DATASET, csv_path, title, schema),
                {
                    "name": f"{DATASET}-xlsx",
                    "path": xlsx.name,
                    "profile": "data-resource",
                    "type": "file",  # read by people; frictionless checks its bytes and hash, not its cells
                    "title": f"{title}（Excel）",
                    "format": "xlsx",
                    "mediatype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "bytes": xlsx.stat().st_size,
                    "hash": "sha256:" + _sha256(xlsx),
                },
                *(_csv_resource(f"{DATASET}-{unit.code}", path, f"{title} {unit.name}", schema)
                  for unit, path, _ in muni_paths),
            ],
        }
        (tmp / "datapackage.json").write_bytes(_json_bytes(descriptor))
        every = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
        sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        muni_files = {path.name: every[path.name] for _, path, _ in muni_paths}
        files = {n: h for n, h in every.items() if n not in muni_files}
        manifest = {
            "dataset": DATASET,
            "kind": KIND,
            "fiscal_year": fiscal_year,
            "prefecture": {"code": pref.code, "name_ja": pref.name_ja, "romaji": pref.romaji},
            "package": pref.package_name,
            "template": {"kind": template.kind, "version": template.version},
            "rows": len(rows),
            "files": [{"path": n, "sha256": every[n], "bytes": sizes[n]} for n in sorted(every)],
            "municipalities": [
                {"code": unit.code, "name_ja": unit.name, "path": path.name, "rows": n}
                for unit, path, n in muni_paths
            ],
            "unassigned_rows": [str(r.get("institution_code") or "") for r in unassigned],
            "sources": [
                {"sha256": s["sha256"], "original_name": s.get("original_name"),
                 "template_version": s.get("template_version")}
                for s in sources
            ],
        }
        files["manifest.json"], sizes["manifest.json"] = finish_package(tmp, final, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PackageResult(dir=final, files=dict(sorted(files.items())), rows=len(rows),
                         prefecture_code=pref.code, fiscal_year=fiscal_year, sizes=dict(sorted(sizes.items())),
                         municipality_files=muni_files)


def finish_package(tmp: Path, final: Path, manifest: dict[str, Any]) -> tuple[str, int]:
    """Write ``manifest.json`` last, make the folder readable and swap it in as ``final`` (every package
    writer: the home-care reports, the evaluation analysis). Returns the manifest's (sha256, bytes)."""
    path = tmp / "manifest.json"
    path.write_bytes(_json_bytes(manifest))
    digest, size = _sha256(path), path.stat().st_size
    os.chmod(tmp, 0o755)
    _swap_into_place(tmp, final)
    return digest, size


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` with renames only: readers see the old or the new package, never half.

    On Linux the two folders are exchanged in one step, so ``final`` is never missing, even for a
    process killed halfway. Elsewhere it takes two renames; a kill between them leaves no ``final``
    until the next publish of the package puts the ``.old-*`` back (:func:`_sweep_package`).
    """
    if not final.exists():
        os.rename(tmp, final)
        return
    if _exchange(tmp, final):
        point("package_between_renames")
        shutil.rmtree(tmp, ignore_errors=True)  # the old package, now under the temporary name
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}-{tmp.name[-8:]}")
    os.rename(final, old)
    point("package_between_renames")
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100


@functools.cache
def _renameat2() -> Any:
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (renameat2 RENAME_EXCHANGE); False where that is not available."""
    fn = _renameat2() if sys.platform.startswith("linux") else None
    if fn is None:
        return False
    import ctypes

    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # not on this kernel or file system
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(
    warehouse: Any, fiscal_year: int, prefectures: Sequence[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None, *, template: FormTemplate | None = None,
) -> list[PackageResult]:
    """Publish one package per prefecture. ``prefectures=None``: every prefecture of the jurisdiction with rows."""
    if out_dir is None:
        from tsunagu.settings import get_settings

        out_dir = get_settings().publish_dir
    if template is None:
        from tsunagu.intake.templates import load_template

        template = load_template(KIND, fiscal_year=fiscal_year)
    jurisdiction = load_jurisdiction()
    if prefectures is None:
        with_rows = set(warehouse.report_prefectures(fiscal_year))
        prefectures = [code for code in jurisdiction.prefectures if code in with_rows]
    return [publish_prefecture(warehouse, fiscal_year, code, out_dir, template=template) for code in prefectures]
