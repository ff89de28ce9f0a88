"""The municipality of an address (design.md §4), on hand-made cases and on the bureau's real registers."""

from __future__ import annotations

from collections import Counter

import pytest

from tsunagu.codes import municipality_code_is_valid
from tsunagu.intake.address import _index, fold, municipality_code_of, municipality_of
from tsunagu.intake.register import build_roster, parse_register
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.municipalities import load_municipalities


@pytest.mark.parametrize(("address", "pref", "code", "name"), [
    ("水戸市三の丸３－１２－４８", "08", "082015", "水戸市"),
    # a ward of a designated city gives the city
    ("さいたま市西区大字指扇１２３", "11", "111007", "さいたま市"),
    ("さいたま市 緑区原山３－１５－３１", "11", "111007", "さいたま市"),
    ("千葉市中央区新田町１‐１６", "12", "121002", "千葉市"),
    ("新潟市西蒲区巻甲１", "15", "151009", "新潟市"),
    # 郡 in front of a town or village
    ("北足立郡伊奈町小室１０", "11", "113018", "伊奈町"),
    ("久慈郡大子町大字大子８６６", "08", "083640", "大子町"),
    ("下高井郡山ノ内町大字平穏１", "20", "205613", "山ノ内町"),
    # Tokyo's special wards are municipalities; 中央区 of 東京 is not 千葉市中央区
    ("千代田区霞が関１－２－２", "13", "131016", "千代田区"),
    ("中央区築地５－１－１", "13", "131024", "中央区"),
    ("東京都府中市宮西町２－２４", "13", "132063", "府中市"),
    # ケ/ヶ and 之/の/ノ
    ("龍ヶ崎市米町１", "08", "082082", "龍ケ崎市"),
    ("駒ケ根市赤穂１４６３２番地４", "20", "202100", "駒ヶ根市"),
    ("鶴ケ島市藤金８７８－３", "11", "112411", "鶴ヶ島市"),
    ("鎌ヶ谷市新鎌ケ谷１", "12", "122246", "鎌ケ谷市"),
    ("下高井郡山之内町平穏１", "20", "205613", "山ノ内町"),
    ("山の内町平穏１", "20", "205613", "山ノ内町"),
    # with the prefecture's name, full-width, spaces, a postal code
    ("埼玉県さいたま市浦和区高砂３－１５－１", "11", "111007", "さいたま市"),
    ("埼玉県 北足立郡伊奈町小室", "11", "113018", "伊奈町"),
    ("〒362-0806 北足立郡伊奈町小室", "11", "113018", "伊奈町"),
    ("〒３６２－０８０６　埼玉県　北足立郡　伊奈町", "11", "113018", "伊奈町"),
    # a municipality named like its prefecture: only the prefecture's full name is dropped
    ("茨城県茨城町小堤１", "08", "083020", "茨城町"),
    ("茨城町小堤１", "08", "083020", "茨城町"),
    ("山梨県山梨市小原西８４３", "19", "192058", "山梨市"),
    ("千葉県千葉市中央区市場町１－１", "12", "121002", "千葉市"),
])
def test_municipality_of(address, pref, code, name):
    m = municipality_of(address, pref)
    assert m is not None and (m.code, m.name) == (code, name)
    assert not m.is_ward and m.prefecture_code == pref
    assert municipality_code_of(address, pref) == code


@pytest.mark.parametrize(("address", "pref"), [
    ("東京都千代田区霞が関１", "11"),  # another prefecture's address
    ("千代田区霞が関１", "11"),  # a special ward is Tokyo's only
    ("さいたま市西区", "12"),
    ("大宮市桜木町１", "11"),  # a former municipality (now さいたま市大宮区)
    ("西区大字指扇", "11"),  # a ward without its city
    ("北足立郡", "11"),
    ("入間郡入間市", "11"),  # after a 郡 only a town or a village
    ("", "11"), (None, "11"), ("水戸市三の丸", None), ("水戸市三の丸", "99"),
])
def test_unresolved(address, pref):
    assert municipality_of(address, pref) is None
    assert municipality_code_of(address, pref) is None


