"""The program-module interface: what each grant program gives the common intake → validate → load.

One module per program, ``tsunagu.grants.programs.<program>`` (community_support, care_fund,
integrated_health). Its stages' forms are versioned templates ``include/templates/grant_<program>_<stage>/``
(:func:`template_kind`); parsing, structure and field rules, the filer, duplicate and computed-column
checks and the load are common (:mod:`tsunagu.intake.grant`, :mod:`tsunagu.grants.validate`,
:mod:`tsunagu.warehouse.grants`). A module declares:

``RULES: RuleSet``
    all the program's own rules (each checks ``ctx.stage`` where it is stage-specific). A rule gets
    ``(rows, ctx)``: ``rows`` are :class:`tsunagu.validate.rules.RowView` s whose ``values`` hold the
    template fields (canonical values: amounts ``int`` yen, rates :class:`~fractions.Fraction`, codes
    ``str``) plus ``filer_code`` and ``item_key``; ``row.get(fid)`` is None for a cell already reported
    as an error. ``ctx`` is a :class:`tsunagu.grants.context.GrantContext`.
``COMPUTED: tuple[str, ...]``
    the field ids of the computed columns (of any stage; a stage's template need not have them all).
``FILER_FIELD: str``
    the field a filer finding points at (``insurer_number``, ``prefecture_code``, ``filer_code`` …).
``filer_of(values, ctx) -> str | None``
    the row's filer code (保険者番号 / 都道府県コード / 広域連合 code), None when the row has none.
``item_key(values) -> str``
    the row's item within its filer (the 事業区分 id, ``区分/事業``, a municipality code …);
    (filer, item) is the row's key: one row per key in a file, and the warehouse key.
``compute(values, ctx) -> dict[str, int]``
    the expected values of the computed columns from the stated inputs, for the stage ``ctx.stage``.
    Only what can be computed: an input that is None (blank or unreadable) leaves the columns that
    depend on it out. Never raises for a missing input. The common layer compares each expected value
    with the stated one and reports ``computed_mismatch`` on the stated cell.

Optional:

``ITEM_FIELDS: tuple[str, ...]``
    the fields the item key is made of (a duplicate finding points at the first); default none.
``FORMULAS: Mapping[str, tuple[str, str]]``
    computed field id -> how it is computed (ja, en), quoted in ``computed_mismatch`` messages,
    e.g. ``{"difference": ("総事業費 − 寄附金その他の収入額", "total cost − donations")}``.
``filer_problem(code, ctx) -> tuple[str, str] | None``
    a program-specific problem with a filer code, as (ja, en) messages, reported as the error
    ``invalid_filer`` on the filer cell, e.g. a 保険者番号 whose check digit fails or that is a
    designated-city ward's; checked before membership of the expected filers. Default: none.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

from tsunagu.validate.registry import RuleSet

PROGRAMS: tuple[str, ...] = ("community_support", "care_fund", "integrated_health")
REQUIRED: tuple[str, ...] = ("RULES", "COMPUTED", "FILER_FIELD", "filer_of", "item_key", "compute")


class ProgramModule(Protocol):
    RULES: RuleSet
    COMPUTED: tuple[str, ...]
    FILER_FIELD: str

    def filer_of(self, values: Mapping[str, Any], ctx: Any) -> str | None: ...

    def item_key(self, values: Mapping[str, Any]) -> str: ...

    def compute(self, values: Mapping[str, Any], ctx: Any) -> dict[str, int]: ...


def template_kind(program: str, stage: str) -> str:
    """The template folder of a program's stage: ``grant_<program>_<stage>``."""
    return f"grant_{program}_{stage}"


def program_module(program: str) -> ModuleType:
    """The module of ``program``, checked to declare the interface (ValueError for an unknown program)."""
    if program not in PROGRAMS:
        raise ValueError(f"unknown grant program {program!r} (one of {', '.join(PROGRAMS)})")
    module = importlib.import_module(f"{__name__}.{program}")
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise TypeError(f"grant program module {module.__name__} lacks {', '.join(missing)}")
    return module


def item_fields(module: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(module, "ITEM_FIELDS", ()) or ())


def formula(module: ModuleType, field_id: str) -> tuple[str, str] | None:
    return (getattr(module, "FORMULAS", None) or {}).get(field_id)


def filer_problem(module: ModuleType, code: str, ctx: Any) -> tuple[str, str] | None:
    hook = getattr(module, "filer_problem", None)
    return hook(code, ctx) if hook is not None else None


def filer_prefecture(filer_code: str) -> str | None:
    """The prefecture of a filer code from its shape: a prefecture code (2 digits) is itself; a
    後期高齢者医療 保険者番号 (8 digits, 39 + prefecture + …) its digits 3–4; a 介護保険 保険者番号 or a
    全国地方公共団体コード (6 digits) its first two; anything else: unknown (None)."""
    code = str(filer_code)
    if not code.isdigit():
        return None
    if len(code) == 2:
        return code
    if len(code) == 8 and code.startswith("39"):
        return code[2:4]
    if len(code) == 6:
        return code[:2]
    return None
