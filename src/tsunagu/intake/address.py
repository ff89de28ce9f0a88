"""The municipality of an address (design.md §4).

The register's 市町村コード is empty in every published register, so an institution's municipality
is read from its 所在地, which starts with the municipality's name (「水戸市三の丸…」), a 郡 in front of
a town or village (「北足立郡伊奈町…」), sometimes the prefecture's name (「埼玉県さいたま市…」).

* a ward of a designated city gives the city (「さいたま市西区…」 → さいたま市 111007): the city is the
  municipality for surveys and grants; Tokyo's special wards are municipalities (「千代田区…」 → 131016);
* the names are compared after NFKC, without spaces, with spelling variants folded
  (ケ/ヶ/ヵ, 之/の/ノ, and a few old character forms: 﨑, 髙, 澤, 邊, 嶋, 濱);
* the longest name that starts the address wins; the 郡 is tried only when no name starts it,
  and then only a town or a village (町, 村) may follow it;
* an address starting with another prefecture's name, or with no known name, gives None.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from tsunagu.municipalities import Municipality, MunicipalityMaster, load_municipalities, master_path

# Spelling variants seen in addresses and in the master; applied to both sides before comparing.
_FOLD = str.maketrans({
    "ヶ": "ケ", "ヵ": "ケ", "ｹ": "ケ",
    "之": "の", "ノ": "の",
    "﨑": "崎", "髙": "高", "澤": "沢", "邊": "辺", "邉": "辺", "嶋": "島", "濱": "浜", "濵": "浜",
})
_SPACE = re.compile(r"\s+")
_POSTAL = re.compile(r"^〒?\d{3}[-‐‑−–—ー]?\d{4}")
_GUN_WITHIN = 8  # a 郡 name is at most 7 characters (「南佐久郡」, 「北足立郡」)


def fold(text: str) -> str:
    """Key for comparing names: NFKC, no whitespace, spelling variants folded."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).translate(_FOLD)


@dataclass(frozen=True)
class _Index:
    names: dict[str, Municipality | None]  # folded name (wards: 「さいたま市西区」) -> its municipality; None: ambiguous
    towns: frozenset[str]  # the keys of towns and villages (what may follow a 郡)
    longest: int
    prefecture: str  # folded 「埼玉県」
    others: tuple[str, ...]  # folded names of the other prefectures

    def match(self, text: str, *, towns_only: bool = False) -> tuple[bool, Municipality | None]:
        """(found, municipality) for the longest name starting ``text``."""
        for n in range(min(self.longest, len(text)), 0, -1):
            key = text[:n]
            if key in self.names and (not towns_only or key in self.towns):
                return True, self.names[key]
        return False, None


_INDEXES: dict[tuple[int, str], tuple[MunicipalityMaster, _Index | None]] = {}
_MASTERS: dict[str | None, MunicipalityMaster] = {}


def _default_master() -> MunicipalityMaster:
    """The configured master (include/reference, or under $TSUNAGU_INCLUDE), found once per setting:
    the roster asks for it per institution, and building its path each time costs more than the match."""
    setting = os.environ.get("TSUNAGU_INCLUDE")
    master = _MASTERS.get(setting)
    if master is None:
        master = _MASTERS[setting] = load_municipalities(master_path())
    return master


def _index(master: MunicipalityMaster, prefecture_code: str) -> _Index | None:
    key = (id(master), prefecture_code)
    hit = _INDEXES.get(key)
    if hit is not None and hit[0] is master:
        return hit[1]
    index = _build(master, prefecture_code)
    _INDEXES[key] = (master, index)
    return index


def _build(master: MunicipalityMaster, prefecture_code: str) -> _Index | None:
    members = master.of_prefecture(prefecture_code, include_wards=True)
    if not members:
        return None
    names: dict[str, Municipality | None] = {}
    towns: set[str] = set()
    for m in members:
        unit = master.unit_of(m.code)
        key = fold(m.name)  # a ward's 「さいたま市 西区」 becomes 「さいたま市西区」
        if key in names and names[key] != unit:
            names[key] = None  # two municipalities spelled alike once folded: never guess
            continue
        names[key] = unit
        if not m.is_ward and m.name.endswith(("町", "村")):
            towns.add(key)
    prefectures = {fold(m.prefecture_name) for m in master.by_code.values() if m.prefecture_name}
    own = fold(members[0].prefecture_name)
    return _Index(
        names=names, towns=frozenset(towns), longest=max(len(k) for k in names), prefecture=own,
        others=tuple(sorted(prefectures - {own})),
    )


def municipality_of(address: str | None, prefecture_code: str | None,
                    master: MunicipalityMaster | None = None) -> Municipality | None:
    """The municipality (the city for a designated city's ward) of ``address`` in that prefecture, or None."""
    if not address or not prefecture_code:
        return None
    index = _index(master or _default_master(), prefecture_code)
    if index is None:
        return None
    text = _POSTAL.sub("", fold(address))
    if text.startswith(index.prefecture):
        text = text[len(index.prefecture):]
    elif text.startswith(index.others):
        return None  # an address in another prefecture
    found, unit = index.match(text)
    if found:
        return unit
    gun = text.find("郡", 1, _GUN_WITHIN)
    if gun > 0:
        return index.match(text[gun + 1:], towns_only=True)[1]
    return None


def municipality_code_of(address: str | None, prefecture_code: str | None,
                         master: MunicipalityMaster | None = None) -> str | None:
    """The 6-digit code of :func:`municipality_of`, or None."""
    unit = municipality_of(address, prefecture_code, master)
    return unit.code if unit is not None else None
