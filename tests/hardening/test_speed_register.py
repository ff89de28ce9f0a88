"""The register intake's column-wise parse gives exactly what the row-by-row parse gave.

parse_register maps each used column through its conversion cache in one C-level pass and builds the
rows from the converted columns. ``reference`` below is the former row-by-row loop, kept as the oracle:
on every edge a register can have (blank and short rows, numbers typed as numbers, bad and foreign
numbers, unknown 区分, unreadable dates, a sheet without a required column, several sheets, CSV) and on
the real registers, both must give the same rows (keys in the same order), findings (in the same
order), as-of date, prefecture, sheets and header row. No timing is asserted (bench/run.py register).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.intake.builders import write_csv, write_xlsx
from tests.intake.test_register import HEADER, TITLE, _row
from tsunagu import normalize
from tsunagu.codes import SCORE_TABLE
from tsunagu.findings import column_letter, error, warning
from tsunagu.intake import register as reg
from tsunagu.intake.reader import read_sheets
from tsunagu.jurisdiction import load_jurisdiction


def reference(path: Path) -> dict[str, Any]:
    """The row-by-row loop parse_register used before (one dict per row, caches shared across columns)."""
    jurisdiction = load_jurisdiction()
    rows_out: list[dict[str, Any]] = []
    findings = []
    as_of = header_row = None
    used: list[str] = []
    invalid = object()

    def cached(convert):
        cache: dict[Any, Any] = {}

        def get(value):
            if value not in cache:
                try:
                    cache[value] = convert(value)
                except ValueError:
                    cache[value] = invalid
            return cache[value]

        return get

    plain = cached(lambda v: reg._clean(v) or None)
    texts = cached(normalize.to_text)
    dates = cached(lambda v: None if normalize.is_blank(v) else normalize.to_date(v))
    pref_codes, numbers = cached(lambda v: normalize.to_code(v, 2)), cached(lambda v: normalize.to_code(v, 7))
    field_caches = [
        ("institution_name", texts), ("postal_code", cached(lambda v: normalize.nfkc(v) or None)),
        ("address", texts), ("phone", plain), ("beds", texts), ("notification_name", texts),
        ("notification_symbol", plain), ("notification_number", plain),
        ("municipality_code", cached(lambda v: None if normalize.is_blank(v) else normalize.to_code(v, 6))),
        ("municipality_name", texts),
    ]
    for sheet in read_sheets(path):
        found = reg._find_header(sheet.rows)
        if found is None:
            continue
        head, cols = found
        used.append(sheet.name)
        header_row = header_row or head + 1
        as_of = as_of or reg._as_of(sheet.rows, head)
        missing = [k for k in reg.REQUIRED if k not in cols]
        for key in missing:
            findings.append(error(
                "missing_column", f"必須の列『{reg.COLUMNS[key][0]}』が見つかりません（見出し行 {head + 1}行目）",
                f"Required column '{key}' ({reg.COLUMNS[key][0]}) is missing (header row {head + 1})",
                sheet=sheet.name, field=key))
        if missing:
            continue
        width = max(cols.values()) + 1
        for i in range(head + 1, len(sheet.rows)):
            row = sheet.rows[i]
            row = row if len(row) >= width else [*row, *([""] * (width - len(row)))]
            raw_number, raw_pref = plain(row[cols["institution_number"]]), plain(row[cols["prefecture_code"]])
            if raw_number is None and raw_pref is None and all(normalize.is_blank(c) for c in row):
                continue
            pref = pref_codes(raw_pref) if raw_pref else None
            pref = None if pref is invalid else pref
            c_score = cols.get("score_table_name")
            score = SCORE_TABLE.get(plain(row[c_score]) or "") if c_score is not None else "1"
            number = numbers(raw_number) if raw_number else None
            number = None if number is invalid else number
            rec = dict.fromkeys(reg.ROW_KEYS)
            rec.update(prefecture_code=pref, score_table=score, institution_number=number,
                       institution_code=f"{pref}{score}{number}" if pref and score and number else None)
            for key, cache in field_caches:
                if key in cols:
                    rec[key] = cache(row[cols[key]])
            if rec["municipality_code"] is invalid:
                rec["municipality_code"] = None
            if "start_date" in cols:
                cell, letter = row[cols["start_date"]], column_letter(cols["start_date"])
                start = dates(cell)
                if start is invalid:
                    start = None
                    findings.append(warning(
                        "invalid_value", f"{letter}列 {i + 1}行目: 算定開始年月日『{reg._clean(cell)}』を日付として読めません",
                        f"Cell {letter}{i + 1}: start date '{reg._clean(cell)}' is not a date",
                        sheet=sheet.name, row=i + 1, column=letter, field="start_date"))
                rec["start_date"] = start
            rec["sheet"], rec["row"] = sheet.name, i + 1
            rows_out.append(rec)
            ok = reg._check_number(number, pref, score, jurisdiction)
            if ok is not True:
                findings.append(reg._number_finding(ok, raw_number or "", pref, sheet.name, i + 1,
                                                    column_letter(cols["institution_number"])))
    prefs = Counter(r["prefecture_code"] for r in rows_out if r["prefecture_code"])
    return {"as_of": as_of, "prefecture_code": prefs.most_common(1)[0][0] if prefs else None, "rows": rows_out,
            "findings": findings, "sheets": used, "header_row": header_row}


def assert_same(path: Path) -> reg.RegisterParse:
    parsed = reg.parse_register(path)
    expected = reference(path)
    assert parsed.rows == expected["rows"]
    assert [list(r) for r in parsed.rows] == [list(reg.ROW_KEYS)] * len(parsed.rows)
    assert parsed.findings == expected["findings"]
    assert (parsed.as_of, parsed.prefecture_code, parsed.sheets, parsed.header_row) == (
        expected["as_of"], expected["prefecture_code"], expected["sheets"], expected["header_row"])
    assert parsed.roster == reg.build_roster(expected["rows"])
    return parsed


EDGE_ROWS: list[list[Any]] = [
    [], [TITLE], [], HEADER,
    _row(1, "0110056", "水戸赤十字病院", "医療ＤＸ推進体制整備加算", "医療ＤＸ", "令和 6年 6月 1日"),
    _row(1, "0110056", "水戸赤十字病院", "在宅療養支援病院", "支援病３", "平成30年 4月 1日"),
    _row(2, "0110064", "水戸在宅クリニック", "在宅療養支援診療所", "支援診２", "令和 4年10月 1日", muni="082015"),
    _row(3, "0110057", "検査番号ちがい医院", "在宅療養支援診療所", "支援診３", "令和 元年 5月 1日"),
    _row(4, "0110072", "歯科併設病院", "在宅療養支援歯科病院", "歯援病", "そのうち"),
    [],
    [None] * 24,
    _row(5, "01100", "短い番号", "在宅療養支援診療所", "支援診１", "2025/04/01", pref="27"),
    _row(6, "", "番号なし", "x", "支援診１", 45000, pref=""),
    _row(7, "", "", "", "", "", pref=""),
    _row(8, 110064.0, "数値の番号", "在宅療養支援診療所", "支援診１", dt.datetime(2024, 4, 1), pref=8.0, muni="12"),
    _row(9, "0110056", "読めない日付", "在宅療養支援診療所", "支援診１", "令和99年99月99日"),
    _row(10, "0110056", "重複", "x", "支援診1", "令和 6年 6月 1日", pref="０８"),
    _row(11, "０１１００６４", "全角の番号", "x", "支援病２", "R6.6.1", muni="ABC"),
    [], [],
]


def _with_score(rows: list[list[Any]], **by_index: str) -> list[list[Any]]:
    out = [list(r) for r in rows]
    for i, score in by_index.items():
        out[int(i[1:])][3] = score
    return out


def test_edge_rows_xlsx(tmp_path):
    parsed = assert_same(write_xlsx(tmp_path / "edges.xlsx", EDGE_ROWS, sheet="Sheet1"))
    assert {f.code for f in parsed.findings} == {
        "invalid_check_digit", "invalid_value", "invalid_institution_number", "prefecture_outside_jurisdiction"}


def test_several_sheets_unknown_score_table_and_a_sheet_without_a_required_column(tmp_path):
    without_symbol = [[h for h in HEADER if h != "受理記号"], EDGE_ROWS[4][:14] + EDGE_ROWS[4][15:]]
    path = write_xlsx(tmp_path / "sheets.xlsx", _with_score(EDGE_ROWS, r15="歯科", r16="不明"), sheet="S2",
                      before={"説明": [["説明"]], "欠落": without_symbol, "S1": EDGE_ROWS})
    parsed = assert_same(path)
    assert parsed.sheets == ["欠落", "S1", "S2"] and "missing_column" in {f.code for f in parsed.findings}
    assert "unknown_score_table" in {f.code for f in parsed.findings}


def test_csv_short_rows_without_a_score_table_column(tmp_path):
    header = [h for h in HEADER if h != "区分"]
    rows = [[TITLE], header] + [[c for i, c in enumerate(r) if i != 3][:17] if len(r) > 3 else r for r in EDGE_ROWS[4:]]
    path = write_csv(tmp_path / "short.csv", [["" if c is None else c for c in r] for r in rows], "cp932")
    assert_same(path)


def test_csv_whitespace_of_every_kind_and_a_nul_after_the_first_8_kb(tmp_path):
    """Text columns: every whitespace \\s matches (tab, full-width space, U+001C…U+001F, U+0085, U+2028) collapses
    to one space as normalize.to_text does, and a NUL (only possible after the binary sniff's 8 KB) becomes
    U+FFFD (storable), as to_text gives."""
    filler = [_row(20 + i, "0110056", f"水戸赤十字病院{i}", "x", "医療ＤＸ", "令和 6年 6月 1日") for i in range(60)]
    odd = _row(99, "0110064", "\u3000在宅\t\x1cクリニック\u0085\u2028 ", "在宅療養支援診療所\x1f", "支援診２",
               "令和 4年10月 1日")
    odd[9] = "水戸市\x00三の丸\u3000\u3000３－１２"
    odd[10] = "029-221\x00-5177"  # a plain column (電話番号): stored as text too, so storable the same way
    rows = [[TITLE], HEADER, *filler, odd]
    path = write_csv(tmp_path / "ws.csv", rows, "utf-8")
    assert path.read_bytes().index(b"\x00") > 8192
    parsed = assert_same(path)
    last = parsed.rows[-1]
    assert (last["institution_name"], last["address"], last["notification_name"]) == (
        "在宅 クリニック", "水戸市\ufffd三の丸 ３－１２", "在宅療養支援診療所")
    assert last["phone"] == "029-221\ufffd-5177"


def test_real_registers(meibo_files):
    for path in meibo_files[:3]:  # the others are in tests/intake/test_register.py, exactly
        assert_same(path)


def test_rows_of_one_institution_share_its_code():
    parsed = reg.parse_register(next((Path(__file__).parents[2] / "include" / "demo" / "register").glob("19*.xlsx")))
    first, second = parsed.rows[1], parsed.rows[2]
    assert first["institution_code"] == second["institution_code"]
    assert first["institution_code"] is second["institution_code"]  # one string per institution (memory)


@pytest.mark.parametrize("rows", [[], [[TITLE], [], HEADER]], ids=["empty", "header_only"])
def test_no_rows(tmp_path, rows):
    path = write_xlsx(tmp_path / "x.xlsx", rows or [["a"]])
    if not rows:
        with pytest.raises(Exception, match="header"):
            reg.parse_register(path)
        return
    parsed = assert_same(path)
    assert parsed.rows == [] and parsed.roster == [] and parsed.prefecture_code is None


def test_load_register_takes_spreadsheet_typed_values_one_by_one(warehouse):
    """load_register builds its rows column by column; columns that are not text-or-None (numbers, datetimes,
    ISO text dates, missing optional keys) go through as_text/as_date one by one, as they always did."""
    from types import SimpleNamespace

    from tsunagu.model import RosterEntry

    base = {k: None for k in reg.ROW_KEYS if k not in ("sheet", "row")}
    rows = [
        {**base, "prefecture_code": "08", "score_table": "1", "institution_number": "0110056",
         "institution_code": "0810110056", "institution_name": "水戸病院", "notification_symbol": "支援病３",
         "start_date": dt.date(2024, 6, 1), "sheet": "S", "row": 5},
        {**base, "prefecture_code": "", "score_table": 1.0, "institution_number": 110064.0,
         "institution_code": "0810110064", "beds": 19, "phone": "", "notification_symbol": "支援診２",
         "start_date": dt.datetime(2024, 4, 1, 0, 0), "sheet": "S", "row": "6"},
        {"prefecture_code": None, "institution_number": "0110072", "start_date": "2023-05-01", "sheet": 7, "row": 7.0},
    ]
    roster = [RosterEntry("0810110064", "0110064", "08", "在宅", "clinic", "enhanced_network", "支援診２", None, None)]
    parse = SimpleNamespace(prefecture_code="08", as_of=dt.datetime(2025, 9, 1, 12, 0), rows=rows, roster=roster)
    assert warehouse.load_register(parse, sha256="f" * 64).rows == 3
    got = [{k: r[k] for k in ("prefecture_code", "as_of", "score_table", "institution_number", "beds", "phone",
                              "start_date", "source_sheet", "source_row")}
           for r in sorted(warehouse.register_entries("08"), key=lambda r: r["source_row"])]
    assert got == [
        {"prefecture_code": "08", "as_of": dt.date(2025, 9, 1), "score_table": "1", "institution_number": "0110056",
         "beds": None, "phone": None, "start_date": dt.date(2024, 6, 1), "source_sheet": "S", "source_row": 5},
        {"prefecture_code": "08", "as_of": dt.date(2025, 9, 1), "score_table": "1", "institution_number": "110064",
         "beds": "19", "phone": None, "start_date": dt.date(2024, 4, 1), "source_sheet": "S", "source_row": 6},
        {"prefecture_code": "08", "as_of": dt.date(2025, 9, 1), "score_table": None, "institution_number": "0110072",
         "beds": None, "phone": None, "start_date": dt.date(2023, 5, 1), "source_sheet": "7", "source_row": 7},
    ]
    with warehouse.read() as conn:
        lineage = conn.exec_driver_sql(
            "SELECT institution_code, source_sheet, source_row FROM home_care_roster").all()
    assert [tuple(r) for r in lineage] == [("0810110064", "S", 6)]


def test_a_parse_travels_as_columns_and_loads_as_its_rows_would(warehouse):
    """A parse worker sends columns back (no row dicts to pickle); loading them gives exactly the rows and
    lineage that loading the same rows as dicts gives."""
    import pickle
    from types import SimpleNamespace

    parsed = reg.parse_register(next((Path(__file__).parents[2] / "include" / "demo" / "register").glob("19*.xlsx")))
    assert list(parsed.columns) == list(reg.ROW_KEYS)
    assert {len(c) for c in parsed.columns.values()} == {parsed.row_count}
    assert parsed.row_count == len(parsed.rows) > 0
    assert "rows" not in vars(parsed)  # the dicts are built on demand, never sent
    travelled = pickle.loads(pickle.dumps(parsed))
    assert travelled.rows == parsed.rows and travelled.roster == parsed.roster

    def entries() -> tuple[list, list]:
        with warehouse.read() as conn:
            return ([tuple(r) for r in conn.exec_driver_sql(
                        "SELECT * FROM register_entries ORDER BY source_sheet, source_row").all()],
                    [tuple(r) for r in conn.exec_driver_sql(
                        "SELECT * FROM home_care_roster ORDER BY institution_code").all()])

    pref = parsed.prefecture_code
    assert warehouse.load_register(travelled, sha256="e" * 64).rows == parsed.row_count
    from_columns = entries()
    as_dicts = SimpleNamespace(prefecture_code=pref, as_of=parsed.as_of, rows=parsed.rows, roster=parsed.roster)
    assert warehouse.load_register(as_dicts, sha256="e" * 64).rows == parsed.row_count
    assert entries() == from_columns
    assert len(from_columns[0]) == parsed.row_count and from_columns[1]
