"""Tables in PDF files: the offices send their tabulation of 様式11の3 as Excel or PDF (design.md §2.1).

A text PDF's ruled table is read with pdfplumber into one grid, as if the pages were one sheet:

- the text lines above the table on its first page (the title, 「令和7年8月1日現在」) become rows of one cell;
- every page's table rows follow in order, the header included each time it is printed again (the
  parser recognises a repeated header and drops it, so the grid keeps the pages as they look);
- a cell's text broken over lines is joined again (without a space between Japanese characters);
- the text lines under the table on its last page (notes: ※1 …, 注）…, 以下余白) follow after one blank
  row; page numbers at the foot of a page (「- 2 -」, 「2/3」) are not content and are left out.

A PDF without a text layer (a scan) cannot be read: it raises UnreadableFile("needs_manual_entry") with a
message asking the office for Excel. PDF is a complex format with a pure-Python parser, so the reading runs
in a child process with its address space capped (MAX_MEMORY) and a time limit: whatever a file makes the
parser do, the caller's memory stays bounded and the file is refused with a message ("pdf_too_complex").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

from tsunagu.findings import UnreadableFile

MIB = 1024 * 1024
SHEET_NAME = "pdf"
MAX_PAGES = 100  # an office's tabulation is a few pages; a few hundred institutions at most
MAX_CHARS_PER_PAGE = 50_000  # a dense A3 table page has under 10,000
MAX_MEMORY = 512 * MIB  # address space of the reading process
TIMEOUT_SECONDS = 120
MIN_TABLE_ROWS = 2
MIN_TABLE_COLUMNS = 2

_PAGE_NUMBER = re.compile(
    r"^(?:[-‐－―—ー]\s*\d{1,4}\s*[-‐－―—ー]|\d{1,4}\s*/\s*\d{1,4}|(?:page|p\.?)\s*\d{1,4}(?:\s*/\s*\d{1,4})?"
    r"|\d{1,4}\s*(?:ページ|頁)|第\s*\d{1,4}\s*(?:ページ|頁)|\d{1,4})$",
    re.IGNORECASE,
)


def _resend_ja() -> str:
    return "集計表をExcel（.xlsx）形式で送付してください（CSVでも受け付けます）。"


def _resend_en() -> str:
    return "Please send the tabulated data as Excel (.xlsx) (CSV is accepted too)."


def _unreadable(code: str, ja: str, en: str) -> UnreadableFile:
    return UnreadableFile(code, ja, en)


def needs_manual_entry(pages: int) -> UnreadableFile:
    return _unreadable(
        "needs_manual_entry",
        f"このPDF（{pages}ページ）は紙をスキャンした画像で、文字のデータがないため読み取れません"
        "（このままでは手入力が必要になります）。お手数ですが、" + _resend_ja(),
        f"This PDF ({pages} page(s)) is a scanned image without a text layer, so its contents cannot be read "
        "(it would have to be typed in by hand). " + _resend_en(),
    )


def _damaged(detail: str) -> UnreadableFile:
    # The code is the one a PDF always had here: an office's PDF that cannot be taken in.
    return _unreadable(
        "unsupported_pdf",
        "PDFファイルを読み取れません（ファイルが壊れているか、PDFとして開けません）。" + _resend_ja(),
        f"The PDF file cannot be read (it is damaged or cannot be opened as a PDF: {detail}). " + _resend_en(),
    )


def _outcome_error(out: dict[str, Any], max_memory: int, timeout: float) -> UnreadableFile:
    status = out.get("status")
    if status == "scan":
        return needs_manual_entry(int(out.get("pages") or 0))
    if status == "encrypted":
        return _unreadable(
            "encrypted_pdf",
            "PDFにパスワードが設定されているため読み込めません。パスワードを解除して再送するか、" + _resend_ja(),
            "The PDF is password-protected and cannot be read. Please remove the password and send it again. "
            + _resend_en(),
        )
    if status == "no_table":
        return _unreadable(
            "pdf_no_table",
            f"PDF（{out.get('pages')}ページ）に罫線で区切られた表が見つかりません。" + _resend_ja(),
            f"No ruled table was found in the PDF ({out.get('pages')} page(s)). " + _resend_en(),
        )
    if status == "too_many_pages":
        return _unreadable(
            "too_many_pages",
            f"PDFのページ数が多すぎます（{out.get('pages')}ページ、上限 {out.get('limit')}ページ）。"
            "集計表だけを送付してください。" + _resend_ja(),
            f"The PDF has too many pages ({out.get('pages')}; the limit is {out.get('limit')}). " + _resend_en(),
        )
    if status == "too_many_chars":
        return _unreadable(
            "pdf_too_complex",
            f"PDFの{out.get('page')}ページ目の文字数が多すぎます（{out.get('chars'):,}文字、上限 {out.get('limit'):,}文字）。"
            + _resend_ja(),
            f"Page {out.get('page')} of the PDF has too many characters ({out.get('chars'):,}; the limit is "
            f"{out.get('limit'):,}). " + _resend_en(),
        )
    if status == "damaged":
        return _damaged(str(out.get("detail") or ""))
    return _too_complex(str(out.get("detail") or status), max_memory, timeout)


def _too_complex(detail: str, max_memory: int, timeout: float) -> UnreadableFile:
    return _unreadable(
        "pdf_too_complex",
        f"PDFの内容が複雑すぎるため、読み取りを中止しました（メモリ上限 {max_memory // MIB} MiB、"
        f"時間上限 {timeout:g}秒）。" + _resend_ja(),
        f"Reading the PDF was stopped: it needs more than {max_memory // MIB} MiB or {timeout:g} s ({detail}). "
        + _resend_en(),
    )


# --------------------------------------------------------------------------- the parent's side


def read_pdf(path: Path, *, max_pages: int = MAX_PAGES, max_chars_per_page: int = MAX_CHARS_PER_PAGE,
             max_memory: int = MAX_MEMORY, timeout: float = TIMEOUT_SECONDS) -> list[list[str]]:
    """The grid of a text PDF's table (rows of cell texts, '' for blank). Raises UnreadableFile."""
    args = json.dumps({"path": str(path), "max_pages": max_pages, "max_chars_per_page": max_chars_per_page,
                       "max_memory": max_memory})
    package_root = str(Path(__file__).resolve().parents[2])  # the directory holding tsunagu/
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tsunagu.intake.pdf", args], capture_output=True, timeout=timeout, env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _too_complex(f"more than {timeout:g} s", max_memory, timeout) from None
    try:
        out = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        out = {"status": "crashed", "detail": f"exit {proc.returncode}"}
    if out.get("status") != "ok":
        raise _outcome_error(out, max_memory, timeout)
    return [[str(c) for c in row] for row in out["rows"]]


