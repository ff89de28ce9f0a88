"""The same path with a Celery worker on Redis (broker: a free DB number; results in the metadata DB).
The PostgreSQL metadata database of the LocalExecutor run is reused; the warehouse and TSUNAGU_HOME are fresh."""

from __future__ import annotations

import pytest

from tests.services.conftest import pg_database, running_airflow
from tests.services.scenario import run_scenario


@pytest.fixture(scope="module")
def airflow_celery(airflow_pg_url, pg_server, redis_db, tmp_path_factory):
    with pg_database(pg_server, "tsunagu_test_celery") as warehouse_url:
        with running_airflow(
            tmp_path_factory.mktemp("celery"), db_url=airflow_pg_url, warehouse_url=warehouse_url,
            executor="CeleryExecutor", broker_url=redis_db,
        ) as af:
            yield af


def test_ingest_publish_rerun_and_clear_on_celery(airflow_celery):
    run_scenario(airflow_celery, "PostgreSQL metadata, CeleryExecutor")
    worker_log = (airflow_celery.services.log_dir / "celery-worker.log").read_text(encoding="utf-8", errors="replace")
    # The tasks ran on the worker: it received and finished Airflow's workloads.
    assert "execute_workload" in worker_log and "succeeded" in worker_log
