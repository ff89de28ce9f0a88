"""Real Airflow services under test: api-server, scheduler, dag-processor (and a Celery worker), started
by tsunagu.services on free loopback ports. One start per test module (= per executor/metadata), so two
setups never run at once on the shared cores; the PostgreSQL metadata database is made once per session.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from demo.run import demo_inputs
from tests.conftest import need
from tsunagu.services import (
    AirflowServices,
    ServiceConfig,
    claim_redis_db,
    drop_postgres_database,
    ensure_postgres_database,
    release_redis_db,
)

PG_SERVER = os.environ.get("TSUNAGU_TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
FISCAL_YEAR = 2025
PREFECTURES = ["09", "11"]
TERMINAL = {"success", "failed"}


def pytest_configure(config):
    config.addinivalue_line("markers", "services: starts the real Airflow services (api-server, scheduler, ...)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/services/" in str(item.fspath) and item.fspath.basename != "test_env.py":
            item.add_marker(pytest.mark.services)
            item.add_marker(pytest.mark.slow)


def _pg_up() -> str | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


def _redis_up() -> str | None:
    import redis

    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3).ping()
    except Exception as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    error = _pg_up()
    need(error is None, f"PostgreSQL unreachable at {PG_SERVER}: {error}")
    return PG_SERVER


@pytest.fixture(scope="session")
def airflow_pg_url(pg_server) -> Iterator[str]:
    """A fresh PostgreSQL database for the Airflow metadata, shared by the executors, dropped at the end."""
    url = f"{pg_server}/airflow_test_{os.getpid()}"
    drop_postgres_database(url)
    ensure_postgres_database(url)
    yield url
    drop_postgres_database(url)


@contextmanager
def pg_database(pg_server: str, name: str) -> Generator[str, None, None]:
    url = f"{pg_server}/{name}_{os.getpid()}"
    drop_postgres_database(url)
    ensure_postgres_database(url)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[str]:
    error = _redis_up()
    need(error is None, f"Redis unreachable at {REDIS_HOST}:{REDIS_PORT}: {error}")
    n = claim_redis_db(REDIS_HOST, REDIS_PORT, owner=f"tsunagu-tests-{os.getpid()}")
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{n}"
    release_redis_db(n, REDIS_HOST, REDIS_PORT)


class Airflow:
    """A running setup and a REST API v2 client with a JWT from POST /auth/token."""

    def __init__(self, services: AirflowServices, home: Path) -> None:
        self.services = services
        self.home = home
        self.url = services.url
        self.client = httpx.Client(base_url=services.url, timeout=60)
        self.client.headers["Authorization"] = f"Bearer {services.token()}"

    def get(self, path: str, **params) -> dict:
        resp = self.client.get(path, params=params)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, body: dict) -> dict:
        resp = self.client.post(path, json=body)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    def wait_for(self, what: str, probe, timeout: float = 600, every: float = 2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.services.check_alive()
            result = probe()
            if result:
                return result
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.services.log_dir}")

    # -- DAGs and runs ---------------------------------------------------------------------------
    def wait_parsed(self, *dag_ids: str) -> None:
        def parsed():
            return all(self.client.get(f"/api/v2/dags/{d}").status_code == 200 for d in dag_ids)

        self.wait_for(f"{dag_ids} to be parsed", parsed, timeout=300)

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            resp = self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            assert resp.status_code == 200, resp.text

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="id")["dag_runs"]

    def settle(self, dag_id: str) -> None:
        """Until the DAG's due scheduled run (catchup=False makes one on unpause) exists and has finished."""
        from datetime import UTC, datetime

        def settled():
            dag = self.get(f"/api/v2/dags/{dag_id}")
            due = dag.get("next_dagrun_run_after")
            pending = due and datetime.fromisoformat(due) <= datetime.now(UTC)
            active = [r for r in self.runs(dag_id) if r["state"] not in TERMINAL]
            return not pending and not active

        self.wait_for(f"{dag_id} to have no due or active run", settled, timeout=600)

    def trigger(self, dag_id: str, conf: dict) -> str:
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900) -> dict:
        def done():
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in TERMINAL else None

        return self.wait_for(f"{dag_id} {run_id}", done, timeout=timeout)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, list[str]]:
        tis = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        states: dict[str, list[str]] = {}
        for ti in tis:
            states.setdefault(ti["task_id"], []).append(ti["state"])
        return {k: sorted(v) for k, v in states.items()}

    def new_run(self, dag_id: str, known: set[str], timeout: float = 600) -> dict:
        """The first run of dag_id not in `known`, once it has finished."""

        def appeared():
            fresh = [r for r in self.runs(dag_id) if r["dag_run_id"] not in known]
            return fresh[0] if fresh else None

        run = self.wait_for(f"a new {dag_id} run", appeared, timeout=timeout)
        return self.wait_run(dag_id, run["dag_run_id"], timeout=timeout)


@contextmanager
def running_airflow(root: Path, **config) -> Generator[Airflow, None, None]:
    home = root / "tsunagu"
    services = AirflowServices(ServiceConfig(tsunagu_home=home, airflow_home=root / "airflow", **config))
    services.start(timeout=300)
    try:
        yield Airflow(services, home)
    finally:
        services.stop()
        print(f"\nservice logs: {services.log_dir}")


# -- the scenario's inputs and outputs ---------------------------------------------------------
def land_inputs(home: Path) -> float:
    """Two prefectures' registers and FY2025 reports, and one of 19 that the params leave out.
    Returns the wall-clock time the files landed."""
    src, landing = demo_inputs(), home / "landing"
    for name in ("09届出受理医療機関名簿（医科）栃木r0710.xlsx", "11届出受理医療機関名簿（医科）埼玉r0710.xlsx"):
        (landing / "register").mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "register" / name, landing / "register" / name)
    for pref in ("09", "11", "19"):
        shutil.copytree(src / "home_care_reports" / "2025" / pref, landing / "home_care_reports" / "2025" / pref)
    return time.time()


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


def outcome_records(home: Path, run_id: str) -> list[Path]:
    """The run's outcomes records, first try first: reports/runs/<run_id>/try-<n>.json, or the older
    single reports/runs/<run_id>.json."""
    import re

    runs = home / "reports" / "runs"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    per_try = sorted((runs / safe).glob("try-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return per_try or sorted(runs.glob(f"{safe}.json"))


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))
