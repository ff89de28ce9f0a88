"""The bureau's register of accepted notifications (届出受理医療機関名簿, 医科).

One row per institution × accepted notification (design.md §4). Institutions with a
受理記号 starting with 支援診 or 支援病 make the roster of those that must file
様式11の3. Every 医療機関番号 is checked with its prefecture's check-digit rule.

This is on the hot path (135,000 rows for 8 prefectures): cells are read once with
calamine, and only the columns used are normalised, with per-distinct-value caches
for the expensive conversions (dates, codes).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from tsunagu import normalize
from tsunagu.codes import SCORE_TABLE, institution_number_is_valid
from tsunagu.findings import Finding, UnreadableFile, column_letter, error, warning
from tsunagu.intake.address import municipality_code_of
from tsunagu.intake.reader import read_sheets
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.model import RosterEntry

# canonical key -> header labels (compared after normalize.label_key)
COLUMNS: dict[str, tuple[str, ...]] = {
    "item_number": ("項番",),
    "prefecture_code": ("都道府県コード",),
    "prefecture_name": ("都道府県名",),
    "score_table_name": ("区分",),
    "institution_number": ("医療機関番号",),
    "sibling_number": ("併設医療機関番号",),
    "symbol_number": ("医療機関記号番号",),
    "institution_name": ("医療機関名称", "医療機関名"),
    "postal_code": ("医療機関所在地（郵便番号）", "郵便番号"),
    "address": ("医療機関所在地（住所）", "医療機関所在地", "住所"),
    "phone": ("電話番号",),
    "fax": ("FAX番号",),
    "beds": ("病床数",),
    "notification_name": ("受理届出名称",),
    "notification_symbol": ("受理記号",),
    "notification_number": ("受理番号",),
    "start_date": ("算定開始年月日",),
    "valid_from": ("個別有効開始年月日",),
    "note_heading": ("備考（見出し）",),
    "note": ("備考（データ）",),
    "municipality_code": ("市町村コード",),
    "municipality_name": ("市町村名",),
    "kind_code": ("種別コード",),
    "kind": ("種別",),
}
ROW_KEYS = (
    "prefecture_code", "score_table", "institution_number", "institution_code", "institution_name", "postal_code",
    "address", "phone", "beds", "notification_name", "notification_symbol", "notification_number", "start_date",
    "municipality_code", "municipality_name", "sheet", "row",
)
REQUIRED = ("prefecture_code", "institution_number", "institution_name", "notification_symbol")
ROSTER_PREFIXES = {"支援診": "clinic", "支援病": "hospital"}
_ROSTER_STARTS = tuple(ROSTER_PREFIXES)
ROSTER_CLASSES = {"1": "enhanced_single", "2": "enhanced_network", "3": "standard"}
_LABELS = {normalize.label_key(label): key for key, labels in COLUMNS.items() for label in labels}
_AS_OF = re.compile(r"((?:令和|平成|R|H)\s*(?:元|\d{1,2})\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}年\d{1,2}月\d{1,2}日)\s*現在")
_SCAN_ROWS = 30


@dataclass
class RegisterParse:
    path: Path
    as_of: dt.date | None
    prefecture_code: str | None
    # ROW_KEYS -> one value per row: what a parse worker sends back (far cheaper to pickle than 135,000 dicts)
    # and what load_register reads; ``rows`` gives the same as dicts.
    columns: dict[str, list[Any]]
    roster: list[RosterEntry]
    findings: list[Finding] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    header_row: int | None = None  # 1-based Excel row of the header (first sheet that had one)

    @property
    def row_count(self) -> int:
        return len(self.columns["row"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts, keys in ROW_KEYS order, built anew from ``columns`` on each access."""
        return list(map(_record, *(self.columns[k] for k in ROW_KEYS)))


def _clean(value: Any) -> str:
    """Cell -> stripped, storable text ('' for blank; a NUL becomes U+FFFD); integers typed as floats lose
    their '.0'."""
    if value is None:
        return ""
    if isinstance(value, str):
        return normalize.storable(value.strip())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _find_header(rows: list[list[Any]]) -> tuple[int, dict[str, int]] | None:
    best: tuple[int, dict[str, int]] | None = None
    for i, row in enumerate(rows[:_SCAN_ROWS]):
        cols: dict[str, int] = {}
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell:
                key = _LABELS.get(normalize.label_key(cell))
                if key and key not in cols:
                    cols[key] = c
        if len(cols) >= len(REQUIRED) and (best is None or len(cols) > len(best[1])):
            best = (i, cols)
    return best


