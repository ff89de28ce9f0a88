"""The real Airflow services on this machine, without Docker: api-server, scheduler, dag-processor
(and a Celery worker), started as subprocesses on free loopback ports with the project's settings.

Used by `tsunagu airflow` / `make airflow` and by the service tests (tests/services/):

    with AirflowServices(ServiceConfig(tsunagu_home=..., airflow_home=...)) as af:
        print(af.url, af.config.username, af.config.password)

Every process runs in its own process group; `stop()` sends SIGTERM to the groups (and to any
descendant that left its group), then SIGKILL after a grace period, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tsunagu.settings import REPO_ROOT

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PROJECT_AIRFLOW_ENV = REPO_ROOT / "include" / "config" / "airflow.env"


class ServiceError(RuntimeError):
    """A service did not start, or died."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def async_url(url: str) -> str:
    """The async twin of a metadata URL. psycopg (v3) is sync and async under one driver name; asyncpg and
    psycopg2 are not installed, so Airflow's own guess (asyncpg) would fail."""
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


def ensure_postgres_database(url: str) -> bool:
    """Create the database named in a PostgreSQL URL if it is missing. True when it was created."""
    import sqlalchemy as sa

    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("select 1 from pg_database where datname = :n"), {"n": target.database}).first()
            if not exists:
                conn.execute(sa.text(f'create database "{target.database}"'))
            return not exists
    finally:
        admin.dispose()


def drop_postgres_database(url: str) -> None:
    import sqlalchemy as sa

    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{target.database}" with (force)'))
    finally:
        admin.dispose()


def claim_redis_db(host: str = "127.0.0.1", port: int = 6379, owner: str = "tsunagu") -> int:
    """A Redis DB number nobody uses (empty), claimed with a key so that a parallel run picks another."""
    import redis

    for n in range(1, 16):
        client = redis.Redis(host=host, port=port, db=n, socket_connect_timeout=3)
        try:
            if client.dbsize() == 0 and client.set("tsunagu:claimed", owner, nx=True):
                return n
        finally:
            client.close()
    raise ServiceError(f"Redis {host}:{port}: no empty DB number left / 空いている Redis DB 番号がありません")


def release_redis_db(n: int, host: str = "127.0.0.1", port: int = 6379) -> None:
    import redis

    client = redis.Redis(host=host, port=port, db=n, socket_connect_timeout=3)
    try:
        client.flushdb()
    finally:
        client.close()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blanks ignored; optional quotes and `export`)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass
class ServiceConfig:
    tsunagu_home: Path
    airflow_home: Path
    db_url: str | None = None  # metadata; None: SQLite in airflow_home
    executor: str = "LocalExecutor"  # or CeleryExecutor
    broker_url: str | None = None  # Celery: redis://127.0.0.1:6379/<n>
    result_backend: str | None = None  # Celery: default the metadata DB
    warehouse_url: str | None = None  # TSUNAGU_DB_URL; None: SQLite in tsunagu_home
    host: str = "127.0.0.1"
    api_port: int = 0  # 0: a free port
    log_port: int = 0  # worker log server; 0: a free port (8793 is the scheduler's own by default)
    username: str = "admin"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    dags_folder: Path = REPO_ROOT / "dags"
    plugins_folder: Path = REPO_ROOT / "plugins"
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tsunagu_home = Path(self.tsunagu_home).resolve()
        self.airflow_home = Path(self.airflow_home).resolve()
        self.api_port = self.api_port or free_port(self.host)
        self.log_port = self.log_port or free_port(self.host)
        if self.db_url is None:
            self.db_url = f"sqlite:///{self.airflow_home / 'airflow.db'}"
        if self.executor == "CeleryExecutor" and not self.broker_url:
            raise ValueError("CeleryExecutor needs broker_url (redis://127.0.0.1:6379/<n>)")


