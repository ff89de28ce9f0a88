"""Property tests: across random jurisdictions, request sets and data, no prefecture ever receives
another prefecture's rows, and no data mail goes to an address outside the active request.

Everything is real: SQLite warehouses, published packages and releases, and a loopback SMTP server
that receives every message; the invariants are checked on what the server received.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import io
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.warehouse import add_active_request, make_warehouse, sample_record
from tsunagu.deliver import Mail, ScopeViolation, send
from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
from tsunagu.jurisdiction import load_jurisdiction
from tsunagu.settings import get_settings
from tsunagu.warehouse.requests import active_request

FY = 2025
CODES = sorted(load_jurisdiction().prefectures)
JST = dt.timezone(dt.timedelta(hours=9))
# Delivery days of the 2025 window, with the pre-delivery notice days before them.
DAYS = [dt.date(2025, 11, d) for d in (4, 5, 6, 7, 10, 11, 12, 13, 14, 17, 18, 19)]

local_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)


@st.composite
def requests_for(draw, pref: str) -> list[tuple[str, tuple[str, ...]]]:
    """0–2 valid request forms for a prefecture (a later one supersedes the earlier)."""
    domain = load_jurisdiction().get(pref).email_domains[0]
    forms = []
    for _ in range(draw(st.integers(0, 2))):
        to = f"{draw(local_part)}@{domain}"
        cc = tuple(sorted({f"{draw(local_part)}@{domain}" for _ in range(draw(st.integers(0, 2)))} - {to}))
        forms.append((to, cc))
    return forms


@st.composite
def seasons(draw) -> dict:
    prefs = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=4, unique=True))
    return {
        "rows": {p: draw(st.integers(1, 4)) for p in prefs if draw(st.booleans())},
        "requests": {p: draw(requests_for(p)) for p in prefs},
        "approve": {p for p in prefs if draw(st.booleans())},
        "prefs": prefs,
    }


def _rows_of(name: str, payload: bytes) -> set[str]:
    """The prefecture codes of every data row in an attachment."""
    if name.endswith(".csv"):
        return {r["prefecture_code"] for r in csv.DictReader(io.StringIO(payload.decode("utf-8-sig")))}
    if name.endswith(".xlsx"):
        wb = openpyxl.load_workbook(io.BytesIO(payload), read_only=True)
        if "データ" not in wb.sheetnames:  # e.g. the blank request form
            return set()
        rows = list(wb["データ"].iter_rows(values_only=True))
        header = next(i for i, r in enumerate(rows) if "都道府県コード" in r)
        col = rows[header].index("都道府県コード")
        return {str(r[col]) for r in rows[header + 1:] if any(v is not None for v in r)}
    return set()


def _check_received(sink: MailSink, warehouse) -> int:
    """The invariants, on the messages the server received. Returns the number of data mails."""
    data_mails = 0
    for received in sink.messages:
        msg = received if isinstance(received, email.message.Message) else email.message_from_bytes(
            received, policy=email.policy.default)
        key = msg["X-Tsunagu-Key"]
        parts = key.split(":")
        attachments = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
        if parts[1] not in ("delivery", "correction"):
            assert all(not _rows_of(n, b) for n, b in attachments.items()), key
            continue
        data_mails += 1
        pref = parts[2]
        active = active_request(warehouse, pref, FY)
        assert active is not None, f"{key} sent with no active request"
        recipients = {a.strip().lower() for field in ("To", "Cc") for a in (msg[field] or "").split(",") if a.strip()}
        assert recipients <= {r.lower() for r in active.recipients}, key
        for name, payload in attachments.items():
            assert _rows_of(name, payload) <= {pref}, f"{key}: {name} holds another prefecture's rows"
    return data_mails


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seasons())
def test_the_planner_never_crosses_prefectures(season):
    from tsunagu.cycle.approvals import approve
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.cycle.releases import ensure_release

    with tempfile.TemporaryDirectory() as tmp, make_warehouse("sqlite", Path(tmp)) as wh, \
            MailSink(Path(tmp) / "sink") as sink, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port))
        conf = get_settings(Path(tmp) / "home", db_url="sqlite://")
        for pref, n in season["rows"].items():
            sid, _ = wh.register_submission(kind="home_care_report", sha256=f"{pref:0>64}", original_name="x.xlsx",
                                            sender=pref, fiscal_year=FY)
            wh.load_home_care_report(sid, pref, FY, [sample_record(pref, i) for i in range(1, n + 1)])
            wh.record_outcome(sid, "accepted", [], rows=n)
        for pref, forms in season["requests"].items():
            for to, cc in forms:
                add_active_request(wh, pref, FY, to, cc)
        for day in DAYS:
            if day == dt.date(2025, 11, 5):
                for pref in sorted(season["approve"] & set(season["rows"])):
                    release = ensure_release(wh, conf, FY, pref)
                    approve(wh, FY, pref, release.version, "property test")
            run_cycle_day(day, prefectures=season["prefs"], settings=conf, warehouse=wh,
                          now=dt.datetime.combine(day, dt.time(9), JST))
        delivered = _check_received(sink, wh)
        event(f"data mails delivered: {delivered}")
        expected = {p for p in season["approve"] & set(season["rows"]) if season["requests"][p]}
        assert delivered == len(expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mail_pref=st.sampled_from(CODES),
    file_prefs=st.lists(st.lists(st.sampled_from(CODES), min_size=1, max_size=3), min_size=1, max_size=3),
    picks=st.lists(st.tuples(st.sampled_from(CODES), st.booleans()), min_size=1, max_size=4),
    outsider=st.booleans(),
)
def test_send_refuses_every_cross_prefecture_mail(mail_pref, file_prefs, picks, outsider):
    """A careless or hostile caller: any recipients, any files. What goes out still obeys the invariants."""
    with tempfile.TemporaryDirectory() as tmp, make_warehouse("sqlite", Path(tmp)) as wh, \
            MailSink(Path(tmp) / "sink") as sink, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port))
        conf = get_settings(Path(tmp) / "home", db_url="sqlite://")
        contacts = {}
        for pref in CODES[::2]:  # half the prefectures have a request
            domain = load_jurisdiction().get(pref).email_domains[0]
            contacts[pref] = (f"tanto-{pref}@{domain}", f"cc-{pref}@{domain}")
            add_active_request(wh, pref, FY, *contacts[pref][:1], cc=contacts[pref][1:])
        recipients = [contacts.get(p, (f"someone@pref-{p}.example.jp",))[int(cc and p in contacts)] for p, cc in picks]
        if outsider:
            recipients.append("leak@example.com")
        files = []
        for i, prefs in enumerate(file_prefs):
            path = Path(tmp) / f"data_{i}.csv"
            with path.open("w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["fiscal_year", "prefecture_code", "institution_code"])
                for j, p in enumerate(prefs):
                    w.writerow([FY, p, f"{p}10000{j:03d}"])
            files.append(path)
        mail = Mail(key=f"{FY}:delivery:{mail_pref}:v1", kind="delivery", fiscal_year=FY, to=tuple(recipients),
                    subject="【送付】定例報告データ", body="本文", attachments=tuple(files), prefecture_code=mail_pref,
                    data_version="v1", allowed_recipients=frozenset(recipients))
        try:
            entry = send(wh, mail, settings=conf)
        except ScopeViolation:
            assert sink.messages == []
        else:
            assert entry.ok
        _check_received(sink, wh)
        ok = mail_pref in contacts and set(recipients) <= set(contacts[mail_pref]) and all(
            set(p) == {mail_pref} for p in file_prefs)
        assert len(sink.messages) == int(ok)
