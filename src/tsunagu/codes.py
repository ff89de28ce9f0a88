"""Check digits of the codes in design.md §3."""

from __future__ import annotations

# 点数表番号
SCORE_TABLE = {"医科": "1", "歯科": "3", "薬局": "4"}


def luhn_check_digit(payload: str) -> int:
    """Weights 2,1,2,… from the right; sum the digits of each product."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def institution_number_payload(number: str, prefecture_code: str, rule: str, score_table: str = "1") -> str:
    if rule == "six_digit":
        return number[:6]
    if rule == "prefixed":
        return prefecture_code + score_table + number[:6]
    raise ValueError(f"unknown check-digit rule {rule!r}")


def institution_number_is_valid(number: str, prefecture_code: str, rule: str, score_table: str = "1") -> bool:
    """医療機関番号 (7 digits) with the prefecture's Luhn rule."""
    if len(number) != 7 or not number.isdigit():
        return False
    payload = institution_number_payload(number, prefecture_code, rule, score_table)
    return luhn_check_digit(payload) == int(number[6])


def institution_code(prefecture_code: str, number: str, score_table: str = "1") -> str:
    """医療機関コード (10 digits) = 都道府県コード + 点数表番号 + 医療機関番号."""
    return f"{prefecture_code}{score_table}{number}"


def municipality_check_digit(first5: str) -> int:
    weighted = sum(int(d) * w for d, w in zip(first5, (6, 5, 4, 3, 2), strict=True))
    return (11 - weighted % 11) % 10


def municipality_code_is_valid(code: str) -> bool:
    """全国地方公共団体コード: 6 digits, the last a check digit over the first five."""
    return len(code) == 6 and code.isdigit() and municipality_check_digit(code[:5]) == int(code[5])


def insurer_number(jis5: str) -> str:
    """介護保険 保険者番号 of a municipality: its 5-digit JIS code + a Luhn check digit (design.md §2.3).

    This is not the 全国地方公共団体コード (mod-11 check): さいたま市 is 111005 here, 111007 there.
    """
    if len(jis5) != 5 or not jis5.isdigit():
        raise ValueError(f"a 保険者番号 payload is 5 digits: {jis5!r}")
    return f"{jis5}{luhn_check_digit(jis5)}"


def insurer_number_is_valid(number: str) -> bool:
    """保険者番号: 6 digits, the last a Luhn check digit over the first five."""
    return (
        isinstance(number, str) and len(number) == 6 and number.isascii() and number.isdigit()
        and luhn_check_digit(number[:5]) == int(number[5])
    )
