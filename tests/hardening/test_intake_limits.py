"""The reader's limits: a file is refused early, with a message that fits the case, or read in bounded memory.

Small files made to cross each limit (the limits are parameters of read_sheets); the memory each case
really takes is measured in test_intake_memory.py (slow). A refused workbook never reaches calamine: a
1.5 KB xlsx with one value in XFD1048576 would make it ask for 512 GiB at once and abort the process.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from tsunagu.findings import UnreadableFile
from tsunagu.intake import reader, scan_xlsx
from tsunagu.intake.reader import Limits, read_sheets

WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="集計表" sheetId="1" r:id="rId1"/></sheets></workbook>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        '</Relationships>')
TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
         'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
         'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
         'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
         '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
         'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
         'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
             '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')


def xlsx(path: Path, sheet_data: str, shared: list[str] = (), *, sheet_xml: str | None = None) -> Path:
    """An xlsx written by hand: the sheet's <sheetData> (or its whole XML) as given, as a generator or an
    attacker writes it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        z.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                   'openxmlformats.org/spreadsheetml/2006/main">' + "".join(f"<si><t>{t}</t></si>" for t in shared)
                   + "</sst>")
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml or '<?xml version="1.0" encoding="UTF-8"?><worksheet '
                   'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>' + sheet_data
                   + "</sheetData></worksheet>")
    return path


def refused(path: Path, **limits) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as exc:
        read_sheets(path, **limits)
    return exc.value


# --------------------------------------------------------------------------- CSV, streamed


