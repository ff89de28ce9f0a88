"""Integer-yen arithmetic of the grants: exact examples and properties (no float anywhere)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.grants.money import (
    apply_rate,
    community_support_row,
    execution_rate,
    floor_to,
    fund_balance,
    settle,
    split_national,
)

F = Fraction
yen = st.integers(min_value=0, max_value=10**13)
signed_yen = st.integers(min_value=-(10**13), max_value=10**13)
units = st.sampled_from([1, 10, 100, 1000, 10_000])
rates = st.fractions(min_value=0, max_value=1, max_denominator=10_000)


# --- exact examples ---------------------------------------------------------------------------

def test_community_support_row_example():
    row = community_support_row(12_345_678, 345_678, 11_000_000, F(385, 1000))
    assert row["difference"] == 12_000_000
    assert row["selected"] == 11_000_000
    assert row["grant"] == 4_235_000
    assert row["rate"] == F(385, 1000)


def test_community_support_row_truncates_below_1000_yen():
    # 選定額 = 差引額 1,234,567 (< 基準額); × 20% = 246,913.4 → 246,000
    row = community_support_row(1_300_000, 65_433, 2_000_000, F(20, 100))
    assert (row["difference"], row["selected"], row["grant"]) == (1_234_567, 1_234_567, 246_000)


def test_community_support_row_income_above_cost_gives_no_grant():
    row = community_support_row(100_000, 150_000, 1_000_000, F(385, 1000))
    assert row["difference"] == -50_000 and row["selected"] == 0 and row["grant"] == 0


@pytest.mark.parametrize(("amount", "unit", "expected"), [
    (1_234_567, 1000, 1_234_000), (1_234_000, 1000, 1_234_000), (999, 1000, 0), (0, 1000, 0),
    (1_234_567, 1, 1_234_567),
    # negatives (返還, decreases): truncation toward zero, NOT floor toward −∞ (which would give −2,000)
    (-1_500, 1000, -1_000), (-999, 1000, 0), (-2_000, 1000, -2_000),
])
def test_floor_to(amount, unit, expected):
    assert floor_to(amount, unit) == expected


@pytest.mark.parametrize(("amount", "rate", "unit", "rounding", "expected"), [
    (1_000, F(2, 3), 1, "floor", 666),
    (1_000, F(2, 3), 1, "round_half_up", 667),
    (1_000, F(2, 3), 1, "ceil", 667),
    (1_500, F(1, 1), 1000, "round_half_up", 2_000),  # half → away from zero
    (1_499, F(1, 1), 1000, "round_half_up", 1_000),
    (1_001, F(1, 1), 1000, "ceil", 2_000),
    (-1_500, F(1, 1), 1000, "round_half_up", -2_000),
    (-1_001, F(1, 1), 1000, "ceil", -2_000),
    (10_000_000, F(385, 1000), 1000, "floor", 3_850_000),
    (10_000_000, Decimal("0.385"), 1000, "floor", 3_850_000),
    (7, 1, 1, "floor", 7),
])
def test_apply_rate(amount, rate, unit, rounding, expected):
    assert apply_rate(amount, rate, unit=unit, rounding=rounding) == expected


def test_settle_examples():
    assert settle(4_235_000, 4_000_000) == (4_000_000, 235_000)  # underspend: 235,000 paid back
    assert settle(4_235_000, 5_000_000) == (4_235_000, 0)  # overspend is not paid on top


def test_split_national_examples():
    assert split_national(30_000_000) == (20_000_000, 10_000_000)
    assert split_national(1_000) == (666, 334)  # 国庫 floored to the yen, the prefecture bears the rest
    assert split_national(1_000, rounding="round_half_up") == (667, 333)


def test_fund_balance_and_execution_rate():
    assert fund_balance(500_000_000, 300_000_000, 12_345, 420_000_000) == 380_012_345
    assert execution_rate(420_000_000, 800_000_000) == F(21, 40)
    assert execution_rate(0, 0) is None


@pytest.mark.parametrize("bad", [1000.0, True, "1000", None, Decimal(1000)])
def test_floats_bools_and_others_are_refused_as_amounts(bad):
    with pytest.raises(TypeError):
        floor_to(bad, 1000)
    with pytest.raises(TypeError):
        apply_rate(bad, F(1, 2))
    with pytest.raises(TypeError):
        community_support_row(bad, 0, 1000, F(1, 2))
    with pytest.raises(TypeError):
        settle(bad, 0)
    with pytest.raises(TypeError):
        split_national(bad)
    with pytest.raises(TypeError):
        fund_balance(0, bad, 0, 0)
    with pytest.raises(TypeError):
        execution_rate(0, bad)


@pytest.mark.parametrize("bad", [0.385, True])
def test_float_rates_are_refused(bad):
    with pytest.raises(TypeError):
        apply_rate(1000, bad)
    with pytest.raises(TypeError):
        split_national(1000, bad)


def test_bad_units_roundings_and_negative_inputs():
    with pytest.raises(ValueError):
        floor_to(1000, 0)
    with pytest.raises(ValueError):
        apply_rate(1000, F(1, 2), rounding="bankers")
    with pytest.raises(ValueError):
        community_support_row(-1, 0, 0, F(1, 2))
    with pytest.raises(ValueError):
        settle(-1, 0)
    with pytest.raises(ValueError):
        split_national(1000, F(3, 2))


# --- properties --------------------------------------------------------------------------------

@given(total=yen, donations=yen, base=yen, rate=rates)
def test_grant_properties(total, donations, base, rate):
    row = community_support_row(total, donations, base, rate)
    assert all(type(row[k]) is int for k in ("total_cost", "donations", "difference", "base_amount",
                                              "selected", "grant"))
    assert type(row["rate"]) is Fraction
    assert row["difference"] == total - donations
    assert row["selected"] == max(0, min(total - donations, base))
    exact = row["selected"] * rate
    assert row["grant"] <= exact
    assert row["grant"] % 1000 == 0
    assert exact - row["grant"] < 1000
    assert row["grant"] >= 0


@given(amount=signed_yen, unit=units)
def test_floor_to_properties(amount, unit):
    once = floor_to(amount, unit)
    assert type(once) is int
    assert floor_to(once, unit) == once  # idempotent
    assert once % unit == 0
    assert abs(once) <= abs(amount) and abs(amount) - abs(once) < unit  # toward zero
    assert floor_to(-amount, unit) == -once  # symmetric: a 返還 is truncated like a payment


@given(amount=signed_yen, rate=rates, unit=units, rounding=st.sampled_from(["floor", "round_half_up", "ceil"]))
def test_apply_rate_is_within_one_unit_of_the_exact_value(amount, rate, unit, rounding):
    got = apply_rate(amount, rate, unit=unit, rounding=rounding)
    assert type(got) is int and got % unit == 0
    assert abs(Fraction(got) - amount * rate) < unit
    if rounding == "round_half_up":
        assert abs(Fraction(got) - amount * rate) <= Fraction(unit, 2)


@given(target=yen, national=rates, unit=units, rounding=st.sampled_from(["floor", "round_half_up", "ceil"]))
def test_split_sums_back_to_the_target(target, national, unit, rounding):
    kokko, pref = split_national(target, national, unit=unit, rounding=rounding)
    assert type(kokko) is int and type(pref) is int
    assert kokko + pref == target
    assert kokko % unit == 0


@given(decided=yen, recomputed=yen)
def test_settle_properties(decided, recomputed):
    confirmed, refund = settle(decided, recomputed)
    assert type(confirmed) is int and type(refund) is int
    assert confirmed + refund == decided
    assert refund >= 0
    assert confirmed <= recomputed


@given(previous=signed_yen, deposits=yen, interest=yen, withdrawals=yen)
def test_fund_balance_is_int(previous, deposits, interest, withdrawals):
    balance = fund_balance(previous, deposits, interest, withdrawals)
    assert type(balance) is int and balance == previous + deposits + interest - withdrawals


@given(executed=yen, budget=st.integers(min_value=1, max_value=10**13))
def test_execution_rate_is_exact(executed, budget):
    rate = execution_rate(executed, budget)
    assert type(rate) is Fraction and rate * budget == executed
