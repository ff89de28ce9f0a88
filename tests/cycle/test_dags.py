"""dag.test() runs of distribution_cycle and approve_release on SQLite, mails through a real SMTP sink."""

from __future__ import annotations

import email
import email.policy
import json

import pendulum
import pytest

from .helpers import SAITAMA_CSV, add_request, ingest_registers, ingest_report

pytestmark = pytest.mark.slow


def _conf(**kw) -> dict:
    """A full run conf: dag.test() keeps conf values of an earlier run of the same DAG object otherwise."""
    return {"day": None, "dry_run": False, "fiscal_year": None, "prefectures": [], **kw}


def _keys(sink) -> list[str]:
    return [email.message_from_bytes(r.path.read_bytes(), policy=email.policy.default)["X-Tsunagu-Key"]
            for r in sink.received]


def test_cycle_and_approval_dags(airflow_db, dag_bag, settings, warehouse, sink):
    from tsunagu.cycle.approvals import list_approvals
    from tsunagu.cycle.releases import latest_release

    cycle, approve = dag_bag.dags["distribution_cycle"], dag_bag.dags["approve_release"]
    ingest_registers(settings, warehouse, codes=("11",))
    assert ingest_report(settings, warehouse, SAITAMA_CSV, "11") == "accepted"
    add_request(warehouse, "11")

    # A dry run plans and prints, and sends nothing.
    run = cycle.test(run_conf=_conf(day="2025-11-04", dry_run=True))
    assert str(run.state) == "success"
    assert sink.received == [] and latest_release(warehouse, 2025, "11") is None

    # 11/4 (a late start): requests and notices to all ten, the pre-delivery notice to the 埼玉 office.
    run = cycle.test(run_conf=_conf(day="2025-11-04"))
    assert str(run.state) == "success"
    release = latest_release(warehouse, 2025, "11")
    keys = _keys(sink)
    assert len(keys) == 21
    assert f"2025:pre_delivery_notice:11:{release.version}:r" in "".join(keys)
    record = json.loads((settings.reports_dir / "cycle" / "2025" / "days" / "2025-11-04.json").read_text("utf-8"))
    assert sum(r["status"] == "sent" for r in record) == 21

    # A wrong version is refused (the run fails); the right one is recorded, once.
    run = approve.test(run_conf={"fiscal_year": 2025, "prefecture": "11", "version": "0" * 16, "approver": "佐藤"})
    assert str(run.state) == "failed"
    conf = {"fiscal_year": 2025, "prefecture": "11", "version": release.version, "approver": "課長補佐 佐藤",
            "note": "確認済み"}
    assert str(approve.test(run_conf=conf).state) == "success"
    assert str(approve.test(run_conf=conf).state) == "success"
    assert [(a.version, a.approver) for a in list_approvals(warehouse, 2025)] == [(release.version, "課長補佐 佐藤")]

    # A run at 09:00 JST on 11/11 (no day param: the day is its data interval end in Asia/Tokyo):
    # the delivery and the reminders.
    run = cycle.test(logical_date=pendulum.datetime(2025, 11, 11, 9, tz="Asia/Tokyo"), run_conf=_conf())
    assert str(run.state) == "success"
    new = _keys(sink)[21:]
    assert f"2025:delivery:11:{release.version}" in new
    assert sorted(k.rsplit(":", 1)[0] for k in new if "reminder" in k) == sorted(
        ["2025:office_reminder"] * 9 + ["2025:request_reminder"] * 9)

    # Clearing and rerunning the day sends nothing twice.
    before = len(sink.received)
    assert str(cycle.test(run_conf=_conf(day="2025-11-11")).state) == "success"
    assert len(sink.received) == before
    assert len(set(_keys(sink))) == len(_keys(sink))


def test_cycle_dag_fails_visibly_when_the_smtp_server_is_down_and_recovers(airflow_db, dag_bag, settings, warehouse,
                                                                          sink, monkeypatch):
    cycle = dag_bag.dags["distribution_cycle"]
    monkeypatch.setattr(cycle.get_task("close_day"), "retries", 0)  # dag.test() would wait for the retry delay
    sink.fail_next(3)
    run = cycle.test(run_conf=_conf(day="2025-09-01", prefectures=["08", "09"]))
    assert str(run.state) == "failed"  # after every action was tried
    keys = _keys(sink)
    assert len(keys) == 1  # 3 failures, 1 success among the 4 mails of 08 and 09
    run = cycle.test(run_conf=_conf(day="2025-09-02", prefectures=["08", "09"]))
    assert str(run.state) == "success"
    assert sorted(_keys(sink)) == sorted(f"2025:{k}:{p}" for k in ("office_request", "prefecture_notice")
                                         for p in ("08", "09"))
