"""Real PDF files for the intake tests, built here without a PDF library.

`table_pdf` writes what an office's PDF export of its tabulation looks like: a title line, a ruled grid
(merged header cells, labels broken over lines), the header printed again on every page, notes under
the table on the last page and a page number at the foot of each page. The text is real text in a CJK
font (UniJIS-UCS2-H on Adobe-Japan1, which PDF readers map back to Unicode), so that a reader extracts
it; the font is not embedded (viewers substitute 平成角ゴシック), which keeps the files small.

`scanned_pdf` writes an image-only PDF (Pillow), as an office copier does: pages, no text layer.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LEFT = "<"  # a header cell merged with the cell on its left (no vertical rule between them)
UP = "^"  # a header cell merged with the cell above it (no horizontal rule between them)

A4_LANDSCAPE = (842.0, 595.0)
FONT_SIZE = 7.0
LINE_GAP = 1.5


@dataclass
class Page:
    """One page: lines of text above the grid, the grid's rows (the header rows first), lines below it."""

    rows: Sequence[Sequence[object]]
    header_rows: int = 1
    above: Sequence[str] = ()
    below: Sequence[str] = ()
    footer: str | None = None  # a page number at the foot of the page, e.g. "- 1 -"
    row_height: float = 16.0
    header_row_height: float = 30.0
    widths: Sequence[float] = field(default_factory=tuple)  # points per column (default: fit the page)


def _hex(text: str) -> str:
    return "".join(f"{ord(ch):04X}" for ch in text)


def _text(x: float, y: float, text: str, size: float = FONT_SIZE) -> str:
    return f"BT /F1 {size:g} Tf {x:.2f} {y:.2f} Td <{_hex(text)}> Tj ET\n"


def _width(text: str, size: float = FONT_SIZE) -> float:
    return sum(0.5 if ch.isascii() else 1.0 for ch in text) * size


def _cell_text(value: object) -> str:
    if value is None or value in (LEFT, UP):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _page_stream(page: Page, size: tuple[float, float]) -> bytes:
    width, height = size
    margin = 28.0
    n_cols = max(len(r) for r in page.rows)
    widths = list(page.widths) or [(width - 2 * margin) / n_cols] * n_cols
    out: list[str] = ["0 g 0 G 0.6 w\n"]
    y = height - margin
    for line in page.above:
        y -= 12
        out.append(_text(margin, y, line, 9))
    y -= 8
    heights = [
        max(page.header_row_height if r < page.header_rows else page.row_height,
            max(len(_cell_text(v).split("\n")) for v in row) * (FONT_SIZE + LINE_GAP) + 4)
        for r, row in enumerate(page.rows)
    ]
    tops = [y - sum(heights[:r]) for r in range(len(page.rows) + 1)]
    lefts = [margin + sum(widths[:c]) for c in range(n_cols + 1)]
    grid = [list(r) + [None] * (n_cols - len(r)) for r in page.rows]
    # Rules: the outer frame, then every inner boundary that is not inside a merged cell.
    out.append(f"{lefts[0]:.2f} {tops[-1]:.2f} {lefts[-1] - lefts[0]:.2f} {tops[0] - tops[-1]:.2f} re S\n")
    for r in range(len(grid)):
        for c in range(1, n_cols):
            if grid[r][c] != LEFT:
                out.append(f"{lefts[c]:.2f} {tops[r]:.2f} m {lefts[c]:.2f} {tops[r + 1]:.2f} l S\n")
    for r in range(1, len(grid)):
        for c in range(n_cols):
            if grid[r][c] != UP:
                out.append(f"{lefts[c]:.2f} {tops[r]:.2f} m {lefts[c + 1]:.2f} {tops[r]:.2f} l S\n")
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            lines = _cell_text(value).split("\n")
            if not any(lines):
                continue
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            block = len(lines) * (FONT_SIZE + LINE_GAP)
            ty = tops[r] - (heights[r] - block) / 2 - FONT_SIZE
            for line in lines:
                tx = lefts[c + 1] - 2 - _width(line) if numeric else lefts[c] + 2
                out.append(_text(tx, ty, line))
                ty -= FONT_SIZE + LINE_GAP
    y = tops[-1] - 6
    for line in page.below:
        y -= 12
        out.append(_text(margin, y, line, 8))
    if page.footer:
        out.append(_text(width / 2 - _width(page.footer, 8) / 2, 16, page.footer, 8))
    return "".join(out).encode("ascii")


def _stream(data: bytes, extra: str = "") -> bytes:
    packed = zlib.compress(data)
    return f"<< /Length {len(packed)} /Filter /FlateDecode {extra}>>\nstream\n".encode() + packed + b"\nendstream"


def write_pdf(path: Path, contents: Sequence[bytes], *, size: tuple[float, float] = A4_LANDSCAPE) -> Path:
    """A PDF whose pages draw the given content streams with the CJK font /F1."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages = add(b"")
    descriptor = add(b"<< /Type /FontDescriptor /FontName /HeiseiKakuGo-W5 /Flags 4 /FontBBox [-92 -250 1010 922] "
                     b"/ItalicAngle 0 /Ascent 752 /Descent -221 /CapHeight 737 /StemV 114 >>")
    cid_font = add(f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiKakuGo-W5 /CIDSystemInfo << /Registry "
                   f"(Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor {descriptor} 0 R /DW 1000 "
                   f"/W [1 95 500] >>".encode())
    font = add(f"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiKakuGo-W5-UniJIS-UCS2-H /Encoding /UniJIS-UCS2-H "
               f"/DescendantFonts [{cid_font} 0 R] >>".encode())
    kids = []
    for content in contents:
        stream = add(_stream(content))
        kids.append(add(f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {size[0]:g} {size[1]:g}] /Resources "
                        f"<< /Font << /F1 {font} 0 R >> >> /Contents {stream} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages} 0 R >>".encode()
    objects[pages - 1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    Path(path).write_bytes(bytes(out))
    return Path(path)


def table_pdf(path: Path, pages: Sequence[Page], *, size: tuple[float, float] = A4_LANDSCAPE) -> Path:
    return write_pdf(path, [_page_stream(p, size) for p in pages], size=size)


def paginate(header: Sequence[Sequence[object]], rows: Sequence[Sequence[object]], *, per_page: int,
             title: Sequence[str] = (), notes: Sequence[str] = (), widths: Sequence[float] = ()) -> list[Page]:
    """The pages of a long table: the header repeated on each page, the title on the first, notes on the last."""
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    total = len(chunks)
    return [
        Page(rows=[*header, *chunk], header_rows=len(header), above=title if i == 0 else (),
             below=notes if i == total - 1 else (), footer=f"- {i + 1} -", widths=widths)
        for i, chunk in enumerate(chunks)
    ]


def scanned_pdf(path: Path, pages: int = 1, *, size: tuple[int, int] = (1169, 827)) -> Path:
    """An image-only PDF as a copier makes it: each page one picture of a ruled table, no text layer."""
    from PIL import Image, ImageDraw

    images = []
    for n in range(pages):
        img = Image.new("L", size, 255)
        draw = ImageDraw.Draw(img)
        for x in range(60, size[0] - 40, 90):
            draw.line([(x, 80), (x, size[1] - 80)], fill=0, width=2)
        for y in range(80, size[1] - 60, 30):
            draw.line([(60, y), (size[0] - 80, y)], fill=0, width=2)
        draw.rectangle([(60, 20), (400 + 20 * n, 50)], fill=40)  # the title, as ink
        images.append(img)
    images[0].save(path, "PDF", resolution=100.0, save_all=True, append_images=images[1:])
    return Path(path)