def _as_of(rows: list[list[Any]], upto: int) -> dt.date | None:
    for row in rows[:upto]:
        for cell in row:
            if isinstance(cell, str) and "現在" in cell:
                m = _AS_OF.search(unicodedata.normalize("NFKC", cell))
                if m:
                    try:
                        return normalize.to_date(m[1].replace(" ", ""))
                    except ValueError:
                        continue
    return None


_INVALID = object()


class _Cache(dict):
    """Per-distinct-value conversion cache: date/code text repeats thousands of times.

    Looked up with ``map(cache.__getitem__, column)``: a hit is a C-level dict lookup, a miss converts
    once. A value the conversion rejects (ValueError) maps to ``invalid``.
    """

    def __init__(self, convert, invalid: Any = _INVALID):
        super().__init__()
        self.convert = convert
        self.invalid = invalid

    def __missing__(self, key):
        try:
            value = self.convert(key)
        except ValueError:
            value = self.invalid
        self[key] = value
        return value


def _code(digits: int):
    return lambda text: normalize.to_code(text, digits)


def _plain(value: Any) -> str | None:
    """_clean(value) or None (converted once per distinct value: see _Cache)."""
    return _clean(value) or None


def _text(value: Any) -> str | None:
    """normalize.to_text(value). For text: runs of whitespace (\\s, the full-width space included) become
    one space, ends trimmed, exactly as to_text's regex does, but with str.split (no regex per value);
    then made storable (a NUL becomes U+FFFD) as to_text does."""
    if type(value) is str:
        return normalize.storable(" ".join(value.split())) or None
    return normalize.to_text(value)


def _column(c: int, cache: _Cache, rows: list[list[Any]]) -> list[Any]:
    """Column ``c`` of ``rows`` through ``cache``."""
    return list(map(cache.__getitem__, map(itemgetter(c), rows)))


def _record(prefecture_code, score_table, institution_number, institution_code, institution_name, postal_code,
            address, phone, beds, notification_name, notification_symbol, notification_number, start_date,
            municipality_code, municipality_name, sheet, row) -> dict[str, Any]:
    """One row of the register, keys in ROW_KEYS order (a dict display: the cheapest way to build 135,000)."""
    return {
        "prefecture_code": prefecture_code, "score_table": score_table, "institution_number": institution_number,
        "institution_code": institution_code, "institution_name": institution_name, "postal_code": postal_code,
        "address": address, "phone": phone, "beds": beds, "notification_name": notification_name,
        "notification_symbol": notification_symbol, "notification_number": notification_number,
        "start_date": start_date, "municipality_code": municipality_code, "municipality_name": municipality_name,
        "sheet": sheet, "row": row,
    }


