"""Grant rows in the warehouse, on SQLite and real PostgreSQL (the ``warehouse`` fixture of tests/conftest.py;
under CI=true a missing PostgreSQL fails instead of skipping): load, per-filer upsert, supersede, history,
forced reruns of older files, scope, 個別協議 approvals, and the validator reading earlier stages."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from tests.grants.builders import FUJIYOSHIDA, HOKUTO, KOFU, PREF, TSURU, cs_row, letter, write_grant
from tsunagu.grants.programs import filer_prefecture
from tsunagu.grants.validate import check_grant_file
from tsunagu.warehouse.grants import (
    GrantLoaded,
    approve_cap,
    cap_approval_records,
    cap_approvals,
    current_amounts,
    grant_history,
    grant_rows,
    load_grant,
    submission_kind,
)

PROGRAM, FY = "community_support", 2024


def submit(warehouse, stage: str = "application", tag: str = "a", *, sender: str = PREF, fiscal_year: int = FY,
           kind: str | None = None) -> int:
    sid, _ = warehouse.register_submission(
        kind=kind or submission_kind(PROGRAM, stage), sha256=hashlib.sha256(f"{stage}{tag}".encode()).hexdigest(),
        original_name=f"{stage}_{tag}.xlsx", sender=sender, fiscal_year=fiscal_year,
    )
    return sid


def rec(filer: str, item: str, row: int, **amounts) -> dict:
    return {"insurer_number": filer, "insurer_name": "名", "category": item, "rate": None, **amounts,
            "filer_code": filer, "item_key": item, "source_sheet": "保険者別一覧", "source_row": row}


def load(warehouse, sid: int, records: list[dict], stage: str = "application") -> GrantLoaded:
    return load_grant(warehouse, sid, program=PROGRAM, stage=stage, prefecture_code=PREF, fiscal_year=FY,
                      records=records)


BIG = 4_300_000_000  # above 2**31: BIGINT on PostgreSQL


def test_load_and_read_back_exact_ints(warehouse):
    sid = submit(warehouse)
    loaded = load(warehouse, sid, [
        rec(KOFU, "general", 4, total_cost=BIG, donations=0, grant=860_000_000),
        rec(KOFU, "comprehensive", 5, total_cost=300_000_000, donations=1, grant=115_500_000),
        rec(HOKUTO, "general", 6, total_cost=100, donations=0, grant=0),
    ])
    assert isinstance(loaded, GrantLoaded)
    assert (loaded.rows, loaded.filers, loaded.skipped, loaded.superseded, loaded.current) == (
        3, (KOFU, HOKUTO), (), (), True)
    assert loaded.note == "3 rows of 2 filers loaded"
    amounts = current_amounts(warehouse, PROGRAM, "application", FY, PREF)
    assert amounts == {
        (KOFU, "comprehensive"): {"donations": 1, "grant": 115_500_000, "total_cost": 300_000_000},
        (KOFU, "general"): {"donations": 0, "grant": 860_000_000, "total_cost": BIG},
        (HOKUTO, "general"): {"donations": 0, "grant": 0, "total_cost": 100},
    }
    assert all(type(v) is int for a in amounts.values() for v in a.values())
    assert current_amounts(warehouse, PROGRAM, "application", FY, "11") == {}
    assert current_amounts(warehouse, PROGRAM, "pre_consultation", FY) == {}
    rows = grant_rows(warehouse, PROGRAM, FY, PREF)
    assert [(r["stage"], r["filer_code"], r["item_key"], r["source_row"], r["submission_id"]) for r in rows] == [
        ("application", KOFU, "comprehensive", 5, sid), ("application", KOFU, "general", 4, sid),
        ("application", HOKUTO, "general", 6, sid)]
    assert rows[1]["amounts"] == {"donations": 0, "grant": 860_000_000, "total_cost": BIG}
    assert rows[0]["prefecture_code"] == PREF and rows[0]["source_sheet"] == "保険者別一覧"
    assert isinstance(rows[0]["loaded_at"], dt.datetime)
    sub = warehouse.get_submission(sid)
    assert (sub["status"], sub["rows"], sub["superseded_by"]) == ("accepted", 3, None)
    # the same submission again: nothing done
    again = load(warehouse, sid, [rec(KOFU, "general", 4, grant=1)])
    assert (again.already_loaded, again.rows, again.current) == (True, 0, True)
    assert current_amounts(warehouse, PROGRAM, "application", FY, PREF)[(KOFU, "general")]["grant"] == 860_000_000


def test_per_filer_upsert_keeps_other_filers_and_history(warehouse):
    first = submit(warehouse, tag="1")
    load(warehouse, first, [rec(KOFU, "general", 4, grant=100), rec(KOFU, "comprehensive", 5, grant=200),
                            rec(HOKUTO, "general", 6, grant=300)])
    # a later file with only 甲府市 (one item fewer) and a late insurer (富士吉田市)
    second = submit(warehouse, tag="2")
    loaded = load(warehouse, second, [rec(KOFU, "general", 4, grant=150), rec(FUJIYOSHIDA, "general", 5, grant=50)])
    assert (loaded.rows, set(loaded.filers), loaded.superseded) == (2, {KOFU, FUJIYOSHIDA}, ())
    assert current_amounts(warehouse, PROGRAM, "application", FY, PREF) == {
        (KOFU, "general"): {"grant": 150}, (FUJIYOSHIDA, "general"): {"grant": 50},
        (HOKUTO, "general"): {"grant": 300}}
    history = grant_history(warehouse, PROGRAM, FY, PREF)
    assert [(h["filer_code"], h["item_key"], h["submission_id"], h["superseded_by"], h["amounts"]) for h in history] == [
        (KOFU, "comprehensive", first, second, {"grant": 200}), (KOFU, "general", first, second, {"grant": 100})]
    assert isinstance(history[0]["superseded_at"], dt.datetime)
    # the first file still has a current row (北杜市): not superseded
    assert warehouse.get_submission(first)["status"] == "accepted"
    third = submit(warehouse, tag="3")
    loaded = load(warehouse, third, [rec(HOKUTO, "general", 4, grant=310)])
    assert loaded.superseded == (first,)
    assert loaded.note == f"1 rows of 1 filers loaded; replaced submissions {first}"
    assert (warehouse.get_submission(first)["status"], warehouse.get_submission(first)["superseded_by"]) == (
        "superseded", third)
    assert warehouse.get_submission(second)["status"] == "accepted"
    assert [(r["filer_code"], r["submission_id"]) for r in grant_rows(warehouse, PROGRAM, FY)] == [
        (KOFU, second), (FUJIYOSHIDA, second), (HOKUTO, third)]


def test_older_file_never_overwrites_newer_rows(warehouse):
    older = submit(warehouse, tag="old")  # received first, loaded last (a forced rerun / slow validation)
    newer = submit(warehouse, tag="new")
    load(warehouse, newer, [rec(KOFU, "general", 4, grant=999)])
    loaded = load(warehouse, older, [rec(KOFU, "general", 4, grant=1), rec(TSURU, "general", 5, grant=2)])
    assert (loaded.filers, loaded.skipped, loaded.current) == ((TSURU,), (KOFU,), True)
    assert loaded.note == f"1 rows of 1 filers loaded; 1 filers left as they are (a newer file is current): {KOFU}"
    assert current_amounts(warehouse, PROGRAM, "application", FY, PREF) == {
        (KOFU, "general"): {"grant": 999}, (TSURU, "general"): {"grant": 2}}
    assert warehouse.get_submission(older)["status"] == "accepted"  # its 都留市 row is current
    assert warehouse.get_submission(newer)["status"] == "accepted"
    assert load(warehouse, older, [rec(KOFU, "general", 4, grant=1)]).already_loaded  # a rerun: nothing done


def test_file_entirely_older_is_superseded(warehouse):
    old = submit(warehouse, tag="x")
    new = submit(warehouse, tag="y")
    load(warehouse, new, [rec(KOFU, "general", 4, grant=10), rec(HOKUTO, "general", 5, grant=20)])
    loaded = load(warehouse, old, [rec(KOFU, "general", 4, grant=1)])
    assert (loaded.rows, loaded.filers, loaded.skipped, loaded.current) == (0, (), (KOFU,), False)
    sub = warehouse.get_submission(old)
    assert (sub["status"], sub["superseded_by"], sub["rows"]) == ("superseded", new, 0)
    assert grant_history(warehouse, PROGRAM, FY) == []


def test_stages_and_programs_are_separate(warehouse):
    pre = submit(warehouse, "pre_consultation")
    load(warehouse, pre, [rec(KOFU, "general", 4, grant=100)], stage="pre_consultation")
    app = submit(warehouse, "application")
    load(warehouse, app, [rec(KOFU, "general", 4, grant=90)])
    assert current_amounts(warehouse, PROGRAM, "pre_consultation", FY) == {(KOFU, "general"): {"grant": 100}}
    assert current_amounts(warehouse, PROGRAM, "application", FY) == {(KOFU, "general"): {"grant": 90}}
    assert [r["stage"] for r in grant_rows(warehouse, PROGRAM, FY)] == ["pre_consultation", "application"]
    assert grant_rows(warehouse, "care_fund", FY) == [] and grant_rows(warehouse, PROGRAM, FY + 1) == []
    assert warehouse.get_submission(pre)["status"] == "accepted"  # another stage never supersedes


def test_scope_and_submission_checks(warehouse):
    sid = submit(warehouse)
    with pytest.raises(ValueError, match="filer 112011 is of prefecture 11, not the sender 19"):
        load(warehouse, sid, [rec("112011", "general", 4, grant=1)])
    with pytest.raises(ValueError, match="appears twice"):
        load(warehouse, sid, [rec(KOFU, "general", 4), rec(KOFU, "general", 5)])
    with pytest.raises(ValueError, match="no filer_code/item_key"):
        load(warehouse, sid, [{**rec(KOFU, "general", 4), "item_key": None}])
    with pytest.raises(ValueError, match="is a grant.community_support.application, not a "
                                         "grant.community_support.change"):
        load(warehouse, sid, [rec(KOFU, "general", 4)], stage="change")
    other = submit(warehouse, tag="other", sender="11")
    with pytest.raises(ValueError, match=f"submission {other} is for 11/2024, not 19/2024"):
        load(warehouse, other, [rec(KOFU, "general", 4)])
    with pytest.raises(KeyError):
        load(warehouse, 10_000, [rec(KOFU, "general", 4)])
    warehouse.record_outcome(sid, "rejected", [], rows=1)
    with pytest.raises(ValueError, match="is rejected"):
        load(warehouse, sid, [rec(KOFU, "general", 4)])
    assert warehouse.count("grant_rows") == 0 and warehouse.count("grant_amounts") == 0
    assert (filer_prefecture("19"), filer_prefecture("39190004"), filer_prefecture("192013"),
            filer_prefecture("abc"), filer_prefecture("1234")) == ("19", "19", "19", None, None)


def test_cap_approvals(warehouse):
    first, created = approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                                 approved_cap=200_000_000, approver="ケア課 審査係", note="個別協議 令和6年9月")
    assert created and first["revision"] == 1 and first["approved_cap"] == 200_000_000
    assert first["prefecture_code"] == PREF and first["note"] == "個別協議 令和6年9月"
    again, created = approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                                 approved_cap=200_000_000, approver="someone else")
    assert not created and again["revision"] == 1 and again["approver"] == "ケア課 審査係"
    raised, created = approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                                  approved_cap=BIG, approver="課長")
    assert created and raised["revision"] == 2
    approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code="112011", item_key="general",
                approved_cap=1, approver="x")
    assert cap_approvals(warehouse, PROGRAM, FY, PREF) == {(HOKUTO, "general"): BIG}
    assert type(cap_approvals(warehouse, PROGRAM, FY, PREF)[(HOKUTO, "general")]) is int
    assert cap_approvals(warehouse, PROGRAM, FY) == {(HOKUTO, "general"): BIG, ("112011", "general"): 1}
    assert cap_approvals(warehouse, PROGRAM, FY + 1) == {}
    record = cap_approval_records(warehouse, PROGRAM, FY, PREF)[(HOKUTO, "general")]
    assert (record["approver"], record["revision"], type(record["approved_at"])) == ("課長", 2, dt.datetime)
    assert warehouse.count("grant_cap_approvals") == 3
    with pytest.raises(ValueError, match="non-negative int"):
        approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                    approved_cap=1.5, approver="x")
    with pytest.raises(ValueError, match="approver"):
        approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                    approved_cap=1, approver=" ")


def test_check_reads_earlier_stages_approvals_and_loaded_filers(warehouse, tmp_path):
    """The validator with a warehouse: earlier stage amounts, 個別協議 approvals, filers already loaded."""
    pre_rows = [cs_row(KOFU, "general", 500_000_000, 0, 480_000_000),
                cs_row(HOKUTO, "general", 200_000_000, 0, 160_000_000)]
    pre_file = write_grant(tmp_path / "pre.xlsx", "pre_consultation", pre_rows)
    checked = check_grant_file(pre_file, program=PROGRAM, stage="pre_consultation", prefecture_code=PREF,
                               fiscal_year=FY, warehouse=warehouse, use_gx=False)
    assert checked.result.status == "accepted"
    sid = submit(warehouse, "pre_consultation")
    load(warehouse, sid, checked.result.records, stage="pre_consultation")

    approve_cap(warehouse, program=PROGRAM, fiscal_year=FY, filer_code=HOKUTO, item_key="general",
                approved_cap=190_000_000, approver="ケア課")
    app_file = write_grant(tmp_path / "app.xlsx", "application", [
        cs_row(KOFU, "general", 500_000_000, 0, 485_000_000),  # 97,000,000 > 96,000,000 agreed
        cs_row(HOKUTO, "general", 200_000_000, 0, 180_000_000),  # above the cap 170M, within the approval
    ])
    checked = check_grant_file(app_file, program=PROGRAM, stage="application", prefecture_code=PREF, fiscal_year=FY,
                               warehouse=warehouse, use_gx=False)
    found = [(f.code, f.severity, f.row, f.column, f.field) for f in checked.result.findings]
    assert ("exceeds_pre_consultation", "error", 4, letter("application", "grant"), "grant") in found
    assert ("general_cap_approved", "warning", 5, "H", "selected") in found
    assert not any(code in ("general_cap_exceeded", "no_pre_consultation") for code, *_ in found)
    exceeds = next(f for f in checked.result.findings if f.code == "exceeds_pre_consultation")
    assert exceeds.message_ja == "4行目 J列『交付額』: 交付額 97,000,000円が事前協議で受け付けた交付額 96,000,000円を超えています"

    # filers loaded for the stage are not listed as missing by a later file of the stage
    late = write_grant(tmp_path / "late.xlsx", "pre_consultation", [cs_row(TSURU, "general", 10_000_000, 0, 9_000_000)])
    checked = check_grant_file(late, program=PROGRAM, stage="pre_consultation", prefecture_code=PREF, fiscal_year=FY,
                               warehouse=warehouse, use_gx=False)
    missing = next(f for f in checked.result.findings if f.code == "missing_filers")
    assert missing.message_ja.startswith("山梨県の保険者のうち24件の行がありません")
    assert KOFU not in missing.message_en and HOKUTO not in missing.message_en and TSURU not in missing.message_en


def test_flow_ingest_end_to_end(warehouse, tmp_path):
    """The registered flow: archive, validate, reports, load (accepted) or quarantine (rejected), per filer."""
    from tsunagu.flows import get_flow
    from tsunagu.settings import get_settings

    settings = get_settings(tmp_path / "home", db_url=str(warehouse.engine.url))
    flow = get_flow("grant.community_support.pre_consultation")
    bad = write_grant(tmp_path / "事前協議_誤り.xlsx", "pre_consultation",
                      [cs_row(KOFU, "general", 500_000_000, 0, 480_000_000, grant=96_000_500)])
    outcome = flow.ingest(bad, prefecture_code=PREF, fiscal_year=FY, settings=settings, warehouse=warehouse,
                          use_gx=False)
    assert (outcome.status, outcome.errors, outcome.quarantine is not None) == ("rejected", 1, True)
    assert grant_rows(warehouse, PROGRAM, FY) == []
    good = write_grant(tmp_path / "事前協議.xlsx", "pre_consultation",
                       [cs_row(KOFU, "general", 500_000_000, 0, 480_000_000),
                        cs_row(HOKUTO, "comprehensive", 1_000_000, 0, 1_000_000)])
    outcome = flow.ingest(good, prefecture_code=PREF, fiscal_year=FY, settings=settings, warehouse=warehouse,
                          use_gx=False)
    assert (outcome.status, outcome.rows, outcome.note) == ("accepted", 2, "2 rows of 2 filers loaded")
    late = write_grant(tmp_path / "事前協議_追加.xlsx", "pre_consultation",
                       [cs_row(TSURU, "comprehensive", 2_000_000, 0, 2_000_000)])
    outcome = flow.ingest(late, prefecture_code=PREF, fiscal_year=FY, settings=settings, warehouse=warehouse,
                          use_gx=False)
    assert outcome.status == "accepted"
    assert sorted(current_amounts(warehouse, PROGRAM, "pre_consultation", FY, PREF)) == [
        (KOFU, "general"), (TSURU, "comprehensive"), (HOKUTO, "comprehensive")]
    assert [s["status"] for s in warehouse.outcomes(kind=flow.kind)] == ["rejected", "accepted", "accepted"]
