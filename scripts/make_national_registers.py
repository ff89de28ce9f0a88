"""Generate national-scale registers (届出受理医療機関名簿) for the intake benchmark, from the 8 real ones.

    .venv/bin/python scripts/make_national_registers.py [--out var/bench/national] [--rows 580000]

Writes one register per prefecture (47, JIS 01–47) in the real files' layout — the same workbook
parts, one sheet of shared strings, blank row 1, the 「…現在」 title in row 2, the header in row 4 —
and an include overlay whose jurisdiction lists all 47 prefectures (set ``TSUNAGU_INCLUDE`` to
``<out>/include`` to ingest them; the overlay links every other part of ``include/``):

    <out>/registers/01届出受理医療機関名簿（医科）北海道r0710.xlsx … 47…沖縄県r0710.xlsx
    <out>/include/config/jurisdiction.yaml   (+ links to the rest of include/)
    <out>/manifest.json                      rows per file, the sources, the parameters

Each prefecture copies a real register (its own for the 8 real prefectures, the others in turn),
scaled so that the total is about ``--rows``: the first rows of the source, or the source repeated
with renumbered institutions when more are needed. The prefecture code and name are replaced, and
every 医療機関番号 gets the check digit of its new prefecture's rule (design.md §3), so the files
are accepted without findings. The output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "reference" / "meibo"
DEFAULT_OUT = REPO / "var" / "bench" / "national"
DEFAULT_ROWS = 580_000
FIXED_TIME = (2025, 10, 2, 0, 0, 0)

# JIS X 0401: code, name, romaji
PREFECTURES = [
    ("01", "北海道", "hokkaido"), ("02", "青森県", "aomori"), ("03", "岩手県", "iwate"), ("04", "宮城県", "miyagi"),
    ("05", "秋田県", "akita"), ("06", "山形県", "yamagata"), ("07", "福島県", "fukushima"),
    ("08", "茨城県", "ibaraki"), ("09", "栃木県", "tochigi"), ("10", "群馬県", "gunma"), ("11", "埼玉県", "saitama"),
    ("12", "千葉県", "chiba"), ("13", "東京都", "tokyo"), ("14", "神奈川県", "kanagawa"), ("15", "新潟県", "niigata"),
    ("16", "富山県", "toyama"), ("17", "石川県", "ishikawa"), ("18", "福井県", "fukui"), ("19", "山梨県", "yamanashi"),
    ("20", "長野県", "nagano"), ("21", "岐阜県", "gifu"), ("22", "静岡県", "shizuoka"), ("23", "愛知県", "aichi"),
    ("24", "三重県", "mie"), ("25", "滋賀県", "shiga"), ("26", "京都府", "kyoto"), ("27", "大阪府", "osaka"),
    ("28", "兵庫県", "hyogo"), ("29", "奈良県", "nara"), ("30", "和歌山県", "wakayama"), ("31", "鳥取県", "tottori"),
    ("32", "島根県", "shimane"), ("33", "岡山県", "okayama"), ("34", "広島県", "hiroshima"),
    ("35", "山口県", "yamaguchi"), ("36", "徳島県", "tokushima"), ("37", "香川県", "kagawa"), ("38", "愛媛県", "ehime"),
    ("39", "高知県", "kochi"), ("40", "福岡県", "fukuoka"), ("41", "佐賀県", "saga"), ("42", "長崎県", "nagasaki"),
    ("43", "熊本県", "kumamoto"), ("44", "大分県", "oita"), ("45", "宮崎県", "miyazaki"),
    ("46", "鹿児島県", "kagoshima"), ("47", "沖縄県", "okinawa"),
]
# The bureau's own rules (include/config/jurisdiction.yaml); every other prefecture: prefixed.
SIX_DIGIT = {"11", "12", "13", "14"}
COL_PREF, COL_PREF_NAME, COL_NUMBER = 1, 2, 4  # B, C, E in the real layout
REPEAT_SHIFT = 123_457  # renumbering of the n-th repeat of a source (6-digit payload)


def check_digit_rule(code: str) -> str:
    return "six_digit" if code in SIX_DIGIT else "prefixed"


def renumber(number: str, code: str, repeat: int) -> str:
    """The number for prefecture ``code``: the payload (shifted for a repeat) and its check digit."""
    from tsunagu.codes import institution_number_payload, luhn_check_digit

    if len(number) != 7 or not number.isdigit():
        return number
    six = f"{(int(number[:6]) + repeat * REPEAT_SHIFT) % 1_000_000:06d}"
    payload = institution_number_payload(six + "0", code, check_digit_rule(code))
    return six + str(luhn_check_digit(payload))


def column_letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


def read_source(path: Path) -> tuple[list[list[str]], int]:
    """The sheet's cells as text, and the index of the header row."""
    from tsunagu.intake.reader import read_sheets

    (sheet,) = read_sheets(path)
    rows = [["" if c is None else str(c) for c in r] for r in sheet.rows]
    head = next(i for i, r in enumerate(rows[:30]) if "医療機関番号" in r and "都道府県コード" in r)
    return rows, head


def scaled_rows(data: list[list[str]], count: int, code: str, name: str) -> list[list[str]]:
    out: list[list[str]] = []
    cache: dict[tuple[str, int], str] = {}
    repeat = 0
    while len(out) < count:
        for row in data[: count - len(out)]:
            row = list(row)
            row[COL_PREF], row[COL_PREF_NAME] = code, name
            key = (row[COL_NUMBER], repeat)
            if key not in cache:
                cache[key] = renumber(row[COL_NUMBER], code, repeat)
            row[COL_NUMBER] = cache[key]
            out.append(row)
        repeat += 1
    return out


