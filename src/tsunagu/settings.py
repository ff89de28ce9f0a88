"""Where tsunagu keeps its state, and how to reach the warehouse.

TSUNAGU_HOME (default ./var) holds the SQLite warehouse, the raw archive and the
quarantine. TSUNAGU_DB_URL overrides the warehouse URL (e.g. postgresql+psycopg://).
TSUNAGU_INCLUDE overrides where config, templates and SQL are read from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def include_dir() -> Path:
    return Path(os.environ.get("TSUNAGU_INCLUDE", REPO_ROOT / "include"))


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def landing_dir(self) -> Path:
        return Path(os.environ.get("TSUNAGU_LANDING", self.home / "landing"))

    @property
    def publish_dir(self) -> Path:
        return Path(os.environ.get("TSUNAGU_PUBLISH_DIR", self.home / "published"))


def get_settings(home: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Settings:
    base = Path(home or os.environ.get("TSUNAGU_HOME", "var")).resolve()
    url = db_url or os.environ.get("TSUNAGU_DB_URL") or f"sqlite:///{base / 'warehouse.sqlite'}"
    return Settings(home=base, db_url=url)
