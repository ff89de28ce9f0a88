from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tsunagu.findings import error, warning
from tsunagu.model import RosterEntry
from tsunagu.warehouse.db import HOME_CARE_FIELDS, Warehouse, schema_statements, split_statements
from tsunagu.warehouse.testing import sample_record

TABLES = {"submissions", "register_entries", "home_care_roster", "home_care_reports",
          "home_care_reports_history", "validation_results"}


def test_split_statements_drops_comments():
    sql = "-- a; comment\nCREATE TABLE a (x INT); -- tail\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == ["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]


def test_schema_statements_are_portable_but_for_the_identity_column():
    lite, pg = schema_statements("sqlite"), schema_statements("postgresql")
    assert len(lite) == len(pg) >= 6
    assert all("{{" not in s for s in lite + pg)
    assert sum(a != b for a, b in zip(lite, pg, strict=True)) == 1


def test_create_schema_is_idempotent(warehouse_url):
    wh = Warehouse(warehouse_url)
    wh.create_schema()
    wh.create_schema()
    assert TABLES <= set(sa.inspect(wh.engine).get_table_names())
    cols = {c["name"] for c in sa.inspect(wh.engine).get_columns("home_care_reports")}
    assert set(HOME_CARE_FIELDS) <= cols
    hist = {c["name"] for c in sa.inspect(wh.engine).get_columns("home_care_reports_history")}
    assert hist == cols | {"superseded_by", "superseded_at"}
    wh.dispose()


def _register(wh, sha="a" * 64, sender="08", fy=2025, kind="home_care_report", name="r.xlsx"):
    return wh.register_submission(kind, sha, name, sender, fy, f"/archive/{sha}", "email")


def test_register_submission_is_idempotent_on_its_key(warehouse):
    sid, new = _register(warehouse)
    assert new
    assert _register(warehouse) == (sid, False)
    other, new2 = _register(warehouse, fy=2024)
    assert new2 and other != sid
    # registers have no fiscal year: NULL must still be idempotent
    rid, rnew = warehouse.register_submission("register", "b" * 64, "meibo.xlsx", "08", None, None, "landing")
    assert rnew
    assert warehouse.register_submission("register", "b" * 64, "meibo.xlsx", "08", None, None, "landing") == (rid, False)
    sub = warehouse.get_submission(sid)
    assert sub["status"] == "received" and sub["sender"] == "08" and sub["fiscal_year"] == 2025
    assert warehouse.get_submission(kind="home_care_report", sha256="a" * 64, sender="08", fiscal_year=2025)["id"] == sid
    assert [s["id"] for s in warehouse.outcomes(kind="home_care_report")] == [sid, other]


def test_record_outcome_replaces_findings(warehouse):
    sid, _ = _register(warehouse)
    f1 = [error("E1", "誤り", "wrong", sheet="S", row=5, column="E", field="total_patients"),
          warning("W1", "注意", "check", sheet="S", row=6)]
    warehouse.record_outcome(sid, "rejected", f1, rows=10, template_version="2024-08", report_path="/r.json")
    warehouse.record_outcome(sid, "rejected", f1, rows=10, template_version="2024-08", report_path="/r.json")
    got = warehouse.validation_results(sid)
    assert [(r["seq"], r["code"], r["severity"], r["sheet"], r["row"], r["column_letter"], r["field"]) for r in got] == [
        (1, "E1", "error", "S", 5, "E", "total_patients"), (2, "W1", "warning", "S", 6, None, None)]
    sub = warehouse.get_submission(sid)
    assert (sub["status"], sub["rows"], sub["errors"], sub["warnings"], sub["template_version"]) == (
        "rejected", 10, 1, 1, "2024-08")
    warehouse.record_outcome(sid, "accepted", [], rows=10)
    assert warehouse.validation_results(sid) == []
    assert warehouse.get_submission(sid)["status"] == "accepted"


def _accept(wh, sha, records, pref="08", fy=2025):
    sid, _ = _register(wh, sha=sha, sender=pref, fy=fy)
    wh.record_outcome(sid, "accepted", [], rows=len(records))
    return sid


def test_home_care_report_round_trip_types(warehouse):
    recs = [sample_record("08", 1), sample_record("08", 2, month_home_ratio=66.7, avg_care_months="3.25")]
    sid = _accept(warehouse, "a" * 64, recs)
    res = warehouse.load_home_care_report(sid, "08", 2025, recs)
    assert res.loaded and res.rows == 2 and res.superseded == ()
    rows = warehouse.home_care_reports(2025, "08")
    assert [r["institution_code"] for r in rows] == ["0810000001", "0810000002"]
    r1, r2 = rows
    assert r1["report_date"] == dt.date(2025, 8, 1)
    assert r1["avg_care_months"] == Decimal("13.5") and r2["avg_care_months"] == Decimal("3.25")
    assert r2["month_home_ratio"] == Decimal("66.7")
    assert r1["total_patients"] == 51 and isinstance(r1["total_patients"], int)
    assert (r1["submission_id"], r1["source_sha256"], r1["source_sheet"], r1["source_row"]) == (sid, "a" * 64, "集計表", 5)
    assert warehouse.report_scopes() == [(2025, "08")]
    assert warehouse.previous_year_values(2026, "08").keys() == {"0810000001", "0810000002"}
    assert warehouse.previous_year_values(2025, "08") == {}


