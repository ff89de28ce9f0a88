"""Peak memory of reading what offices (or anyone) send: under 512 MiB for any input.

Each file is read in a fresh process (read_sheets, or the 様式11の3 parse) and that process reports its
peak RSS: VmHWM (the image's own peak; ru_maxrss would keep the size of the forked pytest from before
exec on Linux), or the PDF reader's child's ru_maxrss. Both are printed with -s. The files are generated in tmp (about 700 MB, removed after the
module). Before the limits, the 200 MB junk CSV peaked at 2.85 GB and the one of 2-byte fields at
5.8 GB; a 1.5 KB xlsx aborted the process and an 800-byte ods took 12 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hardening.test_intake_limits import ods, xlsx

pytestmark = pytest.mark.slow

LIMIT_MIB = 512
SIZE = 200_000_000  # under the 200 MiB file limit

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
start = time.monotonic()
out = {}
try:
    if sys.argv[2] == "parse":
        from tsunagu.intake.home_care_report import parse_home_care_report
        from tsunagu.intake.templates import load_template
        table = parse_home_care_report(Path(sys.argv[1]), template=load_template("home_care_report", "2024-08"),
                                       prefecture_code="08", fiscal_year=2025)
        out["rows"] = len(table.rows)
        out["findings"] = len(table.findings)
    else:
        from tsunagu.intake.reader import read_sheets
        out["rows"] = sum(len(s.rows) for s in read_sheets(Path(sys.argv[1]), pdf=True))
except Exception as exc:
    out["code"] = getattr(exc, "code", type(exc).__name__)
# ru_maxrss of this process keeps the forked parent's size from before exec (Linux), which under a full
# pytest session is far above the limit: VmHWM is this image's own peak; the PDF reader's child counts too.
out["hwm_mib"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) // 1024
out["peak_mib"] = max(out["hwm_mib"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
out["seconds"] = round(time.monotonic() - start, 1)
print(json.dumps(out))
"""


def peak(path: Path, mode: str = "read") -> dict:
    """Read the file in a fresh process; what it says and its peak RSS (the PDF reader's child included)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(path.name, mode, out)  # the figures, with -s
    return out


def write_repeated(path: Path, line: bytes, size: int = SIZE) -> Path:
    with path.open("wb") as fh:
        block = line * max(1, (8 << 20) // len(line))
        left = size
        while left > 0:
            fh.write(block[:left])
            left -= len(block)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("big")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # a gigabyte of generated files


@pytest.fixture(scope="module")
def junk_csv(big) -> Path:
    """200 MB of random printable junk, a comma every few bytes and a line break every few hundred."""
    table = bytearray(32 + i % 95 for i in range(256))
    for i in range(0, 256, 8):
        table[i] = ord(",")
    table[7] = ord("\n")
    path = big / "junk.csv"
    with path.open("wb") as fh:
        for _ in range(SIZE // (8 << 20)):
            fh.write(os.urandom(8 << 20).translate(bytes(table)))
    return path


@pytest.fixture(scope="module")
def two_byte_csv(big) -> Path:
    return write_repeated(big / "two.csv", b",".join([b"ab"] * 1000) + b"\n")


def test_junk_csv(junk_csv):
    out = peak(junk_csv)
    assert out["code"] == "too_many_cells" and out["peak_mib"] < LIMIT_MIB


def test_two_byte_fields(two_byte_csv):
    out = peak(two_byte_csv)
    assert out["code"] == "too_many_cells" and out["peak_mib"] < LIMIT_MIB


def test_junk_through_the_form_parser(junk_csv):
    out = peak(junk_csv, "parse")
    assert out["code"] == "too_many_cells" and out["peak_mib"] < LIMIT_MIB


@pytest.mark.parametrize(("name", "line", "size", "code"), [
    ("forty.csv", b",".join([b"x" * 40] * 50) + b"\n", SIZE, "too_many_cells"),  # about the most memory per cell
    # One character outside the BMP makes Python store a 100-character field in 4 bytes a character:
    # 103 bytes in the file, 476 in memory. The memory count stops it.
    ("astral.csv", b",".join([b"x" * 99 + "😀".encode()] * 20) + b"\n", 120_000_000, "too_large"),
    ("oneline.csv", b"a" * (1 << 20), 8 << 20, "line_too_long"),  # no line break at all
])
def test_csv_shapes(big, name, line, size, code):
    out = peak(write_repeated(big / name, line, size))
    assert out["code"] == code and out["peak_mib"] < LIMIT_MIB


def test_form_rows_full_of_errors(big):
    """9,999 institutions with every cell wrong: read, parsed, a finding per bad cell, within the limit."""
    from tests.intake.builders import FLAT_HEADER

    path = big / "errors.csv"
    junk = ",".join(["０１x"] + [f"値{i}？" for i in range(20)]) + "\n"
    path.write_text(",".join(FLAT_HEADER) + "\n" + junk * 9_999, encoding="utf-8")
    out = peak(path, "parse")
    assert out["rows"] == 9_999 and out["findings"] == 9_999 * 19 and out["peak_mib"] < LIMIT_MIB  # not name, address


def test_small_workbooks_asking_for_gigabytes(big):
    far = xlsx(big / "far.xlsx", '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1'
               '</v></c></row>')
    copies = xlsx(big / "copies.xlsx", "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>0</v></c></row>'
                                               for i in range(1, 50_001)), ["医" * 30_000])
    bomb = ods(big / "bomb.ods", '<table:table-row table:number-rows-repeated="100000"><table:table-cell office:'
               'value-type="string" table:number-columns-repeated="1000"><text:p>x</text:p></table:table-cell>'
               '</table:table-row>')
    for path, code in ((far, "sheet_too_large"), (copies, "too_large"), (bomb, "sheet_too_large")):
        out = peak(path)
        assert out["code"] == code and out["peak_mib"] < 200, (path.name, out)


def test_largest_workbook_within_the_limits(big):
    """A sheet at the cell limit (4,000,000 cells, one value in each row) is read, within the memory limit."""
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="J{r}" t="s"><v>0</v></c></row>'
                   for r in range(1, 400_001))
    out = peak(xlsx(big / "dense.xlsx", rows, ["水戸在宅クリニック"]))
    assert out["rows"] == 400_000 and out["peak_mib"] < LIMIT_MIB


def test_largest_real_register(meibo_files):
    path = max(meibo_files, key=lambda p: p.stat().st_size)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size > 20_000_000
    out = peak(path)
    assert out["rows"] > 29_000 and out["peak_mib"] < LIMIT_MIB


def test_pdf_reading_process(big):
    """A PDF is read in a child process under its own cap; the caller stays small."""
    from tests.intake.pdfs import paginate, table_pdf

    header = [["医療機関番号", "医療機関名称", "合計診療患者数", "死亡患者数"]]
    rows = [[f"01{i:04d}0", f"診療所{i}", i, 0] for i in range(1, 2001)]
    path = table_pdf(big / "long.pdf", paginate(header, rows, per_page=40, widths=[90, 150, 90, 90]))
    out = peak(path)
    assert out["rows"] == 2000 + 50 and out["peak_mib"] < LIMIT_MIB