# --------------------------------------------------------------------------- the child's side


def _join_lines(text: str | None) -> str:
    """A cell's text without the line breaks the layout put in: joined as it was typed, with a space only
    between two latin words ("Home\nClinic"), none in Japanese ("医療機関\n番号", "三の丸\n3-12-48")."""
    if not text:
        return ""
    out = ""
    for part in (p.strip() for p in text.replace("\r", "\n").split("\n")):
        if not part:
            continue
        if out and out[-1].isascii() and out[-1].isalpha() and part[0].isascii() and part[0].isalpha():
            out += " "
        out += part
    return out


def _lines(page: Any, top: float, bottom: float) -> list[str]:
    if bottom - top < 1:
        return []
    x0, _, x1, _ = page.bbox
    text = page.crop((x0, top, x1, bottom)).extract_text() or ""
    return [line.strip() for line in text.split("\n") if line.strip()]


def _is_page_number(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(unicodedata.normalize("NFKC", line).strip()))


def _tables(page: Any) -> list[Any]:
    tables = []
    for table in page.find_tables():
        if len(table.rows) >= MIN_TABLE_ROWS and max((len(r.cells) for r in table.rows), default=0) >= MIN_TABLE_COLUMNS:
            tables.append(table)
    return sorted(tables, key=lambda t: (t.bbox[1], t.bbox[0]))


def extract(path: str, *, max_pages: int = MAX_PAGES, max_chars_per_page: int = MAX_CHARS_PER_PAGE) -> dict[str, Any]:
    """Read the PDF in this process: {"status": "ok", "rows": [...]} or why not."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(path)
    except PDFPasswordIncorrect:
        return {"status": "encrypted"}
    except Exception as exc:  # pdfminer raises many kinds on damaged files
        if "password" in str(exc).lower() or isinstance(getattr(exc, "__cause__", None), PDFPasswordIncorrect):
            return {"status": "encrypted"}
        return {"status": "damaged", "detail": f"{type(exc).__name__}: {exc}"}
    with pdf:
        try:
            pages = len(pdf.pages)
        except Exception as exc:
            return {"status": "damaged", "detail": f"{type(exc).__name__}: {exc}"}
        if pages == 0:
            return {"status": "damaged", "detail": "no pages"}
        if pages > max_pages:
            return {"status": "too_many_pages", "pages": pages, "limit": max_pages}
        rows: list[list[str]] = []
        notes: list[str] = []
        chars = 0
        image_pages = 0
        for number, page in enumerate(pdf.pages, start=1):
            n_chars = len(page.chars)
            if n_chars > max_chars_per_page:
                return {"status": "too_many_chars", "page": number, "chars": n_chars, "limit": max_chars_per_page}
            chars += n_chars
            image_pages += bool(page.images)
            tables = _tables(page) if n_chars else []
            if tables:
                _, page_top, _, page_bottom = page.bbox
                if not rows:  # the first page with a table: its title lines
                    rows.extend([line] for line in _lines(page, page_top, tables[0].bbox[1]))
                for table in tables:
                    rows.extend([_join_lines(c) for c in r] for r in table.extract())
                notes = [line for line in _lines(page, tables[-1].bbox[3], page_bottom) if not _is_page_number(line)]
            page.close()
        if not chars:
            return {"status": "scan", "pages": pages}
        if not rows:
            # Text, but no ruled table: a scan with an OCR layer, or a document that is not a table.
            return {"status": "scan" if image_pages == pages and chars < 200 * pages else "no_table", "pages": pages}
        if notes:
            rows.append([])
            rows.extend([line] for line in notes)
        return {"status": "ok", "rows": rows, "pages": pages}


def _child_main(argv: list[str]) -> int:
    opts = json.loads(argv[0])
    try:
        import resource

        limit = int(opts["max_memory"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - a platform without rlimits: time limit only
        pass
    try:
        import pdfplumber  # noqa: F401 - under the cap: a library that cannot be mapped is out of memory too
    except (ImportError, MemoryError, OSError) as exc:
        sys.stdout.buffer.write(json.dumps({"status": "too_complex", "detail": f"{type(exc).__name__}"}).encode())
        return 0
    try:
        out = extract(opts["path"], max_pages=int(opts["max_pages"]),
                      max_chars_per_page=int(opts["max_chars_per_page"]))
    except MemoryError:
        out = {"status": "too_complex", "detail": "memory limit"}
    except RecursionError:
        out = {"status": "too_complex", "detail": "nesting too deep"}
    except Exception as exc:  # a damaged file can make the parser fail anywhere
        out = {"status": "damaged", "detail": f"{type(exc).__name__}: {exc}"}
    sys.stdout.buffer.write(json.dumps(out).encode("ascii"))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
