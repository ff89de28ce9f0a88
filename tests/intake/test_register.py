from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from tsunagu.findings import UnreadableFile
from tsunagu.intake.register import parse_register, roster_symbol
from tsunagu.model import RosterEntry

from .builders import write_xlsx

HEADER = ["項番", "都道府県コード", "都道府県名", "区分", "医療機関番号", "併設医療機関番号", "医療機関記号番号",
          "医療機関名称", "医療機関所在地（郵便番号）", "医療機関所在地（住所）", "電話番号", "FAX番号", "病床数",
          "受理届出名称", "受理記号", "受理番号", "算定開始年月日", "個別有効開始年月日", "備考（見出し）",
          "備考（データ）", "市町村コード", "市町村名", "種別コード", "種別"]
TITLE = "[令和７年９月１日 現在 ]令和７年１０月１日作成 全医療機関出力"


def _row(no, number, name, notification, symbol, start, pref="08", muni=""):
    return [str(no), pref, "茨城県", "医科", number, "", "", name, "310-0011", "水戸市三の丸３－１２－４８",
            "029-221-5177", "", "", notification, symbol, "第1号", start, "", "", "", muni, "", "", ""]


def test_synthetic_register(tmp_path):
    rows = [
        [],
        [TITLE],
        [],
        HEADER,
        _row(1, "0110056", "水戸赤十字病院", "医療ＤＸ推進体制整備加算", "医療ＤＸ", "令和 6年 6月 1日"),
        _row(1, "0110056", "水戸赤十字病院", "在宅療養支援病院", "支援病３", "平成30年 4月 1日"),
        _row(2, "0110064", "水戸在宅クリニック", "在宅療養支援診療所", "支援診２", "令和 4年10月 1日", muni="082015"),
        _row(2, "0110064", "水戸在宅クリニック", "在宅療養支援診療所", "支援診１", "令和 7年 4月 1日", muni="082015"),
        _row(3, "0110057", "検査番号ちがい医院", "在宅療養支援診療所", "支援診３", "令和 元年 5月 1日"),
        _row(4, "0110072", "歯科併設病院", "在宅療養支援歯科病院", "歯援病", "令和 6年 6月 1日"),
        [],
    ]
    path = write_xlsx(tmp_path / "register.xlsx", rows, sheet="Sheet1")
    reg = parse_register(path)
    assert reg.as_of == dt.date(2025, 9, 1)
    assert reg.prefecture_code == "08"
    assert reg.header_row == 4
    assert [r["row"] for r in reg.rows] == [5, 6, 7, 8, 9, 10]
    assert reg.rows[0] == {
        "prefecture_code": "08", "score_table": "1", "institution_number": "0110056", "institution_code": "0810110056",
        "institution_name": "水戸赤十字病院", "postal_code": "310-0011", "address": "水戸市三の丸３－１２－４８",
        "phone": "029-221-5177", "beds": None, "notification_name": "医療ＤＸ推進体制整備加算",
        "notification_symbol": "医療ＤＸ", "notification_number": "第1号", "start_date": dt.date(2024, 6, 1),
        "municipality_code": None, "municipality_name": None, "sheet": "Sheet1", "row": 5,
    }
    assert reg.rows[2]["municipality_code"] == "082015"
    assert reg.rows[4]["start_date"] == dt.date(2019, 5, 1)
    assert [(f.code, f.severity, f.sheet, f.row, f.column, f.field) for f in reg.findings] == [
        ("invalid_check_digit", "error", "Sheet1", 9, "E", "institution_number")]
    assert reg.findings[0].message_ja == "E列 9行目: 医療機関番号『0110057』の検証番号（7桁目）が正しくありません"
    # The register's 市町村コード is usually empty: the municipality comes from the address (水戸市 082015).
    assert reg.roster == [
        RosterEntry("0810110056", "0110056", "08", "水戸赤十字病院", "hospital", "standard", "支援病３",
                    "水戸市三の丸３－１２－４８", "082015"),
        RosterEntry("0810110057", "0110057", "08", "検査番号ちがい医院", "clinic", "standard", "支援診３",
                    "水戸市三の丸３－１２－４８", "082015"),
        # Listed twice: the class with the latest 算定開始年月日 wins.
        RosterEntry("0810110064", "0110064", "08", "水戸在宅クリニック", "clinic", "enhanced_single", "支援診１",
                    "水戸市三の丸３－１２－４８", "082015"),
    ]