def test_csv_too_many_cells(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(("a," * 99 + "a\n") * 30, encoding="utf-8")
    e = refused(path, max_cells=2_500)
    assert e.code == "too_many_cells"
    assert e.message_ja == ("セルの数が多すぎます（26行目までで2,600個、上限 2,500個。ファイルの大きさ 5.9 KiB）。"
                            "不要な行・列を削除して再送してください。")
    assert e.message_en == ("Too many cells (2,600 by row 26; the limit is 2,500; the file is 5.9 KiB). Please delete "
                            "unused rows and columns and send it again.")


def test_csv_too_many_rows(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("医療機関番号\n" + "0110056\n" * 20, encoding="cp932")
    e = refused(path, max_rows=10)
    assert e.code == "too_many_rows"
    assert e.message_ja.startswith("行数が多すぎます（10行を超えています。ファイルの大きさ ")


@pytest.mark.parametrize("length", [40, 200_000])  # over our limit; over the csv module's own field limit too
def test_csv_cell_too_long(tmp_path, length):
    path = tmp_path / "cell.csv"
    path.write_text('医療機関番号,備考\n0110056,"' + "長" * length + '"\n', encoding="utf-8")
    e = refused(path, max_cell_chars=30)
    assert e.code == "cell_too_long"
    assert e.message_ja == ("2行目に30文字（Excelの1セルの上限）を超えるセルがあります。表の形式のファイルか確認してください。"
                            "Excel（.xlsx）またはCSV形式で保存し直して、再送してください。")


def test_csv_line_too_long_is_not_read_whole(tmp_path):
    path = tmp_path / "oneline.csv"
    path.write_bytes(b"a" * (3 * 1024 * 1024))
    e = refused(path, max_line_chars=1024 * 1024)
    assert e.code == "line_too_long"
    assert e.message_ja == ("1行目が長すぎます（1,048,576文字を超えています。ファイルの大きさ 3.0 MiB）。"
                            "表の形式のCSVか確認してください。Excel（.xlsx）またはCSV形式で保存し直して、再送してください。")


def test_csv_too_large_in_memory(tmp_path):
    path = tmp_path / "fat.csv"
    path.write_text("医療機関番号,備考\n" + ("0110056," + "y" * 1000 + "\n") * 2000, encoding="utf-8")
    e = refused(path, max_grid_bytes=1024 * 1024)
    assert e.code == "too_large"
    assert e.message_ja == ("ファイルの内容が大きすぎるため、読み込みを中止しました（読み込むと886行目までで約 1.0 MiB、"
                            "上限 1.0 MiB。ファイルの大きさ 1.9 MiB）。不要な行・列を削除して再送してください。")


def test_csv_file_too_large(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" * 300_000)
    e = refused(path, max_uncompressed=1024 * 1024)
    assert (e.code, e.message_ja) == ("file_too_large", "ファイルが大きすぎます（1.1 MiB、上限 1.0 MiB）。")


def test_csv_encoding_is_judged_on_the_whole_file(tmp_path):
    """CP932 text after two megabytes of ASCII: still CP932 (the file is checked chunk by chunk, not sampled)."""
    path = tmp_path / "late.csv"
    path.write_bytes(b"no,name\n" + b"1,abc\n" * 400_000 + "2,髙橋クリニック①\n".encode("cp932"))
    (sheet,) = read_sheets(path)
    assert sheet.encoding == "cp932" and sheet.rows[-1] == ["2", "髙橋クリニック①"]


def test_memory_error_is_not_called_a_bomb(tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise MemoryError

    monkeypatch.setattr(reader, "_read_sheets", boom)
    path = tmp_path / "a.csv"
    path.write_text("a\n", encoding="utf-8")
    e = refused(path)
    assert e.code == "too_large"
    assert e.message_ja.startswith("ファイルの内容が大きすぎてメモリに収まらないため、読み込みを中止しました。")


# --------------------------------------------------------------------------- workbooks, measured before calamine


def test_one_far_value_is_refused_before_calamine_allocates(tmp_path):
    path = xlsx(tmp_path / "far.xlsx", '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
                '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', ["医療機関番号"])
    assert path.stat().st_size < 2048
    e = refused(path)
    assert e.code == "sheet_too_large"
    assert e.message_ja == ("シート『集計表』が大きすぎます（1,048,576行×16,384列 = 17,179,869,184セル、上限 4,000,000セル）。"
                            "不要な行・列を削除して再送してください。")


def test_styled_empty_cells_far_away_do_not_count(tmp_path):
    """Borders drawn down to row 60,000 are cells without a value: calamine leaves them out, and so does the scan."""
    styled = "".join(f'<row r="{r}"><c r="GR{r}" s="1"/></row>' for r in range(3, 60_001, 7))
    path = xlsx(tmp_path / "styled.xlsx", '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>5</v></c></row>'
                '<row r="2"><c r="B2"><v>6</v></c><c r="GR2" s="1"/></row>' + styled, ["医療機関番号"])
    (sheet,) = read_sheets(path, max_cells=10)
    assert sheet.rows == [["医療機関番号", 5.0], ["", 6.0]]


def test_cells_without_their_place_written(tmp_path):
    """<c> without r= (some generators): placed after the previous one, as calamine does; bounded by the widest row."""
    rows = "".join(f"<row>{'<c><v>1</v></c>' * 3}</row>" for _ in range(4))
    path = xlsx(tmp_path / "implicit.xlsx", rows)
    (sheet,) = read_sheets(path, max_cells=12)
    assert sheet.rows == [[1.0, 1.0, 1.0]] * 4
    assert refused(path, max_cells=11).code == "sheet_too_large"


def test_shared_string_copied_into_every_cell(tmp_path):
    """calamine gives every cell its own copy of a shared string: 27 KB of xlsx would become 440 MB."""
    cells = "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>0</v></c></row>' for i in range(1, 5001))
    path = xlsx(tmp_path / "copies.xlsx", cells, ["医" * 30_000])
    assert path.stat().st_size < 40_000
    e = refused(path)
    assert e.code == "too_large"
    assert e.message_ja.startswith("ファイルの内容が大きすぎるため、読み込みを中止しました（読み込むと約 ")
    assert "上限 448 MiB。ファイルの大きさ " in e.message_ja
    # The same cells with a short string are read.
    (sheet,) = read_sheets(xlsx(tmp_path / "fine.xlsx", cells, ["水戸在宅クリニック"]))
    assert len(sheet.rows) == 5000 and sheet.rows[-1] == ["水戸在宅クリニック"]


def test_workbook_over_the_cell_limit(tmp_path):
    rows = "".join(f'<row r="{r}">' + "".join(f'<c r="{c}{r}"><v>1</v></c>' for c in "ABCDEFGHIJ") + "</row>"
                   for r in range(1, 101))
    path = xlsx(tmp_path / "cells.xlsx", rows)
    assert len(read_sheets(path, max_cells=1000)[0].rows) == 100
    e = refused(path, max_cells=999)
    assert e.code == "sheet_too_large" and "100行×10列 = 1,000セル、上限 999セル" in e.message_ja


ODS_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
            'opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
            '<office:spreadsheet><table:table table:name="集計表">')
ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"
CELL = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'


def ods(path: Path, rows: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", ODS_HEAD + rows + ODS_TAIL)
        z.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                   '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
                   'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                   '</manifest:manifest>')
    return path


def test_ods_repeated_cells(tmp_path):
    """800 bytes that repeat one cell 1,000 × 100,000 times: calamine would build 100 million cells (12 GB)."""
    bomb = ods(tmp_path / "bomb.ods", '<table:table-row table:number-rows-repeated="100000"><table:table-cell '
               'office:value-type="string" table:number-columns-repeated="1000"><text:p>x</text:p></table:table-cell>'
               '</table:table-row>')
    assert bomb.stat().st_size < 1024
    e = refused(bomb)
    assert e.code == "sheet_too_large" and e.message_ja.startswith("シート『集計表』が大きすぎます（")
    # LibreOffice pads every sheet with repeated empty rows and cells: they are not content.
    padded = ods(tmp_path / "padded.ods", f'<table:table-row>{CELL}<table:table-cell table:number-columns-repeated='
                 '"1023"/></table:table-row><table:table-row table:number-rows-repeated="1048575"><table:table-cell '
                 'table:number-columns-repeated="1024"/></table:table-row>')
    (sheet,) = read_sheets(padded, max_cells=10)
    assert sheet.rows == [["x"]]


def _record(rtype: int, data: bytes) -> bytes:
    """An xlsb record: its type and size as 7-bit varints, then the data."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return varint(rtype) + varint(len(data)) + data


def test_xlsb_far_value(tmp_path):
    sheet = (_record(0, struct.pack("<I", 0) + b"\0" * 13) + _record(5, struct.pack("<IIq", 0, 0, 0))
             + _record(0, struct.pack("<I", 1_048_575) + b"\0" * 13)
             + _record(5, struct.pack("<IId", 16_383, 0, 1.0)))
    path = tmp_path / "far.xlsb"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.bin", b"")
        z.writestr("xl/worksheets/sheet1.bin", sheet)
    e = refused(path)
    assert e.code == "sheet_too_large" and "1,048,576行×16,384列" in e.message_ja


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) makes the xls files")
def test_xls_far_value_and_shared_strings(tmp_path):
    """xls (BIFF8) as LibreOffice writes it: the last cell of the sheet; one long string in many cells."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "医療機関番号"
    wb.active["IV65536"] = 1
    wb.save(tmp_path / "far.xlsx")
    wb = openpyxl.Workbook()
    for r in range(1, 401):
        wb.active.cell(row=r, column=1, value="医" * 5000)
    wb.save(tmp_path / "copies.xlsx")
    profile = (tmp_path / "lo-profile").as_uri()
    for name in ("far", "copies"):
        subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "xls",
                        "--outdir", str(tmp_path), str(tmp_path / f"{name}.xlsx")], check=True, capture_output=True,
                       timeout=120)
    e = refused(tmp_path / "far.xls")
    assert e.code == "sheet_too_large" and "65,536行×256列" in e.message_ja
    assert refused(tmp_path / "copies.xls", max_grid_bytes=8 * 1024 * 1024).code == "too_large"  # 400 × 15 KB
    (sheet,) = read_sheets(tmp_path / "copies.xls")
    assert len(sheet.rows) == 400 and sheet.rows[0] == ["医" * 5000]


def test_real_register_is_read_and_well_within_the_budget(meibo_files):
    """The largest real register (埼玉, 853,080 cells): read as before, its estimate a third of the budget."""
    path = max(meibo_files, key=lambda p: p.stat().st_size)
    with zipfile.ZipFile(path) as zf:
        footprint = scan_xlsx._scan_xlsx(zf, {i.filename for i in zf.infolist()}, Limits())
    (area,) = footprint.areas
    (sheet,) = read_sheets(path)
    assert (area.rows, area.cols) == (len(sheet.rows), len(sheet.rows[0]))
    assert footprint.estimate() < reader.DEFAULT_MAX_GRID_BYTES / 2


@pytest.mark.parametrize("sheet_xml", [
    # a namespace prefix on every tag (some .NET writers)
    '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData><x:row r="1">'
    '<x:c t="s" r="B2"><x:v>0</x:v></x:c></x:row><x:row r="9"><x:c r="Z9" s="1"><x:v>5</x:v></x:c><x:c r="AZ9" s="1"/>'
    "</x:row></x:sheetData></x:worksheet>",
    # indented, r= last, single quotes
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>\n  <row r="1">\n'
    '    <c s="1" t="s" r="C3">\n      <v>0</v>\n    </c>\n    <c t=\'n\' r=\'AB12\'><v>1</v></c>\n  </row>\n'
    "</sheetData></worksheet>",
])
def test_scan_matches_calamine_on_unusual_xml(tmp_path, sheet_xml):
    from python_calamine import CalamineWorkbook

    path = xlsx(tmp_path / "odd.xlsx", "", ["医療機関番号"], sheet_xml=sheet_xml)
    with zipfile.ZipFile(path) as zf:
        (area,) = scan_xlsx._scan_xlsx(zf, {i.filename for i in zf.infolist()}, Limits()).areas
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("集計表")
    assert (area.rows, area.cols) == (sheet.end[0] + 1, sheet.end[1] + 1)


@pytest.mark.parametrize("seed", range(12))
def test_scan_matches_calamine_on_random_sheets(tmp_path, seed):
    """Values, texts, booleans and styled empty cells anywhere in A1:BH3000: the scan finds calamine's rectangle."""
    import random

    import openpyxl
    from openpyxl.styles import PatternFill
    from python_calamine import CalamineWorkbook

    rnd = random.Random(seed)
    wb = openpyxl.Workbook()
    for _ in range(rnd.randint(1, 40)):
        cell = wb.active.cell(row=rnd.randint(1, 3000), column=rnd.randint(1, 60))
        kind = rnd.random()
        if kind < 0.3:
            cell.fill = PatternFill("solid", start_color="FFFF0000")
        else:
            cell.value = rnd.random() if kind < 0.6 else True if kind < 0.7 else "医療" * rnd.randint(1, 5)
    wb.save(tmp_path / "r.xlsx")
    with zipfile.ZipFile(tmp_path / "r.xlsx") as zf:
        (area,) = scan_xlsx._scan_xlsx(zf, {i.filename for i in zf.infolist()}, Limits()).areas
    sheet = CalamineWorkbook.from_path(str(tmp_path / "r.xlsx")).get_sheet_by_name("Sheet")
    want = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
    assert (area.rows, area.cols) == want
