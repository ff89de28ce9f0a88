"""The grant programs' config: ``include/config/grants/<program>.yaml`` (design.md §2.3, seed 003 §2).

One file per program declares its stages (who files, with which template), the figures per
計画期間 or fiscal-year range (``periods``: rates, rounding, item caps), the 総合事業 上限額 per
insurer and year (``caps``), and the calendar per fiscal year (``schedule``).

Dates use the date specs of :func:`tsunagu.cycle.schedule.resolve_date` (``{date: …}``,
``{month: 10, period: 下旬, as: deadline}``, ``{month: 6, as: deadline}`` for 「6月」) and the same rule:
a date on a closed day moves to the next business day. A stage's ``deadline`` (the filers' due
date) may be omitted when the seed gives only a review window: it is then the window's start.

Rates are exact fractions written as strings (``"385/1000"``); a float in a rate is an error.
Every figure not confirmed by docs/design.md or the seed is marked: a mapping with ``placeholder: true``
marks everything below it, a figure ``{value: …, placeholder: true}`` itself.
:meth:`ProgramConfig.placeholders` lists them as dotted paths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tsunagu.settings import include_dir
from tsunagu.yamlfile import read_yaml

PROGRAMS: tuple[str, ...] = ("community_support", "care_fund", "integrated_health")
FILERS = ("insurer", "prefecture", "koiki")
ROUNDINGS = ("floor", "round_half_up", "ceil")
# schedule keys of a stage with a field of their own in StageDates; every other date goes to ``extra``
_DATE_FIELDS = ("request", "deadline", "review_end", "decision")
# keys that describe rather than state a figure (never listed as placeholders)
_META_KEYS = {"placeholder", "note", "notes", "source", "name", "label_ja", "title_ja", "per"}
# structure rather than figures: not listed as placeholders even under ``placeholder: true``
_STRUCTURE_KEYS = {"from_fiscal_year", "to_fiscal_year"}


class GrantConfigError(ValueError):
    """A grant program's config is missing or malformed (the message names the file and key)."""


@dataclass(frozen=True)
class StageConfig:
    id: str
    label_ja: str
    filer: str  # insurer | prefecture | koiki
    template: str  # the template kind filers use, e.g. grant_community_support_application
    optional: bool = False  # only filers who need it file (変更申請): requested, never reminded


@dataclass(frozen=True)
class StageDates:
    """One stage's dates in one fiscal year, every date already moved to a business day."""

    request: dt.date  # the bureau sends the request
    deadline: dt.date  # the filers' due date
    review_end: dt.date | None = None
    decision: dt.date | None = None
    extra: dict[str, dt.date] = field(default_factory=dict)  # review_start, naiji, payment, …
    nominal: dict[str, dt.date] = field(default_factory=dict)  # the dates before the business-day rule
    placeholder: bool = False  # any of these dates unconfirmed

    def dates(self) -> dict[str, dt.date]:
        """Every date by name, in calendar order."""
        named = {k: getattr(self, k) for k in _DATE_FIELDS if getattr(self, k) is not None}
        return dict(sorted({**named, **self.extra}.items(), key=lambda kv: kv[1]))


@dataclass(frozen=True)
class ItemCap:
    """An 一体的実施 交付基準額 per item: ``per`` municipality or per 日常生活圏域 (``area``)."""

    id: str
    label_ja: str
    per: str  # municipality | area
    amount: int  # yen
    placeholder: bool = False


@dataclass(frozen=True)
class Period:
    name: str
    from_fiscal_year: int
    to_fiscal_year: int | None
    rates: dict[str, Fraction]
    rounding: dict[str, dict[str, Any]]
    item_caps: dict[str, ItemCap]

    def covers(self, fiscal_year: int) -> bool:
        return self.from_fiscal_year <= fiscal_year and (self.to_fiscal_year is None or fiscal_year <= self.to_fiscal_year)


