"""The real services with PostgreSQL metadata and the LocalExecutor (warehouse on PostgreSQL too)."""

from __future__ import annotations

import httpx
import pytest

from tests.services.conftest import pg_database, running_airflow
from tests.services.scenario import run_scenario


@pytest.fixture(scope="module")
def airflow_local(airflow_pg_url, pg_server, tmp_path_factory):
    with pg_database(pg_server, "tsunagu_test_local") as warehouse_url:
        with running_airflow(
            tmp_path_factory.mktemp("local"), db_url=airflow_pg_url, warehouse_url=warehouse_url
        ) as af:
            yield af


def test_ingest_publish_rerun_and_clear(airflow_local):
    run_scenario(airflow_local, "PostgreSQL metadata, LocalExecutor")


def test_anonymous_requests_are_refused(airflow_local):
    from tsunagu.board.app import anonymous_refusals

    anonymous = httpx.Client(base_url=airflow_local.url, timeout=30)
    assert anonymous.get("/api/v2/dags").status_code == 401
    assert anonymous.post("/api/v2/dags/ingest_submissions/dagRuns", json={"logical_date": None}).status_code == 401
    refused = anonymous_refusals(airflow_local.url)
    assert set(refused) == {"/tsunagu/board", "/tsunagu/api/board", "/tsunagu/api/preview", "/tsunagu/reports/x.xlsx"}
    assert all(code in (401, 403) or 300 <= code < 400 for code in refused.values()), refused
    # The same routes answer a logged-in user: the refusal is about the login, not a missing route.
    assert airflow_local.client.get("/api/v2/dags").status_code == 200
    board = airflow_local.client.get("/tsunagu/api/board", params={"fiscal_year": 2025})
    assert board.status_code == 200, board.text