def parse_register(path: Path) -> RegisterParse:
    """Read one register file: every row, the 様式11の3 roster, and check-digit findings.

    Column by column: each used column is mapped through its conversion cache in one C-level pass
    (``map``), the rows are then built from the converted columns, and the check digit is computed
    once per distinct (prefecture, number, score table). Findings come out in row order.
    """
    path = Path(path)
    sheets = read_sheets(path)
    jurisdiction = load_jurisdiction()
    columns: dict[str, list[Any]] = {k: [] for k in ROW_KEYS}
    findings: list[Finding] = []
    as_of: dt.date | None = None
    header_row: int | None = None
    used_sheets: list[str] = []

    # One cache per conversion, keyed by the cell as read: each distinct value is converted once.
    plain = _Cache(_plain)
    texts = _Cache(_text)
    dates = _Cache(lambda v: None if normalize.is_blank(v) else normalize.to_date(v))
    pref_codes = _Cache(_code(2), invalid=None)
    numbers = _Cache(_code(7), invalid=None)
    score_tables = dict(SCORE_TABLE)
    scores = _Cache(lambda v: score_tables.get(_clean(v) or ""))
    field_caches = [
        ("institution_name", texts), ("postal_code", _Cache(lambda v: normalize.nfkc(v) or None)),
        ("address", texts), ("phone", plain), ("beds", texts), ("notification_name", texts),
        ("notification_symbol", plain), ("notification_number", plain),
        ("municipality_code", _Cache(lambda v: None if normalize.is_blank(v) else normalize.to_code(v, 6),
                                     invalid=None)),
        ("municipality_name", texts),
    ]
    checked: dict[tuple[str | None, str | None, str | None], bool | str] = {}
    codes: dict[str, str] = {}  # one 医療機関コード string per institution, shared by its rows

    for sheet in sheets:
        found = _find_header(sheet.rows)
        if found is None:
            continue
        head, cols = found
        used_sheets.append(sheet.name)
        if header_row is None:
            header_row = head + 1
        if as_of is None:
            as_of = _as_of(sheet.rows, head)
        missing = [k for k in REQUIRED if k not in cols]
        for key in missing:
            findings.append(error(
                "missing_column",
                f"必須の列『{COLUMNS[key][0]}』が見つかりません（見出し行 {head + 1}行目）",
                f"Required column '{key}' ({COLUMNS[key][0]}) is missing (header row {head + 1})",
                sheet=sheet.name, field=key,
            ))
        if missing:
            continue
        name = sheet.name
        data = sheet.rows[head + 1:]
        if not data:
            continue
        width = max(cols.values()) + 1
        if min(map(len, data)) < width:  # short rows (CSV): pad with blanks
            data = [r if len(r) >= width else [*r, *([""] * (width - len(r)))] for r in data]

        raw_numbers = _column(cols["institution_number"], plain, data)
        raw_prefs = _column(cols["prefecture_code"], plain, data)
        first = head + 2  # Excel row of data[0]
        excel_rows: list[int] | range = range(first, first + len(data))
        if None in raw_numbers:  # drop blank rows (no number, no prefecture, nothing else either)
            keep = [i for i, (n, p) in enumerate(zip(raw_numbers, raw_prefs, strict=True))
                    if n is not None or p is not None or not all(map(normalize.is_blank, data[i]))]
            if len(keep) < len(data):
                data = [data[i] for i in keep]
                raw_numbers = [raw_numbers[i] for i in keep]
                raw_prefs = [raw_prefs[i] for i in keep]
                excel_rows = [first + i for i in keep]
            if not data:
                continue

        prefs = list(map(pref_codes.__getitem__, raw_prefs))
        numbers_ = list(map(numbers.__getitem__, raw_numbers))
        c_score = cols.get("score_table_name")
        score_col = _column(c_score, scores, data) if c_score is not None else ["1"] * len(data)
        inst_codes = [
            codes.setdefault(code := f"{p}{s}{n}", code) if p and s and n else None
            for p, s, n in zip(prefs, score_col, numbers_, strict=True)
        ]
        values: dict[str, Any] = {
            "prefecture_code": prefs, "score_table": score_col, "institution_number": numbers_,
            "institution_code": inst_codes, "sheet": repeat(name, len(data)), "row": excel_rows,
        }
        for key, cache in field_caches:
            if key in cols:
                values[key] = _column(cols[key], cache, data)

        # Findings of this sheet, put in row order at the end: (row index, order within the row, finding).
        pending: list[tuple[int, int, Finding]] = []
        c_date = cols.get("start_date")
        if c_date is not None:
            cells = list(map(itemgetter(c_date), data))
            starts = list(map(dates.__getitem__, cells))
            if _INVALID in starts:
                date_letter = column_letter(c_date)
                for i, start in enumerate(starts):
                    if start is not _INVALID:
                        continue
                    starts[i] = None
                    excel_row = excel_rows[i]
                    pending.append((i, 0, warning(
                        "invalid_value",
                        f"{date_letter}列 {excel_row}行目: 算定開始年月日『{_clean(cells[i])}』を日付として読めません",
                        f"Cell {date_letter}{excel_row}: start date '{_clean(cells[i])}' is not a date",
                        sheet=name, row=excel_row, column=date_letter, field="start_date",
                    )))
            values["start_date"] = starts

        # 医療機関番号: 7 digits with the prefecture's check digit (design.md §3), once per distinct number.
        bad: dict[tuple[str | None, str | None, str | None], str] = {}
        for key in set(zip(raw_prefs, raw_numbers, score_col, strict=True)):
            ok = checked.get(key)
            if ok is None:
                ok = checked[key] = _check_number(numbers[key[1]], pref_codes[key[0]], key[2], jurisdiction)
            if ok is not True:
                bad[key] = ok
        if bad:
            num_letter = column_letter(cols["institution_number"])
            for i, key in enumerate(zip(raw_prefs, raw_numbers, score_col, strict=True)):
                if key in bad:
                    pending.append((i, 1, _number_finding(bad[key], key[1] or "", prefs[i], name, excel_rows[i],
                                                          num_letter)))
        pending.sort(key=itemgetter(0, 1))
        findings.extend(f for _, _, f in pending)

        for k in ROW_KEYS:
            columns[k].extend(values.get(k, repeat(None, len(data))))

    if not used_sheets:
        raise UnreadableFile(
            "header_not_found",
            "届出受理医療機関名簿の見出し行（都道府県コード、医療機関番号、受理記号 など）が見つかりません。",
            "No register header (prefecture code, institution number, notification symbol …) was found.",
        )
    prefs = Counter(filter(None, columns["prefecture_code"]))
    prefecture_code = prefs.most_common(1)[0][0] if prefs else None
    # Only rows with a 支援診/支援病 symbol can be on the roster: build_roster sees just those, in row order.
    candidates = [i for i, symbol in enumerate(columns["notification_symbol"])
                  if symbol and symbol.startswith(_ROSTER_STARTS)]
    return RegisterParse(
        path=path,
        as_of=as_of,
        prefecture_code=prefecture_code,
        columns=columns,
        roster=build_roster([_record(*(columns[k][i] for k in ROW_KEYS)) for i in candidates]),
        findings=findings,
        sheets=used_sheets,
        header_row=header_row,
    )


