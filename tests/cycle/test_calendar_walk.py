"""The whole 2025 cycle, day by day from 2025-09-01 to 2025-12-31, through a real SMTP server.

Files, requests and approvals arrive along the way; some days are run twice (a rerun, a cleared
task); one SMTP fault is simulated. Every mail must go out exactly once, on the right business day.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
from collections import defaultdict
from dataclasses import dataclass

import pytest
import time_machine

from .helpers import DEMO, JST, SAITAMA_CSV, add_request, corrected_saitama_csv, ingest_registers, ingest_report

pytestmark = pytest.mark.slow

D = dt.date
REPORTS = DEMO / "home_care_reports" / "2025"
YAMANASHI_V2 = DEMO / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
NEVER_REQUEST = ("08", "10", "12", "13", "14", "15", "20")
ALL = ("08", "09", "10", "11", "12", "13", "14", "15", "19", "20")


def _parse(received):
    return email.message_from_bytes(received.path.read_bytes(), policy=email.policy.default)


def _days(start: dt.date, end: dt.date):
    while start <= end:
        yield start
        start += dt.timedelta(days=1)


@dataclass
class Season:
    mail_days: dict[str, list[dt.date]]
    results: dict[dt.date, list]
    statuses: dict[dt.date, object]
    warehouse: object
    settings: object
    sink: object


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """Run the season once for the module (ingestion takes a few seconds a file)."""
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    tmp_path = tmp_path_factory.mktemp("season")
    with pytest.MonkeyPatch.context() as mp, MailSink(tmp_path / "sink") as sink:
        mp.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
        for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_OUTBOX"):
            mp.delenv(var, raising=False)
        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="care@kantoshinetsu.example"))
        settings = get_settings()
        warehouse = open_warehouse(settings)
        yield _walk(settings, warehouse, sink, tmp_path)
        warehouse.dispose()


def _walk(settings, warehouse, sink, tmp_path) -> Season:
    from tsunagu.cycle.approvals import approve
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.cycle.releases import latest_release

    ingest_registers(settings, warehouse)

    def approve_latest(pref: str, who: str) -> None:
        release = latest_release(warehouse, 2025, pref)
        assert release is not None, f"no release of {pref} to approve"
        approve(warehouse, 2025, pref, release.version, who, note="内容確認済み")

    # What happens on each day before that day's run (the bureau's morning).
    events = {
        D(2025, 10, 1): lambda: add_request(warehouse, "11", contact_name="埼玉 太郎",
                                            cc=("houkatsu-sub@pref.saitama.lg.jp",)),
        D(2025, 10, 15): lambda: add_request(warehouse, "09", contact_name="栃木 次郎"),
        D(2025, 10, 20): lambda: [
            ingest_report(settings, warehouse, REPORTS / "09" / "栃木_令和7年度_定例報告集計.xlsx", "09"),
            ingest_report(settings, warehouse, REPORTS / "09" / "栃木_集計表_スキャン.pdf", "09"),
        ],
        D(2025, 10, 28): lambda: ingest_report(settings, warehouse, SAITAMA_CSV, "11"),
        D(2025, 10, 30): lambda: ingest_report(settings, warehouse, REPORTS / "19" / "山梨_定例報告_R7_v1.xlsx", "19"),
        D(2025, 11, 5): lambda: approve_latest("11", "課長補佐 佐藤"),
        D(2025, 11, 10): lambda: ingest_report(settings, warehouse, YAMANASHI_V2, "19"),
        D(2025, 11, 12): lambda: (approve_latest("09", "課長補佐 佐藤"), sink.fail_next(1)),
        D(2025, 11, 20): lambda: add_request(warehouse, "19", contact_name="山梨 三郎"),
        D(2025, 11, 21): lambda: approve_latest("19", "課長 鈴木"),
        D(2025, 11, 25): lambda: ingest_report(settings, warehouse, corrected_saitama_csv(tmp_path), "11"),
        D(2025, 11, 26): lambda: approve_latest("11", "課長補佐 佐藤"),
    }
    statuses = {}
    mail_days: dict[str, list[dt.date]] = defaultdict(list)
    results: dict[dt.date, list] = {}
    seen = 0
    for day in _days(D(2025, 9, 1), D(2025, 12, 31)):
        with time_machine.travel(dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=JST), tick=False):
            if day in events:
                out = events[day]()
                statuses[day] = out
            results[day] = run_cycle_day(day, settings=settings, warehouse=warehouse)
            if day.weekday() == 1 or day in (D(2025, 11, 11), D(2025, 11, 26)):  # reruns: every Tuesday, delivery days
                again = run_cycle_day(day, settings=settings, warehouse=warehouse)
                assert {r.status for r in again} <= {"waiting", "skipped", "failed"}, again
        for received in sink.received[seen:]:
            mail_days[_parse(received)["X-Tsunagu-Key"]].append(day)
        seen = len(sink.received)
    return Season(dict(mail_days), results, statuses, warehouse, settings, sink)


def test_every_mail_once_on_its_business_day(season):
    mail_days, results, statuses, warehouse = season.mail_days, season.results, season.statuses, season.warehouse
    assert statuses[D(2025, 10, 30)] == "rejected"  # 山梨 v1
    assert statuses[D(2025, 11, 10)] == "accepted"  # 山梨 v2
    assert {k: len(v) for k, v in mail_days.items() if len(v) != 1} == {}, "a key was mailed twice"
    when = {k: v[0] for k, v in mail_days.items()}

    from tsunagu.cycle.releases import list_releases

    versions = {p: [r.version for r in list_releases(warehouse, 2025, p)] for p in ("09", "11", "19")}
    assert [len(versions[p]) for p in ("09", "11", "19")] == [1, 2, 1]
    v09, (v11a, v11b), v19 = versions["09"][0], versions["11"], versions["19"][0]
    r11 = warehouse.t("request_forms")
    import sqlalchemy as sa

    with warehouse.engine.connect() as conn:
        req = dict(conn.execute(sa.select(r11.c.prefecture_code, r11.c.submission_id)).all())

    expected = {}
    for p in ALL:
        expected[f"2025:office_request:{p}"] = D(2025, 9, 1)  # 9月上旬: Monday 1 September
        expected[f"2025:prefecture_notice:{p}"] = D(2025, 9, 1)
    for p in (*NEVER_REQUEST, "19"):  # no data, or only a rejected file, by 10/31 → first business day after
        expected[f"2025:office_reminder:{p}"] = D(2025, 11, 4)  # 11/1 Sat, 11/2 Sun, 11/3 文化の日
        expected[f"2025:request_reminder:{p}"] = D(2025, 11, 4)  # 7 days before the window (11/11)
    expected.update({
        f"2025:pre_delivery_notice:09:{v09}:r{req['09']}": D(2025, 11, 4),
        f"2025:pre_delivery_notice:11:{v11a}:r{req['11']}": D(2025, 11, 4),
        f"2025:delivery:11:{v11a}": D(2025, 11, 11),  # approved 11/5, window opens 11/11
        f"2025:delivery:09:{v09}": D(2025, 11, 13),  # approved 11/12, SMTP fault that day, retried 11/13
        f"2025:pre_delivery_notice:19:{v19}:r{req['19']}": D(2025, 11, 20),  # request 11/20, data since 11/10
        f"2025:delivery:19:{v19}": D(2025, 11, 21),  # one business day after its notice
        f"2025:pre_delivery_notice:11:{v11b}:r{req['11']}": D(2025, 11, 25),  # corrected file 11/25 (11/24 振替休日)
        f"2025:delivery:11:{v11b}": D(2025, 11, 26),  # 訂正版
        "2025:closing_report": D(2025, 12, 22),  # 12月下旬: 12/21 is a Sunday
    })
    assert when == expected

    # The SMTP fault: failed on 11/12, sent on 11/13, two attempts in the ledger.
    failed = [r for r in results[D(2025, 11, 12)] if r.status == "failed"]
    assert [(r.kind, r.prefecture_code) for r in failed] == [("delivery", "09")]
    from tsunagu.deliver import ledger

    entry = next(e for e in ledger(warehouse, fiscal_year=2025) if e.key == f"2025:delivery:09:{v09}")
    assert (entry.status, entry.attempts) == ("sent", 2)

    # Nothing on closed days; nothing at all after the closing report.
    for day, out in results.items():
        if day.weekday() >= 5 or day == D(2025, 11, 24):
            assert [r.status for r in out] == ["skipped"]
    assert all(d <= D(2025, 12, 22) for d in when.values())


def test_prefectures_without_request_get_no_data(season):
    mail_days, sink = season.mail_days, season.sink
    for p in NEVER_REQUEST:
        keys = sorted(k for k in mail_days if k.split(":")[2:3] == [p])
        assert keys == [f"2025:office_reminder:{p}", f"2025:office_request:{p}", f"2025:prefecture_notice:{p}",
                        f"2025:request_reminder:{p}"]
    # No data attachment ever went to a never-requesting prefecture's domain.
    from tsunagu.jurisdiction import load_jurisdiction

    domains = {d for p in NEVER_REQUEST for d in load_jurisdiction().get(p).email_domains}
    for received in sink.received:
        msg = _parse(received)
        names = [a.get_filename() for a in msg.iter_attachments()]
        if any(n and n.endswith((".csv", ".xlsx")) and "様式" not in n for n in names):
            assert not any(r.split("@")[1] in domains for r in received.rcpt_tos)


def test_deliveries_carry_the_approved_files_to_the_request_recipients(season):
    warehouse, sink = season.warehouse, season.sink
    from tsunagu.cycle.releases import list_releases

    by_key = {}
    for received in sink.received:
        msg = _parse(received)
        by_key[msg["X-Tsunagu-Key"]] = (msg, received)
    for release in list_releases(warehouse, 2025, "11"):
        msg, received = by_key[f"2025:delivery:11:{release.version}"]
        assert sorted(received.rcpt_tos) == ["houkatsu-11@pref.saitama.lg.jp", "houkatsu-sub@pref.saitama.lg.jp"]
        attached = {a.get_filename(): hashlib.sha256(a.get_content() if isinstance(a.get_content(), bytes)
                                                     else a.get_content().encode("utf-8")).hexdigest()
                    for a in msg.iter_attachments()}
        for name, sha in release.data_files.items():
            if name.endswith((".csv", ".xlsx")):
                assert attached[name] == sha
    first, second = list_releases(warehouse, 2025, "11")
    assert second.is_correction and second.previous_version == first.version

    # The 訂正版: one mail, marked in the subject, listing the changed fields with Japanese labels.
    msg, _ = by_key[f"2025:delivery:11:{second.version}"]
    assert "【訂正版】" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert f"前回提供版 {first.version} → 訂正版 {second.version}" in body
    assert "変更 2件" in body
    assert "・1110101675 医療法人 博仁会 共済病院\n      平均診療期間（月）: 19.8 → 21.5" in body
    assert "・1110104836 清水医院\n      超重症児・準超重症児の患者数: 2 → 3" in body
    # The pre-delivery notice of 11 named the recipient department and contact.
    notice, _ = next(v for k, v in by_key.items() if k.startswith("2025:pre_delivery_notice:11:"))
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "埼玉 太郎" in text and "福祉部 地域包括ケア課" in text and first.version in text


def test_closing_report_lists_who_was_served(season):
    settings, sink = season.settings, season.sink
    report = settings.reports_dir / "cycle" / "2025"
    md = (report / "closing_report.md").read_text(encoding="utf-8")
    csv_text = (report / "closing_report.csv").read_bytes().decode("utf-8-sig")
    assert "提供した都県: 3／依頼のあった都県: 3／管内: 10" in md
    assert "訂正版の提供" in md and "都県事務所へのデータ督促" in md
    assert "08 茨城県" in md.split("## 依頼書の提出がなかった都県")[1]
    lines = csv_text.splitlines()
    assert lines[0].startswith("都道府県コード,都道府県,依頼書")
    assert len(lines) == 11
    msg = next(_parse(r) for r in sink.received if "closing_report" in r.path.name)
    assert sorted(a.get_filename() for a in msg.iter_attachments()) == ["closing_report.csv", "closing_report.md"]
