"""The bureau's jurisdiction: its prefectures and how their codes are checked."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tsunagu.settings import include_dir
from tsunagu.yamlfile import read_yaml


@dataclass(frozen=True)
class Prefecture:
    code: str
    name_ja: str
    romaji: str
    check_digit: str
    office_ja: str
    email_domains: tuple[str, ...]

    @property
    def package_name(self) -> str:
        return f"{self.code}_{self.romaji}"


@dataclass(frozen=True)
class Jurisdiction:
    bureau_ja: str
    division_ja: str
    prefectures: dict[str, Prefecture]

    def get(self, code: str) -> Prefecture:
        try:
            return self.prefectures[code]
        except KeyError:
            raise KeyError(f"prefecture {code!r} is not in the jurisdiction of {self.bureau_ja}") from None

    def __contains__(self, code: object) -> bool:
        return code in self.prefectures


@cache
def load_jurisdiction(path: Path | None = None) -> Jurisdiction:
    data = read_yaml(path or include_dir() / "config" / "jurisdiction.yaml")
    prefs = {
        p["code"]: Prefecture(
            code=p["code"], name_ja=p["name_ja"], romaji=p["romaji"], check_digit=p["check_digit"],
            office_ja=p["office_ja"], email_domains=tuple(p.get("email_domains", ())),
        )
        for p in data["prefectures"]
    }
    return Jurisdiction(bureau_ja=data["bureau"]["name_ja"], division_ja=data["bureau"]["division_ja"], prefectures=prefs)