@dataclass(frozen=True)
class ProgramConfig:
    program: str
    title_ja: str
    stages: tuple[StageConfig, ...]
    periods: tuple[Period, ...]
    source: Path
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _caps: dict[int, dict[str, int]] = field(repr=False, default_factory=dict)
    _default_cap: int | None = None
    _schedules: dict[int, dict[str, StageDates]] = field(repr=False, default_factory=dict)
    _placeholders: tuple[str, ...] = ()

    def stage(self, stage_id: str) -> StageConfig:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise GrantConfigError(f"{self.source}: stages: no stage {stage_id!r} in {self.program} "
                               f"(known: {[s.id for s in self.stages]})")

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stages)

    def period(self, fiscal_year: int) -> Period:
        for p in self.periods:
            if p.covers(int(fiscal_year)):
                return p
        raise GrantConfigError(f"{self.source}: periods: no period covers fiscal year {fiscal_year}")

    def rates(self, fiscal_year: int) -> dict[str, Fraction]:
        """The shares (負担率) by 事業区分 for the fiscal year, exact."""
        return dict(self.period(fiscal_year).rates)

    def rounding(self, fiscal_year: int) -> dict[str, dict[str, Any]]:
        """What is rounded how: ``{"grant": {"unit": 1000, "mode": "floor"}}``."""
        return {k: dict(v) for k, v in self.period(fiscal_year).rounding.items()}

    def caps(self, fiscal_year: int) -> dict[str, int]:
        """総合事業 上限額 by 保険者番号 (yen) for the fiscal year; insurers not listed have no known cap."""
        return dict(self._caps.get(int(fiscal_year), {}))

    def cap(self, fiscal_year: int, insurer_number: str) -> int | None:
        """An insurer's cap, else ``default_cap`` (None: unknown — the rule warns that the cap is unknown)."""
        return self._caps.get(int(fiscal_year), {}).get(insurer_number, self._default_cap)

    @property
    def default_cap(self) -> int | None:
        return self._default_cap

    def item_caps(self, fiscal_year: int) -> dict[str, ItemCap]:
        """一体的実施: the 交付基準額 per item for the fiscal year."""
        return dict(self.period(fiscal_year).item_caps)

    def fiscal_years(self) -> list[int]:
        """The fiscal years with a schedule."""
        return sorted(self._schedules)

    def schedule(self, fiscal_year: int) -> dict[str, StageDates]:
        """stage id -> its dates, in stage order (stages without dates that year are left out)."""
        try:
            return dict(self._schedules[int(fiscal_year)])
        except KeyError:
            raise GrantConfigError(f"{self.source}: schedule: no schedule for fiscal year {fiscal_year} "
                                   f"(configured: {self.fiscal_years()})") from None

    def placeholders(self) -> list[str]:
        """Dotted paths of every figure marked as a placeholder (not confirmed)."""
        return list(self._placeholders)


def grants_config_dir() -> Path:
    return include_dir() / "config" / "grants"


def program_path(program: str) -> Path:
    return grants_config_dir() / f"{program}.yaml"


def load_program(program: str, path: Path | None = None) -> ProgramConfig:
    """A program's config (cached until the file changes)."""
    if path is None and program not in PROGRAMS:
        raise GrantConfigError(f"unknown grant program {program!r} (known: {PROGRAMS})")
    path = Path(path) if path else program_path(program)
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _load(str(path.resolve()), program, mtime)


def load_programs() -> dict[str, ProgramConfig]:
    return {p: load_program(p) for p in PROGRAMS}


# --- parsing -------------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, msg: str) -> GrantConfigError:
        return GrantConfigError(f"{self.path}: {key}: {msg}")


