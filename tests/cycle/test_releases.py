"""Releases (immutable, versioned snapshots), approvals (a recorded act) and the 訂正版 summary."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat

import pytest

from tsunagu.settings import get_settings

from .helpers import SAITAMA_CSV, add_request, corrected_saitama_csv, ingest_registers, ingest_report


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A home with the 埼玉 register and report ingested (built once; copied for each test)."""
    from tsunagu.pipeline import open_warehouse

    home = tmp_path_factory.mktemp("seeded") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSUNAGU_HOME", str(home))
        mp.delenv("TSUNAGU_DB_URL", raising=False)
        settings = get_settings()
        wh = open_warehouse(settings)
        ingest_registers(settings, wh, codes=("11",))
        assert ingest_report(settings, wh, SAITAMA_CSV, "11") == "accepted"
        wh.dispose()
    return home


@pytest.fixture
def env(seeded, tmp_path, monkeypatch):
    from tsunagu.pipeline import open_warehouse

    home = tmp_path / "home"
    shutil.copytree(seeded, home)
    monkeypatch.setenv("TSUNAGU_HOME", str(home))
    monkeypatch.delenv("TSUNAGU_DB_URL", raising=False)
    settings = get_settings()
    wh = open_warehouse(settings)
    yield settings, wh
    wh.dispose()


def test_release_is_immutable_versioned_and_idempotent(env):
    from tsunagu.cycle.releases import compute_version, list_releases, make_release

    settings, wh = env
    r = make_release(wh, settings, 2025, "11")
    assert r.created and len(r.version) == 16 and int(r.version, 16) >= 0
    assert r.dir == settings.home / "releases" / "2025" / "11_saitama" / r.version
    main = [n for n in r.files if not re.search(r"_\d{6}\.csv$", n)]
    assert sorted(main) == ["datapackage.json", "home_care_reports_2025_11.csv", "home_care_reports_2025_11.xlsx",
                            "manifest.json"]
    # and one CSV per municipality of 埼玉 with data (57, さいたま市 111007 first)
    municipalities = sorted(set(r.files) - set(main))
    assert len(municipalities) == 57 and municipalities[0] == "home_care_reports_2025_11_111007.csv"
    assert r.rows == 659 and not r.is_correction and r.previous_version is None
    assert r.version == compute_version({n: h for n, h in r.files.items() if n != "manifest.json"})
    for p in r.dir.iterdir():
        assert not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), p
    assert not os.access(r.dir, os.W_OK) or os.geteuid() == 0  # read-only (root may write anyway)
    assert not r.dir.stat().st_mode & stat.S_IWUSR

    again = make_release(wh, settings, 2025, "11")
    assert (again.version, again.created, again.created_at) == (r.version, False, r.created_at)
    assert [x.version for x in list_releases(wh, 2025, "11")] == [r.version]


def test_no_rows_no_release(env):
    from tsunagu.cycle.releases import ReleaseError, make_release

    settings, wh = env
    with pytest.raises(ReleaseError, match="no accepted"):
        make_release(wh, settings, 2025, "12")


def test_approval_is_recorded_once_and_only_for_the_latest(env, tmp_path):
    from tsunagu.cycle.approvals import ApprovalError, approve, list_approvals
    from tsunagu.cycle.releases import ensure_release, latest_release, make_release

    settings, wh = env
    v1 = make_release(wh, settings, 2025, "11")
    with pytest.raises(ApprovalError, match="no release"):
        approve(wh, 2025, "11", "deadbeefdeadbeef", "佐藤")
    with pytest.raises(ApprovalError, match="approver"):
        approve(wh, 2025, "11", v1.version, " ")
    first = approve(wh, 2025, "11", v1.version, "佐藤", note="確認済み")
    assert first.recorded and first.approver == "佐藤"
    assert not approve(wh, 2025, "11", v1.version, "鈴木").recorded  # idempotent: the first act stands
    assert [(a.version, a.approver) for a in list_approvals(wh, 2025, "11")] == [(v1.version, "佐藤")]

    # New data → a new release; the old one is no longer approvable, and its snapshot is untouched.
    before = {p.name: p.read_bytes() for p in v1.dir.iterdir()}
    assert ingest_report(settings, wh, corrected_saitama_csv(tmp_path), "11") == "accepted"
    v2 = ensure_release(wh, settings, 2025, "11")
    assert v2.created and v2.version != v1.version and v2.previous_version == v1.version
    assert not v2.is_correction  # v1 was never delivered
    assert {p.name: p.read_bytes() for p in v1.dir.iterdir()} == before
    with pytest.raises(ApprovalError, match="not the latest"):
        approve(wh, 2025, "11", v1.version, "佐藤")
    assert approve(wh, 2025, "11", v2.version, "佐藤").recorded

    # The first data sent again in another file: the same version as v1 (no new row), current again.
    resent = tmp_path / "埼玉_再送.csv"
    resent.write_bytes(SAITAMA_CSV.read_bytes() + b"\r\n")
    assert ingest_report(settings, wh, resent, "11") == "accepted"
    back = make_release(wh, settings, 2025, "11")
    assert (back.version, back.created) == (v1.version, False)
    assert latest_release(wh, 2025, "11").version == v1.version


