"""The municipality master (全国地方公共団体コード), from include/reference/municipalities.csv.

The file (code4fukui/localgovjp, CC0) lists every municipality and also the wards of designated
cities (政令指定都市の区, 「さいたま市 西区」). Wards are kept (so a ward's code can be recognised
and reported as such) but are not survey units: the city is. Tokyo's 23 special wards (特別区) are
municipalities.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tsunagu.settings import include_dir


@dataclass(frozen=True)
class Municipality:
    code: str  # 6-digit 全国地方公共団体コード (with check digit)
    prefecture_code: str  # JIS X 0401, the first 2 digits of the code
    prefecture_name: str
    name: str  # 「甲府市」, or for a ward 「さいたま市 西区」
    kana: str = ""
    city_code: str | None = None  # for a designated-city ward: the city's code

    @property
    def is_ward(self) -> bool:
        """A ward of a designated city (not a municipality for surveys); Tokyo's 特別区 are not wards here."""
        return self.city_code is not None


@dataclass(frozen=True)
class MunicipalityMaster:
    by_code: dict[str, Municipality]

    def get(self, code: str) -> Municipality | None:
        return self.by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def unit_of(self, code: str | None) -> Municipality | None:
        """The municipality a code stands for: the city for a designated city's ward, else the code's own entry."""
        m = self.by_code.get(code) if code else None
        if m is not None and m.is_ward:
            return self.by_code.get(m.city_code or "")
        return m

    def of_prefecture(self, prefecture_code: str, *, include_wards: bool = False) -> list[Municipality]:
        """The prefecture's municipalities in code order (wards of designated cities left out unless asked)."""
        return [
            m for m in sorted(self.by_code.values(), key=lambda m: m.code)
            if m.prefecture_code == prefecture_code and (include_wards or not m.is_ward)
        ]

    def municipalities(self) -> list[Municipality]:
        return sorted((m for m in self.by_code.values() if not m.is_ward), key=lambda m: m.code)


def master_path() -> Path:
    return include_dir() / "reference" / "municipalities.csv"


@cache
def _load(path: Path) -> MunicipalityMaster:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cities: dict[tuple[str, str], str] = {}
    parsed = []
    for r in rows:
        code = r["lgcode"].strip().zfill(6)
        name = " ".join(r["city"].replace("\u3000", " ").split())
        parsed.append((code, r["pref"].strip(), name, r.get("citykana", "").strip()))
        if " " not in name:
            cities[(code[:2], name)] = code
    by_code: dict[str, Municipality] = {}
    for code, pref_name, name, kana in parsed:
        city_code = None
        if " " in name:  # 「さいたま市 西区」: a ward of a designated city
            city_code = cities.get((code[:2], name.split(" ", 1)[0]), "")
        by_code[code] = Municipality(
            code=code, prefecture_code=code[:2], prefecture_name=pref_name, name=name, kana=kana,
            city_code=city_code,
        )
    return MunicipalityMaster(by_code=by_code)


def load_municipalities(path: Path | None = None) -> MunicipalityMaster:
    """The master (cached per file)."""
    return _load(Path(path or master_path()).resolve())


def municipalities_of(prefecture_code: str) -> list[Municipality]:
    """The survey units of a prefecture: its municipalities, Tokyo's special wards included, without city wards."""
    return load_municipalities().of_prefecture(prefecture_code)