def _unwrap(value: Any) -> Any:
    """``{value: x, placeholder: true}`` -> x; anything else unchanged."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def parse_fraction(value: Any, *, where: str = "rate", ctx: _Ctx | None = None) -> Fraction:
    """``"385/1000"``, ``"0.385"`` (a string), an int or ``{value: …}`` -> Fraction. Floats are refused."""
    value = _unwrap(value)
    bad = isinstance(value, bool) or not isinstance(value, int | str)
    if not bad:
        try:
            return Fraction(str(value).replace(" ", ""))
        except (ValueError, ZeroDivisionError):
            bad = True
    msg = f"write a rate as an exact fraction string like '385/1000', not {value!r}"
    raise ctx.error(where, msg) if ctx else GrantConfigError(f"{where}: {msg}")


def _yen(ctx: _Ctx, where: str, value: Any, *, allow_none: bool = False) -> int | None:
    value = _unwrap(value)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.error(where, f"an amount must be a non-negative int of yen, not {value!r}")
    return value


def _is_figure(node: Any) -> bool:
    return not isinstance(node, dict | list) or any(k in node for k in ("value", "date", "month", "unit"))


def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in ("id", "name"):
            if key in item:
                return str(item[key])
        if "from_fiscal_year" in item:
            return f"FY{item['from_fiscal_year']}-{item.get('to_fiscal_year') or ''}"
    return str(index)


def collect_placeholders(node: Any, path: str = "", marked: bool = False) -> list[str]:
    """Dotted paths of the figures under ``placeholder: true`` (or listed under a ``placeholders:`` key)."""
    out: list[str] = []
    if isinstance(node, dict):
        marked = marked or node.get("placeholder") is True
        if _is_figure(node):
            return [path] if marked else []
        for extra in node.get("placeholders") or ():
            out.append(f"{path}.{extra}" if path else str(extra))
        for key, child in node.items():
            if key in _META_KEYS or key in _STRUCTURE_KEYS or key == "placeholders":
                continue
            out += collect_placeholders(child, f"{path}.{key}" if path else str(key), marked)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += collect_placeholders(child, f"{path}.{_label(child, i)}", marked)
    elif marked and node is not None:
        out.append(path)
    return out


def _periods(ctx: _Ctx, data: dict[str, Any]) -> tuple[Period, ...]:
    raw = data.get("periods")
    if not isinstance(raw, list) or not raw:
        raise ctx.error("periods", "a non-empty list of periods is required")
    periods = []
    for i, p in enumerate(raw):
        key = f"periods.{_label(p, i)}"
        if not isinstance(p, dict) or "from_fiscal_year" not in p:
            raise ctx.error(key, "each period needs from_fiscal_year (and to_fiscal_year, or null if open)")
        rates = {str(k): parse_fraction(v, where=f"{key}.rates.{k}", ctx=ctx)
                 for k, v in (p.get("rates") or {}).items() if k not in _META_KEYS}
        for name, r in rates.items():
            if not 0 <= r <= 1:
                raise ctx.error(f"{key}.rates.{name}", f"a share must be between 0 and 1: {r}")
        if {"national", "prefecture"} <= set(rates) and rates["national"] + rates["prefecture"] != 1:
            raise ctx.error(f"{key}.rates", "national + prefecture must be 1")
        base, share = p.get("comprehensive_base"), p.get("first_insured_share")
        if base is not None and share is not None and "comprehensive" in rates:
            expected = parse_fraction(base, ctx=ctx) * (1 - parse_fraction(share, ctx=ctx))
            if rates["comprehensive"] != expected:
                raise ctx.error(f"{key}.rates.comprehensive",
                                f"{rates['comprehensive']} ≠ comprehensive_base × (1 − first_insured_share) = {expected}")
        rounding: dict[str, dict[str, Any]] = {}
        for what, r in (p.get("rounding") or {}).items():
            if what in _META_KEYS:
                continue
            unit = _yen(ctx, f"{key}.rounding.{what}.unit", (r or {}).get("unit"))
            mode = str((r or {}).get("mode", "floor"))
            if not unit or mode not in ROUNDINGS:
                raise ctx.error(f"{key}.rounding.{what}", f"unit must be a positive int and mode one of {ROUNDINGS}")
            rounding[str(what)] = {"unit": unit, "mode": mode}
        item_caps: dict[str, ItemCap] = {}
        for item_id, c in (p.get("item_caps") or {}).items():
            if item_id in _META_KEYS:
                continue
            ikey = f"{key}.item_caps.{item_id}"
            if not isinstance(c, dict) or c.get("per") not in ("municipality", "area"):
                raise ctx.error(ikey, "an item cap needs per: municipality | area, label_ja and amount")
            item_caps[str(item_id)] = ItemCap(
                id=str(item_id), label_ja=str(c.get("label_ja", item_id)), per=str(c["per"]),
                amount=_yen(ctx, f"{ikey}.amount", c.get("amount")),
                placeholder=bool(c.get("placeholder") or p.get("placeholder") or (p.get("item_caps") or {}).get("placeholder")),
            )
        to = p.get("to_fiscal_year")
        periods.append(Period(
            name=str(p.get("name") or key), from_fiscal_year=int(p["from_fiscal_year"]),
            to_fiscal_year=int(to) if to is not None else None, rates=rates, rounding=rounding, item_caps=item_caps,
        ))
    periods.sort(key=lambda p: p.from_fiscal_year)
    for a, b in zip(periods, periods[1:], strict=False):
        if a.to_fiscal_year is None or a.to_fiscal_year >= b.from_fiscal_year:
            raise ctx.error("periods", f"{a.name} and {b.name} overlap")
    return tuple(periods)


def _stages(ctx: _Ctx, data: dict[str, Any], program: str) -> tuple[StageConfig, ...]:
    raw = data.get("stages")
    if not isinstance(raw, list) or not raw:
        raise ctx.error("stages", "a non-empty list of stages is required")
    stages, seen = [], set()
    for i, s in enumerate(raw):
        key = f"stages.{_label(s, i)}"
        if not isinstance(s, dict) or not s.get("id"):
            raise ctx.error(key, "each stage needs an id")
        if s["id"] in seen:
            raise ctx.error(key, "duplicate stage id")
        seen.add(s["id"])
        if s.get("filer") not in FILERS:
            raise ctx.error(f"{key}.filer", f"must be one of {FILERS}, not {s.get('filer')!r}")
        stages.append(StageConfig(
            id=str(s["id"]), label_ja=str(s.get("label_ja") or s["id"]), filer=str(s["filer"]),
            template=str(s.get("template") or f"grant_{program}_{s['id']}"),
            optional=bool(s.get("optional", False)),
        ))
    return tuple(stages)


def _schedules(ctx: _Ctx, data: dict[str, Any], stages: tuple[StageConfig, ...]) -> dict[int, dict[str, StageDates]]:
    from tsunagu.cycle.schedule import ScheduleError, resolve_date

    order = [s.id for s in stages]
    out: dict[int, dict[str, StageDates]] = {}
    for fy_key, year in (data.get("schedule") or {}).items():
        try:
            fy = int(fy_key)
        except (TypeError, ValueError):
            raise ctx.error(f"schedule.{fy_key}", "keys of schedule are fiscal years") from None
        year = year or {}
        year_placeholder = year.get("placeholder") is True
        unknown = set(year) - set(order) - _META_KEYS - {"placeholders"}
        if unknown:
            raise ctx.error(f"schedule.{fy}", f"unknown stages {sorted(unknown)} (known: {order})")
        stages_out: dict[str, StageDates] = {}
        for stage_id in order:
            spec = year.get(stage_id)
            if spec is None:
                continue
            key = f"schedule.{fy}.{stage_id}"
            nominal: dict[str, dt.date] = {}
            resolved: dict[str, dt.date] = {}
            for name, date_spec in spec.items():
                if name in _META_KEYS or date_spec is None:
                    continue
                try:
                    nominal[name], resolved[name] = resolve_date(_unwrap(date_spec), fy)
                except (ScheduleError, ValueError, TypeError) as exc:
                    raise ctx.error(f"{key}.{name}", str(exc)) from None
            if "deadline" not in resolved and "review_start" in resolved:
                nominal["deadline"], resolved["deadline"] = nominal["review_start"], resolved["review_start"]
            missing = [k for k in ("request", "deadline") if k not in resolved]
            if missing:
                raise ctx.error(key, f"missing {missing} (a deadline may be given as review_start)")
            if resolved["deadline"] < resolved["request"]:
                raise ctx.error(f"{key}.deadline", f"{resolved['deadline']} is before the request {resolved['request']}")
            if "review_end" in resolved and resolved["review_end"] < resolved["deadline"]:
                raise ctx.error(f"{key}.review_end", "the review ends before the deadline")
            placeholder = year_placeholder or spec.get("placeholder") is True or any(
                isinstance(v, dict) and v.get("placeholder") is True for v in spec.values())
            stages_out[stage_id] = StageDates(
                request=resolved.pop("request"), deadline=resolved.pop("deadline"),
                review_end=resolved.pop("review_end", None), decision=resolved.pop("decision", None),
                extra=resolved, nominal=nominal, placeholder=placeholder,
            )
        out[fy] = stages_out
    return dict(sorted(out.items()))


def _caps(ctx: _Ctx, data: dict[str, Any]) -> tuple[dict[int, dict[str, int]], int | None]:
    from tsunagu.codes import insurer_number_is_valid

    raw = data.get("caps") or {}
    default = _yen(ctx, "caps.default_cap", raw.get("default_cap"), allow_none=True)
    by_year: dict[int, dict[str, int]] = {}
    for fy_key, caps in (raw.get("by_fiscal_year") or {}).items():
        fy = int(fy_key)
        year: dict[str, int] = {}
        for number, amount in (caps or {}).items():
            if number in _META_KEYS or number == "placeholders":
                continue
            number = str(number)
            if not insurer_number_is_valid(number):
                raise ctx.error(f"caps.by_fiscal_year.{fy}.{number}",
                                "not a valid 保険者番号 (6 digits, Luhn check digit; quote it in YAML)")
            year[number] = _yen(ctx, f"caps.by_fiscal_year.{fy}.{number}", amount)
        by_year[fy] = year
    return by_year, default


@cache
def _load(path_s: str, program: str, _mtime: int) -> ProgramConfig:
    path = Path(path_s)
    ctx = _Ctx(path)
    if not path.exists():
        raise GrantConfigError(f"{path}: the config of grant program {program!r} is missing")
    try:
        data = read_yaml(path) or {}
    except yaml.YAMLError as exc:
        raise GrantConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ctx.error("(top)", "a mapping is required")
    if data.get("program") != program:
        raise ctx.error("program", f"is {data.get('program')!r}, expected {program!r}")
    stages = _stages(ctx, data, program)
    periods = _periods(ctx, data)
    caps, default_cap = _caps(ctx, data)
    schedules = _schedules(ctx, data, stages)
    return ProgramConfig(
        program=program, title_ja=str(data.get("title_ja") or program), stages=stages, periods=periods,
        source=path, raw=data, _caps=caps, _default_cap=default_cap, _schedules=schedules,
        _placeholders=tuple(collect_placeholders(data)),
    )
