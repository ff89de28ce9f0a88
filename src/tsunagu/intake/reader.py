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
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile

MIB = 1024 * 1024
DEFAULT_MAX_UNCOMPRESSED = 200 * MIB
DEFAULT_MAX_RATIO = 200
DEFAULT_MAX_CELLS = 4_000_000  # the grid from A1 to the farthest cell, all sheets together
DEFAULT_MAX_ROWS = 1_048_576  # Excel's limit: a longer CSV never came out of Excel
DEFAULT_MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
DEFAULT_MAX_LINE_CHARS = 1_048_576  # one physical CSV line
DEFAULT_MAX_GRID_BYTES = 448 * MIB  # estimated memory of the rows as Python objects (and calamine's grid)
_CHUNK = 1 * MIB
_EMPTY_STR = sys.getsizeof("")  # every empty field is the same object

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
    source_format: str  # xlsx | xlsm | xlsb | xls | ods | csv | pdf
    encoding: str | None = None  # CSV only


@dataclass(frozen=True)
class Limits:
    """What read_sheets() accepts; see the table in the module docstring."""

    max_bytes: int = DEFAULT_MAX_UNCOMPRESSED  # a file's size (CSV, xls, PDF), a zip's uncompressed total
    max_ratio: int = DEFAULT_MAX_RATIO
    max_cells: int = DEFAULT_MAX_CELLS
    max_rows: int = DEFAULT_MAX_ROWS
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    max_grid_bytes: int = DEFAULT_MAX_GRID_BYTES


def _unreadable(code: str, ja: str, en: str) -> UnreadableFile:
    return UnreadableFile(code, ja, en)


def _resend_hint_ja() -> str:
    return "Excel（.xlsx）またはCSV形式で保存し直して、再送してください。"


def _resend_hint_en() -> str:
    return "Please save it as Excel (.xlsx) or CSV and send it again."


def _mib(n: int) -> str:
    """A size as a clerk reads it: 5.9 KiB, 3.0 MiB, 190 MiB, 1,536 MiB."""
    if n < MIB:
        return f"{n / 1024:.1f} KiB"
    return f"{n / MIB:.1f} MiB" if n < 10 * MIB else f"{n // MIB:,} MiB"


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


def _file_too_large(size: int, limit: int) -> UnreadableFile:
    return _unreadable(
        "file_too_large",
        f"ファイルが大きすぎます（{_mib(size)}、上限 {_mib(limit)}）。",
        f"The file is too large ({_mib(size)}; the limit is {_mib(limit)}).",
    )


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


# -- what calamine will build: measured before it builds it ---------------------------------------------------
#
# calamine allocates the whole rectangle from the first to the farthest value at once (32 bytes a cell) and
# gives every cell its own copy of a shared string, so a small file can ask for any amount of memory. The
# scanners below measure that from the file's XML or records without building anything: the farthest value
# (styled empty cells do not count: calamine leaves them out too), the cells with a value and their text.


@dataclass
class _Area:
    """One sheet as calamine will hold it: the rectangle from A1 to the farthest value, and its contents."""

    name: str
    rows: int = 0
    cols: int = 0
    values: int = 0  # cells with a value (at most)
    strings: int = 0  # of those, cells with text (at most)
    empty: int = 0  # of those, cells with the empty string (no object of their own)
    text: int = 0  # bytes of text calamine copies into the cells (a shared string once per cell using it)

    @property
    def cells(self) -> int:
        return self.rows * self.cols


@dataclass
class _Footprint:
    areas: list[_Area]
    shared_count: int = 0
    shared_bytes: int = 0
    extra: int = 0  # what the reader holds besides (an xls file is read into memory whole)

    def native(self) -> int:
        """calamine's memory at its peak (freed memory stays with the process): 48 bytes a value while it
        collects them, 36 a cell of the rectangle, a string of its own (32 at least) for each text cell."""
        total = self.shared_bytes + self.shared_count * 32 + self.extra
        for a in self.areas:
            total += a.values * 48 + a.cells * 36 + (a.strings - a.empty) * 32 + a.text
        return total

    def estimate(self) -> int:
        """native() and the Python rows: 8 bytes a cell, a list a row, 48 a number or date, a str 80 and its
        UTF-8 length (the empty string is one object). Measured on the real registers, the sparse rectangle,
        numbers and long strings: 1.0–2.2× what the process really grows by (埼玉: 150 MiB for 133)."""
        return self.native() + sum(a.cells * 8 + a.rows * 64 + (a.values - a.strings) * 48
                                   + (a.strings - a.empty) * 80 + a.text for a in self.areas)


