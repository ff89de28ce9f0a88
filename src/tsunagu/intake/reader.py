"""Reading what offices send, safely.

The file type is decided by its first bytes, never by its extension. Anything that
cannot be read as a spreadsheet raises UnreadableFile with a message a clerk can act
on; no other exception leaves read_sheets(), and nothing is decompressed before the
zip's declared sizes have been checked.

Memory is bounded for any input: a reading process peaks under 512 MiB (measured in
tests/hardening/test_intake_memory.py). The limits, each refused early with its own code and a
message giving the limit and the file's size:

| limit | default | why | code |
|---|---|---|---|
| file size (CSV, xls, PDF) / a zip's uncompressed total | 200 MiB | | file_too_large / decompression_bomb |
| cells: the grid from A1 (a workbook: each sheet, all sheets) | 4,000,000 | 東京's register is ~2.5M | sheet_too_large / too_many_cells |
| rows | 1,048,576 | Excel's own limit | too_many_rows |
| characters in one cell | 32,767 | Excel's own limit | cell_too_long |
| characters in one CSV line | 1,048,576 | | line_too_long |
| memory of the grid (CSV: counted; workbook: estimated) | 448 MiB | 東京's register is estimated at ~420 | too_large |

A CSV is streamed: its encoding checked chunk by chunk, its rows counted (sys.getsizeof) as they
are read, so a refused file never sits in memory whole. A workbook is measured before calamine
builds its grid, which it does all at once: the whole rectangle from A1 to the farthest value
(32 bytes a cell: a 1.5 KB xlsx with one value in XFD1048576 asks for 512 GiB and aborts the
process), a copy of a shared string in every cell using it (27 KB of xlsx become 440 MB), an
ods's repeated cells repeated (800 bytes become 12 GB). The scanners read the XML or records
(xlsx: numpy over the streamed XML, a third of calamine's own time; xls, xlsb: the records; ods:
the XML) for the farthest value, the values and their text; _Footprint turns that into memory.
A PDF is read in a child process with its own memory cap (intake/pdf.py).

This module is the public read API (read_sheets, Sheet, Limits) and the sniffing of the file type;
limits.py holds the limits and every refusal's message, scan_xlsx.py / scan_ods.py / scan_xls.py the
workbook scanners, scan_csv.py the streamed CSV read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tsunagu.findings import UnreadableFile
from tsunagu.intake.limits import (
    DEFAULT_MAX_CELL_CHARS,
    DEFAULT_MAX_CELLS,
    DEFAULT_MAX_GRID_BYTES,
    DEFAULT_MAX_LINE_CHARS,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_UNCOMPRESSED,
    MIB,
    Limits,
    Sheet,
    _bomb,
    _check_footprint,
    _corrupt,
    _encrypted,
    _file_too_large,
    _not_a_spreadsheet,
    _resend_hint_en,
    _resend_hint_ja,
    _sheet_too_large,
    _too_many_cells,
    _unreadable,
)
from tsunagu.intake.scan_csv import _read_csv
from tsunagu.intake.scan_ods import _scan_ods
from tsunagu.intake.scan_xls import _scan_biff
from tsunagu.intake.scan_xlsx import _scan_xlsb, _scan_xlsx

__all__ = [
    "DEFAULT_MAX_CELL_CHARS", "DEFAULT_MAX_CELLS", "DEFAULT_MAX_GRID_BYTES", "DEFAULT_MAX_LINE_CHARS",
    "DEFAULT_MAX_RATIO", "DEFAULT_MAX_ROWS", "DEFAULT_MAX_UNCOMPRESSED", "MIB", "Limits", "Sheet", "read_sheets",
]

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


def read_sheets(
    path: Path,
    *,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    max_ratio: int = DEFAULT_MAX_RATIO,
    max_cells: int = DEFAULT_MAX_CELLS,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    max_grid_bytes: int = DEFAULT_MAX_GRID_BYTES,
    pdf: bool = False,
) -> list[Sheet]:
    """Every sheet of a workbook (or the one table of a CSV or of a PDF), as rows of Python values.

    Numbers come back as float (int for CSV text is left as text), dates as date/datetime,
    blanks as ''. Rows start at Excel row 1 and column A even when the sheet's data starts
    lower or further right, so that indexes map straight to cell addresses.

    pdf: read a text PDF's ruled table (intake/pdf.py) as one sheet named "pdf" (cells as text);
    without it a PDF is refused ("unsupported_pdf"), as for the kinds that take no PDF.
    """
    limits = Limits(max_uncompressed, max_ratio, max_cells, max_rows, max_cell_chars, max_line_chars,
                    max_grid_bytes)
    try:
        return _read_sheets(Path(path), limits, pdf)
    except UnreadableFile:
        raise
    except MemoryError:  # the limits are there so that this does not happen; if it does, say so plainly
        raise _unreadable(
            "too_large",
            "ファイルの内容が大きすぎてメモリに収まらないため、読み込みを中止しました。" + _resend_hint_ja(),
            "Reading stopped: the file's contents do not fit in memory. " + _resend_hint_en(),
        ) from None
    except Exception as exc:  # anything else a broken file can make a reader do
        raise _unreadable(
            "corrupt_file",
            f"ファイルが壊れているため読み込めません（{type(exc).__name__}）。" + _resend_hint_ja(),
            f"The file is damaged and cannot be read ({type(exc).__name__}: {exc}). " + _resend_hint_en(),
        ) from None


def _read_sheets(path: Path, limits: Limits, pdf: bool) -> list[Sheet]:
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
        if not pdf:
            raise _unreadable(
                "unsupported_pdf",
                "PDFファイルは取り込めません。集計表をExcel（.xlsx）またはCSV形式で再送してください。",
                "PDF files cannot be loaded. Please send the tabulated data again as Excel (.xlsx) or CSV.",
            )
        if size > limits.max_bytes:
            raise _file_too_large(size, limits.max_bytes)
        from tsunagu.intake.pdf import SHEET_NAME, read_pdf

        return [Sheet(name=SHEET_NAME, rows=read_pdf(path), source_format="pdf")]
    if head.startswith(_ZIP_MAGIC):
        return _read_zip_workbook(path, limits)
    if head.startswith(_OLE_MAGIC):
        return _read_ole_workbook(path, size, limits)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise _not_a_spreadsheet(what)
    if size > limits.max_bytes:
        raise _file_too_large(size, limits.max_bytes)
    return [_read_csv(path, size, limits)]


# -- zip containers: xlsx, xlsm, xlsb, ods ------------------------------------------------------------------


def _read_zip_workbook(path: Path, limits: Limits) -> list[Sheet]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            total = sum(i.file_size for i in infos)
            if total > limits.max_bytes:
                raise _bomb(
                    f"展開後 {total // MIB} MiB、上限 {limits.max_bytes // MIB} MiB",
                    f"{total // MIB} MiB uncompressed; the limit is {limits.max_bytes // MIB} MiB",
                )
            for info in infos:
                if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    ratio = info.file_size // max(info.compress_size, 1)
                    raise _bomb(f"圧縮率 {ratio} 倍、上限 {limits.max_ratio} 倍", f"compression ratio {ratio}:1; "
                                f"the limit is {limits.max_ratio}:1")
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
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
            scan = {"ods": _scan_ods, "xlsb": _scan_xlsb}.get(fmt, _scan_xlsx)
            try:
                footprint = scan(zf, names, limits)
            except (UnreadableFile, zipfile.BadZipFile, EOFError, OSError, KeyError):
                raise
            except Exception as exc:  # XML or records the scanner cannot follow: calamine will not either
                raise _corrupt(f"{fmt}: {type(exc).__name__}: {exc}") from None
    except UnreadableFile:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise _corrupt(f"zip: {exc}") from None
    _check_footprint(footprint, path.stat().st_size, limits)
    return _read_calamine(path, fmt, limits)


# -- OLE2 compound files: xls, and encrypted OOXML ------------------------------------------------------------


def _read_ole_workbook(path: Path, size: int, limits: Limits) -> list[Sheet]:
    import olefile

    if size > limits.max_bytes:
        raise _file_too_large(size, limits.max_bytes)
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s) for s in ole.listdir(streams=True, storages=False)}
    except Exception as exc:  # olefile raises OSError and others on damaged containers
        raise _corrupt(f"OLE: {exc}") from None
    lowered = {s.lower(): s for s in streams}
    if {"encryptioninfo", "encryptedpackage"} & set(lowered):
        raise _encrypted()
    if not {"workbook", "book"} & set(lowered):
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
    try:
        with olefile.OleFileIO(str(path)) as ole:
            footprint = _scan_biff(ole.openstream(lowered.get("workbook") or lowered["book"]).read(), limits)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise _corrupt(f"xls: {type(exc).__name__}: {exc}") from None
    footprint.extra = size  # calamine holds the whole file while it builds the grid
    _check_footprint(footprint, size, limits)
    return _read_calamine(path, "xls", limits)


# -- calamine ------------------------------------------------------------------------------------------------


def _read_calamine(path: Path, fmt: str, limits: Limits) -> list[Sheet]:
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise _encrypted() from None
    except Exception as exc:
        raise _corrupt(f"{fmt}: {exc}") from None
    sheets: list[Sheet] = []
    cells = 0
    try:
        for name in wb.sheet_names:
            sh = wb.get_sheet_by_name(name)
            end = sh.end
            if end is None:  # empty sheet
                sheets.append(Sheet(name=name, rows=[], source_format=fmt))
                continue
            n_rows, n_cols = end[0] + 1, end[1] + 1
            if n_rows * n_cols > limits.max_cells:  # the scan before should have said so already
                raise _sheet_too_large(name, n_rows, n_cols, limits.max_cells)
            cells += n_rows * n_cols
            if cells > limits.max_cells:
                raise _too_many_cells(cells, limits.max_cells, path.stat().st_size)
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
