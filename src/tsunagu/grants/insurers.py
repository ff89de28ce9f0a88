"""The insurer master of the grants (design.md §2.3): who files what.

* 介護保険 保険者 (the filers of 地域支援事業交付金): every municipality of the jurisdiction —
  Tokyo's 23 special wards (特別区) included, the wards of designated cities (政令指定都市の区)
  not (the city is the insurer) — numbered with :func:`tsunagu.codes.insurer_number`
  (さいたま市 → 111005). Municipalities that are members of a 介護保険 広域連合 / 一部事務組合
  declared in ``include/config/grants/insurers.yaml`` (``unions:``) are replaced by the union.
* 後期高齢者医療広域連合 (the filers of the 一体的実施 特別調整交付金): one per prefecture, whose
  members are all its municipalities (``koiki_rengo:`` in the same file).
* the prefectures themselves (the filers of 地域医療介護総合確保基金).

:func:`expected_filers` combines these with a program stage's ``filer`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tsunagu.codes import insurer_number, insurer_number_is_valid
from tsunagu.grants.config import GrantConfigError, grants_config_dir
from tsunagu.yamlfile import read_yaml

KINDS = ("municipality", "special_ward", "union")
FILER_KINDS = ("insurer", "prefecture", "koiki")
SPECIAL_WARD_PREFECTURE = "13"  # 東京都: its 特別区 are municipalities (and insurers)


@dataclass(frozen=True)
class Insurer:
    number: str  # 6-digit 介護保険 保険者番号
    name: str
    prefecture_code: str
    municipality_code: str | None  # 6-digit 全国地方公共団体コード; None for a union
    kind: str  # municipality | special_ward | union
    members: tuple[str, ...] = ()  # for a union: its members' municipality codes
    placeholder: bool = False  # the number is not confirmed (unions from config)


@dataclass(frozen=True)
class KoikiRengo:
    """The 後期高齢者医療広域連合 of a prefecture."""

    code: str  # its 8-digit 保険者番号 (from config)
    name: str  # e.g. 埼玉県後期高齢者医療広域連合
    prefecture_code: str
    members: tuple[str, ...]  # every municipality of the prefecture (6-digit codes, no designated-city wards)
    placeholder: bool = False


@dataclass(frozen=True)
class Filer:
    """One expected filer of a program stage."""

    code: str  # 保険者番号 | 2-digit prefecture code | 広域連合's 保険者番号
    name: str
    prefecture_code: str
    kind: str  # insurer | prefecture | koiki


@dataclass(frozen=True)
class _Union:
    number: str
    name: str
    prefecture_code: str
    members: tuple[str, ...]
    from_fiscal_year: int | None
    to_fiscal_year: int | None
    placeholder: bool

    def active(self, fiscal_year: int | None) -> bool:
        if fiscal_year is None:
            return self.to_fiscal_year is None
        return ((self.from_fiscal_year is None or self.from_fiscal_year <= fiscal_year)
                and (self.to_fiscal_year is None or fiscal_year <= self.to_fiscal_year))


class InsurerMaster:
    """Insurers and 広域連合 of the jurisdiction's prefectures."""

    def __init__(self, unions: tuple[_Union, ...], koiki: dict[str, KoikiRengo], prefecture_codes: tuple[str, ...],
                 source: Path | None = None) -> None:
        from tsunagu.municipalities import load_municipalities

        self._municipalities = load_municipalities()
        self._unions = unions
        self._koiki = koiki
        self._prefectures = prefecture_codes
        self.source = source
        # the municipal insurers (before unions), indexed once
        self._by_prefecture = {
            p: tuple(self._municipal_insurer(m.code) for m in self._municipalities.of_prefecture(p))
            for p in prefecture_codes
        }
        self._by_number = {i.number: i for p in prefecture_codes for i in self._by_prefecture[p]}
        self._by_municipality = {i.municipality_code: i for i in self._by_number.values()}

    def prefectures(self) -> list[str]:
        """The jurisdiction's prefecture codes (tsunagu.jurisdiction)."""
        return list(self._prefectures)

    def _municipal_insurer(self, code: str) -> Insurer:
        m = self._municipalities.get(code)
        if m is None or m.is_ward:
            raise KeyError(f"{code!r} is not a municipality of the master")
        special = m.prefecture_code == SPECIAL_WARD_PREFECTURE and m.name.endswith("区")
        return Insurer(
            number=insurer_number(m.code[:5]), name=m.name, prefecture_code=m.prefecture_code,
            municipality_code=m.code, kind="special_ward" if special else "municipality",
        )

    @staticmethod
    def _union_insurer(u: _Union) -> Insurer:
        return Insurer(number=u.number, name=u.name, prefecture_code=u.prefecture_code, municipality_code=None,
                       kind="union", members=u.members, placeholder=u.placeholder)

    def unions(self, prefecture_code: str | None = None, fiscal_year: int | None = None) -> list[Insurer]:
        return [self._union_insurer(u) for u in self._unions
                if u.active(fiscal_year) and prefecture_code in (None, u.prefecture_code)]

    def insurers(self, prefecture_code: str, fiscal_year: int | None = None) -> list[Insurer]:
        """The prefecture's 介護保険 保険者 in number order (unions replace their members).

        ``fiscal_year`` selects the unions in force that year (None: those in force now, i.e. without an end).
        """
        if prefecture_code not in self._prefectures:
            raise KeyError(f"prefecture {prefecture_code!r} is not in the jurisdiction")
        unions = [u for u in self._unions if u.prefecture_code == prefecture_code and u.active(fiscal_year)]
        covered = {code for u in unions for code in u.members}
        out = [i for i in self._by_prefecture[prefecture_code] if i.municipality_code not in covered]
        out += [self._union_insurer(u) for u in unions]
        return sorted(out, key=lambda i: i.number)

    def all_insurers(self, fiscal_year: int | None = None) -> list[Insurer]:
        return [i for p in self._prefectures for i in self.insurers(p, fiscal_year)]

    def get(self, number: str, fiscal_year: int | None = None) -> Insurer | None:
        """An insurer by 保険者番号 (a municipality's, or a declared union's), else None.

        A member of a union in force (``fiscal_year``; None: now) is not an insurer of its own.
        """
        for u in self._unions:
            if u.number == number:
                return self._union_insurer(u)
        insurer = self._by_number.get(number)
        if insurer is None or any(insurer.municipality_code in u.members and u.active(fiscal_year)
                                  for u in self._unions):
            return None
        return insurer

    def insurer_of(self, municipality_code: str, fiscal_year: int | None = None) -> Insurer | None:
        """The insurer covering a municipality: the union it is a member of, else itself (None for a ward)."""
        for u in self._unions:
            if municipality_code in u.members and u.active(fiscal_year):
                return self._union_insurer(u)
        return self._by_municipality.get(municipality_code)

    def koiki(self, prefecture_code: str) -> KoikiRengo:
        try:
            return self._koiki[prefecture_code]
        except KeyError:
            raise GrantConfigError(f"{self.source}: koiki_rengo: no 後期高齢者医療広域連合 declared for prefecture "
                                   f"{prefecture_code!r}") from None

    def koiki_by_code(self, code: str) -> KoikiRengo | None:
        for k in self._koiki.values():
            if k.code == code:
                return k
        return None

    def koiki_all(self) -> list[KoikiRengo]:
        return [self._koiki[p] for p in self._prefectures if p in self._koiki]

    def placeholders(self) -> list[str]:
        """Dotted paths (in insurers.yaml) of the numbers marked ``placeholder: true``."""
        out = [f"unions.{u.number}.number" for u in self._unions if u.placeholder]
        return out + [f"koiki_rengo.{p}.code" for p, k in sorted(self._koiki.items()) if k.placeholder]