def _sheet_too_large(name: str, rows: int, cols: int, limit: int) -> UnreadableFile:
    return _unreadable(
        "sheet_too_large",
        f"シート『{name}』が大きすぎます（{rows:,}行×{cols:,}列 = {rows * cols:,}セル、上限 {limit:,}セル）。"
        "不要な行・列を削除して再送してください。",
        f"Sheet '{name}' is too large ({rows:,} rows × {cols:,} columns = {rows * cols:,} cells; the limit is "
        f"{limit:,}). Please delete unused rows and columns and send it again.",
    )


def _check_footprint(fp: _Footprint, size: int, limits: Limits) -> None:
    """Refuse what is too large before calamine builds it."""
    for a in fp.areas:
        if a.cells > limits.max_cells:
            raise _sheet_too_large(a.name, a.rows, a.cols, limits.max_cells)
    cells = sum(a.cells for a in fp.areas)
    if cells > limits.max_cells:
        raise _too_many_cells(cells, limits.max_cells, size)
    estimate = fp.estimate()
    if estimate > limits.max_grid_bytes:
        raise _too_large(estimate, limits.max_grid_bytes, size)


def _stream_chunks(fh: Any) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk


# -- xlsx / xlsm: the worksheets' XML ------------------------------------------------------------------------
#
# Measured with numpy on the XML as it streams, in about a third of calamine's own reading time: every
# '<' starts a tag ('<' cannot stand inside an attribute); <c …> is a cell, with a value when the next tag
# is its <v>, <f> or <is> (calamine leaves styled empty cells out, and so does this); r="AB12" is its
# place (written first on the tag by Excel, openpyxl, LibreOffice and XlsxWriter; looked for in the tag
# otherwise); t="s"><v>12</v> its shared string. A cell without r= follows the previous one (as in
# calamine), so for those the bound is the widest row further on. A formula cell without a cached value
# counts as a value (calamine leaves it empty): the estimate errs on the safe side.

_XML_TAIL = 64  # bytes kept back at the end of a chunk: an attribute or a tag name never straddles the cut


def _count(buf: bytes, needle: bytes, cut: int) -> int:
    """Occurrences starting before cut."""
    return buf.count(needle, 0, cut + len(needle) - 1)


def _is_space(b: Any) -> Any:
    return (b == 32) | (b == 9) | (b == 10) | (b == 13)


def _is_quote(b: Any) -> Any:
    return (b == 34) | (b == 39)


def _ends_name(b: Any) -> Any:
    """The byte after a tag's name: a space, '>' or '/'."""
    return _is_space(b) | (b == 62) | (b == 47)


def _is_letter(b: Any) -> Any:
    return ((b >= 65) & (b <= 90)) | ((b >= 97) & (b <= 122))


def _parse_number(a: Any, start: Any, width: int) -> tuple[Any, Any]:
    """(value, number of digits) of the digits at each start (at most width of them)."""
    import numpy as np

    value = np.zeros(len(start), dtype=np.int64)
    count = np.zeros(len(start), dtype=np.int64)
    going = np.ones(len(start), dtype=bool)
    for k in range(width):
        d = a[start + k] - np.uint8(48)  # a byte below '0' wraps round to more than 9
        going &= d <= 9
        value = np.where(going, value * 10 + d, value)
        count += going
    return value, count


def _parse_refs(a: Any, p: Any) -> tuple[Any, Any, Any]:
    """(row, column, is a cell reference) of the references ("AB12") starting at p."""
    import numpy as np

    col = np.zeros(len(p), dtype=np.int64)
    n_letters = np.zeros(len(p), dtype=np.int64)
    going = np.ones(len(p), dtype=bool)
    for k in range(3):
        b = a[p + k]
        going &= _is_letter(b)
        col = np.where(going, col * 26 + ((b | 32) - np.uint8(96)), col)
        n_letters += going
    col = np.where(going & _is_letter(a[p + 3]), 1 << 20, col)  # four letters: no such column; too far
    row, n_digits = _parse_number(a, p + n_letters, 8)
    return row, col, (n_letters >= 1) & (n_digits >= 1)