def _secret(path: Path, make) -> str:
    """A secret kept in AIRFLOW_HOME, so that a restart keeps tokens and encrypted values valid."""
    if not path.exists():
        path.write_text(make(), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def airflow_env(config: ServiceConfig) -> dict[str, str]:
    """The environment every Airflow process of this setup runs with."""
    from cryptography.fernet import Fernet

    home = config.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({config.username: config.password}) + "\n", encoding="utf-8")
    passwords.chmod(0o600)
    base = f"http://{config.host}:{config.api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({"AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo"})
    env.update(read_env_file(PROJECT_AIRFLOW_ENV))  # the project's settings (time zone, UI)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "TSUNAGU_HOME": str(config.tsunagu_home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")])),
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": config.executor,
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{config.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__FERNET_KEY": _secret(home / ".fernet_key", lambda: Fernet.generate_key().decode()),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": config.host,
            "AIRFLOW__API__PORT": str(config.api_port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": _secret(home / ".api_secret_key", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home / ".jwt_secret", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": config.db_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(config.db_url),
            # The scheduler (LocalExecutor) or the worker serves task logs here; 8793 would clash between
            # two setups on one host, and with a scheduler started by someone else.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(config.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(config.host)),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        }
    )
    if config.warehouse_url:
        env["TSUNAGU_DB_URL"] = config.warehouse_url
    else:
        env.pop("TSUNAGU_DB_URL", None)
    if config.executor == "CeleryExecutor":
        backend = config.result_backend or config.db_url
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": config.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": backend if backend.startswith("db+") else f"db+{backend}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            }
        )
    env.update(config.extra_env)
    return env


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log: Path


