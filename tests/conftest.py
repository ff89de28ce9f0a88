"""Shared fixtures. Airflow is pointed at a throw-away home before anything imports it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tsunagu-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (an unknown name fails loudly):
#   ci (default)  50 examples per property: the suite stays quick on shared cores;
#   thorough      1000 examples: a deeper search, e.g. nightly or before a release.
# Neither has a deadline: a loaded machine makes per-example timings noise. A test's own
# @settings(max_examples=...) still wins over the profile.
hypothesis_settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
hypothesis_settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MEIBO_DIR = REPO.parent / "shared" / "reference" / "meibo"
PG_URL = os.environ.get("TSUNAGU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def need(condition: bool, reason: str) -> None:
    """Skip locally when a real part is missing; under CI=true, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def meibo_dir() -> Path:
    """The bureau's real registers (../shared/reference/meibo)."""
    need(MEIBO_DIR.is_dir() and any(MEIBO_DIR.glob("*.xlsx")), f"real registers not found at {MEIBO_DIR}")
    return MEIBO_DIR


@pytest.fixture(scope="session")
def meibo_files(meibo_dir: Path) -> list[Path]:
    return sorted(meibo_dir.glob("*.xlsx"))


@pytest.fixture(scope="session")
def pg_url() -> str:
    """Real PostgreSQL at 127.0.0.1:5432/test."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # unreachable: skip locally, fail in CI
        need(False, f"PostgreSQL unreachable at {PG_URL}: {exc}")
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Warehouse tests run on SQLite and on real PostgreSQL."""
    return request.param


@pytest.fixture
def warehouse_url(backend, request, tmp_path):
    """A URL of an empty warehouse database: SQLite file, or a throw-away PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'wh.sqlite'}"
        return
    from tests.support.warehouse import postgres_schema_url

    with postgres_schema_url(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def warehouse(backend, request, tmp_path):
    from tests.support.warehouse import make_warehouse

    pg = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with make_warehouse(backend, tmp_path, pg) as wh:
        yield wh


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite Airflow metadata database for dag.test() runs."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return _AIRFLOW_HOME


@pytest.fixture(scope="module")
def dag_bag():
    """Every DAG of dags/, parsed as the DAG processor does; no import errors."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag
