"""Reading a CSV (or tab-separated text) within the limits: streamed, its encoding checked chunk by chunk,
its rows counted (sys.getsizeof) as they are read, so that a refused file never sits in memory whole."""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path

from tsunagu.intake.limits import (
    _CHUNK,
    Limits,
    Sheet,
    _cell_too_long,
    _corrupt,
    _mib,
    _not_a_spreadsheet,
    _resend_hint_en,
    _resend_hint_ja,
    _too_large,
    _too_many_cells,
    _unknown_encoding,
    _unreadable,
)

_EMPTY_STR = sys.getsizeof("")  # every empty field is the same object


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