@pytest.mark.parametrize(("symbol", "expected"), [
    ("支援診１", ("clinic", "enhanced_single")), ("支援診2", ("clinic", "enhanced_network")),
    ("支援病３", ("hospital", "standard")), ("歯援診１", None), ("支援診", None), ("", None), (None, None),
])
def test_roster_symbol(symbol, expected):
    assert roster_symbol(symbol) == expected


def test_register_without_header_is_unreadable(tmp_path):
    path = write_xlsx(tmp_path / "x.xlsx", [["a", "b"], [1, 2]])
    with pytest.raises(UnreadableFile) as exc:
        parse_register(path)
    assert exc.value.code == "header_not_found"


# -- the bureau's real registers (../shared/reference/meibo) ---------------------------------------------------


@pytest.fixture(scope="module")
def registers(meibo_files):
    return {p.name[:2]: parse_register(p) for p in meibo_files}


def test_real_registers_counts(registers):
    regs = registers
    assert sorted(regs) == ["08", "09", "10", "11", "12", "15", "19", "20"]
    assert {k: len(r.rows) for k, r in regs.items()} == {
        "08": 14329, "09": 10831, "10": 13776, "11": 35541, "12": 29601, "15": 11629, "19": 4857, "20": 14654}
    assert sum(len(r.rows) for r in regs.values()) == 135_218
    assert all(r.as_of == dt.date(2025, 9, 1) for r in regs.values())
    assert {k: r.prefecture_code for k, r in regs.items()} == {k: k for k in regs}
    assert all(r.header_row == 4 for r in regs.values())
    # Every 医療機関番号 passes its prefecture's check-digit rule (design.md §3).
    assert [f for r in regs.values() for f in r.findings] == []


def test_real_registers_roster(registers):
    roster = [e for r in registers.values() for e in r.roster]
    assert Counter(e.facility_type for e in roster) == {"clinic": 2145, "hospital": 319}
    assert Counter((e.facility_type, e.notification_class) for e in roster) == {
        ("clinic", "enhanced_single"): 43, ("clinic", "enhanced_network"): 697, ("clinic", "standard"): 1405,
        ("hospital", "enhanced_single"): 51, ("hospital", "enhanced_network"): 90, ("hospital", "standard"): 178,
    }
    assert len({e.institution_code for e in roster}) == len(roster)
    # Rows with a 支援診/支援病 受理記号 (some institutions are listed with two classes while changing class).
    rows = Counter(r["notification_symbol"][:3] for reg in registers.values() for r in reg.rows
                   if (r["notification_symbol"] or "").startswith(("支援診", "支援病")))
    assert rows == {"支援診": 2154, "支援病": 321}


def test_real_registers_exact_rows(registers):
    ibaraki = registers["08"]
    first = ibaraki.rows[0]
    assert first["row"] == 5  # Excel row: blank row 1, title row 2, blank row 3, header row 4
    assert (first["institution_number"], first["institution_name"], first["institution_code"]) == (
        "0110056", "水戸赤十字病院", "0810110056")
    assert (first["notification_symbol"], first["start_date"]) == ("医療ＤＸ", dt.date(2024, 6, 1))
    last = registers["19"].rows[-1]
    assert (last["row"], last["institution_number"], last["institution_name"]) == (4861, "2310230", "ふくとみ小児科")
    # An institution in the middle of a change of class: the latest start date wins.
    saitama = {e.institution_number: e for e in registers["11"].roster}
    assert (saitama["1901578"].notification_symbol, saitama["1901578"].notification_class) == (
        "支援診２", "enhanced_network")
    assert saitama["1901578"].institution_code == "1111901578"
    assert saitama["0102723"].notification_class == "enhanced_single"  # same date: the stronger class

# Speed is measured by `make bench` (ratios against a baseline in the same run), never by a timed test:
# the machine is shared and noisy.
