"""The cycle on real PostgreSQL: releases, approvals, cycle_actions and the planner, exactly once."""

from __future__ import annotations

import datetime as dt

import pytest

from .helpers import SAITAMA_CSV, add_request, ingest_registers, ingest_report

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_cycle_on_postgresql(pg_url, tmp_path, monkeypatch, sink):
    from tests.support.warehouse import postgres_schema_url
    from tsunagu.cycle.approvals import approve
    from tsunagu.cycle.planner import run_cycle_day
    from tsunagu.cycle.releases import latest_release, list_releases, make_release
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    with postgres_schema_url(pg_url) as url:
        monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("TSUNAGU_DB_URL", url)
        settings = get_settings()
        wh = open_warehouse(settings)
        try:
            assert wh.dialect == "postgresql"
            ingest_registers(settings, wh, codes=("11",))
            assert ingest_report(settings, wh, SAITAMA_CSV, "11") == "accepted"
            add_request(wh, "11")
            first = run_cycle_day(dt.date(2025, 11, 4), settings=settings, warehouse=wh)
            assert sum(r.status == "sent" for r in first) == 21
            release = latest_release(wh, 2025, "11")
            assert make_release(wh, settings, 2025, "11").created is False
            approve(wh, 2025, "11", release.version, "佐藤")
            day2 = run_cycle_day(dt.date(2025, 11, 11), settings=settings, warehouse=wh)
            assert [(r.kind, r.status) for r in day2 if r.kind == "delivery"] == [("delivery", "sent")]
            before = len(sink.received)
            again = run_cycle_day(dt.date(2025, 11, 11), settings=settings, warehouse=wh)
            assert len(sink.received) == before and not [r for r in again if r.status == "sent"]
            assert [r.version for r in list_releases(wh, 2025)] == [release.version]
        finally:
            wh.dispose()