def test_load_rejects_foreign_and_duplicate_rows(warehouse):
    sid = _accept(warehouse, "a" * 64, [])
    with pytest.raises(ValueError, match="prefecture 09"):
        warehouse.load_home_care_report(sid, "08", 2025, [sample_record("09", 1)])
    with pytest.raises(ValueError, match="twice"):
        warehouse.load_home_care_report(sid, "08", 2025, [sample_record("08", 1), sample_record("08", 1)])
    assert warehouse.home_care_reports(2025) == []


def test_supersession_moves_exact_rows_to_history(warehouse):
    first = [sample_record("08", n) for n in (1, 2, 3)]
    second = [sample_record("08", n, total_patients=99) for n in (2, 3, 4)]
    other_pref = [sample_record("09", 1)]
    a = _accept(warehouse, "a" * 64, first)
    o = _accept(warehouse, "c" * 64, other_pref, pref="09")
    warehouse.load_home_care_report(a, "08", 2025, first)
    warehouse.load_home_care_report(o, "09", 2025, other_pref)
    before = warehouse.home_care_reports(2025, "08")
    b = _accept(warehouse, "b" * 64, second)
    res = warehouse.load_home_care_report(b, "08", 2025, second)
    assert res.loaded and res.superseded == (a,)

    current = warehouse.home_care_reports(2025, "08")
    assert [(r["institution_code"], r["total_patients"], r["submission_id"]) for r in current] == [
        ("0810000002", 99, b), ("0810000003", 99, b), ("0810000004", 99, b)]
    hist = warehouse.home_care_history(2025, "08")
    assert len(hist) == 3
    strip = lambda r: {k: v for k, v in r.items() if k not in ("superseded_by", "superseded_at")}  # noqa: E731
    assert [strip(h) for h in hist] == before
    assert {h["superseded_by"] for h in hist} == {b}
    assert warehouse.get_submission(a)["status"] == "superseded"
    assert warehouse.get_submission(a)["superseded_by"] == b
    assert warehouse.get_submission(b)["status"] == "accepted"
    # the other prefecture is untouched
    assert [r["submission_id"] for r in warehouse.home_care_reports(2025, "09")] == [o]
    assert warehouse.home_care_history(2025, "09") == []

    # reloading the same submission: a no-op, no duplicate history
    again = warehouse.load_home_care_report(b, "08", 2025, second)
    assert again.already_loaded and not again.loaded
    assert warehouse.home_care_reports(2025, "08") == current
    assert len(warehouse.home_care_history(2025, "08")) == 3

    # a forced re-run of the older file does not overwrite the newer one
    stale = warehouse.load_home_care_report(a, "08", 2025, first)
    assert not stale.loaded and (stale.already_loaded or stale.stale)
    assert warehouse.home_care_reports(2025, "08") == current

    # a never-loaded older file processed late: flagged stale, nothing overwritten, marked superseded
    warehouse.engine.dispose()
    old_sid, _ = _register(warehouse, sha="0" * 64)
    # make it look older than b by loading order: registered later, so force the check with a newer one
    c = _accept(warehouse, "d" * 64, second)
    warehouse.load_home_care_report(c, "08", 2025, second)
    late = warehouse.load_home_care_report(old_sid, "08", 2025, first)
    assert late.stale and late.newer_submission == c and not late
    assert warehouse.get_submission(old_sid)["status"] == "superseded"
    assert {r["submission_id"] for r in warehouse.home_care_reports(2025, "08")} == {c}
    assert warehouse.get_submission(b)["status"] == "superseded"
    assert len(warehouse.home_care_history(2025, "08")) == 6
    # re-validating a superseded submission keeps it superseded
    warehouse.record_outcome(b, "accepted", [], rows=3)
    assert warehouse.get_submission(b)["status"] == "superseded"


