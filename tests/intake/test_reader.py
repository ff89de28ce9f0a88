from __future__ import annotations

import datetime as dt
import io
import os
import zipfile

import olefile
import pytest

from tsunagu.findings import UnreadableFile
from tsunagu.intake.home_care_report import parse_home_care_report
from tsunagu.intake.reader import read_sheets
from tsunagu.intake.templates import load_template

from .builders import FLAT_HEADER, encrypted_xlsx, write_csv, write_xlsx, zip_bomb


def _code(path, **kw) -> tuple[str, str, str]:
    with pytest.raises(UnreadableFile) as exc:
        read_sheets(path, **kw)
    e = exc.value
    assert e.message_ja and e.message_en
    assert e.finding().code == e.code and e.finding().severity == "error"
    return e.code, e.message_ja, e.message_en


def test_xlsx_rows_start_at_a1(tmp_path):
    path = write_xlsx(tmp_path / "a.xlsx", [[], [None, "見出し", 1, dt.date(2025, 8, 1)]])
    (sheet,) = read_sheets(path)
    assert (sheet.name, sheet.source_format, sheet.encoding) == ("集計表", "xlsx", None)
    assert sheet.rows[1][1:4] == ["見出し", 1.0, dt.date(2025, 8, 1)]
    assert all(c == "" for c in sheet.rows[0])


def test_encrypted_workbook(tmp_path):
    code, ja, en = _code(encrypted_xlsx(tmp_path / "locked.xlsx"))
    assert code == "encrypted_workbook"
    assert "パスワード" in ja and "password" in en


def test_minimal_ole_with_encryption_streams(tmp_path):
    # Same container shape as an encrypted OOXML file, built without msoffcrypto.
    ole_path = tmp_path / "enc.xlsx"
    plain = encrypted_xlsx(tmp_path / "plain_enc.xlsx")
    ole_path.write_bytes(plain.read_bytes())
    with olefile.OleFileIO(str(ole_path)) as ole:
        assert {"EncryptionInfo", "EncryptedPackage"} <= {"/".join(s) for s in ole.listdir()}
    assert _code(ole_path)[0] == "encrypted_workbook"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.xlsx", b"", "empty_file"),
        ("image.xlsx", b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "not_a_spreadsheet"),
        ("random.xlsx", bytes(range(256)) * 40, "not_a_spreadsheet"),
        ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "unsupported_pdf"),
        ("renamed.xlsx", b"%PDF-1.4\n", "unsupported_pdf"),
        ("truncated.xlsx", b"PK\x03\x04\x14\x00\x00\x00\x08\x00garbage", "corrupt_file"),
        ("page.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>", "not_a_spreadsheet"),
        ("blank.csv", b"\xef\xbb\xbf  \r\n", "empty_file"),
    ],
)
def test_unreadable_files(tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    assert _code(path)[0] == expected


def test_pdf_message_asks_for_excel_or_csv(tmp_path):
    path = tmp_path / "r.pdf"
    path.write_bytes(b"%PDF-1.4\n")
    _, ja, en = _code(path)
    assert ja == "PDFファイルは取り込めません。集計表をExcel（.xlsx）またはCSV形式で再送してください。"
    assert "Excel (.xlsx) or CSV" in en


def test_zip_bomb_by_ratio(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx")
    assert path.stat().st_size < 1024 * 1024
    code, ja, _ = _code(path)
    assert code == "decompression_bomb"
    assert "圧縮率" in ja


def test_zip_bomb_by_total_size(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx", declared=8 * 1024 * 1024)
    assert _code(path, max_uncompressed=4 * 1024 * 1024, max_ratio=10**9)[0] == "decompression_bomb"


def test_corrupt_xlsx_member(tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", [FLAT_HEADER])
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # cut the XML in half
            dst.writestr(info, data)
    assert _code(bad)[0] == "corrupt_file"


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "docs.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<document/>")
    assert _code(path)[0] == "not_a_spreadsheet"
    path2 = tmp_path / "misc.xlsx"
    with zipfile.ZipFile(path2, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert _code(path2)[0] == "not_a_spreadsheet"


def test_ole_that_is_not_a_workbook(tmp_path):
    # A Word 97 document has an OLE container too, but no Workbook stream.
    path = tmp_path / "doc.xls"
    data = io.BytesIO()
    import struct

    # Minimal valid CFB: header + one FAT sector + one directory sector (root entry only).
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 40, 0, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE)
    struct.pack_into("<I", header, 72, 0)  # no DIFAT sectors
    struct.pack_into("<I", header, 76, 0)  # FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<II", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE)  # sector 0: FAT, sector 1: end of directory chain
    directory = bytearray(512)
    name = "Root Entry".encode("utf-16-le") + b"\0\0"
    directory[0:len(name)] = name
    struct.pack_into("<HBB", directory, 64, len(name), 5, 1)
    struct.pack_into("<III", directory, 68, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    struct.pack_into("<I", directory, 116, 0xFFFFFFFE)
    for off in (128, 256, 384):
        struct.pack_into("<III", directory, off + 68, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    data.write(bytes(header) + bytes(fat) + bytes(directory))
    path.write_bytes(data.getvalue())
    assert _code(path)[0] == "not_a_spreadsheet"


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_csv_encodings_detected(tmp_path, encoding):
    path = write_csv(tmp_path / "a.csv", [["医療機関番号", "名称"], ["0110056", "髙橋クリニック①"]], encoding)
    (sheet,) = read_sheets(path)
    assert (sheet.source_format, sheet.encoding) == ("csv", encoding)
    assert sheet.rows == [["医療機関番号", "名称"], ["0110056", "髙橋クリニック①"]]


def test_tab_separated_utf16(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes("医療機関番号\t名称\r\n0110056\t水戸\r\n".encode("utf-16"))
    (sheet,) = read_sheets(path)
    assert sheet.encoding == "utf-16"
    assert sheet.rows == [["医療機関番号", "名称"], ["0110056", "水戸"]]


def test_csv_quoted_line_breaks_keep_record_numbers(tmp_path):
    path = write_csv(tmp_path / "q.csv", [["医療機関番号", "医療機関名称", "合計診療患者数"],
                                          ["0110056", "水戸\n在宅クリニック", "1"], ["0110064", "笠間", "2"]], "utf-8")
    table = parse_home_care_report(path, template=load_template("home_care_report", "2024-08"),
                                   prefecture_code="08", fiscal_year=2025)
    assert [(r.row, r.values["institution_name"]) for r in table.rows] == [(2, "水戸 在宅クリニック"), (3, "笠間")]


def test_unreadable_propagates_from_parser(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFile) as exc:
        parse_home_care_report(path, template=load_template("home_care_report"))
    assert exc.value.code == "empty_file"


def test_sheet_too_large_is_refused_before_building_the_grid(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "医療機関番号"
    wb.active.cell(row=1000, column=100).value = 1  # one stray value far away: 100,000 cells
    wb.save(tmp_path / "far.xlsx")
    assert _code(tmp_path / "far.xlsx", max_cells=50_000)[0] == "sheet_too_large"
    assert len(read_sheets(tmp_path / "far.xlsx")[0].rows) == 1000