class _SheetXmlScan:
    """The rectangle and the cells' text of one worksheet XML, fed chunk by chunk.

    A cell has a value when the next tag is its <v>, <f> or <is> ('<' cannot be inside an attribute, so
    the tags are found without parsing them). With rows=True (only for sheets with cells without r=) the
    widest row is counted too.
    """

    def __init__(self, name: str, prefix: bytes, lens: Any, max_len: int, *, rows: bool = False):
        self.area = _Area(name)
        self.prefix = prefix
        self.lens = lens
        self.max_len = max_len
        self.track_rows = rows
        self.unplaced = 0  # value cells without r=
        self.row_tags = 0
        self.row_refs = 0
        self.max_row_ref = 0
        self.row_width = 0  # value cells so far in the row still open at the end of the last chunk
        self.widest = 0
        self.inline = False

    def feed(self, buf: bytes, final: bool) -> bytes:
        """Scan buf up to a cut at a '<' (all of it when final); return what is left for the next chunk."""
        import re

        import numpy as np

        n = len(buf)
        if final:
            cut = n
        else:
            cut = buf.rfind(b"<", 0, max(n - _XML_TAIL, 0))
            if cut <= 0:
                cut = max(n - _XML_TAIL, 0)
        a = np.frombuffer(buf + b" " * (_XML_TAIL + 16), dtype=np.uint8)
        lt = np.flatnonzero(a[:n] == 60)
        lp = len(self.prefix)
        name = lt + 1 + lp  # where each tag's name starts (a tag of another prefix is no cell: fine)
        first, second = a[name], a[name + 1]
        inside = lt < cut
        area = self.area

        # Cells with a value: the next tag is <v>, <f> or <is> (or unknown yet: counted).
        j = np.flatnonzero(inside & (first == 99) & _ends_name(second))
        nxt = np.minimum(j + 1, len(lt) - 1)
        f1, f2 = first[nxt], second[nxt]
        has_value = (j + 1 >= len(lt)) | (((f1 == 118) | (f1 == 102)) & _ends_name(f2)) | (
            (f1 == 105) & (f2 == 115) & _ends_name(a[name[nxt] + 2]))
        j = j[has_value]
        cells = lt[j]
        stops = np.where(j + 1 < len(lt), lt[np.minimum(j + 1, len(lt) - 1)], n)  # the next '<'
        area.values += len(cells)
        if not self.inline and (((first == 102) | ((first == 105) & (second == 115))) & inside).any():
            self.inline = True  # formulas (a string result is text of its own) or inline strings

        # Places: r="…" first on the tag, else looked for in it.
        fast = (a[cells + 2 + lp] == 32) & (a[cells + 3 + lp] == 114) & (a[cells + 4 + lp] == 61) & _is_quote(
            a[cells + 5 + lp])
        row, col, ok = _parse_refs(a, cells[fast] + 6 + lp)
        if ok.any():
            area.rows = max(area.rows, int(row[ok].max()))
            area.cols = max(area.cols, int(col[ok].max()))
        self.unplaced += int((~ok).sum())
        ref = re.compile(rb"\sr\s*=\s*[\"']([A-Za-z]{1,4})(\d{1,8})[\"']")
        for start, stop in zip(cells[~fast].tolist(), stops[~fast].tolist(), strict=True):
            if m := ref.search(buf, start, stop):
                letters = m[1].upper()
                area.rows = max(area.rows, int(m[2]))
                area.cols = max(area.cols, sum((c - 64) * 26 ** i for i, c in enumerate(reversed(letters))))
            else:
                self.unplaced += 1
        if self.track_rows:
            self._rows(a, buf, lt, name, first, second, inside, cells)

        # Text: the shared string of a cell written …t="s"><v>12</v> (as Excel writes it); any other t="s"
        # counts as the longest string. Formulas and inline strings: the sheet's size (finish).
        if self.lens is not None and len(cells):
            e = stops[(stops < n)]
            e = e[(a[e - 1] == 62) & _is_quote(a[e - 2]) & (a[e - 3] == 115) & _is_quote(a[e - 4])
                  & (a[e - 5] == 61) & (a[e - 6] == 116) & _is_space(a[e - 7]) & (a[e + 1 + lp] == 118)
                  & (a[e + 2 + lp] == 62)]
            index, digits = _parse_number(a, e + 3 + lp, len(str(len(self.lens))) + 1)
            good = (digits >= 1) & (index < len(self.lens))
            used = self.lens[index[good]]
            area.text += int(used.sum())
            area.strings += len(used)
            area.empty += len(used) - int(np.count_nonzero(used))
            if len(e) < len(cells):  # other cells: any t="s" among them counts as the longest string
                shared = _count(buf, b't="s"', cut) + _count(buf, b"t='s'", cut)
                area.text += max(shared - int(good.sum()), 0) * self.max_len
                area.strings += max(shared - int(good.sum()), 0)
        return buf[cut:]

    def _rows(self, a: Any, buf: bytes, lt: Any, name: Any, first: Any, second: Any, inside: Any,
              cells: Any) -> None:
        """Row numbers and the widest row, for the cells without r=."""
        import re

        import numpy as np

        rows = lt[inside & (first == 114) & (second == 111) & (a[name + 2] == 119) & _ends_name(a[name + 3])]
        self.row_tags += len(rows)
        if len(cells):
            counts = np.bincount(np.searchsorted(rows, cells), minlength=len(rows) + 1)
            counts[0] += self.row_width
            self.widest = max(self.widest, int(counts.max()))
            self.row_width = int(counts[-1])
        elif len(rows):
            self.row_width = 0
        for start in rows.tolist():
            stop = buf.find(b"<", start + 1)
            if m := re.search(rb"\sr\s*=\s*[\"'](\d{1,8})[\"']", buf[start:stop if stop > 0 else len(buf)]):
                self.row_refs += 1
                self.max_row_ref = max(self.max_row_ref, int(m[1]))

    def finish(self, size: int) -> _Area:
        area = self.area
        if self.unplaced and self.track_rows:  # placed after the previous cell: at most the widest row further on
            area.cols += self.widest
            area.rows = max(area.rows, self.max_row_ref) + max(self.row_tags - self.row_refs, 0)
        if area.values == 0:
            area.rows = area.cols = 0
        if self.inline:  # any cell may be text: the sheet's XML is more than all of it
            area.text += size
            area.strings = area.values
        return area