def sheet_xml(template: str, rows: list[list[str]], first: int) -> tuple[bytes, bytes]:
    """The worksheet (template's prefix and suffix around new sheetData) and its shared strings."""
    width = max(len(r) for r in rows)
    letters = column_letters(width)
    index: dict[str, int] = {}
    parts = []
    for n, row in enumerate(rows, start=first + 1):
        cells = []
        for letter, value in zip(letters, row, strict=False):
            i = index.get(value)
            if i is None:
                i = index[value] = len(index)
            cells.append(f'<c r="{letter}{n}" s="0" t="s"><v>{i}</v></c>')
        parts.append(f'<row r="{n}">{"".join(cells)}</row>')
    last = first + len(rows)
    head, _, rest = template.partition("<sheetData>")
    _, _, tail = rest.partition("</sheetData>")
    head = re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="A{first + 1}:{letters[-1]}{last}"', head)
    sheet = head + "<sheetData>" + "".join(parts) + "</sheetData>" + tail
    strings = [
        f'<si><t xml:space="preserve">{escape(s)}</t></si>' if s != s.strip() else f"<si><t>{escape(s)}</t></si>"
        for s in index
    ]
    sst = ('<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><sst xmlns="http://schemas.openxmlformats.org/'
           f'spreadsheetml/2006/main" count="{sum(len(r) for r in rows)}" uniqueCount="{len(index)}">'
           + "".join(strings) + "</sst>")
    return sheet.encode("utf-8"), sst.encode("utf-8")


def write_register(source: Path, target: Path, rows: list[list[str]], first: int) -> None:
    with zipfile.ZipFile(source) as src:
        names = src.namelist()
        (sheet_name,) = [n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        template = src.read(sheet_name).decode("utf-8-sig")
        sheet, sst = sheet_xml(template, rows, first)
        tmp = target.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for name in names:
                data = {sheet_name: sheet, "xl/sharedStrings.xml": sst}.get(name) or src.read(name)
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, data)
    os.replace(tmp, target)


def write_include(out: Path) -> Path:
    """``<out>/include``: links to the repository's include/, with a 47-prefecture jurisdiction."""
    import yaml

    real = REPO / "include"
    include = out / "include"
    config = include / "config"
    config.mkdir(parents=True, exist_ok=True)
    for entry in real.iterdir():
        link = include / entry.name
        if entry.name != "config" and not link.exists():
            link.symlink_to(entry.resolve())
    for entry in (real / "config").iterdir():
        link = config / entry.name
        if entry.name != "jurisdiction.yaml" and not link.exists():
            link.symlink_to(entry.resolve())
    data = yaml.safe_load((real / "config" / "jurisdiction.yaml").read_text(encoding="utf-8"))
    bureau = {p["code"]: p for p in data["prefectures"]}
    data["bureau"]["name_ja"] = "全国（ベンチマーク用）"
    data["prefectures"] = [
        bureau.get(code) or {"code": code, "name_ja": name, "romaji": romaji, "check_digit": check_digit_rule(code),
                             "office_ja": f"{name[:-1] if name[-1] in '都府県' else name}事務所", "email_domains": []}
        for code, name, romaji in PREFECTURES
    ]
    (config / "jurisdiction.yaml").write_text(
        "# Generated by scripts/make_national_registers.py: every prefecture, for the national benchmark.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return include


def generate(source_dir: Path, out: Path, total: int) -> dict:
    sources = sorted(source_dir.glob("*.xlsx"))
    if not sources:
        raise SystemExit(f"no registers in {source_dir}")
    by_code = {p.name[:2]: p for p in sources}
    others = iter([s for _ in range(len(PREFECTURES)) for s in sources])
    plan = [(code, name, by_code.get(code) or next(others)) for code, name, _ in PREFECTURES]
    read: dict[Path, tuple[list[list[str]], int]] = {}
    sizes = {}
    for path in sources:
        rows, head = read_source(path)
        sizes[path] = len(rows) - head - 1
        read[path] = (rows, head)
    factor = total / sum(sizes[src] for _, _, src in plan)
    registers = out / "registers"
    registers.mkdir(parents=True, exist_ok=True)
    files = []
    for code, name, src in plan:
        rows, head = read[src]
        first = next(i for i, r in enumerate(rows) if any(r))  # row 1 is blank and absent, as in the source
        count = max(1, math.floor(sizes[src] * factor + 0.5))
        data = scaled_rows(rows[head + 1:], count, code, name)
        target = registers / f"{code}届出受理医療機関名簿（医科）{name}r0710.xlsx"
        write_register(src, target, rows[first:head + 1] + data, first)
        files.append({"file": target.name, "prefecture_code": code, "rows": len(data), "source": src.name})
        print(f"{target.name}: {len(data):,} rows (from {src.name})", file=sys.stderr)
    include = write_include(out)
    manifest = {"rows": sum(f["rows"] for f in files), "requested_rows": total, "files": files,
                "include": str(include), "source": str(source_dir)}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def ensure(out: Path = DEFAULT_OUT, total: int = DEFAULT_ROWS, source_dir: Path = DEFAULT_SOURCE) -> dict:
    """The manifest of ``out``, generating the registers first unless they exist for ``total`` rows."""
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("requested_rows") == total and all(
                (out / "registers" / f["file"]).exists() for f in manifest["files"]):
            return manifest
    return generate(source_dir, out, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the real registers (*.xlsx)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="about this many rows in all")
    parser.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    args = parser.parse_args(argv)
    manifest = (generate if args.force else ensure)(**{"source_dir": args.source, "out": args.out,
                                                         "total": args.rows})
    print(f"{len(manifest['files'])} registers, {manifest['rows']:,} rows in {args.out / 'registers'}; "
          f"TSUNAGU_INCLUDE={manifest['include']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
