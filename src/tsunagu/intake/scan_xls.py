"""The limit scanner of an xls workbook (BIFF2–8 records of its Workbook stream)."""

from __future__ import annotations

from tsunagu.intake.limits import Limits, _Area, _encrypted, _Footprint, _too_many_cells


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
