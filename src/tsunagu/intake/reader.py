"""Reading what offices send, safely.

The file type is decided by its first bytes, never by its extension. Anything that
cannot be read as a spreadsheet raises UnreadableFile with a message a clerk can act
on; no other exception leaves read_sheets(), and nothing is decompressed before the
zip's declared sizes have been checked.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile

MIB = 1024 * 1024
DEFAULT_MAX_UNCOMPRESSED = 200 * MIB
DEFAULT_MAX_RATIO = 200
DEFAULT_MAX_CELLS = 20_000_000  # a sheet larger than this is not an office's tabulation

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = {  # well-known non-spreadsheet formats, for a clearer message
    b"\x89PNG": "PNG画像 / PNG image",
    b"\xff\xd8\xff": "JPEG画像 / JPEG image",
    b"GIF8": "GIF画像 / GIF image",
    b"II*\x00": "TIFF画像 / TIFF image",
    b"MM\x00*": "TIFF画像 / TIFF image",
    b"Rar!": "RAR圧縮ファイル / RAR archive",
    b"7z\xbc\xaf": "7z圧縮ファイル / 7z archive",
    b"\x1f\x8b": "gzip圧縮ファイル / gzip archive",
    b"MZ": "実行ファイル / executable",
    b"\x7fELF": "実行ファイル / executable",
}
# Ratios are only meaningful for members big enough to matter.
_RATIO_FLOOR = 1 * MIB


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # rows[i] is Excel row i + 1 (CSV: line i + 1, the header being line 1)
    source_format: str  # xlsx | xlsm | xlsb | xls | ods | csv
    encoding: str | None = None  # CSV only


def _unreadable(code: str, ja: str, en: str) -> UnreadableFile:
    return UnreadableFile(code, ja, en)


def _resend_hint_ja() -> str:
    return "Excel（.xlsx）またはCSV形式で保存し直して、再送してください。"


def _resend_hint_en() -> str:
    return "Please save it as Excel (.xlsx) or CSV and send it again."


def read_sheets(
    path: Path,
    *,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    max_ratio: int = DEFAULT_MAX_RATIO,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> list[Sheet]:
    """Every sheet of a workbook (or the one table of a CSV), as rows of Python values.

    Numbers come back as float (int for CSV text is left as text), dates as date/datetime,
    blanks as ''. Rows start at Excel row 1 and column A even when the sheet's data starts
    lower or further right, so that indexes map straight to cell addresses.
    """
    try:
        return _read_sheets(Path(path), max_uncompressed, max_ratio, max_cells)
    except UnreadableFile:
        raise
    except MemoryError:
        raise _unreadable(
            "decompression_bomb",
            "ファイルを展開するとメモリに収まらない大きさになるため、読み込みを中止しました。" + _resend_hint_ja(),
            "Reading stopped: the file expands to more data than fits in memory. " + _resend_hint_en(),
        ) from None
    except Exception as exc:  # anything else a broken file can make a reader do
        raise _unreadable(
            "corrupt_file",
            f"ファイルが壊れているため読み込めません（{type(exc).__name__}）。" + _resend_hint_ja(),
            f"The file is damaged and cannot be read ({type(exc).__name__}: {exc}). " + _resend_hint_en(),
        ) from None


def _read_sheets(path: Path, max_uncompressed: int, max_ratio: int, max_cells: int) -> list[Sheet]:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _unreadable(
            "unreadable_file", f"ファイルを開けません（{exc.strerror}）。", f"The file cannot be opened: {exc}."
        ) from None
    if size == 0:
        raise _unreadable(
            "empty_file",
            "ファイルが空です（0バイト）。内容を確認して再送してください。",
            "The file is empty (0 bytes). Please check it and send it again.",
        )
    if head.startswith(b"%PDF"):
        raise _unreadable(
            "unsupported_pdf",
            "PDFファイルは取り込めません。集計表をExcel（.xlsx）またはCSV形式で再送してください。",
            "PDF files cannot be loaded. Please send the tabulated data again as Excel (.xlsx) or CSV.",
        )
    if head.startswith(_ZIP_MAGIC):
        return _read_zip_workbook(path, max_uncompressed, max_ratio, max_cells)
    if head.startswith(_OLE_MAGIC):
        return _read_ole_workbook(path, max_cells)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise _not_a_spreadsheet(what)
    if size > max_uncompressed:
        raise _unreadable(
            "file_too_large",
            f"ファイルが大きすぎます（{size // MIB} MiB、上限 {max_uncompressed // MIB} MiB）。",
            f"The file is too large ({size // MIB} MiB; the limit is {max_uncompressed // MIB} MiB).",
        )
    return [_read_csv(path.read_bytes())]


def _not_a_spreadsheet(what: str | None = None) -> UnreadableFile:
    ja_what, en_what = (what.split(" / ") + [""])[:2] if what else ("", "")
    ja = f"このファイルは表計算ファイルではありません{f'（{ja_what}）' if ja_what else ''}。"
    en = f"This file is not a spreadsheet{f' ({en_what})' if en_what else ''}. "
    return _unreadable("not_a_spreadsheet", ja + _resend_hint_ja(), en + _resend_hint_en())


def _encrypted() -> UnreadableFile:
    return _unreadable(
        "encrypted_workbook",
        "ファイルにパスワードが設定されているため読み込めません。パスワードを解除して保存し直し、再送してください"
        "（パスワードは別途お知らせいただく必要はありません）。",
        "The workbook is password-protected and cannot be read. Please remove the password, save it "
        "and send it again.",
    )


def _corrupt(detail: str) -> UnreadableFile:
    return _unreadable(
        "corrupt_file",
        "ファイルが壊れているため読み込めません。" + _resend_hint_ja(),
        f"The file is damaged and cannot be read ({detail}). " + _resend_hint_en(),
    )


def _bomb(detail_ja: str, detail_en: str) -> UnreadableFile:
    return _unreadable(
        "decompression_bomb",
        f"圧縮ファイルの展開後の大きさが異常なため、読み込みを中止しました（{detail_ja}）。",
        f"Reading stopped: the compressed file would expand to an abnormal size ({detail_en}).",
    )


# -- zip containers: xlsx, xlsm, xlsb, ods ------------------------------------------------------------------


def _read_zip_workbook(path: Path, max_uncompressed: int, max_ratio: int, max_cells: int) -> list[Sheet]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            total = sum(i.file_size for i in infos)
            if total > max_uncompressed:
                raise _bomb(
                    f"展開後 {total // MIB} MiB、上限 {max_uncompressed // MIB} MiB",
                    f"{total // MIB} MiB uncompressed; the limit is {max_uncompressed // MIB} MiB",
                )
            for info in infos:
                if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                    ratio = info.file_size // max(info.compress_size, 1)
                    raise _bomb(f"圧縮率 {ratio} 倍、上限 {max_ratio} 倍", f"compression ratio {ratio}:1; "
                                f"the limit is {max_ratio}:1")
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except UnreadableFile:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise _corrupt(f"zip: {exc}") from None

    if "xl/workbook.xml" in names:
        fmt = "xlsm" if any(n == "xl/vbaProject.bin" for n in names) else "xlsx"
    elif "xl/workbook.bin" in names:
        fmt = "xlsb"
    elif mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        fmt = "ods"
    elif "EncryptedPackage" in names:
        raise _encrypted()
    elif "word/document.xml" in names:
        raise _not_a_spreadsheet("Word文書 / Word document")
    elif "ppt/presentation.xml" in names:
        raise _not_a_spreadsheet("PowerPointファイル / PowerPoint file")
    elif any(n.startswith("xl/") for n in names):
        raise _corrupt("xl/workbook.xml is missing")
    else:
        raise _not_a_spreadsheet("ZIP圧縮ファイル / zip archive")
    return _read_calamine(path, fmt, max_cells)


# -- OLE2 compound files: xls, and encrypted OOXML ------------------------------------------------------------


def _read_ole_workbook(path: Path, max_cells: int) -> list[Sheet]:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s) for s in ole.listdir(streams=True, storages=False)}
    except Exception as exc:  # olefile raises OSError and others on damaged containers
        raise _corrupt(f"OLE: {exc}") from None
    lowered = {s.lower() for s in streams}
    if {"encryptioninfo", "encryptedpackage"} & lowered:
        raise _encrypted()
    if not {"workbook", "book"} & lowered:
        if "worddocument" in lowered:
            raise _not_a_spreadsheet("Word文書 / Word document")
        raise _not_a_spreadsheet()
    # xls encrypted with RC4 / XOR (FILEPASS record): msoffcrypto knows how to tell.
    try:
        import msoffcrypto

        with path.open("rb") as fh:
            if msoffcrypto.OfficeFile(fh).is_encrypted():
                raise _encrypted()
    except UnreadableFile:
        raise
    except Exception:  # noqa: S110 - msoffcrypto cannot judge: let calamine try
        pass
    return _read_calamine(path, "xls", max_cells)


# -- calamine ------------------------------------------------------------------------------------------------


def _read_calamine(path: Path, fmt: str, max_cells: int) -> list[Sheet]:
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise _encrypted() from None
    except Exception as exc:
        raise _corrupt(f"{fmt}: {exc}") from None
    sheets: list[Sheet] = []
    try:
        for name in wb.sheet_names:
            sh = wb.get_sheet_by_name(name)
            end = sh.end
            if end is None:  # empty sheet
                sheets.append(Sheet(name=name, rows=[], source_format=fmt))
                continue
            cells = (end[0] + 1) * (end[1] + 1)
            if cells > max_cells:
                raise _unreadable(
                    "sheet_too_large",
                    f"シート『{name}』が大きすぎます（{end[0] + 1}行×{end[1] + 1}列）。不要な行・列を削除して再送してください。",
                    f"Sheet '{name}' is too large ({end[0] + 1} rows × {end[1] + 1} columns). Please delete "
                    "unused rows and columns and send it again.",
                )
            sheets.append(Sheet(name=name, rows=sh.to_python(skip_empty_area=False), source_format=fmt))
    except UnreadableFile:
        raise
    except PasswordError:
        raise _encrypted() from None
    except Exception as exc:
        raise _corrupt(f"{fmt}: {exc}") from None
    finally:
        close = getattr(wb, "close", None)
        if close:
            close()
    return sheets


# -- CSV -----------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    return data.decode("cp932"), "cp932"  # never shift_jis: offices type NEC/IBM extensions (①, ㈱, 髙)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text ("Unicode テキスト")
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 12))
    return controls > len(sample) // 100


def _read_csv(data: bytes) -> Sheet:
    if _looks_binary(data):
        raise _not_a_spreadsheet()
    try:
        text, encoding = _decode(data)
    except UnicodeDecodeError:
        raise _unreadable(
            "unknown_encoding",
            "文字コードを判別できません。CSVはUTF-8またはShift_JIS（Windows標準）で保存してください。",
            "The text encoding could not be recognised. Please save the CSV as UTF-8 or Shift_JIS (Windows).",
        ) from None
    if not text.strip():
        raise _unreadable(
            "empty_file",
            "ファイルに内容がありません。内容を確認して再送してください。",
            "The file has no content. Please check it and send it again.",
        )
    head = text.lstrip()[:2048].lower()
    if head.startswith(("<html", "<!doctype", "<?xml", "<table")) or "<table" in head:
        raise _not_a_spreadsheet("HTML/XML形式（拡張子だけExcel） / HTML or XML saved with an Excel name")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise _corrupt(f"CSV: {exc}") from None
    return Sheet(name="csv", rows=rows, source_format="csv", encoding=encoding)
