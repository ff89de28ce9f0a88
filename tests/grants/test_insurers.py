"""The insurer master against the real municipality master (include/reference/municipalities.csv)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.codes import insurer_number, insurer_number_is_valid, municipality_code_is_valid
from tsunagu.grants.config import GrantConfigError
from tsunagu.grants.insurers import Filer, expected_filers, insurers_path, load_insurers
from tsunagu.municipalities import load_municipalities

INSURER_COUNTS = {  # municipalities (Tokyo: incl. the 23 special wards), no designated-city wards
    "08": 44, "09": 25, "10": 35, "11": 63, "12": 54, "13": 62, "14": 33, "15": 30, "19": 27, "20": 77,
}


@pytest.fixture(scope="module")
def master():
    return load_insurers()


# --- 保険者番号 -----------------------------------------------------------------------------------

def test_insurer_number_examples():
    assert insurer_number("11100") == "111005"  # さいたま市 (its 全国地方公共団体コード is 111007)
    assert insurer_number("13101") == "131011"  # 千代田区
    assert insurer_number_is_valid("111005")
    assert not insurer_number_is_valid("111007")
    for bad in ("11100", "1110050", "11100a", "１１１００５", ""):
        assert not insurer_number_is_valid(bad)
    with pytest.raises(ValueError):
        insurer_number("1110")


@given(st.text(alphabet="0123456789", min_size=5, max_size=5), st.integers(0, 5), st.integers(1, 9))
def test_insurer_number_detects_every_single_digit_change(payload, position, delta):
    number = insurer_number(payload)
    assert len(number) == 6 and insurer_number_is_valid(number)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert changed != number
    assert not insurer_number_is_valid(changed)


# --- insurers of the jurisdiction -----------------------------------------------------------------

def test_insurer_counts_per_prefecture(master):
    assert master.prefectures() == list(INSURER_COUNTS)
    assert {p: len(master.insurers(p)) for p in master.prefectures()} == INSURER_COUNTS
    assert sum(INSURER_COUNTS.values()) == 450 == len(master.all_insurers())


def test_insurers_are_in_code_order_and_valid(master):
    for p in master.prefectures():
        insurers = master.insurers(p)
        assert [i.number for i in insurers] == sorted(i.number for i in insurers)
        for i in insurers:
            assert insurer_number_is_valid(i.number) and i.number.startswith(p)
            assert municipality_code_is_valid(i.municipality_code)
            assert i.number == insurer_number(i.municipality_code[:5])
            assert i.kind in ("municipality", "special_ward") and i.members == ()


def test_saitama_city_is_an_insurer_its_wards_are_not(master):
    saitama = master.get("111005")
    assert saitama is not None
    assert (saitama.name, saitama.municipality_code, saitama.kind) == ("さいたま市", "111007", "municipality")
    wards = [m for m in load_municipalities().of_prefecture("11", include_wards=True) if m.is_ward]
    assert len(wards) == 10
    nishi = next(m for m in wards if m.name == "さいたま市 西区")
    assert master.get(insurer_number(nishi.code[:5])) is None
    assert nishi.code not in {i.municipality_code for i in master.insurers("11")}
    assert master.insurer_of(nishi.code) is None
    assert master.insurer_of("111007") == saitama


def test_tokyo_special_wards_are_insurers(master):
    chiyoda = master.get("131011")
    assert chiyoda is not None and chiyoda.name == "千代田区" and chiyoda.kind == "special_ward"
    tokyo = master.insurers("13")
    assert sum(i.kind == "special_ward" for i in tokyo) == 23
    assert sum(i.kind == "municipality" for i in tokyo) == 62 - 23
    # designated cities elsewhere: the cities, not their wards
    assert [i.name for i in master.insurers("14")][:3] == ["横浜市", "川崎市", "相模原市"]


def test_get_unknown_numbers(master):
    assert master.get("111007") is None  # a 全国地方公共団体コード is not a 保険者番号
    assert master.get("011002") is None  # valid shape, outside the jurisdiction
    assert master.get("abc") is None


def test_koiki_members_are_the_municipalities(master):
    master_csv = load_municipalities()
    for p in master.prefectures():
        k = master.koiki(p)
        assert k.prefecture_code == p and len(k.code) == 8 and k.code.startswith("39" + p)
        assert k.members == tuple(m.code for m in master_csv.of_prefecture(p))
        assert len(k.members) == INSURER_COUNTS[p]
        assert master.koiki_by_code(k.code) == k
        assert k.placeholder
    assert master.koiki("11").name == "埼玉県後期高齢者医療広域連合"
    assert "111007" in master.koiki("11").members and "131016" in master.koiki("13").members
    assert master.koiki_by_code("39999999") is None
    assert "koiki_rengo.11.code" in master.placeholders()


def test_config_has_no_unions_but_documents_them():
    text = insurers_path().read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["unions"] == []
    assert "members:" in text  # the comment explains how to declare one
    assert set(data["koiki_rengo"]) == set(INSURER_COUNTS)
    assert all(k["placeholder"] is True for k in data["koiki_rengo"].values())


# --- a declared union (tmp config) ---------------------------------------------------------------

def _write_config(tmp_path: Path, unions: list[dict]) -> Path:
    data = yaml.safe_load(insurers_path().read_text(encoding="utf-8"))
    data["unions"] = unions
    path = tmp_path / "insurers.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_declared_union_replaces_its_members(tmp_path):
    yamanashi = load_municipalities().of_prefecture("19")
    members = [m.code for m in yamanashi[-3:]]
    number = insurer_number("19901")
    master = load_insurers(_write_config(tmp_path, [{
        "number": number, "name": "峡東テスト介護保険広域連合", "prefecture_code": "19", "members": members,
        "placeholder": True,
    }]))
    insurers = master.insurers("19")
    assert len(insurers) == 27 - 3 + 1
    union = master.get(number)
    assert union is not None and union.kind == "union" and union.municipality_code is None
    assert union.members == tuple(sorted(members)) and union in insurers
    assert not {i.municipality_code for i in insurers} & set(members)
    assert all(master.insurer_of(code) == union for code in members)
    for code in members:  # the members' own numbers are no longer insurers in 19
        assert insurer_number(code[:5]) not in {i.number for i in insurers}
        assert master.get(insurer_number(code[:5])) is None
    assert master.koiki("19").members == tuple(m.code for m in yamanashi)  # 後期高齢者医療: unchanged
    assert f"unions.{number}.number" in master.placeholders()
    assert len(load_insurers().insurers("19")) == 27  # the real config is unaffected


def test_a_union_limited_to_years(tmp_path):
    members = [m.code for m in load_municipalities().of_prefecture("20")[:2]]
    master = load_insurers(_write_config(tmp_path, [{
        "number": insurer_number("20901"), "name": "旧広域連合", "prefecture_code": "20", "members": members,
        "from_fiscal_year": 2018, "to_fiscal_year": 2022,
    }]))
    assert len(master.insurers("20", 2020)) == 77 - 2 + 1
    assert len(master.insurers("20", 2024)) == 77
    assert len(master.insurers("20")) == 77  # now: the union has ended


@pytest.mark.parametrize(("union", "message"), [
    ({"number": "199010", "prefecture_code": "19", "members": ["192015", "192023"]}, "保険者番号"),
    ({"number": insurer_number("19901"), "prefecture_code": "11", "members": ["192015", "192023"]}, "prefecture"),
    ({"number": insurer_number("19901"), "prefecture_code": "19", "members": ["192015"]}, "two or more"),
    ({"number": insurer_number("19901"), "prefecture_code": "19", "members": ["192015", "111007"]}, "111007"),
    ({"number": insurer_number("19901"), "prefecture_code": "47", "members": ["192015", "192023"]}, "jurisdiction"),
])
def test_bad_unions_are_refused_with_file_and_key(tmp_path, union, message):
    path = _write_config(tmp_path, [union])
    with pytest.raises(GrantConfigError, match=message) as err:
        load_insurers(path)
    assert str(path) in str(err.value) and "unions.0" in str(err.value)


def test_bad_koiki_code_is_refused(tmp_path):
    path = _write_config(tmp_path, [])
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["koiki_rengo"]["11"]["code"] = "3912000"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(GrantConfigError, match=r"koiki_rengo\.11\.code"):
        load_insurers(path)


# --- expected filers -----------------------------------------------------------------------------

def test_expected_filers_per_insurer():
    filers = expected_filers("community_support", "application", 2024, "11")
    assert len(filers) == 63
    assert all(isinstance(f, Filer) and f.kind == "insurer" and f.prefecture_code == "11" for f in filers)
    assert filers[0] == Filer(code="111005", name="さいたま市", prefecture_code="11", kind="insurer")
    tokyo = expected_filers("community_support", "pre_consultation", 2024, "13")
    assert len(tokyo) == 62 and Filer("131011", "千代田区", "13", "insurer") in tokyo


def test_expected_filers_per_prefecture_and_koiki():
    assert expected_filers("care_fund", "requirement_survey", 2024, "19") == [
        Filer(code="19", name="山梨県", prefecture_code="19", kind="prefecture")]
    koiki = expected_filers("integrated_health", "pre_application", 2024, "11")
    assert koiki == [Filer(code="39110002", name="埼玉県後期高齢者医療広域連合", prefecture_code="11", kind="koiki")]


def test_expected_filers_for_every_stage_and_prefecture():
    from tsunagu.grants.config import PROGRAMS, load_program

    sizes = {"insurer": INSURER_COUNTS, "prefecture": dict.fromkeys(INSURER_COUNTS, 1),
             "koiki": dict.fromkeys(INSURER_COUNTS, 1)}
    for program in PROGRAMS:
        for stage in load_program(program).stages:
            for p, n in sizes[stage.filer].items():
                filers = expected_filers(program, stage.id, 2024, p)
                assert len(filers) == n and {f.kind for f in filers} == {stage.filer}


def test_expected_filers_refuses_unknowns():
    with pytest.raises(GrantConfigError):
        expected_filers("community_support", "no_such_stage", 2024, "11")
    with pytest.raises(GrantConfigError):
        expected_filers("no_such_program", "application", 2024, "11")
    with pytest.raises(KeyError):
        expected_filers("community_support", "application", 2024, "47")