def _sheet_area(zf: zipfile.ZipFile, name: str, part: str, lens: Any, max_len: int, rows: bool = False) -> _Area:
    with zf.open(part) as fh:
        carry = b""
        scan: _SheetXmlScan | None = None
        for chunk in _stream_chunks(fh):
            if scan is None:
                prefix = _xml_prefix(chunk[:4096], b"(?:worksheet|macrosheet|dialogsheet)")
                scan = _SheetXmlScan(name, prefix, lens, max_len, rows=rows)
            carry = scan.feed(carry + chunk, final=False)
        if scan is None:
            return _Area(name)
        scan.feed(carry, final=True)
        if scan.unplaced and not rows:  # cells without r=: again, counting the rows
            return _sheet_area(zf, name, part, lens, max_len, rows=True)
        return scan.finish(zf.getinfo(part).file_size)


def _xml_prefix(first: bytes, root: bytes) -> bytes:
    """The namespace prefix of the document's root element (b"" for the usual unprefixed XML)."""
    import re

    m = re.search(rb"<([A-Za-z_][\w.-]*:)?" + root + rb"\b", first)
    return m[1] if m and m[1] else b""


def _shared_string_lengths(zf: zipfile.ZipFile, names: set[str], limits: Limits) -> Any:
    """UTF-8 bytes of the text of every shared string (runs and readings included), from
    xl/sharedStrings.xml, streamed; the empty string is 0 (calamine and Python allocate nothing for it)."""
    import re
    from array import array

    lens = array("q")
    part = "xl/sharedStrings.xml"
    if part not in names:
        return lens
    size = zf.getinfo(part).file_size
    with zf.open(part) as fh:
        chunk = fh.read(_CHUNK)
        raw = _xml_prefix(chunk[:4096], b"sst")
        prefix = re.escape(raw)
        tag, close = b"<" + raw + b"si", b"</" + raw + b"si"
        element = re.compile(rb"<" + prefix + rb"si(?:\s[^>]*?)?(?:/>|>(.*?)</" + prefix + rb"si\s*>)", re.S)
        markup = re.compile(rb"<[^>]*>")
        carry, opens = b"", 0
        while chunk:
            buf = carry + chunk
            opens += chunk.count(tag)
            if opens > limits.max_cells:
                raise _too_many_cells(opens, limits.max_cells, size)
            chunk = fh.read(_CHUNK)
            last = buf.rfind(close)
            limit = len(buf) if not chunk else (buf.find(b">", last) + 1 if last >= 0 else 0)
            pos = 0
            for m in element.finditer(buf, 0, limit):
                body = m[1]
                if not body or body == b"<t/>":
                    lens.append(0)
                elif body[:3] == b"<t>" and body[-4:] == b"</t>" and body.count(b"<") == 2:
                    lens.append(len(body) - 7)
                else:
                    lens.append(len(markup.sub(b"", body)))
                pos = m.end()
            carry = buf[pos:]
            if len(carry) > 32 * limits.max_cell_chars + _CHUNK:  # one string of more than a megabyte
                raise _cell_too_long(len(lens) + 1, limits.max_cell_chars)
    return lens


def _scan_xlsx(zf: zipfile.ZipFile, names: set[str], limits: Limits) -> _Footprint:
    import numpy as np

    lens = _shared_string_lengths(zf, names, limits)
    array = np.frombuffer(lens, dtype=np.int64) if len(lens) else np.zeros(0, dtype=np.int64)
    fp = _Footprint([], shared_count=len(lens), shared_bytes=int(array.sum()))
    max_len = int(array.max()) if len(array) else 0
    for name, part in _sheet_parts(zf, names, "xl/workbook.xml", "xml"):
        area = _sheet_area(zf, name, part, array, max_len)
        fp.areas.append(area)
        if area.cells > limits.max_cells:  # no need to read the other sheets
            break
    return fp