def _check_number(number: str | None, pref: str | None, score: str | None, jurisdiction) -> bool | str:
    if number is None:
        return "invalid_institution_number"
    if pref is None or pref not in jurisdiction:
        return "prefecture_outside_jurisdiction"
    if score is None:
        return "unknown_score_table"
    rule = jurisdiction.get(pref).check_digit
    return True if institution_number_is_valid(number, pref, rule, score) else "invalid_check_digit"


def _number_finding(reason: str, raw: str, pref: str | None, sheet: str, row: int, col: str) -> Finding:
    where = {"sheet": sheet, "row": row, "column": col, "field": "institution_number"}
    if reason == "invalid_check_digit":
        return error(
            "invalid_check_digit",
            f"{col}列 {row}行目: 医療機関番号『{raw}』の検証番号（7桁目）が正しくありません",
            f"Cell {col}{row}: institution number '{raw}' has a wrong check digit",
            **where,
        )
    if reason == "prefecture_outside_jurisdiction":
        return warning(
            "prefecture_outside_jurisdiction",
            f"{col}列 {row}行目: 都道府県コード『{pref or ''}』は管轄外のため、医療機関番号『{raw}』を検査していません",
            f"Cell {col}{row}: prefecture '{pref or ''}' is outside the jurisdiction; number '{raw}' not checked",
            **where,
        )
    if reason == "unknown_score_table":
        return warning(
            "unknown_score_table",
            f"{col}列 {row}行目: 区分（医科・歯科・薬局）が不明のため、医療機関番号『{raw}』を検査していません",
            f"Cell {col}{row}: unknown score table (医科/歯科/薬局); number '{raw}' not checked",
            **where,
        )
    return error(
        "invalid_institution_number",
        f"{col}列 {row}行目: 医療機関番号『{raw}』は7桁の数字ではありません",
        f"Cell {col}{row}: institution number '{raw}' is not 7 digits",
        **where,
    )


def roster_symbol(symbol: str | None) -> tuple[str, str] | None:
    """支援診１ -> (clinic, enhanced_single); anything else -> None. Full/half-width digits alike."""
    if not symbol:
        return None
    facility = ROSTER_PREFIXES.get(symbol[:3])
    if facility is None:
        return None
    cls = ROSTER_CLASSES.get(unicodedata.normalize("NFKC", symbol[3:4]))
    if cls is None:
        return None
    return facility, cls


_CLASS_RANK = {"enhanced_single": 0, "enhanced_network": 1, "standard": 2}


def build_roster(rows: list[dict[str, Any]]) -> list[RosterEntry]:
    """One entry per institution with a 支援診/支援病 notification.

    An institution listed with two classes (a change of class in progress) takes the one
    with the latest 算定開始年月日; on the same date, the stronger class.
    """
    chosen: dict[str, tuple[tuple, dict[str, Any], tuple[str, str]]] = {}
    for rec in rows:
        kind = roster_symbol(rec.get("notification_symbol"))
        if kind is None or not rec.get("institution_code"):
            continue
        start = rec.get("start_date") or dt.date.min
        rank = (start.toordinal(), -_CLASS_RANK[kind[1]])
        code = rec["institution_code"]
        if code not in chosen or rank > chosen[code][0]:
            chosen[code] = (rank, rec, kind)
    roster = [
        RosterEntry(
            institution_code=code,
            institution_number=rec["institution_number"],
            prefecture_code=rec["prefecture_code"],
            institution_name=rec.get("institution_name") or "",
            facility_type=kind[0],
            notification_class=kind[1],
            notification_symbol=rec["notification_symbol"],
            address=rec.get("address"),
            # 市町村コード is empty in every published register: the municipality of the 所在地 (design.md §4).
            municipality_code=rec.get("municipality_code") or municipality_code_of(rec.get("address"), rec["prefecture_code"]),
        )
        for code, (_, rec, kind) in chosen.items()
    ]
    roster.sort(key=lambda e: e.institution_code)
    return roster


def parse_registers(paths: list[Path]) -> list[RegisterParse]:
    return [parse_register(p) for p in paths]
