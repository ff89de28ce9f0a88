"""Property tests of the check digits (design.md §3) and of value normalisation."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.codes import (
    institution_code,
    institution_number_is_valid,
    luhn_check_digit,
    municipality_check_digit,
    municipality_code_is_valid,
)
from tsunagu.normalize import to_code, to_date, to_decimal, to_int

digits = st.text(alphabet="0123456789", min_size=6, max_size=6)
ZENKAKU = str.maketrans("0123456789,-", "０１２３４５６７８９，－")


@given(digits, st.sampled_from(["08", "09", "10", "15", "19", "20"]))
def test_prefixed_rule_accepts_its_own_check_digit(payload, pref):
    number = payload + str(luhn_check_digit(pref + "1" + payload))
    assert institution_number_is_valid(number, pref, "prefixed")
    assert institution_code(pref, number) == f"{pref}1{number}"


@given(digits, st.integers(0, 5), st.integers(1, 9))
def test_luhn_catches_every_single_digit_error(payload, position, delta):
    number = payload + str(luhn_check_digit(payload))
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1:]
    assert institution_number_is_valid(number, "11", "six_digit")
    assert not institution_number_is_valid(wrong, "11", "six_digit")


def test_real_register_examples():
    assert institution_number_is_valid("0110056", "08", "prefixed")  # 水戸赤十字病院
    assert municipality_code_is_valid("011002")  # 札幌市
    assert municipality_code_is_valid("131016")  # 千代田区
    assert not municipality_code_is_valid("131017")


@given(st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_municipality_code_with_its_check_digit_is_valid(first5):
    assert municipality_code_is_valid(first5 + str(municipality_check_digit(first5)))


@given(st.integers(-10**9, 10**9))
def test_integers_survive_full_width_and_commas(n):
    assert to_int(f"{n:,}".translate(ZENKAKU)) == n
    assert to_int(float(n)) == n
    assert to_int(str(n)) == n


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_codes_typed_as_numbers_get_their_zeros_back(code):
    assert to_code(float(int(code)), 7) == code
    assert to_code(code.translate(ZENKAKU), 7) == code


@given(st.dates(min_value=dt.date(2019, 5, 1), max_value=dt.date(2099, 12, 31)))
def test_reiwa_dates_in_every_spelling(day):
    era_year = day.year - 2018
    assert to_date(f"令和{era_year}年{day.month}月{day.day}日") == day
    assert to_date(f"R{era_year}.{day.month}.{day.day}") == day
    assert to_date((day - dt.date(1899, 12, 30)).days) == day  # Excel serial


def test_dashes_are_zero_and_decimals_keep_their_places():
    assert to_int("－") == 0 and to_int("―") == 0
    assert to_decimal("３３．１", places=1) == 33.1
    assert to_date("令和元年5月1日") == dt.date(2019, 5, 1)