def _sheet_parts(zf: zipfile.ZipFile, names: set[str], workbook: str, ext: str) -> list[tuple[str, str]]:
    """(sheet name, part) of the sheets of an OOXML workbook, then any sheet part no relation names."""
    import html
    import posixpath
    import re

    parts: list[tuple[str, str]] = []
    base = posixpath.dirname(workbook)
    try:
        rels = zf.read(posixpath.join(base, "_rels", posixpath.basename(workbook) + ".rels"))
        book = zf.read(workbook)
    except KeyError:
        rels = book = b""
    targets: dict[bytes, str] = {}
    for m in re.finditer(rb"<(?:[\w.-]+:)?Relationship\b([^>]*)>", rels):
        attrs = dict(re.findall(rb'\b(Id|Target)\s*=\s*["\']([^"\']*)["\']', m[1]))
        if b"Id" in attrs and b"Target" in attrs:
            targets[attrs[b"Id"]] = attrs[b"Target"].decode("utf-8", "replace")
    for m in re.finditer(rb"<(?:[\w.-]+:)?sheet\b([^>]*)>", book if ext == "xml" else b""):
        attrs = dict(re.findall(rb'\b(name|[\w.-]+:id)\s*=\s*["\']([^"\']*)["\']', m[1]))
        rid = next((v for k, v in attrs.items() if k.endswith(b":id")), None)
        target = targets.get(rid) if rid else None
        if target and b"name" in attrs:
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
            parts.append((html.unescape(attrs[b"name"].decode("utf-8", "replace")), part))
    named = {p for _, p in parts}
    for n in sorted(names):
        if n.startswith(("xl/worksheets/", "xl/macrosheets/", "xl/dialogsheets/")) and n.endswith("." + ext) \
                and n not in named:
            parts.append((n.rsplit("/", 1)[-1], n))
    return [(name, part) for name, part in parts if part in names]


# -- xlsb: the worksheets' binary records ----------------------------------------------------------------------