def _register_parse(pref: str, n: int, sha: str, as_of=dt.date(2025, 9, 1)):
    rows, roster = [], []
    for i in range(n):
        number = f"{i:07d}"
        symbol = ("支援診１", "支援診２", "支援診３")[i % 20] if i % 20 < 3 else "外来感染"  # ~2,000 of 135k
        rows.append(dict(
            prefecture_code=pref, score_table="1", institution_number=number, institution_code=f"{pref}1{number}",
            institution_name=f"医療法人 テスト会 {i}", postal_code="310-0001", address="茨城県水戸市三の丸1-1-1",
            phone="029-000-0000", beds="一般 19", notification_name="在宅療養支援診療所", notification_symbol=symbol,
            notification_number=f"第{i}号", start_date=dt.date(2024, 6, 1), municipality_code="082015",
            municipality_name="水戸市", sheet="Sheet1", row=i + 4))
        if symbol.startswith("支援"):
            roster.append(RosterEntry(
                f"{pref}1{number}", number, pref, f"医療法人 テスト会 {i}", "clinic",
                ("enhanced_single", "enhanced_network", "standard")[i % 20], symbol, "茨城県水戸市三の丸1-1-1", "082015"))
    return SimpleNamespace(prefecture_code=pref, as_of=as_of, rows=rows, roster=roster, sha256=sha)


def test_register_load_replaces_prefecture_and_roster_round_trips(warehouse):
    p08 = _register_parse("08", 10, "1" * 64)
    p09 = _register_parse("09", 5, "2" * 64)
    r = warehouse.load_register(p08)
    assert (r.rows, r.roster) == (10, 3)
    warehouse.load_register(p09)
    assert warehouse.roster("08") == {e.institution_code: e for e in p08.roster}
    assert len(warehouse.roster()) == 3 + 3
    entries = warehouse.register_entries("08")
    assert entries[0]["start_date"] == dt.date(2024, 6, 1) and entries[0]["as_of"] == dt.date(2025, 9, 1)
    assert (entries[0]["source_sha256"], entries[0]["source_sheet"], entries[0]["source_row"]) == ("1" * 64, "Sheet1", 4)
    # a new register for 08 replaces 08 only
    newer = _register_parse("08", 4, "3" * 64)
    warehouse.load_register(newer)
    assert warehouse.count("register_entries", prefecture_code="08") == 4
    assert warehouse.count("register_entries", prefecture_code="09") == 5
    assert set(warehouse.roster("08")) == {e.institution_code for e in newer.roster}


def test_register_load_with_submissions_supersedes_and_guards_stale(warehouse):
    s1, _ = warehouse.register_submission("register", "1" * 64, "a.xlsx", "08", None, None, "landing")
    s2, _ = warehouse.register_submission("register", "3" * 64, "b.xlsx", "08", None, None, "landing")
    assert warehouse.load_register(_register_parse("08", 4, "3" * 64), submission_id=s2)
    stale = warehouse.load_register(_register_parse("08", 10, "1" * 64), submission_id=s1)
    assert stale.stale and stale.newer_submission == s2
    assert warehouse.count("register_entries", prefecture_code="08") == 4
    assert warehouse.get_submission(s1)["status"] == "superseded"


def test_register_rows_of_another_prefecture_are_refused(warehouse):
    parse = _register_parse("08", 3, "1" * 64)
    parse.rows[1]["prefecture_code"] = "09"
    with pytest.raises(ValueError, match="prefecture 09"):
        warehouse.load_register(parse)
    assert warehouse.count("register_entries") == 0


@pytest.mark.slow
def test_register_bulk_load_speed(warehouse, backend):
    """135,000 register rows (8 prefectures) load in a few seconds."""
    prefs = ["08", "09", "10", "11", "12", "15", "19", "20"]
    parses = [_register_parse(p, 135_000 // 8, p * 32) for p in prefs]
    t0 = time.perf_counter()
    for p in parses:
        warehouse.load_register(p)
    elapsed = time.perf_counter() - t0
    print(f"\n{backend}: {sum(len(p.rows) for p in parses)} register rows in {elapsed:.2f} s")
    assert warehouse.count("register_entries") == 135_000 - 135_000 % 8
    assert elapsed < 15


def test_from_settings_creates_the_sqlite_folder(tmp_path):
    from tsunagu.settings import get_settings

    wh = Warehouse.from_settings(get_settings(home=tmp_path / "new" / "home"))
    wh.create_schema()
    assert (tmp_path / "new" / "home" / "warehouse.sqlite").is_file()
    wh.dispose()


def test_parallel_writers_on_sqlite_wait_instead_of_failing(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    Warehouse(url).create_schema()

    def job(i):
        wh = Warehouse(url)
        pref = ("08", "09")[i % 2]
        sid, _ = wh.register_submission("home_care_report", f"{i:064d}", "x.csv", pref, 2025)
        wh.record_outcome(sid, "accepted", [], rows=20)
        res = wh.load_home_care_report(sid, pref, 2025, [sample_record(pref, n) for n in range(20)])
        wh.dispose()
        return res

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(job, range(8)))
    wh = Warehouse(url)
    assert len(wh.home_care_reports(2025)) == 40
    assert len(wh.outcomes(status="accepted")) == 2
    assert sum(r.loaded for r in results) + sum(r.stale for r in results) == 8
