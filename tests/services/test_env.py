"""The settings the launcher gives every Airflow process (no services started)."""

from __future__ import annotations

import json

from tsunagu.services import ServiceConfig, airflow_env, async_url, read_env_file


def test_async_url_keeps_psycopg_and_uses_aiosqlite():
    assert async_url("postgresql+psycopg://postgres@127.0.0.1:5432/airflow") == "postgresql+psycopg://postgres@127.0.0.1:5432/airflow"
    assert async_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert async_url("sqlite:////tmp/a/airflow.db") == "sqlite+aiosqlite:////tmp/a/airflow.db"


def test_read_env_file(tmp_path):
    f = tmp_path / "airflow.env"
    f.write_text("# comment\n\nexport AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Tokyo\nX='a=b'\n", encoding="utf-8")
    assert read_env_file(f) == {"AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo", "X": "a=b"}
    assert read_env_file(tmp_path / "missing.env") == {}


def test_environment_of_a_postgres_celery_setup(tmp_path):
    config = ServiceConfig(
        tsunagu_home=tmp_path / "home", airflow_home=tmp_path / "af", db_url="postgresql+psycopg://postgres@127.0.0.1:5432/af",
        executor="CeleryExecutor", broker_url="redis://127.0.0.1:6379/7", api_port=18123, log_port=18124, password="pw",
    )
    env = airflow_env(config)
    assert {k: env[k] for k in (
        "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
        "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__API__PORT",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DEFAULT_TIMEZONE", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    )} == {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg://postgres@127.0.0.1:5432/af",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "postgresql+psycopg://postgres@127.0.0.1:5432/af",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/7",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql+psycopg://postgres@127.0.0.1:5432/af",
        "AIRFLOW__API__PORT": "18123",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:18123/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18124",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
    }
    passwords = json.loads((tmp_path / "af" / "simple_auth_manager_passwords.json").read_text(encoding="utf-8"))
    assert passwords == {"admin": "pw"}
    # The secrets stay the same across starts (tokens and encrypted values stay valid).
    again = airflow_env(config)
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert again[key] == env[key] and len(env[key]) >= 32