class AirflowServices:
    """Start, watch and stop one Airflow setup. A context manager; `stop()` is safe to call twice."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.env = airflow_env(config)
        self.url = f"http://{config.host}:{config.api_port}"
        self.log_dir = config.airflow_home / "service-logs"
        self.procs: list[_Proc] = []
        self._airflow = str(Path(sys.executable).with_name("airflow"))

    # -- lifecycle -------------------------------------------------------------------------------
    def migrate(self) -> None:
        if self.config.db_url.startswith("postgresql"):
            ensure_postgres_database(self.config.db_url)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / "db-migrate.log"
        with log.open("wb") as out:
            rc = subprocess.run(
                [self._airflow, "db", "migrate"], env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=600
            ).returncode
        if rc != 0:
            raise ServiceError(f"airflow db migrate failed ({rc}) / メタデータDBの移行に失敗:\n{_tail(log)}")

    def start(self, timeout: float = 240) -> AirflowServices:
        self.migrate()
        commands = [["api-server"], ["scheduler"], ["dag-processor"]]
        if self.config.executor == "CeleryExecutor":
            commands.append(["celery", "worker", "--concurrency", "2"])
        try:
            for cmd in commands:
                self._spawn(cmd)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, cmd: list[str]) -> None:
        name = "-".join(c for c in cmd if not c.startswith("-") and not c.isdigit())  # celery-worker.log
        log = self.log_dir / f"{name}.log"
        out = log.open("ab")
        try:
            # Own session: stop() signals the whole group, never this process's group.
            popen = subprocess.Popen(
                [self._airflow, *cmd], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.config.airflow_home,
            )
        finally:
            out.close()
        self.procs.append(_Proc(name, popen, log))

    def check_alive(self) -> None:
        for p in self.procs:
            if p.popen.poll() is not None:
                raise ServiceError(f"{p.name} exited ({p.popen.returncode}) / 停止しました:\n{_tail(p.log)}")

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as resp:
            return json.load(resp)

    def wait_healthy(self, timeout: float = 240) -> dict:
        """Until the metadata DB, the scheduler and the dag-processor report healthy."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                last = self.health()
                parts = ("metadatabase", "scheduler", "dag_processor")
                if all((last.get(k) or {}).get("status") == "healthy" for k in parts):
                    return last
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise ServiceError(f"not healthy after {timeout:.0f}s / 起動しません: {last}")

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to every group and stray descendant, SIGKILL after `grace` seconds."""
        import psutil

        procs, self.procs = self.procs, []
        family: list[psutil.Process] = []
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(p.popen.pid)
                family += [root, *root.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.popen.pid, signal.SIGTERM)
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(family, timeout=grace)
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.popen.pid, signal.SIGKILL)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=5)

    def __enter__(self) -> AirflowServices:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the REST API (v2), for scripts and tests ----------------------------------------------
    def token(self) -> str:
        """A JWT from POST /auth/token (simple auth manager)."""
        body = json.dumps({"username": self.config.username, "password": self.config.password}).encode()
        req = urllib.request.Request(f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["access_token"]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_foreground(config: ServiceConfig) -> int:
    """`tsunagu airflow`: start, print the URL and the login, run until Ctrl-C or a service dies."""
    services = AirflowServices(config)
    stop = {"now": False}

    def _stop(signum, frame):  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        print(f"Airflow を起動しています / starting Airflow ({config.executor}, metadata {_redact(config.db_url)}) ...")
        services.start()
        print(
            f"\n  URL:      {services.url}\n  ログイン / login: {config.username} / {config.password}\n"
            f"  TSUNAGU_HOME: {config.tsunagu_home}\n  AIRFLOW_HOME: {config.airflow_home}\n"
            f"  logs:     {services.log_dir}\n\n"
            "DAG は一時停止で作成されます。UIで有効にしてください / DAGs start paused: unpause them in the UI.\n"
            "Ctrl-C で停止 / Ctrl-C stops every service.",
            flush=True,
        )
        while not stop["now"]:
            services.check_alive()
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    except ServiceError as exc:
        print(f"エラー / error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("停止しています / stopping ...", flush=True)
        services.stop()


def _redact(url: str) -> str:
    import re

    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def add_arguments(parser) -> None:
    """`tsunagu airflow` options (the CLI's parser is built in tsunagu.cli)."""
    parser.add_argument("--executor", choices=["local", "celery"], default="local",
                        help="LocalExecutor (default) or a Celery worker on Redis (TSUNAGU_AIRFLOW_BROKER)")
    parser.add_argument("--port", type=int, default=0, help="api-server port (default: 8080 if free, else any free port)")
    parser.add_argument("--airflow-home", type=Path, default=None, help="default: $TSUNAGU_HOME/airflow")


def main(args) -> int:
    """`tsunagu airflow` / `make airflow`: the real services with the project's settings, in the foreground.

    Metadata: SQLite in the Airflow home, or TSUNAGU_AIRFLOW_DB (postgresql+psycopg://…; the database is
    created if missing). Celery: TSUNAGU_AIRFLOW_BROKER (default redis://127.0.0.1:6379/0). The warehouse
    is the usual TSUNAGU_HOME / TSUNAGU_DB_URL.
    """
    from tsunagu.settings import get_settings

    home = get_settings().home
    airflow_home = (args.airflow_home or home / "airflow").resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    port = args.port or (8080 if _port_free(8080) else 0)
    celery = args.executor == "celery"
    config = ServiceConfig(
        tsunagu_home=home,
        airflow_home=airflow_home,
        db_url=os.environ.get("TSUNAGU_AIRFLOW_DB") or None,
        executor="CeleryExecutor" if celery else "LocalExecutor",
        broker_url=os.environ.get("TSUNAGU_AIRFLOW_BROKER", "redis://127.0.0.1:6379/0") if celery else None,
        warehouse_url=os.environ.get("TSUNAGU_DB_URL") or None,
        api_port=port,
        # The same login on every start, kept beside the metadata.
        password=_secret(airflow_home / ".admin_password", lambda: secrets.token_urlsafe(12)),
        # The caller's own AIRFLOW__* settings win (e.g. AIRFLOW__CORE__PARALLELISM); tests never pass theirs.
        extra_env={k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__")},
    )
    return run_foreground(config)


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