def insurers_path() -> Path:
    return grants_config_dir() / "insurers.yaml"


def load_insurers(path: Path | None = None) -> InsurerMaster:
    """The insurer master (cached until the config file changes)."""
    path = Path(path) if path else insurers_path()
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _load(str(path.resolve()), mtime)


def _err(path: Path, key: str, msg: str) -> GrantConfigError:
    return GrantConfigError(f"{path}: {key}: {msg}")


def _opt_int(path: Path, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(path, key, f"a fiscal year (int) or null, not {value!r}")
    return value


@cache
def _load(path_s: str, _mtime: int) -> InsurerMaster:
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.municipalities import load_municipalities

    path = Path(path_s)
    if not path.exists():
        raise GrantConfigError(f"{path}: the insurer config is missing")
    try:
        data = read_yaml(path) or {}
    except yaml.YAMLError as exc:
        raise GrantConfigError(f"{path}: not valid YAML: {exc}") from None
    jurisdiction = load_jurisdiction()
    prefectures = tuple(sorted(jurisdiction.prefectures))
    master = load_municipalities()

    unions: list[_Union] = []
    seen_numbers: set[str] = set()
    for i, u in enumerate(data.get("unions") or []):
        key = f"unions.{i}"
        if not isinstance(u, dict):
            raise _err(path, key, "a union is a mapping with number, name, prefecture_code, members")
        number, pref = str(u.get("number", "")), str(u.get("prefecture_code", "")).zfill(2)
        if not insurer_number_is_valid(number):
            raise _err(path, f"{key}.number", f"not a valid 保険者番号 (6 digits, Luhn check digit): {number!r}")
        if number in seen_numbers:
            raise _err(path, f"{key}.number", f"declared twice: {number}")
        seen_numbers.add(number)
        if pref not in prefectures:
            raise _err(path, f"{key}.prefecture_code", f"{pref!r} is not in the jurisdiction")
        if number[:2] != pref:
            raise _err(path, f"{key}.number", f"{number} does not start with its prefecture code {pref}")
        members = tuple(sorted(str(c).zfill(6) for c in u.get("members") or ()))
        if len(members) < 2 or len(set(members)) != len(members):
            raise _err(path, f"{key}.members", "a union has two or more distinct member municipalities")
        for code in members:
            m = master.get(code)
            if m is None or m.is_ward or m.prefecture_code != pref:
                raise _err(path, f"{key}.members", f"{code} is not a municipality of prefecture {pref}")
            if insurer_number(code[:5]) == number:
                raise _err(path, f"{key}.number", f"{number} is the number of member {code} itself")
        unions.append(_Union(
            number=number, name=str(u.get("name") or number), prefecture_code=pref, members=members,
            from_fiscal_year=_opt_int(path, f"{key}.from_fiscal_year", u.get("from_fiscal_year")),
            to_fiscal_year=_opt_int(path, f"{key}.to_fiscal_year", u.get("to_fiscal_year")),
            placeholder=bool(u.get("placeholder")),
        ))
    for a in unions:
        for b in unions:
            if a is not b and a.prefecture_code == b.prefecture_code and set(a.members) & set(b.members) and (
                    (a.from_fiscal_year or 0) <= (b.to_fiscal_year or 10**4)
                    and (b.from_fiscal_year or 0) <= (a.to_fiscal_year or 10**4)):
                raise _err(path, "unions", f"{a.name} and {b.name} share members in the same years")

    koiki: dict[str, KoikiRengo] = {}
    for pref_key, k in (data.get("koiki_rengo") or {}).items():
        pref = str(pref_key).zfill(2)
        key = f"koiki_rengo.{pref}"
        if pref not in prefectures:
            raise _err(path, key, f"{pref!r} is not in the jurisdiction")
        code = str((k or {}).get("code", ""))
        if len(code) != 8 or not code.isdigit() or not code.startswith("39" + pref):
            raise _err(path, f"{key}.code", f"a 後期高齢者医療 保険者番号 is 8 digits: 39 + prefecture code + …, not {code!r}")
        koiki[pref] = KoikiRengo(
            code=code, name=str(k.get("name") or f"{jurisdiction.get(pref).name_ja}後期高齢者医療広域連合"),
            prefecture_code=pref, members=tuple(m.code for m in master.of_prefecture(pref)),
            placeholder=bool(k.get("placeholder")),
        )
    return InsurerMaster(tuple(unions), koiki, prefectures, source=path)


def expected_filers(program: str, stage: str, fiscal_year: int, prefecture_code: str) -> list[Filer]:
    """Who must file ``stage`` of ``program`` in ``fiscal_year`` for a prefecture (the stage's ``filer``):

    ``insurer`` → every 介護保険 保険者 of the prefecture; ``prefecture`` → the prefecture itself
    (code = its 2-digit code); ``koiki`` → its 後期高齢者医療広域連合.
    """
    from tsunagu.grants.config import load_program
    from tsunagu.jurisdiction import load_jurisdiction

    filer = load_program(program).stage(stage).filer
    master = load_insurers()
    if filer == "insurer":
        return [Filer(code=i.number, name=i.name, prefecture_code=i.prefecture_code, kind="insurer")
                for i in master.insurers(prefecture_code, fiscal_year)]
    if filer == "prefecture":
        pref = load_jurisdiction().get(prefecture_code)
        return [Filer(code=pref.code, name=pref.name_ja, prefecture_code=pref.code, kind="prefecture")]
    k = master.koiki(prefecture_code)
    return [Filer(code=k.code, name=k.name, prefecture_code=k.prefecture_code, kind="koiki")]


def municipal_insurer(code: str) -> Insurer:
    """The municipality ``code`` as its own 介護保険 保険者 (KeyError for a designated city's ward)."""
    from tsunagu.municipalities import load_municipalities

    m = load_municipalities().get(code)
    if m is None or m.is_ward:
        raise KeyError(f"{code!r} is not a municipality of the master")
    special = m.prefecture_code == SPECIAL_WARD_PREFECTURE and m.name.endswith("区")
    return Insurer(number=insurer_number(m.code[:5]), name=m.name, prefecture_code=m.prefecture_code,
                   municipality_code=m.code, kind="special_ward" if special else "municipality")


@cache
def national_insurers() -> tuple[Insurer, ...]:
    """Every municipality of the country (47 prefectures, Tokyo's 特別区 included, no designated-city wards)
    as its own insurer, in 保険者番号 order: 1,741 of them.

    The ministry's evaluation results (design.md §2.4) score the members of a 広域連合 one by one, so
    no union replaces its members here, unlike :meth:`InsurerMaster.insurers` for the grants.
    """
    from tsunagu.municipalities import load_municipalities

    return tuple(sorted((municipal_insurer(m.code) for m in load_municipalities().municipalities()),
                        key=lambda i: i.number))


def national_insurer_index() -> dict[str, Insurer]:
    """:func:`national_insurers` by 保険者番号."""
    return {i.number: i for i in national_insurers()}
