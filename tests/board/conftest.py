"""A TSUNAGU_HOME populated by really ingesting the demo inputs, once per module and warehouse backend.

What is in it (fiscal year 2025 unless said):

* registers of 09, 11, 19; home-care reports: 09 accepted then a PDF unreadable, 11 accepted, 19 rejected
  (errors), 08 a file with HTML in its name that cannot be read; 09's FY2024 report accepted;
* request forms: 09 accepted, 19 rejected (a CC outside its domain); a survey return of 19 accepted;
* a survey return of 11 registered by a run that stopped before deciding it (status ``received``);
* the grant 事前協議 of 19 for FY2024;
* mails: the data delivery to 09 sent, the survey summary to 19 with an unknown outcome;
* left in landing, never ingested: 19's corrected report (v2) and its second request form.

``received_at`` of each file is set to the day it "arrived" (the ingest itself runs today).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tsunagu.settings import Settings, get_settings, include_dir

DEMO = include_dir() / "demo"
HTML_NAME = "茨城_<img src=x onerror=alert(1)>.csv"
NOT_INGESTED = ("山梨_定例報告_R7_v2_訂正.xlsx", "山梨県_情報提供依頼書_再提出.xlsx")
STOPPED = "survey_returns/2025/11/埼玉県_地域支援事業実施状況.xlsx"
# original name -> when it arrived (UTC; the board shows Tokyo time)
ARRIVED = {
    "栃木_令和6年度_定例報告集計.xlsx": dt.datetime(2024, 10, 1, 1, 0),
    "栃木_令和7年度_定例報告集計.xlsx": dt.datetime(2025, 10, 20, 1, 0),
    "栃木_集計表_スキャン.pdf": dt.datetime(2025, 10, 21, 2, 0),
    "埼玉_定例報告_R7.csv": dt.datetime(2025, 11, 3, 16, 30),  # 2025-11-04 01:30 in Tokyo
    "山梨_定例報告_R7_v1.xlsx": dt.datetime(2025, 10, 30, 5, 0),
    HTML_NAME: dt.datetime(2025, 10, 29, 0, 0),
    "栃木県_情報提供依頼書.xlsx": dt.datetime(2025, 9, 12, 0, 0),
    "山梨県_情報提供依頼書.xlsx": dt.datetime(2025, 9, 24, 0, 0),
    "山梨県_地域支援事業実施状況.xlsx": dt.datetime(2025, 10, 15, 0, 0),
    "埼玉県_地域支援事業実施状況.xlsx": dt.datetime(2025, 10, 16, 0, 0),
    "山梨県_地域支援事業交付金_事前協議.xlsx": dt.datetime(2024, 9, 19, 0, 0),
}
MAIL_TIME = dt.datetime(2025, 11, 20, 1, 0, tzinfo=dt.UTC)


@dataclass
class Home:
    settings: Settings
    backend: str

    @property
    def landing(self) -> Path:
        return self.settings.landing_dir


def stage_landing(landing: Path) -> None:
    shutil.copytree(DEMO / "register", landing / "register")
    shutil.copytree(DEMO / "home_care_reports", landing / "home_care_reports")
    for day in ("2025-09-12", "2025-09-24", "2025-09-26", "2025-10-15", "2025-11-10"):
        shutil.copytree(DEMO / "cycle" / day, landing, dirs_exist_ok=True)
    shutil.copytree(DEMO / "grants" / "2024-09-19", landing, dirs_exist_ok=True)
    bad = landing / "home_care_reports/2025/08" / HTML_NAME
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x01 not a report\n")
    stopped = landing / STOPPED
    stopped.parent.mkdir(parents=True)
    shutil.copy(landing / "survey_returns/2025/19/山梨県_地域支援事業実施状況.xlsx", stopped)


def populate(settings: Settings) -> None:
    from dataclasses import asdict

    from tsunagu.deliver import Mail, send
    from tsunagu.deliver.mailsink import MailSink
    from tsunagu.flows.base import begin_submission
    from tsunagu.pipeline import ingest_batch_flows, ingest_file, open_warehouse, scan_landing

    stage_landing(settings.landing_dir)
    found = [f for f in scan_landing(settings.landing_dir) if Path(f.path).name not in NOT_INGESTED]
    ingest_batch_flows([asdict(f) for f in found if f.kind == "register"], settings=settings)
    for f in found:
        if f.kind != "register" and not f.path.endswith(STOPPED):
            ingest_file(f, settings=settings, today=dt.date(2025, 10, 20))
    # a run that registered the file and stopped before deciding it
    begin_submission(settings.landing_dir / STOPPED, "survey_return", "11", 2025, settings=settings)

    warehouse = open_warehouse(settings)
    s = warehouse.table("submissions")
    with warehouse.transaction() as conn:
        for name, at in ARRIVED.items():
            conn.execute(s.update().where(s.c.original_name == name).values(received_at=at))
    with MailSink(settings.home.parent / "sink") as sink:
        mp = pytest.MonkeyPatch()
        from tsunagu.deliver.mailsink import smtp_conn_uri

        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="kea@kantoshinetsu.example"))
        try:
            assert send(warehouse, Mail(
                key="2025:delivery:09:v1", kind="delivery", fiscal_year=2025, to=("utsunomiya-i@pref.tochigi.lg.jp",),
                subject="【送付】定例報告データ", body="本文", prefecture_code="09", data_version="v1",
                allowed_recipients=frozenset({"utsunomiya-i@pref.tochigi.lg.jp"})),
                now=MAIL_TIME).status == "sent"
            sink.drop_after_data()
            assert send(warehouse, Mail(
                key="2025:survey_summary:19", kind="survey_summary", fiscal_year=2025,
                to=("kai-hanako@pref.yamanashi.lg.jp",), subject="【送付】調査票の集計結果", body="本文",
                prefecture_code="19"), now=MAIL_TIME).status == "unknown"
        finally:
            mp.undo()
    warehouse.dispose()


@pytest.fixture(scope="session")
def homes(request, tmp_path_factory):
    """backend -> a populated home, built on first use and kept for the session (the board only reads)."""
    from contextlib import ExitStack

    built: dict[str, Home] = {}
    mp = pytest.MonkeyPatch()
    for var in ("TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_DB_URL", "TSUNAGU_OUTBOX_DIR", "TSUNAGU_OUTBOX_URL"):
        mp.delenv(var, raising=False)
    with ExitStack() as stack:
        stack.callback(mp.undo)

        def get(backend: str) -> Home:
            if backend not in built:
                root = tmp_path_factory.mktemp(f"board-{backend}")
                if backend == "sqlite":
                    settings = get_settings(root / "home")
                else:
                    from tests.support.warehouse import postgres_schema_url

                    url = stack.enter_context(postgres_schema_url(request.getfixturevalue("pg_url")))
                    settings = get_settings(root / "home", db_url=url)
                populate(settings)
                built[backend] = Home(settings, backend)
            return built[backend]

        yield get


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request, homes) -> Home:
    """A populated home on SQLite and on PostgreSQL (a throw-away schema)."""
    return homes(request.param)


@pytest.fixture
def sqlite_home(homes) -> Home:
    return homes("sqlite")


def table_dump(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of every warehouse table, for comparing before and after."""
    from tsunagu.warehouse.db import Warehouse, schema_tables

    warehouse = Warehouse(settings.db_url)
    try:
        out = {}
        with warehouse.read() as conn:
            for name in sorted(schema_tables()):
                t = warehouse.table(name)
                out[name] = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.select(t)))
        return out
    finally:
        warehouse.dispose()


def file_tree(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file under root, the SQLite warehouse aside (compared by its rows)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith("warehouse.sqlite")}