class _Records:
    """The records of an xlsb part: (type, payload), read through a buffer."""

    def __init__(self, fh: Any):
        self.fh = fh
        self.buf = b""
        self.pos = 0

    def _need(self, n: int) -> bool:
        if len(self.buf) - self.pos >= n:
            return True
        self.buf = self.buf[self.pos:] + self.fh.read(max(_CHUNK, n))
        self.pos = 0
        return len(self.buf) >= n

    def _varint(self, max_bytes: int) -> int | None:
        value = 0
        for i in range(max_bytes):
            if not self._need(1):
                return None
            b = self.buf[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                break
        return value

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while True:
            rtype = self._varint(2)
            size = self._varint(4)
            if rtype is None or size is None or not self._need(size):
                return
            data = self.buf[self.pos:self.pos + size]
            self.pos += size
            yield rtype, data


def _scan_xlsb(zf: zipfile.ZipFile, names: set[str], limits: Limits) -> _Footprint:
    import struct
    from array import array

    import numpy as np

    lengths = array("q")
    part = "xl/sharedStrings.bin"
    if part in names:
        with zf.open(part) as fh:
            for rtype, data in _Records(fh):
                if rtype == 19 and len(data) >= 5:  # BrtSSTItem: flags, XLWideString (count of UTF-16 units)
                    lengths.append(3 * struct.unpack_from("<I", data, 1)[0])
                    if len(lengths) > limits.max_cells:
                        raise _too_many_cells(len(lengths), limits.max_cells, zf.getinfo(part).file_size)
    lens = np.frombuffer(lengths, dtype=np.int64) if len(lengths) else np.zeros(0, dtype=np.int64)
    areas = []
    for name, part in _sheet_parts(zf, names, "xl/workbook.bin", "bin"):
        area = _Area(name)
        row = 0
        with zf.open(part) as fh:
            for rtype, data in _Records(fh):
                if rtype == 0 and len(data) >= 4:  # BrtRowHdr
                    row = struct.unpack_from("<I", data)[0] + 1
                elif 2 <= rtype <= 11 and len(data) >= 8:  # BrtCell* (1, BrtCellBlank, holds no value)
                    area.values += 1
                    area.rows = max(area.rows, row)
                    area.cols = max(area.cols, struct.unpack_from("<I", data)[0] + 1)
                    if rtype == 7 and len(data) >= 12:  # BrtCellIsst
                        index = struct.unpack_from("<I", data, 8)[0]
                        area.text += int(lens[index]) if index < len(lens) else 0
                        area.strings += 1
                    elif rtype in (6, 8) and len(data) >= 12:  # BrtCellSt, BrtFmlaString
                        area.text += 3 * struct.unpack_from("<I", data, 8)[0]
                        area.strings += 1
                    if area.values % 65536 == 0 and area.cells > limits.max_cells:
                        break
        areas.append(area)
        if area.cells > limits.max_cells:
            break
    return _Footprint(areas, shared_count=len(lens), shared_bytes=int(lens.sum()))


# -- ods: content.xml -----------------------------------------------------------------------------------------

_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def _scan_ods(zf: zipfile.ZipFile, names: set[str], limits: Limits) -> _Footprint:
    """Repeated rows and cells (number-rows-repeated, number-columns-repeated) count as many times as repeated,
    but only up to the farthest one with content: LibreOffice pads every sheet with repeated empty cells."""
    import xml.etree.ElementTree as ET

    if "content.xml" not in names:
        return _Footprint([])
    table_tag, row_tag = _ODS_TABLE + "table", _ODS_TABLE + "table-row"
    cell_tags = (_ODS_TABLE + "table-cell", _ODS_TABLE + "covered-table-cell")
    rows_rep, cols_rep = _ODS_TABLE + "number-rows-repeated", _ODS_TABLE + "number-columns-repeated"
    value_type = _ODS_OFFICE + "value-type"
    areas: list[_Area] = []
    area: _Area | None = None
    row_pos = col_pos = row_width = row_values = row_strings = row_text = 0
    stack: list[Any] = []
    with zf.open("content.xml") as fh:
        for event, elem in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                stack.append(elem)
                if elem.tag == table_tag:
                    area = _Area(elem.get(_ODS_TABLE + "name") or f"Sheet{len(areas) + 1}")
                    row_pos = 0
                elif elem.tag == row_tag:
                    col_pos = row_width = row_values = row_strings = row_text = 0
                continue
            stack.pop()
            if area is None:
                continue
            if elem.tag in cell_tags:
                repeat = max(int(elem.get(cols_rep) or 1), 1)
                text = sum(len(t.encode("utf-8")) for t in elem.itertext())
                col_pos += repeat
                if elem.get(value_type) or text:
                    row_width = col_pos
                    row_values += repeat
                    row_text += text * repeat
                    row_strings += repeat if text else 0
                elem.clear()
            elif elem.tag == row_tag:
                repeat = max(int(elem.get(rows_rep) or 1), 1)
                if row_values:
                    area.rows = row_pos + repeat
                    area.cols = max(area.cols, row_width)
                    area.values += row_values * repeat
                    area.strings += row_strings * repeat
                    area.text += row_text * repeat
                    if area.cells > limits.max_cells or area.values > limits.max_cells:
                        raise _sheet_too_large(area.name, area.rows, area.cols, limits.max_cells)
                row_pos += repeat
                elem.clear()
                if stack:
                    stack[-1].remove(elem)
            elif elem.tag == table_tag:
                areas.append(area)
                area = None
                elem.clear()
    return _Footprint(areas)


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


def _sst_lengths(segments: list[bytes]) -> list[int]:
    """UTF-8 bytes (at most) of each string of a BIFF8 SST record and its CONTINUE records."""
    import struct

    lens: list[int] = []
    if not segments or len(segments[0]) < 8:
        return lens
    unique = struct.unpack_from("<I", segments[0], 4)[0]
    seg, data, pos = 0, segments[0], 8
    for _ in range(unique):
        if pos >= len(data):
            seg += 1
            if seg >= len(segments):
                break
            data, pos = segments[seg], 0
        if pos + 3 > len(data):
            break
        nchars, options = struct.unpack_from("<HB", data, pos)
        pos += 3
        runs = ext = 0
        if options & 0x08:
            runs = struct.unpack_from("<H", data, pos)[0]
            pos += 2
        if options & 0x04:
            ext = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        got = 0
        while True:
            need = nchars - got
            wide = options & 0x01
            avail = max(min((len(data) - pos) >> 1 if wide else len(data) - pos, need), 0)
            pos += avail * (2 if wide else 1)
            got += avail
            if got >= nchars:
                break
            seg += 1
            if seg >= len(segments):
                break
            data = segments[seg]
            options, pos = data[0] if data else 0, 1
        pos += runs * 4 + ext
        while pos > len(data) and seg + 1 < len(segments):
            pos -= len(data)
            seg += 1
            data = segments[seg]
        lens.append(3 * nchars)
    return lens


def _scan_biff(data: bytes, limits: Limits) -> _Footprint:
    """Cells of the worksheets of an xls (BIFF8 and older): the farthest value, the values, their text."""
    import struct

    unpack = struct.unpack_from
    names: list[str] = []
    areas: list[_Area] = []
    sst: list[bytes] = []
    lens: list[int] = []
    area: _Area | None = None
    in_sst = False
    pos, end = 0, len(data)
    while pos + 4 <= end:
        rtype, size = unpack("<HH", data, pos)
        body = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if rtype == 0x003C and in_sst:  # CONTINUE of the SST
            sst.append(body)
            continue
        if in_sst:
            lens = _sst_lengths(sst)
            in_sst = False
        if rtype == 0x002F and not areas:  # FILEPASS: the rest is encrypted
            raise _encrypted()
        if rtype == 0x0809 and len(body) >= 4:  # BOF
            if unpack("<H", body, 2)[0] in (0x0010, 0x0040):  # worksheet, macro sheet
                n = len(areas)
                area = _Area(names[n] if n < len(names) else f"Sheet{n + 1}")
                areas.append(area)
            else:
                area = None
        elif rtype == 0x0085 and len(body) >= 8:  # BOUNDSHEET: the sheets' names, in order
            cch, flags = body[6], body[7]
            raw = body[8:8 + cch * (2 if flags & 1 else 1)]
            names.append(raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace"))
        elif rtype == 0x00FC:  # SST
            sst, in_sst = [body], True
            if len(body) >= 8 and unpack("<I", body, 4)[0] > limits.max_cells:
                raise _too_many_cells(unpack("<I", body, 4)[0], limits.max_cells, len(data))
        elif area is not None and len(body) >= 4 and rtype in _BIFF_CELLS:
            row, col = unpack("<HH", body, 0)
            count = 1
            if rtype == 0x00BD and len(body) >= 6:  # MULRK: colFirst … colLast
                last = unpack("<H", body, len(body) - 2)[0]
                count = max(last - col + 1, 1)
                col = last
            area.values += count
            area.rows = max(area.rows, row + 1)
            area.cols = max(area.cols, col + 1)
            if rtype == 0x00FD and len(body) >= 10:  # LABELSST
                index = unpack("<I", body, 6)[0]
                area.text += lens[index] if index < len(lens) else 0
                area.strings += 1
                area.empty += index < len(lens) and not lens[index]
            elif rtype in (0x0204, 0x00D6) and len(body) >= 8:  # LABEL, RSTRING
                area.text += 3 * unpack("<H", body, 6)[0]
                area.strings += 1
        elif area is not None and rtype == 0x0207 and len(body) >= 2:  # STRING (a formula's text)
            area.text += 3 * unpack("<H", body, 0)[0]
            area.strings += 1
    return _Footprint(areas, shared_count=len(lens), shared_bytes=sum(lens))


# NUMBER, RK, MULRK, LABELSST, LABEL, RSTRING, BOOLERR, FORMULA (BIFF2–8); BLANK and MULBLANK hold no value.
_BIFF_CELLS = frozenset({0x0203, 0x027E, 0x00BD, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006, 0x0406, 0x0003, 0x0004})


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


# -- CSV -----------------------------------------------------------------------------------------------------


def _encoding_of(path: Path, sample: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else CP932: the whole file is checked, chunk by chunk."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ("utf-8", "cp932"):  # never shift_jis: offices type NEC/IBM extensions (①, ㈱, 髙)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise _unknown_encoding()


def _unknown_encoding() -> UnreadableFile:
    return _unreadable(
        "unknown_encoding",
        "文字コードを判別できません。CSVはUTF-8またはShift_JIS（Windows標準）で保存してください。",
        "The text encoding could not be recognised. Please save the CSV as UTF-8 or Shift_JIS (Windows).",
    )


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text ("Unicode テキスト")
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 12))
    return controls > len(sample) // 100


class _CsvState:
    """What has been read so far, for the limits and their messages."""

    def __init__(self, size: int, limits: Limits):
        self.size = size
        self.limits = limits
        self.lines = 0
        self.blank = True  # only whitespace so far

    def lines_of(self, text: io.TextIOBase) -> Iterator[str]:
        """Physical lines, none longer than the limit (a 200 MB file without a line break is not read whole)."""
        limit = self.limits.max_line_chars
        readline = text.readline
        while line := readline(limit + 1):
            self.lines += 1
            if len(line) > limit:
                raise _unreadable(
                    "line_too_long",
                    f"{self.lines}行目が長すぎます（{limit:,}文字を超えています。ファイルの大きさ {_mib(self.size)}）。"
                    "表の形式のCSVか確認してください。" + _resend_hint_ja(),
                    f"Line {self.lines} is too long (over {limit:,} characters; the file is {_mib(self.size)}). "
                    "Please check that this is a CSV table. " + _resend_hint_en(),
                )
            if self.blank and not line.isspace():
                self.blank = False
            yield line


def _read_csv(path: Path, size: int, limits: Limits) -> Sheet:
    """A CSV (or tab-separated text), streamed: nothing is kept beyond the rows, and those within the limits."""
    with path.open("rb") as fh:
        sample = fh.read(8192)
    if _looks_binary(sample):
        raise _not_a_spreadsheet()
    encoding = _encoding_of(path, sample)
    head_text = sample.decode(encoding, errors="ignore")
    head = head_text.lstrip()[:2048].lower()
    if head.startswith(("<html", "<!doctype", "<?xml", "<table")) or "<table" in head:
        raise _not_a_spreadsheet("HTML/XML形式（拡張子だけExcel） / HTML or XML saved with an Excel name")
    first_line = head_text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","

    state = _CsvState(size, limits)
    rows: list[list[str]] = []
    cells = 0
    memory = 0
    getsizeof = sys.getsizeof
    try:
        with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
            for row in csv.reader(state.lines_of(text), delimiter=delimiter):
                cells += len(row)
                if cells > limits.max_cells:
                    raise _too_many_cells(cells, limits.max_cells, size, len(rows) + 1)
                if len(rows) >= limits.max_rows:
                    raise _unreadable(
                        "too_many_rows",
                        f"行数が多すぎます（{limits.max_rows:,}行を超えています。ファイルの大きさ {_mib(size)}）。"
                        + _resend_hint_ja(),
                        f"Too many rows (over {limits.max_rows:,}; the file is {_mib(size)}). " + _resend_hint_en(),
                    )
                if row and max(map(len, row)) > limits.max_cell_chars:
                    raise _cell_too_long(len(rows) + 1, limits.max_cell_chars)
                memory += 64 + 8 * len(row) + sum(map(getsizeof, row)) - _EMPTY_STR * row.count("")
                if memory > limits.max_grid_bytes:
                    raise _too_large(memory, limits.max_grid_bytes, size, len(rows) + 1)
                rows.append(row)
    except UnicodeDecodeError:  # UTF-16 with an odd byte at the end, and the like
        raise _unknown_encoding() from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _cell_too_long(len(rows) + 1, limits.max_cell_chars) from None
        raise _corrupt(f"CSV: {exc}") from None
    if state.blank:
        raise _unreadable(
            "empty_file",
            "ファイルに内容がありません。内容を確認して再送してください。",
            "The file has no content. Please check it and send it again.",
        )
    return Sheet(name="csv", rows=rows, source_format="csv", encoding=encoding)


def _too_many_cells(cells: int, limit: int, size: int, row: int | None = None) -> UnreadableFile:
    where_ja = f"{row:,}行目までで" if row else ""
    where_en = f" by row {row:,}" if row else ""
    return _unreadable(
        "too_many_cells",
        f"セルの数が多すぎます（{where_ja}{cells:,}個、上限 {limit:,}個。ファイルの大きさ {_mib(size)}）。"
        "不要な行・列を削除して再送してください。",
        f"Too many cells ({cells:,}{where_en}; the limit is {limit:,}; the file is {_mib(size)}). Please delete "
        "unused rows and columns and send it again.",
    )


def _cell_too_long(row: int, limit: int) -> UnreadableFile:
    return _unreadable(
        "cell_too_long",
        f"{row:,}行目に{limit:,}文字（Excelの1セルの上限）を超えるセルがあります。表の形式のファイルか確認してください。"
        + _resend_hint_ja(),
        f"Row {row:,} has a cell longer than {limit:,} characters (Excel's limit for a cell). Please check that this "
        "is a table. " + _resend_hint_en(),
    )


def _too_large(estimate: int, limit: int, size: int, row: int | None = None) -> UnreadableFile:
    where_ja = f"{row:,}行目までで" if row else ""
    where_en = f" by row {row:,}" if row else ""
    return _unreadable(
        "too_large",
        f"ファイルの内容が大きすぎるため、読み込みを中止しました（読み込むと{where_ja}約 {_mib(estimate)}、上限 {_mib(limit)}。"
        f"ファイルの大きさ {_mib(size)}）。不要な行・列を削除して再送してください。",
        f"Reading stopped: the contents are too large (about {_mib(estimate)} in memory{where_en}; the limit is "
        f"{_mib(limit)}; the file is {_mib(size)}). Please delete unused rows and columns and send it again.",
    )
