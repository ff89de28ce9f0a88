"""dag.test() of run_evaluation_cycle on SQLite: nothing configured → skipped; the notice day sends the
notices through a real SMTP sink, exactly once."""

from __future__ import annotations

import email
import email.policy

import pytest

from tsunagu.settings import REPO_ROOT

from .builders import load_into_warehouse, sample_frames

pytestmark = pytest.mark.slow


@pytest.fixture
def stored(tmp_path, monkeypatch):
    from tsunagu.deliver.mailsink import MailSink, smtp_conn_uri
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_OUTBOX"):
        monkeypatch.delenv(var, raising=False)
    wh = open_warehouse(get_settings())
    load_into_warehouse(wh, sample_frames(), "a" * 64)
    with MailSink(tmp_path / "sink") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_conn_uri(sink.port, from_email="care@kantoshinetsu.example"))
        yield wh, sink
    wh.dispose()


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_run_evaluation_cycle_dag(airflow_db, stored):
    from airflow.dag_processing.dagbag import DagBag

    from tsunagu.cycle.releases import latest_release

    wh, sink = stored
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "run_evaluation_cycle.py")).dags["run_evaluation_cycle"]
    conf = {"day": "2031-08-01", "dry_run": False, "fiscal_year": 2031, "prefectures": []}
    run = dag.test(run_conf=conf)
    assert str(run.state) == "success"
    assert _states(run) == {"check_params": "success", "plan_day": "skipped", "run_day": "skipped"}

    conf = {**conf, "day": "2025-08-01", "fiscal_year": None}
    run = dag.test(run_conf=conf)
    assert str(run.state) == "success" and _states(run)["run_day"] == "success"
    keys = [email.message_from_bytes(r.path.read_bytes(), policy=email.policy.default)["X-Tsunagu-Key"]
            for r in sink.received]
    versions = {p: latest_release(wh, 2025, p, dataset="evaluation").version for p in ("11", "12")}
    assert keys == [f"2025:evaluation_notice:{p}:{v}" for p, v in versions.items()]
    assert str(dag.test(run_conf=conf).state) == "success" and len(sink.received) == 2  # exactly once
