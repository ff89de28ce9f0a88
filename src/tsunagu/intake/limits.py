"""What a read of an office's file may hold, and the refusals when it holds more.

The limits (:class:`Limits`, the table in :mod:`tsunagu.intake.reader`), the sheet a read gives
(:class:`Sheet`), what calamine will build from a workbook (:class:`_Area`, :class:`_Footprint`,
measured by the scanners ``scan_xlsx``, ``scan_ods``, ``scan_xls`` before calamine builds it), and
the bilingual messages of every refusal, shared by the reader and the scanners.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


def _file_too_large(size: int, limit: int) -> UnreadableFile:
    return _unreadable(
        "file_too_large",
        f"ファイルが大きすぎます（{_mib(size)}、上限 {_mib(limit)}）。",
        f"The file is too large ({_mib(size)}; the limit is {_mib(limit)}).",
    )


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


def _unknown_encoding() -> UnreadableFile:
    return _unreadable(
        "unknown_encoding",
        "文字コードを判別できません。CSVはUTF-8またはShift_JIS（Windows標準）で保存してください。",
        "The text encoding could not be recognised. Please save the CSV as UTF-8 or Shift_JIS (Windows).",
    )


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
