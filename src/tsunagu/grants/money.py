"""Integer-yen money arithmetic for the grants (design.md §2.3). No floats, anywhere.

Amounts are ``int`` yen in and ``int`` yen out; ``float`` and ``bool`` are refused with ``TypeError``
(a float cannot hold 38.5% of an amount exactly, and ``True`` is not an amount). Rates are exact:
:class:`fractions.Fraction` (or ``int`` / :class:`decimal.Decimal`, converted exactly).

Rounding to a unit (1 yen, 1,000 yen) works on the magnitude, symmetrically about zero:

* ``floor`` — truncation toward zero (千円未満切捨て). For a negative amount (a 返還, a decrease)
  this is NOT floor toward −∞: −1,500 yen truncated to 1,000 yen is −1,000, not −2,000 — rounding
  toward −∞ would inflate what the filer pays back;
* ``ceil``  — away from zero;
* ``round_half_up`` — to the nearest unit, halves away from zero (四捨五入).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

ROUNDINGS = ("floor", "round_half_up", "ceil")
Rate = Fraction | int | Decimal


def _yen(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int yen, not {type(value).__name__}: {value!r}")
    return value


def _rate(name: str, value: Any) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, Fraction | int | Decimal):
        raise TypeError(f"{name} must be a Fraction (or int / Decimal), not {type(value).__name__}: {value!r}")
    return Fraction(value)


def _unit(unit: Any) -> int:
    unit = _yen("unit", unit)
    if unit <= 0:
        raise ValueError(f"unit must be a positive number of yen: {unit}")
    return unit


def _round_units(exact: Fraction, unit: int, rounding: str) -> int:
    """``exact`` yen rounded to a multiple of ``unit``, on the magnitude (see the module docstring)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}: {rounding!r}")
    sign = -1 if exact < 0 else 1
    q = abs(exact) / unit
    whole, rest = divmod(q.numerator, q.denominator)
    if rounding == "ceil" and rest:
        whole += 1
    elif rounding == "round_half_up" and 2 * rest >= q.denominator:
        whole += 1
    return sign * whole * unit


def floor_to(amount: int, unit: int) -> int:
    """``amount`` truncated to a multiple of ``unit`` toward zero (千円未満切捨て: ``floor_to(x, 1000)``).

    ``floor_to(1_234_567, 1000) == 1_234_000``; ``floor_to(-1_500, 1000) == -1_000`` (toward zero).
    """
    return _round_units(Fraction(_yen("amount", amount)), _unit(unit), "floor")


def apply_rate(amount: int, rate: Rate, *, unit: int = 1, rounding: str = "floor") -> int:
    """``amount × rate`` computed exactly, then rounded to ``unit`` yen (``floor`` = truncation)."""
    exact = Fraction(_yen("amount", amount)) * _rate("rate", rate)
    return _round_units(exact, _unit(unit), rounding)


def community_support_row(
    total_cost: int, donations: int, base_amount: int, rate: Rate, *, unit: int = 1000,
) -> dict[str, Any]:
    """The computed columns of one 地域支援事業交付金 row (one 事業区分 of one insurer).

    差引額 ``difference`` = 総事業費 − 寄附金その他の収入額; 選定額 ``selected`` = min(差引額, 基準額);
    交付額 ``grant`` = 選定額 × 負担率, truncated to ``unit`` (千円未満切捨て). A negative 差引額
    (income above the cost) is returned as is so a rule can flag it, but the 選定額 is then 0: a
    grant is never negative.
    """
    for name, value in (("total_cost", total_cost), ("donations", donations), ("base_amount", base_amount)):
        if _yen(name, value) < 0:
            raise ValueError(f"{name} must not be negative: {value}")
    rate = _rate("rate", rate)
    difference = total_cost - donations
    selected = max(0, min(difference, base_amount))
    return {
        "total_cost": total_cost,
        "donations": donations,
        "difference": difference,
        "base_amount": base_amount,
        "selected": selected,
        "rate": rate,
        "grant": apply_rate(selected, rate, unit=unit),
    }


def settle(decided: int, recomputed: int) -> tuple[int, int]:
    """確定: -> (確定額 = min(交付決定額, 実績による再計算額), 返還額 = 交付決定額 − 確定額 ≥ 0).

    An underspend is paid back; an overspend is not paid on top of the decision.
    """
    for name, value in (("decided", decided), ("recomputed", recomputed)):
        if _yen(name, value) < 0:
            raise ValueError(f"{name} must not be negative: {value}")
    confirmed = min(decided, recomputed)
    return confirmed, decided - confirmed


def split_national(
    target: int, national: Rate = Fraction(2, 3), *, unit: int = 1, rounding: str = "floor",
) -> tuple[int, int]:
    """基金: -> (国庫負担額 = target × national rounded to ``unit``, 都道府県負担額 = target − 国庫)."""
    national = _rate("national", national)
    if not 0 <= national <= 1:
        raise ValueError(f"the national share must be between 0 and 1: {national}")
    kokko = apply_rate(target, national, unit=unit, rounding=rounding)
    return kokko, target - kokko


def fund_balance(previous: int, deposits: int, interest: int, withdrawals: int) -> int:
    """基金の年度末残高 = 前年度末残高 + 積立額 + 運用益 − 取崩額."""
    return (_yen("previous", previous) + _yen("deposits", deposits) + _yen("interest", interest)
            - _yen("withdrawals", withdrawals))


def execution_rate(executed: int, budget: int) -> Fraction | None:
    """執行率 = executed / budget, exact; None when there is no budget (0)."""
    executed, budget = _yen("executed", executed), _yen("budget", budget)
    if budget == 0:
        return None
    if budget < 0:
        raise ValueError(f"budget must not be negative: {budget}")
    return Fraction(executed, budget)