def test_diff_and_japanese_summary(env, tmp_path):
    from tsunagu.cycle.releases import diff_releases, make_release, summarise_ja

    settings, wh = env
    v1 = make_release(wh, settings, 2025, "11")
    ingest_report(settings, wh, corrected_saitama_csv(tmp_path), "11")
    v2 = make_release(wh, settings, 2025, "11")
    diff = diff_releases(v1.dir, v2.dir)
    assert (diff.old_rows, diff.new_rows, diff.added, diff.removed) == (659, 659, [], [])
    assert [(c.institution_code, [(f.field, f.old, f.new) for f in c.changes]) for c in diff.changed] == [
        ("1110101675", [("avg_care_months", "19.8", "21.5")]),
        ("1110104836", [("severe_children", "2", "3")]),
    ]
    text = summarise_ja(diff)
    assert f"訂正内容（前回提供版 {v1.version} → 訂正版 {v2.version}）" in text
    assert "1110101675 医療法人 博仁会 共済病院\n      平均診療期間（月）: 19.8 → 21.5" in text
    assert "1110104836 清水医院\n      超重症児・準超重症児の患者数: 2 → 3" in text

    # Rows added and removed are listed by institution code and name.
    reverse = diff_releases(v2.dir, v1.dir)
    assert [c.changes[0].new for c in reverse.changed] == ["19.8", "2"]
    edited = tmp_path / "edited"
    shutil.copytree(v1.dir, edited)
    os.chmod(edited, 0o755)
    csv_path = edited / "home_care_reports_2025_11.csv"
    os.chmod(csv_path, 0o644)
    lines = csv_path.read_bytes().decode("utf-8-sig").split("\r\n")
    removed = lines.pop(1)
    csv_path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode("utf-8"))
    d = diff_releases(v1.dir, edited)
    assert [r["institution_code"] for r in d.removed] == [removed.split(",")[4]]
    assert "■ 削除された医療機関" in summarise_ja(d)
    assert "■ 追加された医療機関" in summarise_ja(diff_releases(edited, v1.dir))


def test_dry_run_without_a_warehouse_plans_and_creates_nothing(home, settings, sink):
    from tsunagu.cycle.planner import run_cycle_day

    results = run_cycle_day(dt.date(2025, 9, 1), settings=settings, dry_run=True)
    assert {r.status for r in results} == {"planned"} and len(results) == 20
    assert not (home / "warehouse.sqlite").exists() and sink.received == []
    assert [r.status for r in run_cycle_day(dt.date(2025, 9, 6), settings=settings)] == ["skipped"]  # Saturday
    assert run_cycle_day(dt.date(2025, 8, 29), settings=settings, dry_run=True) == []  # before the cycle


def test_a_missed_stretch_is_caught_up_once(settings, warehouse, sink):
    """The DAG was down from 9/1 to 11/6: 11/7 sends the requests and notices; the reminders follow on
    the next business day (never on the same day as what they remind of); nothing twice."""
    from tsunagu.cycle.planner import run_cycle_day

    add_request(warehouse, "11")
    first = run_cycle_day(dt.date(2025, 11, 7), settings=settings, warehouse=warehouse)
    assert sorted({r.kind for r in first if r.status == "sent"}) == ["office_request", "prefecture_notice"]
    assert len(sink.received) == 20
    second = run_cycle_day(dt.date(2025, 11, 10), settings=settings, warehouse=warehouse)
    sent = sorted((r.kind, r.prefecture_code) for r in second if r.status == "sent")
    assert sent == sorted([("office_reminder", p) for p in ("08", "09", "10", "11", "12", "13", "14", "15", "19", "20")]
                          + [("request_reminder", p) for p in ("08", "09", "10", "12", "13", "14", "15", "19", "20")])
    assert run_cycle_day(dt.date(2025, 11, 10), settings=settings, warehouse=warehouse) == [
        r for r in second if r.status not in ("sent",)]
    assert len(sink.received) == 39
    # After the window: nothing but the closing report (once).
    late = run_cycle_day(dt.date(2025, 12, 24), settings=settings, warehouse=warehouse)
    assert [(r.kind, r.status) for r in late] == [("closing_report", "sent")]
    assert run_cycle_day(dt.date(2025, 12, 25), settings=settings, warehouse=warehouse) == []
