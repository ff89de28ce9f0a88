"""The limit scanners of the OOXML workbooks (xlsx, xlsm: the worksheets' XML; xlsb: their records).

They measure what calamine will build (:class:`tsunagu.intake.limits._Footprint`) without building it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

from tsunagu.intake.limits import (
    _CHUNK,
    Limits,
    _Area,
    _cell_too_long,
    _Footprint,
    _stream_chunks,
    _too_many_cells,
)

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
        if not going.any():  # every number has ended (rows of 5 or 6 digits: 2 or 3 rounds saved)
            break
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
        if not going.any():  # every column has ended (A–Z: one round saved)
            break
        col = np.where(going, col * 26 + ((b | 32) - np.uint8(96)), col)
        n_letters += going
    else:
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
