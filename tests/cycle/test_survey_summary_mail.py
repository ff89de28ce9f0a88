"""The 地域支援事業 survey summary goes back to the prefecture: once per summary, only to its request's recipients."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io

import openpyxl

from .helpers import DEMO, add_request

SURVEY = DEMO / "cycle" / "2025-10-15" / "survey_returns" / "2025" / "19" / "山梨県_地域支援事業実施状況.xlsx"


def _summary_mails(sink):
    msgs = [email.message_from_bytes(m.path.read_bytes(), policy=email.policy.default) for m in sink.received]
    return [m for m in msgs if ":survey_summary:" in m["X-Tsunagu-Key"]]


def test_summary_is_mailed_once_to_the_request_recipients(settings, warehouse, sink):
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.flows import get_flow

    day = dt.date(2025, 10, 15)
    assert get_flow("survey_return").ingest(SURVEY, prefecture_code="19", fiscal_year=2025, settings=settings,
                                warehouse=warehouse).status == "accepted"
    # No request form yet: the summary waits (it may only go to a request's recipients).
    run_cycle_day(day, prefectures=["19"], settings=settings, warehouse=warehouse)
    assert _summary_mails(sink) == []

    add_request(warehouse, "19", email="kai-hanako@pref.yamanashi.lg.jp", cc=("chiiki-care@pref.yamanashi.lg.jp",))
    for again in (day, day, dt.date(2025, 10, 16)):  # reruns and the next day send nothing more
        run_cycle_day(again, prefectures=["19"], settings=settings, warehouse=warehouse)
    (mail,) = _summary_mails(sink)
    assert mail["To"] == "kai-hanako@pref.yamanashi.lg.jp"
    assert mail["Cc"] == "chiiki-care@pref.yamanashi.lg.jp"
    assert mail["Subject"] == "【送付】令和7年度 地域支援事業 実施状況調査の集計結果（山梨県）"
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "survey_summary_2025_19.xlsx"
    wb = openpyxl.load_workbook(io.BytesIO(attachment.get_payload(decode=True)))
    rows = list(wb["市町村別"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 27 and {r[0] for r in rows} == {"19"}
