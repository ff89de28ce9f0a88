"""The limit scanner of an OpenDocument spreadsheet (ods): its content.xml, repeated rows and cells counted."""

from __future__ import annotations

import zipfile
from typing import Any

from tsunagu.intake.limits import Limits, _Area, _Footprint, _sheet_too_large

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