def test_longest_name_wins(tmp_path):
    master = tmp_path / "m.csv"
    master.write_text(
        "pid,pref,cid,city,citykana,lat,lng,url,phrase,lgcode\n"
        "19,山梨県,1,中央市,,,,,,192147\n"
        "19,山梨県,2,中央市川町,,,,,,199991\n"
        "19,山梨県,3,ひがし市,,,,,,199992\n"
        "19,山梨県,4,ひがし市 北区,,,,,,199993\n",
        encoding="utf-8",
    )
    m = load_municipalities(master)
    assert municipality_code_of("中央市川町１", "19", m) == "199991"
    assert municipality_code_of("中央市山之神１", "19", m) == "192147"
    assert municipality_code_of("ひがし市北区１", "19", m) == "199992"  # the ward's city


def test_master_names_are_unambiguous_once_folded():
    """No two municipalities of a prefecture share a folded name, nor is one a prefix of another's."""
    master = load_municipalities()
    prefs = sorted({m.prefecture_code for m in master.by_code.values()})
    assert len(prefs) == 47
    for pref in prefs:
        index = _index(master, pref)
        assert None not in index.names.values(), pref
        units = {k: v.code for k, v in index.names.items()}
        clashes = [(a, b) for a in units for b in units if a != b and b.startswith(a) and units[a] != units[b]]
        assert clashes == [], pref
    assert fold("龍ヶ崎市 山ノ内町") == fold("龍ケ崎市山之内町") == "龍ケ崎市山の内町"


def test_roster_takes_the_municipality_of_the_address():
    rows = [
        {"notification_symbol": "支援診１", "institution_code": "1110101675", "institution_number": "0101675",
         "prefecture_code": "11", "institution_name": "A", "address": "さいたま市緑区原山３－１５－３１",
         "municipality_code": None},
        {"notification_symbol": "支援病３", "institution_code": "1110101676", "institution_number": "0101676",
         "prefecture_code": "11", "institution_name": "B", "address": "北足立郡伊奈町小室", "municipality_code": None},
        {"notification_symbol": "支援診２", "institution_code": "1110101677", "institution_number": "0101677",
         "prefecture_code": "11", "institution_name": "C", "address": "どこか", "municipality_code": None},
        # a code the register gives is kept
        {"notification_symbol": "支援診３", "institution_code": "1110101678", "institution_number": "0101678",
         "prefecture_code": "11", "institution_name": "D", "address": "伊奈町", "municipality_code": "112011"},
    ]
    assert [e.municipality_code for e in build_roster(rows)] == ["111007", "113018", None, "112011"]


# -- the bureau's real registers (../shared/reference/meibo) ---------------------------------------------------

# Roster institutions (支援診/支援病) per prefecture whose municipality was resolved / all of them.
RESOLVED = {"08": (244, 244), "09": (174, 174), "10": (297, 297), "11": (659, 659), "12": (526, 526),
            "15": (159, 159), "19": (89, 89), "20": (316, 316)}


@pytest.fixture(scope="module")
def rosters(meibo_files):
    return {p.name[:2]: parse_register(p).roster for p in meibo_files}


def test_real_registers_every_roster_institution_has_its_municipality(rosters):
    assert {p: (sum(1 for e in r if e.municipality_code), len(r)) for p, r in rosters.items()} == RESOLVED
    unresolved = [(e.institution_code, e.institution_name, e.address) for r in rosters.values() for e in r
                  if not e.municipality_code]
    assert unresolved == []
    master = load_municipalities()
    jurisdiction = load_jurisdiction()
    for pref, roster in rosters.items():
        assert pref in jurisdiction
        for e in roster:
            m = master.get(e.municipality_code)
            # a municipality of the institution's own prefecture, never a designated city's ward
            assert m is not None and not m.is_ward and m.prefecture_code == pref == e.prefecture_code, e
            assert municipality_code_is_valid(e.municipality_code)


def test_real_registers_exact_municipalities(rosters):
    by_code = {e.institution_code: e.municipality_code for r in rosters.values() for e in r}
    assert by_code["1110101675"] == "111007"  # 共済病院, さいたま市緑区 -> さいたま市
    assert by_code["0912710324"] == "093424"  # 青木医院, 芳賀郡益子町
    assert by_code["1515410130"] == "153851"  # 新潟県立津川病院, 東蒲原郡阿賀町
    assert by_code["1210110171"] == "121002"  # 井上記念病院, 千葉市中央区 -> 千葉市
    saitama = Counter(e.municipality_code for e in rosters["11"])
    assert saitama["111007"] == 169  # the 10 wards of さいたま市 together
    assert saitama["113018"] == 3  # 北足立郡伊奈町
    assert len(saitama) == 57
    # 駒ケ根市 is written with ケ in the register, ヶ in the master
    assert sum(1 for e in rosters["20"] if e.municipality_code == "202100") == 10
